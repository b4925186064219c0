//! The other JSON bodies of the service's HTTP contract (`salve::api::v1`),
//! both ways: what the service reads from its local socket
//! (`ConsentRequest` for `POST /v1/consent`, `ActivityRequest` for
//! `POST /v1/activity`) and what a client reads back from an endpoint (a
//! `Reply` envelope, `Health`, a line of `/v1/stream` with
//! `StreamLine::parse`). The signed request, the main body, has its own
//! targets. The service's routes live in the `salve-cli` binary; these are
//! the types they deserialize into, with the same `serde_json` calls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::api::v1::{ActivityRequest, ConsentRequest, Health, Reply, StreamLine};
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ConsentRequest>(data);
    let _ = serde_json::from_slice::<ActivityRequest>(data);
    let _ = serde_json::from_slice::<Health>(data);
    if let Ok(Reply::Result(raw)) = serde_json::from_slice::<Reply<Box<RawValue>>>(data) {
        let _ = serde_json::from_str::<serde_json::Value>(raw.get());
    }
    let _ = StreamLine::<serde_json::Value>::parse(data);
});
