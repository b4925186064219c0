//! What a client reads from the fleet's broker (NATS): an endpoint's signed
//! answer and the signed frames of a streamed one. The fuzzer's bytes are
//! read as a message (`SignedReply` / `SignedFrame` JSON) and, signed by the
//! endpoint's key, as the payload behind the signature:
//! `SignedReply::open` and `SignedFrame::open` with the checks the CLI and
//! console make, then the frame's line with `StreamLine::parse`. (What an
//! endpoint reads from the broker is a signed request: the
//! `signed_request` and `request_payload` targets.)
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libfuzzer_sys::fuzz_target;
use salve::Sha256Digest;
use salve::api::v1::{ANSWER_DOMAIN, FRAME_DOMAIN, SignedFrame, SignedReply, StreamLine};

/// The endpoint asked, and the request it was asked (the digest the seeds'
/// answers carry: `Sha256Digest::of(b"request")`).
const ENDPOINT: &str = "web-01";

fn signed(domain: &[u8], data: &[u8]) -> (String, String) {
    let mut message = domain.to_vec();
    message.extend_from_slice(data);
    (BASE64.encode(data), salve_fuzz::key().sign_base64(&message))
}

fuzz_target!(|data: &[u8]| {
    let key = salve_fuzz::public();
    let request = Sha256Digest::of(b"request");

    // As it travels: unsigned bytes.
    if let Ok(reply) = serde_json::from_slice::<SignedReply>(data) {
        let _ = reply.open::<serde_json::Value>(ENDPOINT, &key, request);
    }
    if let Ok(frame) = serde_json::from_slice::<SignedFrame>(data) {
        let _ = frame.open(ENDPOINT, &key, request, 0);
    }

    // Behind the signature.
    let (payload, signature) = signed(ANSWER_DOMAIN, data);
    let _ = SignedReply { payload, signature }.open::<serde_json::Value>(ENDPOINT, &key, request);
    let (payload, signature) = signed(FRAME_DOMAIN, data);
    if let Ok(frame) = (SignedFrame { payload, signature }).open(ENDPOINT, &key, request, 0)
        && let Some(line) = frame.line
    {
        let _ = StreamLine::<serde_json::Value>::parse(line.as_bytes());
    }
});
