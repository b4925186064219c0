//! The client side of the service API: HTTP/1.1 over the endpoint's local
//! Unix socket, or over TLS to a certificate pinned by its SHA-256
//! fingerprint. Requests from people are signed with their key.

use anyhow::{Context, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use salve::clock::{Clock, SystemClock};
use salve::endpoint::Operation;
use salve::identity::{KeyPair, Nonce, PrincipalId, SignedRequest};
use salve::{Sha256Digest, session::SessionId};
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the service is.
#[derive(Debug, Clone)]
pub enum Target {
    /// Its local socket.
    Unix(PathBuf),
    /// Its TLS address, and the certificate fingerprint to expect.
    Tls { address: String, pin: Sha256Digest },
}

/// An error answer from the service.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for ApiError {}

pub struct Client {
    target: Target,
    signer: Option<(KeyPair, PrincipalId)>,
}

impl Client {
    pub fn new(target: Target, signer: Option<(KeyPair, PrincipalId)>) -> Client {
        Client { target, signer }
    }

    /// Sends one request and reads the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Value> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "salve")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = match &self.target {
            Target::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await.with_context(|| {
                    format!("cannot reach the salve service at {} (is `salve serve` running? set --socket or SALVE_SOCKET)", path.display())
                })?;
                send(stream, request).await?
            }
            Target::Tls { address, pin } => {
                let config = crate::pin::client_config(*pin)?;
                let tcp = tokio::net::TcpStream::connect(address)
                    .await
                    .with_context(|| format!("cannot reach {address}"))?;
                tcp.set_nodelay(true)?;
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .with_context(|| format!("TLS with {address} failed"))?;
                send(stream, request).await?
            }
        };
        let (status, body) = response;
        let value: Value = serde_json::from_slice(&body).with_context(|| {
            format!("the service answered {status} with something that is not JSON")
        })?;
        if let Some(error) = value.get("error") {
            return Err(ApiError {
                status,
                code: error["code"].as_str().unwrap_or("unknown").to_string(),
                message: error["message"].as_str().unwrap_or("").to_string(),
            }
            .into());
        }
        Ok(value.get("result").cloned().unwrap_or(value))
    }

    /// Signs `operation` with the user's key and sends it.
    pub async fn operation(&self, operation: &Operation) -> anyhow::Result<Value> {
        let (key, principal) = self
            .signer
            .as_ref()
            .ok_or_else(|| anyhow!("this needs your key: pass --key FILE or set SALVE_KEY"))?;
        let signed = SignedRequest::sign(
            key,
            principal,
            SystemClock.now_ms(),
            Nonce::random()?,
            operation,
        )?;
        self.call(
            Method::POST,
            "/v1/requests",
            Some(serde_json::to_vec(&signed)?),
        )
        .await
    }

    /// The end user's consent, over the local socket.
    pub async fn consent(&self, session: &SessionId) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(&serde_json::json!({ "session": session }))?;
        self.call(Method::POST, "/v1/consent", Some(body)).await
    }

    pub async fn health(&self) -> anyhow::Result<Value> {
        self.call(Method::GET, "/v1/health", None).await
    }
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .context("the service closed the connection")?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    drop(sender);
    let _ = driver.await;
    Ok((status, body))
}
