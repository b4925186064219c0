//! The HTTP API. Every request but `health` and `consent` is a signed
//! request of the policy core (`POST /v1/requests`); the end user's consent
//! (`POST /v1/consent`) is taken only over the local socket, from the
//! kernel's word on who is at the other end. Errors are JSON:
//! `{"error": {"code": "<stable code>", "message": "<a sentence>"}}`.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use salve::endpoint::{Endpoint, Operation, Refusal};
use salve::identity::SignedRequest;
use salve::session::{ConsentingUser, SessionId};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A local user, as the kernel names them.
    Local(ConsentingUser),
    /// A remote client over TLS.
    Remote(std::net::SocketAddr),
}

pub struct Api {
    pub endpoint: Arc<Endpoint>,
    pub limit: Arc<Semaphore>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub fingerprint: Option<String>,
}

/// A JSON error answer.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

fn refusal(refusal: &Refusal) -> Response {
    let code = refusal.code();
    let status = match code {
        "malformed-request" | "invalid-request" | "invalid-input" => StatusCode::BAD_REQUEST,
        "unknown-principal" | "bad-signature" | "stale-request" | "replayed-request" => {
            StatusCode::UNAUTHORIZED
        }
        "not-found" => StatusCode::NOT_FOUND,
        "busy" | "audit-unavailable" | "state-store" => StatusCode::SERVICE_UNAVAILABLE,
        "session-state" | "escalation-not-pending" => StatusCode::CONFLICT,
        _ => StatusCode::FORBIDDEN,
    };
    error(status, code, refusal.to_string())
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/requests", post(requests))
        .route("/v1/consent", post(consent))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no-such-route",
                "no such API route: see the README's API section",
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
    axum::Json(json!({
        "status": "ok",
        "endpoint": api.endpoint.id(),
        "version": env!("CARGO_PKG_VERSION"),
        "actions": api.endpoint.catalog().entries().count(),
        "audit_key": api.endpoint.audit().checkpoint_key().map(|k| k.to_string()),
        "tls_fingerprint": api.fingerprint,
    }))
    .into_response()
}

/// Reads a body of at most `max_body_bytes` within `body_timeout`.
async fn read_body(api: &Api, body: Body) -> Result<axum::body::Bytes, Response> {
    match tokio::time::timeout(
        api.body_timeout,
        axum::body::to_bytes(body, api.max_body_bytes),
    )
    .await
    {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "slow-body",
            format!(
                "the request body did not arrive within {} s",
                api.body_timeout.as_secs()
            ),
        )),
        Ok(Err(_)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the request body is larger than {} bytes (or was cut off)",
                api.max_body_bytes
            ),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn busy() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the endpoint is at its concurrency limit: try again shortly",
    )
}

async fn requests(State(api): State<Arc<Api>>, body: Body) -> Response {
    let Ok(permit) = api.limit.clone().try_acquire_owned() else {
        return busy();
    };
    let bytes = match read_body(&api, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let signed: SignedRequest = match serde_json::from_slice(&bytes) {
        Ok(signed) => signed,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed-request",
                format!(
                    "the body is not a signed request ({e}): send {{\"payload\": …, \"signature\": …}} as `salve sign` makes it"
                ),
            );
        }
    };
    let endpoint = api.endpoint.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (who, operation) = endpoint.authenticate::<Operation>(&signed)?;
        endpoint.execute(&who, operation)
    })
    .await;
    match answer {
        Ok(Ok(value)) => axum::Json(json!({ "result": value })).into_response(),
        Ok(Err(refused)) => refusal(&refused),
        Err(join) => {
            tracing::error!(error = %join, "a request handler failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request failed inside the service; it is logged",
            )
        }
    }
}

async fn consent(
    State(api): State<Arc<Api>>,
    axum::Extension(peer): axum::Extension<Peer>,
    body: Body,
) -> Response {
    let user = match peer {
        Peer::Local(user) => user,
        Peer::Remote(address) => {
            tracing::warn!(%address, "consent refused: it came over the network");
            return error(
                StatusCode::FORBIDDEN,
                "local-only",
                "consent is given only at the endpoint, over its local socket",
            );
        }
    };
    let Ok(permit) = api.limit.clone().try_acquire_owned() else {
        return busy();
    };
    let bytes = match read_body(&api, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let session = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("session").and_then(Value::as_str).map(str::to_string))
        .and_then(|s| s.parse::<SessionId>().ok());
    let Some(session) = session else {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "send {\"session\": \"s-…\"}",
        );
    };
    let endpoint = api.endpoint.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        endpoint.consent(user, &session)
    })
    .await;
    match answer {
        Ok(Ok(session)) => axum::Json(json!({ "result": session })).into_response(),
        Ok(Err(refused)) => refusal(&refused),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed inside the service; it is logged",
        ),
    }
}
