//! The console's own refusals: a stable code, a sentence and an HTTP status,
//! answered as the endpoints answer theirs (`{"error": {"code",
//! "message"}}`), so that a page shows either the same way.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use salve::api::v1::{ErrorBody, Reply};
use std::time::Duration;

/// Why the console could not do what a page asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: String,
    /// What happened, and what to do.
    pub message: String,
}

impl ConsoleError {
    fn new(status: StatusCode, code: &str, message: String) -> ConsoleError {
        ConsoleError {
            status,
            code: code.to_string(),
            message,
        }
    }

    /// An endpoint the console does not relay to.
    pub fn unknown_endpoint(endpoint: &str) -> ConsoleError {
        ConsoleError::new(
            StatusCode::NOT_FOUND,
            "unknown-endpoint",
            format!(
                "the console does not relay to `{}`: it relays only to the endpoints of its inventory it was given a way to reach",
                salve::text::escaped(endpoint)
            ),
        )
    }

    /// No answer within `patience`.
    pub fn timeout(endpoint: &str, patience: Duration) -> ConsoleError {
        ConsoleError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "endpoint-timeout",
            format!(
                "endpoint `{endpoint}` did not answer within {} s",
                patience.as_secs()
            ),
        )
    }

    /// The endpoint's own refusal, or the broker's word that it is
    /// offline, as the client read it.
    pub fn from_api(error: &crate::client::ApiError) -> ConsoleError {
        ConsoleError {
            status: StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_GATEWAY),
            code: error.code.clone(),
            message: error.message.clone(),
        }
    }

    /// Nothing answers where the endpoint should be.
    pub fn unreachable(endpoint: &str, error: &anyhow::Error) -> ConsoleError {
        ConsoleError::new(
            StatusCode::BAD_GATEWAY,
            "endpoint-unreachable",
            format!("endpoint `{endpoint}` cannot be reached: {error:#}"),
        )
    }

    /// The relay failed on the way.
    pub fn relay_failed(endpoint: &str, error: &anyhow::Error) -> ConsoleError {
        ConsoleError::new(
            StatusCode::BAD_GATEWAY,
            "relay-failed",
            format!("the request to `{endpoint}` failed on the way: {error:#}"),
        )
    }

    /// An answer without the endpoint's signature (the endpoint refused the
    /// body before reading it, or something else answered).
    pub fn unsigned(endpoint: &str, status: u16, bytes: &[u8]) -> ConsoleError {
        let said = serde_json::from_slice::<Reply<serde::de::IgnoredAny>>(bytes)
            .ok()
            .and_then(|reply| match reply {
                Reply::Error(error) => Some(format!("{} ({})", error.message, error.code)),
                Reply::Result(_) => None,
            })
            .unwrap_or_else(|| "no readable answer".to_string());
        ConsoleError::new(
            StatusCode::BAD_GATEWAY,
            "unsigned-answer",
            format!(
                "endpoint `{endpoint}` answered HTTP {status} without its signature: {}",
                salve::text::escaped(&said)
            ),
        )
    }

    /// A signed answer that does not check out.
    pub fn bad_answer(error: &salve::api::v1::AnswerError) -> ConsoleError {
        ConsoleError::new(StatusCode::BAD_GATEWAY, "bad-answer", error.to_string())
    }

    /// A request body over the console's limit.
    pub fn too_large(limit: usize) -> ConsoleError {
        ConsoleError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request is larger than the console relays ({limit} bytes)"),
        )
    }

    /// A body that did not arrive in time.
    pub fn slow_body(patience: Duration) -> ConsoleError {
        ConsoleError::new(
            StatusCode::REQUEST_TIMEOUT,
            "slow-body",
            format!(
                "the request body did not arrive within {} s",
                patience.as_secs()
            ),
        )
    }

    /// A request addressed to a name that is not loopback, to a console
    /// that serves loopback only.
    pub fn wrong_host(host: &str) -> ConsoleError {
        ConsoleError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "wrong-host",
            format!(
                "this console serves loopback only, and `{}` is not a loopback name: open it as http://127.0.0.1:<port>/ or http://localhost:<port>/",
                salve::text::escaped(host)
            ),
        )
    }

    /// A request the console cannot read.
    pub fn bad_request(message: String) -> ConsoleError {
        ConsoleError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let body: Reply<()> = Reply::Error(ErrorBody {
            code: self.code,
            message: self.message,
        });
        (self.status, axum::Json(body)).into_response()
    }
}
