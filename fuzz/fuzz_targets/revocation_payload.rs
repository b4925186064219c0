//! What a revocation list carries: the fuzzer's bytes signed as a list's
//! payload by a trusted vetting key, then `RevocationList::open`, so that
//! the payload parser (every `target` as `id@version` or a digest) is
//! reached.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libfuzzer_sys::fuzz_target;
use salve::vetting::RevocationList;

/// What the list's signature covers before the payload's bytes (as
/// `salve::vetting::revocation` signs it).
const DOMAIN: &[u8] = b"salve revocations v1\0";

fuzz_target!(|data: &[u8]| {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(data);
    let list = RevocationList {
        payload: BASE64.encode(data),
        signer: "vetting-board".parse().expect("a principal id"),
        key: salve_fuzz::public(),
        signature: salve_fuzz::key().sign_base64(&message),
    };
    let Ok((_, revocations)) = list.open(salve_fuzz::trust()) else {
        return;
    };
    for revocation in revocations {
        // A target reads back from how it is shown (as it is stored).
        let shown = revocation.target.to_string();
        assert_eq!(shown.parse(), Ok(revocation.target));
    }
});
