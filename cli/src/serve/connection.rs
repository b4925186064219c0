//! What every accepted connection is held to before HTTP sees it: a bounded
//! number of connections open at once, and a deadline on every write that
//! the client does not take.
//!
//! Without these, a client could hold the service's file descriptors with
//! connections that never send a request, or its memory with answers it
//! never reads. A silent connection is closed by HTTP's own header deadline
//! (`request-timeout-seconds`, which runs from the moment the connection is
//! served: the service speaks HTTP/1.1 only, so it does not first wait to
//! read which protocol the client wants).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// The answer to a connection over the limit, written before it is closed:
/// the same JSON error as any other "busy".
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
connection: close\r\n\
content-length: 110\r\n\
\r\n\
{\"error\":{\"code\":\"busy\",\"message\":\"the endpoint has as many connections open as it takes: try again shortly\"}}";

/// The limits every connection to one listener is held to. Each listener
/// has its own: connections from the network cannot take the local
/// socket's places (the end user's consent comes only over it).
#[derive(Clone)]
pub struct Connections {
    open: Arc<Semaphore>,
    limit: usize,
    send_timeout: Duration,
    /// The listener, for the log.
    listener: &'static str,
    /// When a refusal was last logged, in seconds since the epoch: at most
    /// one a second is, so that a flood does not flood the journal too.
    last_warned: Arc<AtomicU64>,
    /// Refusals since then.
    unlogged: Arc<AtomicU64>,
}

/// A connection's place among those open; freed when it closes.
pub struct Slot {
    _open: OwnedSemaphorePermit,
}

impl Connections {
    /// At most `limit` connections open at once (over both listeners); a
    /// write the client leaves untaken for `send_timeout` ends its
    /// connection.
    pub fn new(listener: &'static str, limit: usize, send_timeout: Duration) -> Connections {
        Connections {
            open: Arc::new(Semaphore::new(limit)),
            limit,
            send_timeout,
            listener,
            last_warned: Arc::default(),
            unlogged: Arc::default(),
        }
    }

    /// A slot for one more connection, or `None` when `limit` are open.
    pub fn admit(&self) -> Option<Slot> {
        match self.open.clone().try_acquire_owned() {
            Ok(permit) => Some(Slot { _open: permit }),
            Err(_) => {
                let refused = self.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if self.last_warned.swap(now, Ordering::Relaxed) != now {
                    self.unlogged.fetch_sub(refused, Ordering::Relaxed);
                    tracing::warn!(
                        listener = self.listener,
                        limit = self.limit,
                        refused,
                        "busy: connections refused at the connection limit"
                    );
                }
                None
            }
        }
    }

    /// `stream`, whose writes fail with `TimedOut` once one has waited
    /// `send_timeout` for the client to take what was sent.
    pub fn timed<S: AsyncRead + AsyncWrite>(&self, stream: S) -> Pin<Box<TimeoutStream<S>>> {
        let mut timed = TimeoutStream::new(stream);
        timed.set_write_timeout(Some(self.send_timeout));
        Box::pin(timed)
    }
}

/// Tells a local client over the limit that the endpoint is busy, if its
/// socket takes the answer at once, then closes the connection. (A TLS
/// client over the limit is closed without a word: answering would take a
/// handshake, the work the limit is there to refuse.)
pub fn refuse(stream: tokio::net::UnixStream) {
    let _ = stream.try_write(BUSY);
}

#[cfg(test)]
mod tests {
    use super::BUSY;

    #[test]
    fn the_busy_answer_declares_its_own_length_and_is_json() {
        let text = std::str::from_utf8(BUSY).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(body["error"]["code"], "busy");
    }
}
