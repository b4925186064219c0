//! The client side of the service API: HTTP/1.1 over the endpoint's local
//! Unix socket, or over TLS to a certificate pinned by its SHA-256
//! fingerprint. Requests from people are signed with their key.

use crate::parts::Assembly;
use anyhow::{Context, anyhow};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use salve::api::v1::{
    ActivityRequest, ConsentRequest, Health, Operation, Reply, StreamEvent, StreamLine,
};
use salve::clock::{Clock, SystemClock};
use salve::identity::{KeyPair, Nonce, PrincipalId, SignedRequest};
use salve::{Sha256Digest, session::SessionId};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
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
    /// Through the fleet's broker.
    Fleet(Box<FleetTarget>),
}

/// An endpoint reached through the fleet's NATS broker: how to connect, and
/// the inventory its answers are checked against.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    /// How to reach the broker.
    pub broker: Broker,
    /// The endpoints' keys.
    pub inventory: salve::fleet::Inventory,
    /// The connection to the broker, made the first time it is needed and
    /// shared by every clone (the console's endpoints use one).
    connection: Arc<tokio::sync::OnceCell<async_nats::Client>>,
}

impl FleetTarget {
    /// The endpoints of `inventory`, reached through `broker`.
    pub fn new(broker: Broker, inventory: salve::fleet::Inventory) -> FleetTarget {
        FleetTarget {
            broker,
            inventory,
            connection: Arc::default(),
        }
    }

    /// The connection to the broker (the client reconnects by itself if it
    /// drops).
    pub async fn connection(&self) -> anyhow::Result<async_nats::Client> {
        self.connection
            .get_or_try_init(|| fleet_connect(&self.broker))
            .await
            .cloned()
    }
}

/// How to reach the fleet's broker.
#[derive(Debug, Clone)]
pub struct Broker {
    /// The broker's URL(s), comma-separated.
    pub servers: String,
    /// The user and password to connect with, if the broker asks.
    pub login: Option<(String, String)>,
    /// The broker's CA certificate, for `tls://`.
    pub ca: Option<PathBuf>,
}

/// How long an endpoint has to answer through the broker.
const FLEET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

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

/// The service could not be reached: nothing listens there, or the TLS
/// handshake (and with it the certificate pin) failed.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

fn unreachable(what: String, error: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Unreachable(format!("{what}: {error}")))
}

pub struct Client {
    target: Target,
    signer: Option<(KeyPair, PrincipalId)>,
    /// The endpoint's name, which every signed request carries: asked of
    /// the service (`/v1/health`) the first time it is needed.
    endpoint: tokio::sync::OnceCell<String>,
}

impl Client {
    pub fn new(target: Target, signer: Option<(KeyPair, PrincipalId)>) -> Client {
        Client {
            target,
            signer,
            endpoint: tokio::sync::OnceCell::new(),
        }
    }

    /// The same client, asking the endpoint named `name` (not asking the
    /// service which it is).
    pub fn for_endpoint(self, name: String) -> Client {
        Client {
            endpoint: tokio::sync::OnceCell::new_with(Some(name)),
            ..self
        }
    }

    /// Who requests are signed as, if anyone.
    pub fn principal(&self) -> Option<&PrincipalId> {
        self.signer.as_ref().map(|(_, principal)| principal)
    }

    /// Sends one request and reads its answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answered> {
        let response = self.send(method, path, body).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        answer(status, &body)
    }

    /// Sends one request; the response's body is left to read.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "salve")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        match &self.target {
            Target::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
                    unreachable(format!("cannot reach the salve service at {} (is `salve serve` running? set --socket or SALVE_SOCKET)", path.display()), e)
                })?;
                send(stream, request).await
            }
            Target::Tls { address, pin } => {
                let config = crate::pin::client_config(*pin)?;
                let tcp = tokio::net::TcpStream::connect(address)
                    .await
                    .map_err(|e| unreachable(format!("cannot reach {address}"), e))?;
                tcp.set_nodelay(true)?;
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(format!("TLS with {address} failed"), e))?;
                send(stream, request).await
            }
            Target::Fleet(_) => Err(anyhow!(
                "this is asked of the service itself (its health, or the end user's routes, which are local only), not carried over the fleet"
            )),
        }
    }

    /// The endpoint's name, as the service gives it.
    pub async fn endpoint(&self) -> anyhow::Result<&str> {
        let name = self
            .endpoint
            .get_or_try_init(|| async {
                let health = self.health().await?;
                anyhow::Ok(health.endpoint)
            })
            .await?;
        Ok(name)
    }

    /// `operation`, signed with the user's key for this endpoint.
    async fn signed(&self, operation: &Operation) -> anyhow::Result<Vec<u8>> {
        let (key, principal) = self
            .signer
            .as_ref()
            .ok_or_else(|| anyhow!("this needs your key file (SALVE_KEY)"))?;
        let endpoint = self.endpoint().await?;
        let signed = SignedRequest::sign(
            key,
            principal,
            endpoint,
            SystemClock.now_ms(),
            Nonce::random()?,
            operation,
        )?;
        Ok(serde_json::to_vec(&signed)?)
    }

    /// Signs `operation` with the user's key and sends it.
    pub async fn operation(&self, operation: &Operation) -> anyhow::Result<Answered> {
        let body = self.signed(operation).await?;
        if let Target::Fleet(fleet) = &self.target {
            return fleet_request(fleet, self.endpoint().await?, body).await;
        }
        self.call(Method::POST, "/v1/requests", Some(body)).await
    }

    /// Signs `operation`, sends it, and reads its answer as `T` (the
    /// operation's answer type in [`salve::api::v1`]).
    pub async fn ask<T: DeserializeOwned>(&self, operation: &Operation) -> anyhow::Result<T> {
        self.operation(operation).await?.read()
    }

    /// Sends a request signed by someone else (the console relays what a
    /// person's browser signed), unchanged, and gives back the endpoint's
    /// signed answer unopened: the bytes of a
    /// [`salve::api::v1::SignedReply`], for the signer to check. Over the
    /// socket or TLS it goes to `/v1/signed-requests`; an answer that is not
    /// signed (a body the service refused before reading it) comes back as
    /// it is, for the signer to refuse to trust.
    pub async fn relay_signed(&self, body: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
        if let Target::Fleet(fleet) = &self.target {
            let answer = fleet_signed_answer(fleet, self.endpoint().await?, body).await?;
            return Ok((200, answer));
        }
        let response = self
            .send(Method::POST, "/v1/signed-requests", Some(body))
            .await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes.to_vec()))
    }

    /// Sends a streaming request signed by someone else (`invoke`,
    /// `follow-invocation`), unchanged, and gives each frame of the
    /// endpoint's signed answer to `frames` as it comes, unopened (a
    /// [`salve::api::v1::SignedFrame`]'s bytes), until the last one. Over
    /// the socket or TLS it goes to `/v1/signed-stream`; an endpoint that
    /// refuses the body before reading it is an error.
    pub async fn relay_stream(
        &self,
        body: Vec<u8>,
        frames: &tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> anyhow::Result<()> {
        if let Target::Fleet(fleet) = &self.target {
            return fleet_relay_stream(fleet, self.endpoint().await?, body, frames).await;
        }
        let response = self
            .send(Method::POST, "/v1/signed-stream", Some(body))
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.into_body().collect().await?.to_bytes();
            answer(status, &body)?;
            return Err(anyhow!(
                "the endpoint answered HTTP {status} without a stream"
            ));
        }
        let mut body = response.into_body();
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let frame = match tokio::time::timeout(FLEET_PATIENCE, body.frame()).await {
                Err(_) => {
                    return Err(ApiError {
                        status: 504,
                        code: "endpoint-timeout".to_string(),
                        message: format!(
                            "the stream stopped: nothing came for {} s; the invocation may still run",
                            FLEET_PATIENCE.as_secs()
                        ),
                    }
                    .into());
                }
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => frame.context("the service cut the stream off")?,
            };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = pending.drain(..=end).collect();
                line.pop();
                if frames.send(line).is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// Signs a streaming `operation` (`invoke` or `follow-invocation`) and
    /// sends it to `/v1/stream`: `each` is given every event as it arrives;
    /// the answer, the last line, is returned.
    pub async fn stream(
        &self,
        operation: &Operation,
        mut each: impl FnMut(&StreamEvent),
    ) -> anyhow::Result<Answered> {
        let body = self.signed(operation).await?;
        if let Target::Fleet(fleet) = &self.target {
            return fleet_stream(fleet, self.endpoint().await?, body, each).await;
        }
        let response = self.send(Method::POST, "/v1/stream", Some(body)).await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.into_body().collect().await?.to_bytes();
            return answer(status, &body);
        }
        let mut body = response.into_body();
        let mut pending: Vec<u8> = Vec::new();
        let mut last = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the service cut the stream off")?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(reply) = stream_line(&line, &mut each)? {
                    last = Some(reply);
                }
            }
        }
        let last = last.ok_or_else(|| anyhow!("the service ended the stream without an answer"))?;
        ended(status, last)
    }

    /// The end user's consent, over the local socket; with `preview`, only
    /// the session they would consent to.
    pub async fn consent(&self, session: &SessionId, preview: bool) -> anyhow::Result<Answered> {
        let body = serde_json::to_vec(&ConsentRequest {
            session: session.clone(),
            preview,
        })?;
        self.call(Method::POST, "/v1/consent", Some(body)).await
    }

    /// What ran in a session the end user consented to, over the local
    /// socket ([`salve::api::v1::Activity`]).
    pub async fn activity(&self, session: &SessionId) -> anyhow::Result<Answered> {
        let body = serde_json::to_vec(&ActivityRequest {
            session: session.clone(),
        })?;
        self.call(Method::POST, "/v1/activity", Some(body)).await
    }

    /// The service's health. Answered whole even when it is not healthy
    /// (503, `audit-stopped`).
    pub async fn health(&self) -> anyhow::Result<Health> {
        let response = self.send(Method::GET, "/v1/health", None).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        match serde_json::from_slice::<Health>(&body) {
            Ok(health) => Ok(health),
            Err(_) => Err(answer(status, &body).err().unwrap_or_else(|| {
                anyhow!(
                    "the service's health answer is outside the contract (salve::api::v1::Health)"
                )
            })),
        }
    }
}

/// Connects to the fleet's broker.
pub async fn fleet_connect(fleet: &Broker) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name("salve-cli")
        .connection_timeout(std::time::Duration::from_secs(10));
    if let Some((user, password)) = &fleet.login {
        // Answers come to inboxes of this user's own, which the broker can
        // let only them read.
        options = options
            .user_and_password(user.clone(), password.clone())
            .custom_inbox_prefix(format!("_INBOX_{user}"));
    }
    if let Some(ca) = &fleet.ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    options.connect(fleet.servers.as_str()).await.map_err(|e| {
        unreachable(
            format!("cannot reach the fleet's broker at {}", fleet.servers),
            e,
        )
    })
}

/// Sends the signed request `body` to `endpoint` through the broker and
/// gives back its answer's bytes as they came (a signed answer, not yet
/// checked).
async fn fleet_signed_answer(
    fleet: &FleetTarget,
    endpoint: &str,
    body: Vec<u8>,
) -> anyhow::Result<Vec<u8>> {
    let name: salve::fleet::EndpointName = endpoint.parse().map_err(|e: String| anyhow!(e))?;
    let client = fleet.connection().await?;
    let subject = salve::fleet::request_subject(&name);
    let mut inbox = ask_through(&client, fleet, subject, body).await?;
    match next_whole(&mut inbox, &mut Assembly::default()).await? {
        Next::Whole(payload) => Ok(payload),
        Next::NoResponders => Err(offline(&client, fleet, endpoint).await),
        Next::Silent => Err(ApiError {
            status: 504,
            code: "endpoint-timeout".to_string(),
            message: format!(
                "endpoint `{endpoint}` did not answer within {} s through the fleet's broker",
                FLEET_PATIENCE.as_secs()
            ),
        }
        .into()),
    }
}

/// Sends the signed request `body` to `endpoint` through the broker and
/// checks its answer: signed by that endpoint's key in the inventory, and an
/// answer to this very request.
async fn fleet_request(
    fleet: &FleetTarget,
    endpoint: &str,
    body: Vec<u8>,
) -> anyhow::Result<Answered> {
    let key = *fleet.inventory.key_of(endpoint)?;
    let digest = Sha256Digest::of(&body);
    let payload = fleet_signed_answer(fleet, endpoint, body).await?;
    let signed: salve::api::v1::SignedReply = serde_json::from_slice(&payload)
        .with_context(|| format!("the answer from `{endpoint}` is not a signed answer"))?;
    match signed.open::<Box<RawValue>>(endpoint, &key, digest)? {
        (_, Reply::Result(answer)) => Ok(Answered(answer)),
        (status, Reply::Error(error)) => Err(ApiError {
            status,
            code: error.code,
            message: error.message,
        }
        .into()),
    }
}

/// One line of a streamed answer: an event, given to `each`, or the
/// answer, returned.
fn stream_line(
    line: &[u8],
    each: &mut impl FnMut(&StreamEvent),
) -> anyhow::Result<Option<Reply<Box<RawValue>>>> {
    match StreamLine::<Box<RawValue>>::parse(line)
        .context("the service streamed a line outside the contract (salve::api::v1)")?
    {
        StreamLine::Event(event) => {
            each(&event);
            Ok(None)
        }
        StreamLine::End(reply) => Ok(Some(reply)),
    }
}

/// A reply (answered with `status`: a whole answer, or the last line of a
/// stream) as an answer: its `result`, or its `error` as an [`ApiError`].
fn ended(status: u16, last: Reply<Box<RawValue>>) -> anyhow::Result<Answered> {
    match last {
        Reply::Result(answer) => Ok(Answered(answer)),
        Reply::Error(error) => Err(ApiError {
            status,
            code: error.code,
            message: error.message,
        }
        .into()),
    }
}

/// Sends the signed streaming request `body` to `endpoint` through the
/// broker and gives each frame of its answer to `frames`, unopened, until
/// the one that carries the answer.
async fn fleet_relay_stream(
    fleet: &FleetTarget,
    endpoint: &str,
    body: Vec<u8>,
    frames: &tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) -> anyhow::Result<()> {
    let name: salve::fleet::EndpointName = endpoint.parse().map_err(|e: String| anyhow!(e))?;
    let client = fleet.connection().await?;
    let subject = salve::fleet::stream_subject(&name);
    let mut inbox = ask_through(&client, fleet, subject, body).await?;
    let mut assembly = Assembly::default();
    loop {
        let payload = match next_whole(&mut inbox, &mut assembly).await? {
            Next::Whole(payload) => payload,
            Next::NoResponders => return Err(offline(&client, fleet, endpoint).await),
            Next::Silent => {
                return Err(ApiError {
                    status: 504,
                    code: "endpoint-timeout".to_string(),
                    message: format!(
                        "the stream from `{endpoint}` stopped: nothing came for {} s through the fleet's broker",
                        FLEET_PATIENCE.as_secs()
                    ),
                }
                .into());
            }
        };
        let last = carries_the_answer(&payload);
        if frames.send(payload).is_err() || last {
            return Ok(());
        }
    }
}

/// Whether a signed frame's bytes carry the stream's last line, the answer
/// (read, not checked: the one it is relayed to checks it). A frame that
/// cannot be read ends the stream too.
fn carries_the_answer(frame: &[u8]) -> bool {
    use base64::Engine as _;
    let Ok(signed) = serde_json::from_slice::<salve::api::v1::SignedFrame>(frame) else {
        return true;
    };
    let Ok(payload) = base64::engine::general_purpose::STANDARD.decode(&signed.payload) else {
        return true;
    };
    let Ok(frame) = serde_json::from_slice::<salve::api::v1::FramePayload>(&payload) else {
        return true;
    };
    match frame.line {
        None => false,
        Some(line) => !matches!(
            StreamLine::<serde::de::IgnoredAny>::parse(line.as_bytes()),
            Ok(StreamLine::Event(_))
        ),
    }
}

/// Sends the signed streaming request `body` to `endpoint` through the
/// broker and reads its answer frame by frame: each signed by that
/// endpoint's key in the inventory, for this very request, in order (a
/// frame lost or moved on the way is an error, never a silent gap).
async fn fleet_stream(
    fleet: &FleetTarget,
    endpoint: &str,
    body: Vec<u8>,
    mut each: impl FnMut(&StreamEvent),
) -> anyhow::Result<Answered> {
    let name: salve::fleet::EndpointName = endpoint.parse().map_err(|e: String| anyhow!(e))?;
    let key = *fleet.inventory.key_of(endpoint)?;
    let request = Sha256Digest::of(&body);
    let client = fleet.connection().await?;
    let subject = salve::fleet::stream_subject(&name);
    let mut inbox = ask_through(&client, fleet, subject, body).await?;
    let mut assembly = Assembly::default();
    let mut seq = 0;
    loop {
        let payload = match next_whole(&mut inbox, &mut assembly).await? {
            Next::Whole(payload) => payload,
            Next::NoResponders => return Err(offline(&client, fleet, endpoint).await),
            Next::Silent => {
                let message = if seq == 0 {
                    format!(
                        "endpoint `{endpoint}` did not answer within {} s through the fleet's broker",
                        FLEET_PATIENCE.as_secs()
                    )
                } else {
                    format!(
                        "the stream from `{endpoint}` stopped: nothing came for {} s (the endpoint or the broker went away); the invocation may still run — `salve invocation show` tells once it is back",
                        FLEET_PATIENCE.as_secs()
                    )
                };
                return Err(ApiError {
                    status: 504,
                    code: "endpoint-timeout".to_string(),
                    message,
                }
                .into());
            }
        };
        let signed: salve::api::v1::SignedFrame = serde_json::from_slice(&payload)
            .with_context(|| format!("a frame from `{endpoint}` is not a signed frame"))?;
        let frame = signed.open(endpoint, &key, request, seq)?;
        seq += 1;
        let Some(line) = frame.line else {
            // The endpoint is still there; the action writes nothing now.
            continue;
        };
        if let Some(last) = stream_line(line.as_bytes(), &mut each)? {
            return ended(frame.status, last);
        }
    }
}

/// Sends `body` on `subject` with an inbox of its own to answer to; the
/// inbox.
async fn ask_through(
    client: &async_nats::Client,
    fleet: &FleetTarget,
    subject: String,
    body: Vec<u8>,
) -> anyhow::Result<async_nats::Subscriber> {
    let inbox = client.new_inbox();
    let subscriber = client.subscribe(inbox.clone()).await.map_err(|e| {
        unreachable(
            format!("cannot read answers through {}", fleet.broker.servers),
            e,
        )
    })?;
    client
        .publish_with_reply(subject.clone(), inbox, body.into())
        .await
        .map_err(|e| unreachable(format!("cannot send to {subject} through the broker"), e))?;
    Ok(subscriber)
}

/// What came to an inbox.
enum Next {
    /// A message, put together from its parts if it came in parts.
    Whole(Vec<u8>),
    /// The broker says nobody takes requests on the subject.
    NoResponders,
    /// Nothing for [`FLEET_PATIENCE`].
    Silent,
}

/// The next whole message in `inbox`, each of its parts within
/// [`FLEET_PATIENCE`].
async fn next_whole(
    inbox: &mut async_nats::Subscriber,
    assembly: &mut Assembly,
) -> anyhow::Result<Next> {
    loop {
        let message = match tokio::time::timeout(FLEET_PATIENCE, inbox.next()).await {
            Err(_) => return Ok(Next::Silent),
            Ok(None) => {
                return Err(unreachable(
                    "the connection to the fleet's broker closed".to_string(),
                    "connection lost",
                ));
            }
            Ok(Some(message)) => message,
        };
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Ok(Next::NoResponders);
        }
        if let Some(whole) = assembly
            .take(crate::parts::header(&message), &message.payload)
            .context("an answer through the broker came in parts that do not fit")?
        {
            return Ok(Next::Whole(whole));
        }
    }
}

/// Why `endpoint` did not take a request: it is not connected to the
/// broker, with when it was last seen there.
async fn offline(
    client: &async_nats::Client,
    fleet: &FleetTarget,
    endpoint: &str,
) -> anyhow::Error {
    let seen = match crate::fleet::last_seen(client, &fleet.inventory, endpoint).await {
        Some(presence) => format!(
            " (last seen {}, as it signed it)",
            crate::people::when(presence.seen_ms)
        ),
        None => " (no presence of it on the fleet)".to_string(),
    };
    ApiError {
        status: 503,
        code: "endpoint-offline".to_string(),
        message: format!(
            "endpoint `{endpoint}` is not connected to the fleet's broker now{seen}: nothing was sent to it"
        ),
    }
    .into()
}

/// An answer as the service sent it: printed as it is for `--json`, read as
/// its type in the contract otherwise.
pub struct Answered(Box<RawValue>);

impl Answered {
    /// The answer as `T`, its type in [`salve::api::v1`].
    pub fn read<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(self.0.get()).with_context(|| {
            format!(
                "the service's answer is not the {} the contract (salve::api::v1) gives",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("answer")
            )
        })
    }

    /// The answer as compact JSON, as it came.
    pub fn compact(&self) -> anyhow::Result<String> {
        let value: serde_json::Value = serde_json::from_str(self.0.get())?;
        Ok(serde_json::to_string(&value)?)
    }

    /// The answer as JSON, pretty-printed (for `--json`).
    pub fn pretty(&self) -> anyhow::Result<String> {
        let value: serde_json::Value = serde_json::from_str(self.0.get())?;
        Ok(serde_json::to_string_pretty(&value)?)
    }
}

/// A JSON answer: its `result`, or its `error` as an [`ApiError`].
fn answer(status: u16, body: &[u8]) -> anyhow::Result<Answered> {
    let reply: Reply<Box<RawValue>> = serde_json::from_slice(body).with_context(|| {
        format!(
            "the service answered {status} with something outside the contract (salve::api::v1)"
        )
    })?;
    ended(status, reply)
}

/// Sends `request` on a new connection, which lives on (driven in the
/// background) until the response's body is read.
async fn send<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .context("the service closed the connection")
}
