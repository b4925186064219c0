//! A revocation list imported with `salve catalog import-revocations`: the
//! JSON read into a `RevocationList` as the CLI reads it, then
//! `RevocationList::open` against a trust file. Signatures do not verify
//! here; the payload behind them is the `revocation_payload` target's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::vetting::RevocationList;

fuzz_target!(|data: &[u8]| {
    let Some(text) = salve_fuzz::text(data) else {
        return;
    };
    let Ok(list) = serde_json::from_str::<RevocationList>(text) else {
        return;
    };
    let _ = list.open(salve_fuzz::trust());
});
