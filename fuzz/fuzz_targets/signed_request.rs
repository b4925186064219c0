//! A signed request as it arrives (the body of `POST /v1/requests` and
//! `/v1/stream`, a fleet message to an endpoint): the JSON envelope read
//! into a `SignedRequest` as the service reads it, then
//! `SignedRequest::open::<Operation>` as `Endpoint::authenticate` calls it.
//! Signatures do not verify here; what lies behind them is the
//! `request_payload` target's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::api::v1::Operation;
use salve::identity::SignedRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = serde_json::from_slice::<SignedRequest>(data) else {
        return;
    };
    let public = salve_fuzz::public();
    let _ = signed.open::<Operation>(|_| Some(public), 1_700_000_000_000, 300_000);
});
