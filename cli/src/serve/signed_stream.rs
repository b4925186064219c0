//! A streamed answer (`invoke`, `follow-invocation`) as the endpoint signs
//! it for a transport it does not trust: every line `/v1/stream` would send,
//! as a numbered frame signed with the endpoint's key and bound to the
//! request, and a frame that only says it is still there after each
//! [`STILL_THERE_EVERY`] of silence. The frames go to the broker (the
//! fleet) or into an HTTP body (`/v1/signed-stream`, for the console).

use super::api::{self, Api, Peer};
use super::streaming;
use salve::api::v1::{FramePayload, Reply, SignedFrame, StreamLine};
use salve::digest::Sha256Digest;
use salve::identity::KeyPair;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How long a streamed answer may be silent (the action writes nothing)
/// before the endpoint sends a frame that only says it is still there: a
/// client tells an action that runs quietly from an endpoint or a broker
/// that went away.
const STILL_THERE_EVERY: Duration = Duration::from_secs(5);

/// Where the frames go.
pub enum FrameSink {
    /// To an inbox, through the broker.
    Broker {
        client: async_nats::Client,
        reply_to: async_nats::Subject,
    },
    /// Into an HTTP body, one frame's JSON a line.
    Body(UnboundedSender<axum::body::Bytes>),
}

/// The frames of one streamed answer, numbered from 0, each signed by the
/// endpoint and bound to the request.
pub struct Frames {
    key: Arc<KeyPair>,
    endpoint: String,
    request: Sha256Digest,
    seq: u64,
    sink: FrameSink,
}

impl Frames {
    /// The frames `endpoint` signs with `key` for the request whose bytes
    /// hash to `request`, sent to `sink`.
    pub fn new(
        key: Arc<KeyPair>,
        endpoint: &str,
        request: Sha256Digest,
        sink: FrameSink,
    ) -> Frames {
        Frames {
            key,
            endpoint: endpoint.to_string(),
            request,
            seq: 0,
            sink,
        }
    }

    /// Sends the next frame: `line` (none: still there). False when it
    /// cannot be sent: nothing more is.
    async fn send(&mut self, status: u16, line: Option<&[u8]>) -> bool {
        let frame = FramePayload {
            endpoint: self.endpoint.clone(),
            request: self.request,
            seq: self.seq,
            status,
            line: line.map(|l| String::from_utf8_lossy(l).trim_end().to_string()),
        };
        let mut bytes =
            match SignedFrame::sign(&self.key, &frame).and_then(|f| serde_json::to_vec(&f)) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::error!(%error, "cannot sign a stream frame");
                    return false;
                }
            };
        self.seq += 1;
        match &self.sink {
            FrameSink::Broker { client, reply_to } => {
                match crate::parts::publish(client, reply_to.clone(), bytes).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, "a stream frame could not be sent to the broker");
                        false
                    }
                }
            }
            FrameSink::Body(body) => {
                bytes.push(b'\n');
                body.send(bytes.into()).is_ok()
            }
        }
    }
}

/// Answers the streamed request `payload` in signed frames. The invocation
/// runs to its end whether or not the frames reach anyone (its record is in
/// the log).
pub async fn answer(api: &Arc<Api>, peer: &Peer, payload: &[u8], mut frames: Frames) {
    let opened = match api::signed_from_bytes(api, peer, payload).await {
        Ok(signed) => streaming::open(api, peer, signed).await,
        Err(refused) => Err(refused),
    };
    let mut lines = match opened {
        Ok(lines) => lines,
        Err((status, body)) => {
            let line = streaming::line::<()>(&StreamLine::End(Reply::Error(body)));
            frames.send(status.as_u16(), Some(&line)).await;
            return;
        }
    };
    let mut reaching = true;
    loop {
        match tokio::time::timeout(STILL_THERE_EVERY, lines.next_line()).await {
            Ok(Some(line)) => {
                if reaching {
                    reaching = frames.send(200, Some(&line)).await;
                }
            }
            Ok(None) => break,
            Err(_) if reaching => reaching = frames.send(200, None).await,
            Err(_) => {}
        }
    }
}
