//! What a signed request carries: the fuzzer's bytes are signed as a
//! request's payload, then opened with `SignedRequest::open::<Operation>`
//! as `Endpoint::authenticate` does, so that the payload parser behind the
//! signature check (the principal, nonce, timestamp and every operation
//! with its session request, ids, digests and input) is reached.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libfuzzer_sys::fuzz_target;
use salve::api::v1::Operation;
use salve::identity::{REQUEST_DOMAIN, SignedRequest};

fuzz_target!(|data: &[u8]| {
    let mut message = REQUEST_DOMAIN.to_vec();
    message.extend_from_slice(data);
    let signed = SignedRequest {
        payload: BASE64.encode(data),
        signature: salve_fuzz::key().sign_base64(&message),
    };
    let public = salve_fuzz::public();
    let Ok(payload) = signed.open::<Operation>(|_| Some(public), 1_700_000_000_000, 300_000) else {
        return;
    };
    let _ = payload.operation.name();
    if let Operation::RequestSession { request } = &payload.operation {
        let _ = request.digest();
    }
});
