//! Answers signed by the endpoint, for transports that do not vouch for it
//! (the fleet's broker): a client checks the signature against the key the
//! fleet inventory gives for the endpoint it asked, and that the answer is
//! to the very request it sent. A streamed answer travels as numbered
//! frames ([`SignedFrame`]), each signed, so that one lost, replayed or
//! moved on the way shows as a gap.

use super::envelope::Reply;
use crate::digest::Sha256Digest;
use crate::identity::{KeyPair, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What an endpoint's answer signature covers, before the payload's bytes.
pub const ANSWER_DOMAIN: &[u8] = b"salve answer v1\0";

/// What a stream frame's signature covers, before the payload's bytes: not
/// an answer's domain, so that a frame cannot pass for a whole answer.
pub const FRAME_DOMAIN: &[u8] = b"salve stream frame v1\0";

/// An answer as it travels: the payload's bytes and the endpoint's
/// signature of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReply {
    /// The [`ReplyPayload`]'s JSON bytes, in base64.
    pub payload: String,
    /// The endpoint's ed25519 signature over [`ANSWER_DOMAIN`] and the
    /// payload's bytes, in base64.
    pub signature: String,
}

/// What a signed answer says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyPayload<T> {
    /// The endpoint that answers.
    pub endpoint: String,
    /// The sha256 of the request it answers, as the bytes were received.
    pub request: Sha256Digest,
    /// The HTTP status `/v1/requests` answers it with (200, or the
    /// refusal's status): how a client over any transport tells a refusal's
    /// kind.
    pub status: u16,
    /// The answer.
    pub reply: Reply<T>,
}

/// Why a signed answer is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// It is not a signed answer.
    #[error("the answer from `{endpoint}` is malformed: {why}")]
    Malformed {
        /// The endpoint asked.
        endpoint: String,
        /// What is wrong.
        why: String,
    },
    /// The signature is not the endpoint's.
    #[error(
        "the answer for `{0}` is not signed by that endpoint's key in the fleet inventory: it was forged or changed on the way"
    )]
    BadSignature(String),
    /// Signed by another endpoint.
    #[error("asked `{asked}`, but the answer is from `{answered}`")]
    WrongEndpoint {
        /// The endpoint asked.
        asked: String,
        /// The one that signed.
        answered: String,
    },
    /// An answer to another request (a replayed answer).
    #[error("the answer from `{0}` is to another request: an old answer replayed")]
    WrongRequest(String),
    /// A stream frame other than the next one: frames were lost, repeated
    /// or reordered on the way.
    #[error(
        "the stream from `{endpoint}` lost or reordered frames on the way: frame {expected} was due, frame {got} came"
    )]
    OutOfOrder {
        /// The endpoint asked.
        endpoint: String,
        /// The frame due.
        expected: u64,
        /// The frame that came.
        got: u64,
    },
}

/// `payload`'s bytes signed under `domain`: (payload in base64, signature in
/// base64).
fn sign_payload(key: &KeyPair, domain: &[u8], payload: &[u8]) -> (String, String) {
    let mut message = domain.to_vec();
    message.extend_from_slice(payload);
    (BASE64.encode(payload), key.sign_base64(&message))
}

/// The payload's bytes, once `signature` verifies with `key` under `domain`.
fn open_payload(
    endpoint: &str,
    key: &PublicKey,
    domain: &[u8],
    payload: &str,
    signature: &str,
) -> Result<Vec<u8>, AnswerError> {
    let payload = BASE64.decode(payload).map_err(|e| AnswerError::Malformed {
        endpoint: endpoint.to_string(),
        why: format!("the payload is not base64: {e}"),
    })?;
    let mut message = domain.to_vec();
    message.extend_from_slice(&payload);
    if !key.verifies_base64(&message, signature) {
        return Err(AnswerError::BadSignature(endpoint.to_string()));
    }
    Ok(payload)
}

impl SignedReply {
    /// `reply` (with its HTTP `status`), signed by `endpoint` with `key`, as
    /// the answer to the request whose bytes hash to `request`.
    pub fn sign<T: Serialize>(
        key: &KeyPair,
        endpoint: &str,
        request: Sha256Digest,
        status: u16,
        reply: &Reply<T>,
    ) -> Result<SignedReply, serde_json::Error> {
        #[derive(Serialize)]
        struct Outgoing<'a, T> {
            endpoint: &'a str,
            request: Sha256Digest,
            status: u16,
            reply: &'a Reply<T>,
        }
        let payload = serde_json::to_vec(&Outgoing {
            endpoint,
            request,
            status,
            reply,
        })?;
        let (payload, signature) = sign_payload(key, ANSWER_DOMAIN, &payload);
        Ok(SignedReply { payload, signature })
    }

    /// The reply, once the signature verifies with `key` (the inventory's
    /// for `endpoint`) and the payload names `endpoint` and `request`.
    pub fn open<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        key: &PublicKey,
        request: Sha256Digest,
    ) -> Result<(u16, Reply<T>), AnswerError> {
        let payload = open_payload(endpoint, key, ANSWER_DOMAIN, &self.payload, &self.signature)?;
        let payload: ReplyPayload<T> =
            serde_json::from_slice(&payload).map_err(|e| AnswerError::Malformed {
                endpoint: endpoint.to_string(),
                why: format!("the signed payload cannot be read: {e}"),
            })?;
        if payload.endpoint != endpoint {
            return Err(AnswerError::WrongEndpoint {
                asked: endpoint.to_string(),
                answered: payload.endpoint,
            });
        }
        if payload.request != request {
            return Err(AnswerError::WrongRequest(endpoint.to_string()));
        }
        Ok((payload.status, payload.reply))
    }
}

/// One frame of a streamed answer as it travels: the payload's bytes and
/// the endpoint's signature of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedFrame {
    /// The [`FramePayload`]'s JSON bytes, in base64.
    pub payload: String,
    /// The endpoint's ed25519 signature over [`FRAME_DOMAIN`] and the
    /// payload's bytes, in base64.
    pub signature: String,
}

/// What a stream frame says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FramePayload {
    /// The endpoint that answers.
    pub endpoint: String,
    /// The sha256 of the request it answers, as the bytes were received.
    pub request: Sha256Digest,
    /// Its place in the stream, from 0.
    pub seq: u64,
    /// The HTTP status `/v1/stream` answers with (200, or a refusal's
    /// status when the request is refused before anything runs).
    pub status: u16,
    /// One line of the stream as `/v1/stream` sends it (a
    /// [`super::StreamLine`]'s JSON); none in a frame that only says the
    /// endpoint is still there and the action still runs.
    pub line: Option<String>,
}

impl SignedFrame {
    /// `frame`, signed with `key` (the key of `frame.endpoint`).
    pub fn sign(key: &KeyPair, frame: &FramePayload) -> Result<SignedFrame, serde_json::Error> {
        let payload = serde_json::to_vec(frame)?;
        let (payload, signature) = sign_payload(key, FRAME_DOMAIN, &payload);
        Ok(SignedFrame { payload, signature })
    }

    /// The frame, once the signature verifies with `key` (the inventory's
    /// for `endpoint`) and the payload names `endpoint`, `request` and the
    /// place `seq`.
    pub fn open(
        &self,
        endpoint: &str,
        key: &PublicKey,
        request: Sha256Digest,
        seq: u64,
    ) -> Result<FramePayload, AnswerError> {
        let payload = open_payload(endpoint, key, FRAME_DOMAIN, &self.payload, &self.signature)?;
        let frame: FramePayload =
            serde_json::from_slice(&payload).map_err(|e| AnswerError::Malformed {
                endpoint: endpoint.to_string(),
                why: format!("the signed frame cannot be read: {e}"),
            })?;
        if frame.endpoint != endpoint {
            return Err(AnswerError::WrongEndpoint {
                asked: endpoint.to_string(),
                answered: frame.endpoint,
            });
        }
        if frame.request != request {
            return Err(AnswerError::WrongRequest(endpoint.to_string()));
        }
        if frame.seq != seq {
            return Err(AnswerError::OutOfOrder {
                endpoint: endpoint.to_string(),
                expected: seq,
                got: frame.seq,
            });
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1::ErrorBody;

    fn reply() -> Reply<u32> {
        Reply::Result(7)
    }

    #[test]
    fn a_signed_answer_opens_only_for_its_endpoint_key_and_request() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let request = Sha256Digest::of(b"request");
        let signed = SignedReply::sign(&key, "pc-1", request, 200, &reply()).unwrap();
        assert!(matches!(
            signed.open::<u32>("pc-1", &key.public(), request),
            Ok((200, Reply::Result(7)))
        ));
        assert_eq!(
            signed
                .open::<u32>("pc-1", &other.public(), request)
                .unwrap_err(),
            AnswerError::BadSignature("pc-1".into())
        );
        assert!(matches!(
            signed.open::<u32>("pc-2", &key.public(), request),
            Err(AnswerError::WrongEndpoint { .. })
        ));
        assert_eq!(
            signed
                .open::<u32>("pc-1", &key.public(), Sha256Digest::of(b"another"))
                .unwrap_err(),
            AnswerError::WrongRequest("pc-1".into())
        );
        // A changed payload no longer verifies.
        let mut changed = signed.clone();
        let forged = SignedReply::sign(
            &other,
            "pc-1",
            request,
            403,
            &Reply::<u32>::Error(ErrorBody {
                code: "x".into(),
                message: "y".into(),
            }),
        )
        .unwrap();
        changed.payload = forged.payload;
        assert_eq!(
            changed
                .open::<u32>("pc-1", &key.public(), request)
                .unwrap_err(),
            AnswerError::BadSignature("pc-1".into())
        );
    }

    #[test]
    fn a_stream_frame_opens_only_in_its_place_and_never_as_an_answer() {
        let key = KeyPair::generate().unwrap();
        let request = Sha256Digest::of(b"request");
        let frame = FramePayload {
            endpoint: "pc-1".into(),
            request,
            seq: 3,
            status: 200,
            line: Some("{\"event\":\"stdout\",\"text\":\"hi\"}".into()),
        };
        let signed = SignedFrame::sign(&key, &frame).unwrap();
        assert_eq!(signed.open("pc-1", &key.public(), request, 3), Ok(frame));
        assert_eq!(
            signed.open("pc-1", &key.public(), request, 2),
            Err(AnswerError::OutOfOrder {
                endpoint: "pc-1".into(),
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            signed.open("pc-1", &key.public(), Sha256Digest::of(b"other"), 3),
            Err(AnswerError::WrongRequest("pc-1".into()))
        );
        assert!(matches!(
            signed.open("pc-2", &key.public(), request, 3),
            Err(AnswerError::WrongEndpoint { .. })
        ));
        // A frame's signature is not an answer's, nor the other way round.
        let as_answer = SignedReply {
            payload: signed.payload.clone(),
            signature: signed.signature.clone(),
        };
        assert_eq!(
            as_answer
                .open::<u32>("pc-1", &key.public(), request)
                .unwrap_err(),
            AnswerError::BadSignature("pc-1".into())
        );
        let answer = SignedReply::sign(&key, "pc-1", request, 200, &reply()).unwrap();
        let as_frame = SignedFrame {
            payload: answer.payload,
            signature: answer.signature,
        };
        assert_eq!(
            as_frame.open("pc-1", &key.public(), request, 0),
            Err(AnswerError::BadSignature("pc-1".into()))
        );
    }
}
