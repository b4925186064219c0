//! Answers streamed as the action runs (`invoke`, `follow-invocation`): JSON
//! lines — `{"event": "started", …}`, then the action's output as it writes
//! it (`{"event": "log" | "stdout" | "stderr", …}`), then one last line that
//! is the answer `/v1/requests` would give, `{"result": …}` or
//! `{"error": …}`. One source of lines for every transport: the HTTP route
//! sends them as its body, the fleet as signed frames.

use super::api::{self, Api, Peer};
use axum::http::StatusCode;
use salve::api::v1::{ErrorBody, InvokeAnswer, Operation, Reply, StreamEvent, StreamLine};
use salve::endpoint::Refusal;
use salve::endpoint::live::{FeedItem, Watcher};
use salve::identity::SignedRequest;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Authenticates `signed` and starts what it asks: the lines of its answer
/// as they come, or why it is refused before anything runs (the status
/// `/v1/stream` answers it with, and the error).
pub async fn open(
    api: &Arc<Api>,
    peer: &Peer,
    signed: SignedRequest,
) -> Result<LineBody, (StatusCode, ErrorBody)> {
    let endpoint = api.endpoint.clone();
    let source = peer.source();
    let opened = tokio::task::spawn_blocking(move || {
        endpoint.authenticate_from::<Operation>(&signed, Some(&source))
    })
    .await;
    let (who, operation) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(refused)) => return Err(api::refused_body(&refused)),
        Err(join) => return Err(api::internal_body(&join)),
    };
    let Some(permit) = api::permit(api) else {
        return Err(api::busy_body());
    };
    let (lines, body) = line_channel();
    let endpoint = api.endpoint.clone();
    match operation {
        Operation::Invoke {
            session,
            action,
            input,
        } => {
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let watcher = Arc::new(Lines {
                    lines: lines.clone(),
                    answer_on_end: false,
                });
                let answer = endpoint
                    .invoke_watched(&who, &session, &action, &input.to_string(), Some(watcher))
                    .map(|outcome| InvokeAnswer::from(&outcome));
                let _ = lines.send(answer_line(answer));
            });
        }
        Operation::FollowInvocation { invocation } => {
            drop(permit);
            // What the invocation wrote so far is sent at once, before the
            // client can read any of it: that backlog is not lag.
            lines.hold_backlog();
            let backlog = lines.clone();
            let watcher = Arc::new(Lines {
                lines,
                answer_on_end: true,
            });
            let followed =
                tokio::task::spawn_blocking(move || endpoint.follow(&who, &invocation, watcher))
                    .await;
            backlog.backlog_sent();
            match followed {
                Ok(Ok(())) => {}
                Ok(Err(refused)) => return Err(api::refused_body(&refused)),
                Err(join) => return Err(api::internal_body(&join)),
            }
        }
        other => {
            drop(permit);
            let refused =
                tokio::task::spawn_blocking(move || endpoint.not_streamed(&who, &other)).await;
            return Err(match refused {
                Ok(refused) => api::refused_body(&refused),
                Err(join) => api::internal_body(&join),
            });
        }
    }
    Ok(body)
}

/// The last line of a stream: `answer`, or why it was refused.
pub fn answer_line<T: Serialize>(answer: Result<T, Refusal>) -> axum::body::Bytes {
    let reply = match answer {
        Ok(answer) => Reply::Result(answer),
        Err(refused) => Reply::Error(ErrorBody {
            code: refused.code().to_string(),
            message: api::message(&refused),
        }),
    };
    line(&StreamLine::End(reply))
}

/// `value` as one JSON line.
pub fn line<T: Serialize>(value: &StreamLine<T>) -> axum::body::Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes.into()
}

/// Most bytes of lines waiting for one streaming client to read them: a
/// follower that reads slower than the action writes is cut off (`lagged`)
/// rather than held in memory without end.
const MAX_QUEUED_BYTES: usize = 8 << 20;

/// Where lines for a streaming client are sent, counting the bytes not yet
/// taken by its response body.
#[derive(Clone)]
struct LineSender {
    lines: UnboundedSender<axum::body::Bytes>,
    queued: Arc<AtomicUsize>,
    /// How many bytes may wait: [`MAX_QUEUED_BYTES`], plus a backlog sent
    /// before the client could read anything (unbounded while it is sent).
    limit: Arc<AtomicUsize>,
}

impl LineSender {
    /// Sends `bytes`; false when the client has gone.
    fn send(&self, bytes: axum::body::Bytes) -> bool {
        self.queued.fetch_add(bytes.len(), Ordering::AcqRel);
        self.lines.send(bytes).is_ok()
    }

    /// Whether `len` more bytes would go past the limit.
    fn full(&self, len: usize) -> bool {
        self.queued.load(Ordering::Acquire) + len > self.limit.load(Ordering::Acquire)
    }

    /// A backlog is about to be sent: it does not count as lag.
    fn hold_backlog(&self) {
        self.limit.store(usize::MAX, Ordering::Release);
    }

    /// The backlog is sent: from now on, the client may fall
    /// [`MAX_QUEUED_BYTES`] behind what it has not read of it.
    fn backlog_sent(&self) {
        let queued = self.queued.load(Ordering::Acquire);
        self.limit
            .store(queued.saturating_add(MAX_QUEUED_BYTES), Ordering::Release);
    }
}

/// A channel of lines for one streaming client, and the response body that
/// sends them.
fn line_channel() -> (LineSender, LineBody) {
    let (lines, receiver) = unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        LineSender {
            lines,
            queued: queued.clone(),
            limit: Arc::new(AtomicUsize::new(MAX_QUEUED_BYTES)),
        },
        LineBody { receiver, queued },
    )
}

/// A follower that turns each item into a JSON line for the client; it
/// stops following when the client has gone, or has fallen more than
/// [`MAX_QUEUED_BYTES`] behind (its last line then says `lagged`).
struct Lines {
    lines: LineSender,
    /// For `follow-invocation`: the invocation as it ended is the answer.
    answer_on_end: bool,
}

impl Watcher for Lines {
    fn item(&self, item: FeedItem<'_>) -> bool {
        let value = match item {
            FeedItem::Started(record) => line::<()>(&StreamLine::Event(StreamEvent::Started {
                invocation: Box::new(record.clone()),
            })),
            FeedItem::Output(event) => line::<()>(&StreamLine::Event(event.clone().into())),
            FeedItem::Ended(record) if self.answer_on_end => {
                line(&StreamLine::End(Reply::Result(record)))
            }
            FeedItem::Ended(_) => return true,
        };
        if self.lines.full(value.len()) {
            let lagged = StreamEvent::Lagged {
                message: format!(
                    "this client fell more than {} MiB behind the action's output: no more of it is sent (`salve invocation show` has it once the action ends)",
                    MAX_QUEUED_BYTES >> 20
                ),
            };
            let _ = self.lines.send(line::<()>(&StreamLine::Event(lagged)));
            return false;
        }
        self.lines.send(value)
    }
}

/// A response body of the lines sent to it, ending when every sender has
/// gone.
pub struct LineBody {
    receiver: UnboundedReceiver<axum::body::Bytes>,
    queued: Arc<AtomicUsize>,
}

impl LineBody {
    /// The next line, once it is sent; `None` when the stream has ended.
    pub async fn next_line(&mut self) -> Option<axum::body::Bytes> {
        let bytes = self.receiver.recv().await?;
        self.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
        Some(bytes)
    }
}

impl hyper::body::Body for LineBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = self.receiver.poll_recv(cx);
        if let std::task::Poll::Ready(Some(bytes)) = &polled {
            self.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
        }
        polled.map(|line| line.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salve::host::output::OutputEvent;

    #[test]
    fn a_follower_that_does_not_read_is_cut_off_with_lagged() {
        let (lines, mut body) = line_channel();
        let follower = Lines {
            lines,
            answer_on_end: false,
        };
        let chunk = OutputEvent::Stdout {
            text: "x".repeat(64 << 10),
        };
        // Nobody reads: after 8 MiB, the follower stops.
        let mut sent = 0;
        while follower.item(FeedItem::Output(&chunk)) {
            sent += 1;
            assert!(sent < 1000, "never cut off");
        }
        assert!(sent >= 100, "cut off early: {sent}");
        let mut last = None;
        while let Ok(line) = body.receiver.try_recv() {
            last = Some(line);
        }
        let last = StreamLine::<()>::parse(&last.unwrap()).unwrap();
        assert!(
            matches!(last, StreamLine::Event(StreamEvent::Lagged { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn a_backlog_sent_before_the_client_reads_is_not_lag() {
        let (lines, _body) = line_channel();
        lines.hold_backlog();
        let follower = Lines {
            lines: lines.clone(),
            answer_on_end: true,
        };
        let chunk = OutputEvent::Stdout {
            text: "x".repeat(1 << 20),
        };
        for _ in 0..20 {
            assert!(
                follower.item(FeedItem::Output(&chunk)),
                "cut off in the backlog"
            );
        }
        lines.backlog_sent();
        // Then 8 MiB more may wait, not one byte beyond.
        let mut sent = 0;
        while follower.item(FeedItem::Output(&chunk)) {
            sent += 1;
        }
        assert_eq!(sent, 7);
    }

    #[test]
    fn what_the_body_takes_no_longer_counts() {
        let (lines, body) = line_channel();
        assert!(lines.send(axum::body::Bytes::from(vec![b'x'; MAX_QUEUED_BYTES])));
        assert!(lines.full(1));
        let mut body = std::pin::pin!(body);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let polled = hyper::body::Body::poll_frame(body.as_mut(), &mut cx);
        assert!(matches!(polled, std::task::Poll::Ready(Some(Ok(_)))));
        assert!(!lines.full(1));
    }
}
