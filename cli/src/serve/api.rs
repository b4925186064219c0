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
use salve::Sha256Digest;
use salve::api::v1::{
    Activity, ActivityRequest, Answer, AuditSyncs, ConsentRequest, ErrorBody, Health, HealthStatus,
    Operation, Reply, SignedReply,
};
use salve::audit::{Kind, Record};
use salve::endpoint::{Endpoint, Refusal, RefusalKind};
use salve::identity::{KeyPair, SignedRequest};
use salve::session::ConsentingUser;
use salve::source::RequestSource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
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
    pub fn source(&self) -> String {
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
    /// The endpoint's key, which signs answers on `/v1/signed-requests`
    /// and over the fleet.
    pub key: Arc<KeyPair>,
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
    error_response(refused_body(refusal))
}

/// An error as an HTTP answer.
fn error_response((status, body): (StatusCode, ErrorBody)) -> Response {
    error(status, &body.code, body.message)
}

/// A refusal as any transport answers it: its HTTP status and its error.
pub fn refused_body(refusal: &Refusal) -> (StatusCode, ErrorBody) {
    (
        status_of(refusal.kind()),
        ErrorBody {
            code: refusal.code().to_string(),
            message: message(refusal),
        },
    )
}

/// A request handler that failed, as any transport answers it (logged).
pub fn internal_body(join: &tokio::task::JoinError) -> (StatusCode, ErrorBody) {
    tracing::error!(error = %join, "a request handler failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody {
            code: "internal".to_string(),
            message: "the request failed inside the service; it is logged".to_string(),
        },
    )
}

/// The concurrency limit reached, as any transport answers it.
pub fn busy_body() -> (StatusCode, ErrorBody) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorBody {
            code: "busy".to_string(),
            message: "the endpoint is at its concurrency limit: try again shortly".to_string(),
        },
    )
}

/// A refusal's sentence; for an operation sent to the wrong route, which
/// route to send it to (the library knows operations, not routes).
pub fn message(refusal: &Refusal) -> String {
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
        .route("/v1/signed-requests", post(signed_requests))
        .route("/v1/stream", post(stream))
        .route("/v1/signed-stream", post(signed_stream))
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
/// them: the request, or why it is refused (logged as over HTTP).
pub async fn signed_from_bytes(
    api: &Api,
    peer: &Peer,
    bytes: &[u8],
) -> Result<SignedRequest, (StatusCode, ErrorBody)> {
    let (status, code, message) = if bytes.len() > api.max_body_bytes {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the request is larger than this endpoint takes ({} bytes)",
                api.max_body_bytes
            ),
        )
    } else {
        match serde_json::from_slice(bytes) {
            Ok(signed) => return Ok(signed),
            Err(e) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                format!(
                    "the message is not a signed request ({e}): send {{\"payload\": …, \"signature\": …}} as `salve sign` makes it"
                ),
            ),
        }
    };
    log_refused(api, peer, code, &message).await;
    Err((
        status,
        ErrorBody {
            code: code.to_string(),
            message,
        },
    ))
}

/// A signed request's bytes, as another transport (the fleet) carries
/// them, answered as `/v1/requests` answers them: the HTTP status it would
/// have, and the reply. Refusals are logged as over HTTP.
pub async fn answer_bytes(api: &Arc<Api>, peer: &Peer, bytes: &[u8]) -> (u16, Reply<Answer>) {
    let refused = |(status, body): (StatusCode, ErrorBody)| (status.as_u16(), Reply::Error(body));
    let signed = match signed_from_bytes(api, peer, bytes).await {
        Ok(signed) => signed,
        Err(error) => return refused(error),
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
        Ok(Some(Err(refusal))) => refused(refused_body(&refusal)),
        Ok(None) => refused(busy_body()),
        Err(join) => refused(internal_body(&join)),
    }
}

/// Reads a body of at most `max_body_bytes` within `body_timeout`; a body
/// refused is logged.
async fn read_body(api: &Api, peer: &Peer, body: Body) -> Result<axum::body::Bytes, Response> {
    // A body announced larger than the limit (its Content-Length) is
    // refused at once, not waited for.
    let announced = hyper::body::Body::size_hint(&body).lower();
    if announced > api.max_body_bytes as u64 {
        let message = format!(
            "the request body is announced as {announced} bytes, larger than {} bytes",
            api.max_body_bytes
        );
        return Err(refused(
            api,
            peer,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            message,
        )
        .await);
    }
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
    error_response(busy_body())
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
pub fn permit(api: &Api) -> Option<OwnedSemaphorePermit> {
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

/// `POST /v1/signed-requests`: a signed request as on `/v1/requests`,
/// answered with the endpoint's signature over the answer, bound to the
/// request's bytes ([`SignedReply`]): for a client that reaches the endpoint
/// through a relay it does not trust (the console), as the fleet's answers
/// are. The HTTP status is the answer's, which the signed payload repeats.
async fn signed_requests(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let bytes = match read_body(&api, &peer, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let request = Sha256Digest::of(&bytes);
    let (status, reply) = answer_bytes(&api, &peer, &bytes).await;
    match SignedReply::sign(&api.key, api.endpoint.id(), request, status, &reply) {
        Ok(signed) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(signed),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot sign an answer");
            error_response((
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody {
                    code: "internal".to_string(),
                    message: "the answer could not be signed; it is logged".to_string(),
                },
            ))
        }
    }
}

fn internal(join: &tokio::task::JoinError) -> Response {
    error_response(internal_body(join))
}

/// `POST /v1/stream`: `invoke` or `follow-invocation`, answered in JSON
/// lines ([`super::streaming`]). A refusal found before anything runs (a
/// bad signature, an unknown invocation) is an ordinary error answer.
async fn stream(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let signed = match signed_request(&api, &peer, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    match super::streaming::open(&api, &peer, signed).await {
        Ok(lines) => Response::builder()
            .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::new(lines))
            .unwrap_or_else(|_| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the stream could not be started",
                )
            }),
        Err(refused) => error_response(refused),
    }
}

/// `POST /v1/signed-stream`: `invoke` or `follow-invocation` as on
/// `/v1/stream`, each line as a frame signed by the endpoint and bound to
/// the request (one [`salve::api::v1::SignedFrame`] a line, numbered from
/// 0, with a frame that only says it is still there after 5 s of silence),
/// as through the fleet: for a client behind a relay it does not trust. A
/// refusal before anything runs is a signed frame too; the HTTP status is
/// 200 once the body was read.
async fn signed_stream(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let bytes = match read_body(&api, &peer, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let (sink, mut frames) = tokio::sync::mpsc::unbounded_channel();
    let signed = super::signed_stream::Frames::new(
        api.key.clone(),
        api.endpoint.id(),
        Sha256Digest::of(&bytes),
        super::signed_stream::FrameSink::Body(sink),
    );
    tokio::spawn(async move { super::signed_stream::answer(&api, &peer, &bytes, signed).await });
    let body = futures::stream::poll_fn(move |cx| {
        frames
            .poll_recv(cx)
            .map(|frame| frame.map(Ok::<_, std::convert::Infallible>))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
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
}
