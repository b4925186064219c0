//! The HTTP API. Every request but `health`, `consent` and `activity` is a
//! signed request of the policy core (`POST /v1/requests`, answered in one
//! JSON document; `POST /v1/stream` for `invoke` and `follow-invocation`,
//! answered in JSON lines as the action writes its output); the end user's
//! consent (`POST /v1/consent`), and their view of what ran in a session
//! they consented to (`POST /v1/activity`), are taken only over the local
//! socket, from the kernel's word on who is at the other end. Errors are JSON:
//! `{"error": {"code": "<stable code>", "message": "<a sentence>"}}`.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use salve::api::v1::{
    Activity, ActivityRequest, Answer, AuditSyncs, ConsentRequest, ErrorBody, Health, HealthStatus,
    InvokeAnswer, Operation, Reply, StreamEvent, StreamLine,
};
use salve::audit::{Kind, Record};
use salve::endpoint::live::{FeedItem, Watcher};
use salve::endpoint::{Endpoint, Refusal, RefusalKind};
use salve::identity::SignedRequest;
use salve::session::ConsentingUser;
use salve::source::RequestSource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A local user, as the kernel names them.
    Local(ConsentingUser),
    /// A remote client over TLS.
    Remote(std::net::SocketAddr),
    /// A request carried by the fleet's broker (its URL).
    Broker(String),
}

impl Peer {
    /// Where a request came from, as audit records say it (`source`):
    /// `ip:port`, or `local:uid=<n>(<name>)`.
    fn source(&self) -> String {
        match self {
            Peer::Local(user) => RequestSource::local(user.uid, user.name.clone()).to_string(),
            Peer::Remote(address) => address.to_string(),
            Peer::Broker(server) => format!("fleet:{server}"),
        }
    }
}

pub struct Api {
    pub endpoint: Arc<Endpoint>,
    pub limit: Arc<Semaphore>,
    /// Authenticated requests answered "busy" and not logged yet: they are
    /// logged as one `request.refused` record per interval (see
    /// `serve::log_busy_refusals`), not one each — under overload a durable
    /// record per refusal would add to the load it sheds.
    pub busy_refused: AtomicU64,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub fingerprint: Option<String>,
    /// The link to the fleet's broker, for an endpoint on a fleet.
    pub fleet: Option<Arc<super::fleet::FleetLink>>,
}

/// A JSON error answer.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body: Reply<()> = Reply::Error(ErrorBody {
        code: code.to_string(),
        message: message.into(),
    });
    (status, axum::Json(body)).into_response()
}

/// A JSON answer, `{"result": …}`.
fn result<T: Serialize>(answer: T) -> Response {
    axum::Json(Reply::Result(answer)).into_response()
}

fn refusal(refusal: &Refusal) -> Response {
    error(status_of(refusal.kind()), refusal.code(), message(refusal))
}

/// A refusal's sentence; for an operation sent to the wrong route, which
/// route to send it to (the library knows operations, not routes).
fn message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NotStreamed { .. } => "only `invoke` and `follow-invocation` are streamed: send other operations to /v1/requests".to_string(),
        Refusal::StreamedOnly => "follow-invocation streams its answer: send it to /v1/stream".to_string(),
        other => other.to_string(),
    }
}

/// The HTTP status of each kind of refusal: exhaustive, so that a new kind
/// cannot be answered without one.
fn status_of(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::BadRequest => StatusCode::BAD_REQUEST,
        RefusalKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        RefusalKind::NotFound => StatusCode::NOT_FOUND,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        RefusalKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/requests", post(requests))
        .route("/v1/stream", post(stream))
        .route("/v1/consent", post(consent))
        .route("/v1/activity", post(activity))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no-such-route",
                "no such API route: see docs/reference/api.md",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this route does not take that method",
            )
        })
        .with_state(api)
}

async fn health(State(api): State<Arc<Api>>) -> Response {
    let syncs = api.endpoint.audit().sync_stats();
    let per_sync = |value: f64| value / syncs.syncs.max(1) as f64;
    // A stopped audit log refuses every operation: the service is not
    // healthy (and stops itself within a second).
    let audit_stopped = api.endpoint.audit().stopped();
    let status = if audit_stopped.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let answer = axum::Json(Health {
        status: if audit_stopped.is_some() {
            HealthStatus::AuditStopped
        } else {
            HealthStatus::Ok
        },
        audit_stopped,
        endpoint: api.endpoint.id().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        actions: api.endpoint.catalog().entries().count(),
        running: api.endpoint.running(),
        audit_key: api.endpoint.audit().checkpoint_key().map(|k| k.to_string()),
        // Group commit at work: records per fdatasync, and what one costs.
        audit_syncs: AuditSyncs {
            syncs: syncs.syncs,
            records: syncs.records,
            records_per_sync: per_sync(syncs.records as f64),
            mean_sync_us: per_sync(syncs.time.as_secs_f64() * 1e6),
        },
        tls_fingerprint: api.fingerprint.clone(),
        fleet_connected: api.fleet.as_ref().map(|link| link.connected()),
    });
    (status, answer).into_response()
}

/// Logs a request refused before it could be authenticated (a body too
/// large, too slow or not a signed request; consent from the network), then
/// answers it. A log that cannot take the record is reported in `tracing`:
/// the answer is a refusal either way.
async fn refused(
    api: &Api,
    peer: &Peer,
    status: StatusCode,
    code: &str,
    message: String,
) -> Response {
    log_refused(api, peer, code, &message).await;
    error(status, code, message)
}

/// Logs a request refused before it could be authenticated.
async fn log_refused(api: &Api, peer: &Peer, code: &str, message: &str) {
    let message = message.to_string();
    let mut record = Record::event(Kind::RequestRefused);
    record.endpoint = Some(api.endpoint.id().to_string());
    record.decision = Some("refused".to_string());
    record.reason_code = Some(code.to_string());
    record.reason = Some(salve::endpoint::refusal_reason(message.clone()));
    record.source = Some(peer.source());
    let endpoint = api.endpoint.clone();
    match tokio::task::spawn_blocking(move || endpoint.log_unauthenticated_refusal(record)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, code, "cannot log a refused request"),
        Err(error) => tracing::error!(%error, code, "cannot log a refused request"),
    }
    tracing::info!(code, ?peer, "request refused: {message}");
}

/// A signed request's bytes, as another transport (the fleet) carries
/// them, answered as `/v1/requests` answers them: the HTTP status it would
/// have, and the reply. Refusals are logged as over HTTP.
pub async fn answer_bytes(api: &Arc<Api>, peer: &Peer, bytes: &[u8]) -> (u16, Reply<Answer>) {
    let refusal = |status: StatusCode, code: &str, message: String| {
        (
            status.as_u16(),
            Reply::Error(ErrorBody {
                code: code.to_string(),
                message,
            }),
        )
    };
    if bytes.len() > api.max_body_bytes {
        let message = format!(
            "the request is larger than this endpoint takes ({} bytes)",
            api.max_body_bytes
        );
        log_refused(api, peer, "body-too-large", &message).await;
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", message);
    }
    let signed: SignedRequest = match serde_json::from_slice(bytes) {
        Ok(signed) => signed,
        Err(e) => {
            let message = format!(
                "the message is not a signed request ({e}): send {{\"payload\": …, \"signature\": …}} as `salve sign` makes it"
            );
            log_refused(api, peer, "malformed-request", &message).await;
            return refusal(StatusCode::BAD_REQUEST, "malformed-request", message);
        }
    };
    let (endpoint, counted) = (api.endpoint.clone(), api.clone());
    let source = peer.source();
    let answer = tokio::task::spawn_blocking(move || {
        let (who, operation) = match endpoint.authenticate_from::<Operation>(&signed, Some(&source))
        {
            Ok(opened) => opened,
            Err(refused) => return Some(Err(refused)),
        };
        let _permit = permit(&counted)?;
        Some(endpoint.execute(&who, operation))
    })
    .await;
    match answer {
        Ok(Some(Ok(answer))) => (200, Reply::Result(answer)),
        Ok(Some(Err(refused))) => {
            refusal(status_of(refused.kind()), refused.code(), message(&refused))
        }
        Ok(None) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the endpoint is at its concurrency limit: try again shortly".to_string(),
        ),
        Err(join) => {
            tracing::error!(error = %join, "a request handler failed");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request failed inside the service; it is logged".to_string(),
            )
        }
    }
}

/// Reads a body of at most `max_body_bytes` within `body_timeout`; a body
/// refused is logged.
async fn read_body(api: &Api, peer: &Peer, body: Body) -> Result<axum::body::Bytes, Response> {
    let (status, code, message) = match tokio::time::timeout(
        api.body_timeout,
        axum::body::to_bytes(body, api.max_body_bytes),
    )
    .await
    {
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "slow-body",
            format!(
                "the request body did not arrive within {} s",
                api.body_timeout.as_secs()
            ),
        ),
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the request body is larger than {} bytes (or was cut off)",
                api.max_body_bytes
            ),
        ),
        Ok(Ok(bytes)) => return Ok(bytes),
    };
    Err(refused(api, peer, status, code, message).await)
}

fn busy() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the endpoint is at its concurrency limit: try again shortly",
    )
}

/// Reads a signed request's body. No concurrency permit is held meanwhile,
/// nor while it is authenticated: a slow client, or one whose requests are
/// refused before they are authenticated (malformed, badly signed,
/// replayed), takes none of the places of those that are served. The
/// connection limits bound how many are read and authenticated at once.
async fn signed_request(api: &Api, peer: &Peer, body: Body) -> Result<SignedRequest, Response> {
    let bytes = read_body(api, peer, body).await?;
    match serde_json::from_slice(&bytes) {
        Ok(signed) => Ok(signed),
        Err(e) => Err(refused(
            api,
            peer,
            StatusCode::BAD_REQUEST,
            "malformed-request",
            format!(
                "the body is not a signed request ({e}): send {{\"payload\": …, \"signature\": …}} as `salve sign` makes it"
            ),
        )
        .await),
    }
}

/// A concurrency permit for an authenticated request, or `None` at the
/// limit (counted, to be logged: see [`Api::busy_refused`]).
fn permit(api: &Api) -> Option<OwnedSemaphorePermit> {
    let permit = api.limit.clone().try_acquire_owned().ok();
    if permit.is_none() {
        api.busy_refused.fetch_add(1, Ordering::AcqRel);
        tracing::warn!("busy: request refused at the concurrency limit");
    }
    permit
}

async fn requests(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let signed = match signed_request(&api, &peer, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let (endpoint, counted) = (api.endpoint.clone(), api.clone());
    let source = peer.source();
    // `None`: busy.
    let answer = tokio::task::spawn_blocking(move || {
        let (who, operation) = match endpoint.authenticate_from::<Operation>(&signed, Some(&source))
        {
            Ok(opened) => opened,
            Err(refused) => return Some(Err(refused)),
        };
        let _permit = permit(&counted)?;
        Some(endpoint.execute(&who, operation))
    })
    .await;
    match answer {
        Ok(Some(Ok(answer))) => result(answer),
        Ok(Some(Err(refused))) => refusal(&refused),
        Ok(None) => busy(),
        Err(join) => internal(&join),
    }
}

fn internal(join: &tokio::task::JoinError) -> Response {
    tracing::error!(error = %join, "a request handler failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request failed inside the service; it is logged",
    )
}

/// `POST /v1/stream`: `invoke` or `follow-invocation`, answered in JSON
/// lines — `{"event": "started", …}`, then the action's output as it writes
/// it (`{"event": "log" | "stdout" | "stderr", …}`), then one last line that
/// is the answer `/v1/requests` would give, `{"result": …}` or
/// `{"error": …}`. A refusal found before anything runs (a bad signature,
/// an unknown invocation) is an ordinary error answer.
async fn stream(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let signed = match signed_request(&api, &peer, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let endpoint = api.endpoint.clone();
    let source = peer.source();
    let opened = tokio::task::spawn_blocking(move || {
        endpoint.authenticate_from::<Operation>(&signed, Some(&source))
    })
    .await;
    let (who, operation) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(refused)) => return refusal(&refused),
        Err(join) => return internal(&join),
    };
    let Some(permit) = permit(&api) else {
        return busy();
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
                Ok(Err(refused)) => return refusal(&refused),
                Err(join) => return internal(&join),
            }
        }
        other => {
            drop(permit);
            let refused =
                tokio::task::spawn_blocking(move || endpoint.not_streamed(&who, &other)).await;
            return match refused {
                Ok(refused) => refusal(&refused),
                Err(join) => internal(&join),
            };
        }
    }
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::new(body))
        .unwrap_or_else(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the stream could not be started",
            )
        })
}

fn answer_line<T: Serialize>(answer: Result<T, Refusal>) -> axum::body::Bytes {
    let reply = match answer {
        Ok(answer) => Reply::Result(answer),
        Err(refused) => Reply::Error(ErrorBody {
            code: refused.code().to_string(),
            message: message(&refused),
        }),
    };
    line(&StreamLine::End(reply))
}

fn line<T: Serialize>(value: &StreamLine<T>) -> axum::body::Bytes {
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
struct LineBody {
    receiver: UnboundedReceiver<axum::body::Bytes>,
    queued: Arc<AtomicUsize>,
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

/// The local user and the session a local-only request names
/// (`{"session": "s-…", …}`, with the rest of the body), or the refusal:
/// `remote` is the refusal's sentence for a client over the network.
async fn local_request<T: DeserializeOwned>(
    api: &Api,
    peer: &Peer,
    body: Body,
    remote: &str,
    usage: &str,
) -> Result<(ConsentingUser, T), Response> {
    let user = match peer {
        Peer::Local(user) => user.clone(),
        Peer::Remote(_) | Peer::Broker(_) => {
            return Err(refused(
                api,
                peer,
                StatusCode::FORBIDDEN,
                "local-only",
                remote.to_string(),
            )
            .await);
        }
    };
    let bytes = read_body(api, peer, body).await?;
    match serde_json::from_slice::<T>(&bytes) {
        Ok(request) => Ok((user, request)),
        Err(_) => Err(refused(
            api,
            peer,
            StatusCode::BAD_REQUEST,
            "malformed-request",
            usage.to_string(),
        )
        .await),
    }
}

async fn consent(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    const USAGE: &str =
        "send {\"session\": \"s-…\"}, with \"preview\": true to see it without consenting";
    let (user, request) = match local_request::<ConsentRequest>(
        &api,
        &peer,
        body,
        "consent is given only at the endpoint, over its local socket",
        USAGE,
    )
    .await
    {
        Ok(named) => named,
        Err(response) => return response,
    };
    let ConsentRequest { session, preview } = request;
    let Some(permit) = permit(&api) else {
        return busy();
    };
    let endpoint = api.endpoint.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if preview {
            endpoint.consent_preview(&user, &session)
        } else {
            endpoint.consent(user, &session)
        }
    })
    .await;
    match answer {
        Ok(Ok(session)) => result(session),
        Ok(Err(refused)) => refusal(&refused),
        Err(join) => internal(&join),
    }
}

/// `POST /v1/activity`: what ran in a session, for the end user who
/// consented to it, over the local socket (who they are from the kernel,
/// as for consent).
async fn activity(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let (user, ActivityRequest { session }) = match local_request(
        &api,
        &peer,
        body,
        "what ran in a session is shown only at the endpoint, over its local socket, to the user who consented to it",
        "send {\"session\": \"s-…\"}: a session you consented to at this endpoint",
    )
    .await
    {
        Ok(named) => named,
        Err(response) => return response,
    };
    let Some(permit) = permit(&api) else {
        return busy();
    };
    let endpoint = api.endpoint.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        endpoint.consented_activity(&user, &session)
    })
    .await;
    match answer {
        Ok(Ok((session, invocations))) => result(Activity {
            session,
            invocations,
        }),
        Ok(Err(refused)) => refusal(&refused),
        Err(join) => internal(&join),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salve::InvokeError;
    use salve::host::output::OutputEvent;
    use salve::identity::{AuthError, PrincipalId};
    use salve::policy::PolicyRefusal;
    use salve::session::SessionRefusal;

    /// Each refusal keeps the code and HTTP status it had when statuses were
    /// looked up by code (an unknown code then fell to 403).
    #[test]
    fn refusals_keep_their_codes_and_statuses() {
        let bob: PrincipalId = "bob".parse().unwrap();
        let cases: Vec<(Refusal, &str, StatusCode)> = vec![
            (
                AuthError::Malformed("x".into()).into(),
                "malformed-request",
                StatusCode::BAD_REQUEST,
            ),
            (
                AuthError::UnknownPrincipal("x".into()).into(),
                "unknown-principal",
                StatusCode::UNAUTHORIZED,
            ),
            (
                AuthError::BadSignature(bob.clone()).into(),
                "bad-signature",
                StatusCode::UNAUTHORIZED,
            ),
            (
                AuthError::Stale {
                    timestamp_ms: 0,
                    skew_ms: 0,
                    allowed_ms: 0,
                }
                .into(),
                "stale-request",
                StatusCode::UNAUTHORIZED,
            ),
            (
                AuthError::Replayed("n".into()).into(),
                "replayed-request",
                StatusCode::UNAUTHORIZED,
            ),
            (
                AuthError::Stopping.into(),
                "stopping",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                AuthError::ReplayState("x".into()).into(),
                "state-store",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                AuthError::WrongEndpoint {
                    asked: "a".into(),
                    this: "b".into(),
                }
                .into(),
                "wrong-endpoint",
                StatusCode::FORBIDDEN,
            ),
            (
                SessionRefusal::Invalid("x".into()).into(),
                "invalid-request",
                StatusCode::BAD_REQUEST,
            ),
            (
                PolicyRefusal::UnknownPrincipal(bob).into(),
                "unknown-principal",
                StatusCode::UNAUTHORIZED,
            ),
            (
                Refusal::NotFound {
                    what: "session",
                    id: "s".into(),
                },
                "not-found",
                StatusCode::NOT_FOUND,
            ),
            (
                InvokeError::Busy { limit: 1 }.into(),
                "busy",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                InvokeError::InvalidInput { reason: "x".into() }.into(),
                "invalid-input",
                StatusCode::BAD_REQUEST,
            ),
            (
                InvokeError::RuntimeFailed {
                    action: "a".into(),
                    reason: "x".into(),
                }
                .into(),
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                InvokeError::Sandbox {
                    action: "a".into(),
                    reason: "x".into(),
                }
                .into(),
                "not-runnable",
                StatusCode::FORBIDDEN,
            ),
            (
                Refusal::AuditCorrupt("x".into()),
                "audit-corrupt",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Refusal::StreamedOnly,
                "streamed-only",
                StatusCode::BAD_REQUEST,
            ),
            (
                Refusal::NotStreamed {
                    operation: "list-catalog",
                },
                "not-streamed",
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (refusal, code, status) in cases {
            assert_eq!(refusal.code(), code, "{refusal}");
            assert_eq!(status_of(refusal.kind()), status, "{code}");
        }
    }

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
