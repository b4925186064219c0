//! `salve console`: the pages approvers work in, in a browser. The console
//! relays what a person's browser signed to the endpoints it knows, and
//! their signed answers back. It holds no key of anyone's and decides
//! nothing: a compromised console can show wrong things, but an approval
//! page checks the endpoint's signature on what it shows and signs the
//! digests of exactly that.

mod charts;
mod error;
mod pages;
mod records;
mod relay;

use crate::args::ConsoleArgs;
use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::{Context, anyhow};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use error::ConsoleError;
use maud::Markup;
use relay::Relay;
use salve::api::v1::EscalationView;
use salve::clock::{Clock, SystemClock};
use salve::identity::SignedRequest;
use salve::session::Session;
use serde::Deserialize;
use std::sync::Arc;

/// The most a page may send in one request: a signed request is small (an
/// operation and its signature), an invocation's input at most what an
/// endpoint takes by default.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every page may load: its own script and style, nothing inline,
/// nothing from elsewhere, and no page may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// Runs the console until Ctrl-C or SIGTERM.
pub fn run(args: &ConsoleArgs) -> CliResult {
    let relay = relay_from(args)?;
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|e| anyhow!("--listen {}: {e} (give HOST:PORT)", args.listen))
        .exit_with(Exit::Usage)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::serve::tls::identity(
                Some(cert),
                Some(key),
                std::path::Path::new("."),
                "console",
            )
            .exit_with(Exit::Usage)?,
        ),
        _ => None,
    };
    if tls.is_none() && !listen.ip().is_loopback() {
        return Err(anyhow!(
            "--listen {listen}: without TLS the console listens on loopback only (127.0.0.1 or ::1): give --tls-cert and --tls-key to serve HTTPS on a network address (browsers sign only in a secure context), or reach it through an SSH tunnel"
        ))
        .exit_with(Exit::Usage);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("salve-console")
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    runtime
        .block_on(serve(listen, Arc::new(relay), tls))
        .exit_with(Exit::Failed)?;
    Ok(Exit::Success)
}

/// The endpoints the console relays to, from its arguments.
fn relay_from(args: &ConsoleArgs) -> Result<Relay, crate::exit::Failure> {
    let inventory = crate::people::inventory(
        &args.fleet,
        "the console needs --inventory FILE and --fleet-admin-key ed25519:… (or SALVE_INVENTORY, SALVE_FLEET_ADMIN_KEY): it relays only to the endpoints of a signed inventory, and the pages check answers against it",
    )?;
    let inventory_file = args
        .fleet
        .inventory
        .as_deref()
        .map(salve::file_error::read_text)
        .transpose()
        .context("cannot read the inventory again for the pages")
        .exit_with(Exit::Usage)?
        .unwrap_or_default();
    let direct = args
        .direct
        .iter()
        .map(|text| relay::parse_direct(text))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow!(e))
        .exit_with(Exit::Usage)?;
    let fleet = match &args.fleet.fleet {
        Some(_) => Some(crate::people::fleet_target(&args.fleet)?),
        None => None,
    };
    Relay::new(inventory, inventory_file, direct, fleet)
        .map_err(|e| anyhow!(e))
        .exit_with(Exit::Usage)
}

async fn serve(
    listen: std::net::SocketAddr,
    relay: Arc<Relay>,
    tls: Option<crate::serve::tls::Identity>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("salve console on {scheme}://{address}/");
    if let Some(identity) = &tls {
        println!("  certificate   sha256:{}", identity.fingerprint);
    }
    for name in relay.names() {
        println!("  relays to     {name}");
    }
    tracing::info!(%address, scheme, "console listening");
    match tls {
        None => axum::serve(listener, router(relay, false))
            .with_graceful_shutdown(stopped())
            .await
            .context("the console stopped")?,
        Some(identity) => serve_tls(listener, router(relay, true), identity).await,
    }
    Ok(())
}

/// The most connections served at once over TLS; past it, a new one waits.
const MAX_TLS_CONNECTIONS: usize = 1024;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` over TLS until Ctrl-C or SIGTERM: each connection's
/// handshake and requests on a task of its own, so that a slow client holds
/// up nobody else.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    identity: crate::serve::tls::Identity,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.config);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_TLS_CONNECTIONS));
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; trying again in 100 ms");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            // A connection that sends no request head in time is closed.
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            let _ = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
                .await;
        });
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot catch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("console stopping");
}

/// A page about one thing (`{id}`) on one endpoint, drawn by `render`; no
/// such page for an endpoint the console does not relay to.
fn item(relay: &Relay, endpoint: &str, id: &str, render: fn(&str, &str) -> Markup) -> Response {
    if relay.knows(endpoint) {
        html(render(endpoint, id))
    } else {
        (StatusCode::NOT_FOUND, html(pages::missing_page())).into_response()
    }
}

/// The handler of the [`item`] page `render` draws.
macro_rules! item_page {
    ($render:path) => {
        |State(relay): State<Arc<Relay>>, Path((endpoint, id)): Path<(String, String)>| async move {
            item(&relay, &endpoint, &id, $render)
        }
    };
}

/// The console's routes.
pub fn router(relay: Arc<Relay>, tls: bool) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/approvals") }))
        .route("/approvals", get(approvals))
        .route(
            "/approvals/session/{endpoint}/{id}",
            get(item_page!(pages::session_page)),
        )
        .route(
            "/approvals/escalation/{endpoint}/{id}",
            get(item_page!(pages::escalation_page)),
        )
        .route("/sessions", get(sessions_page))
        .route("/sessions/new", get(new_session_page))
        .route(
            "/sessions/{endpoint}/{id}",
            get(item_page!(pages::workspace_page)),
        )
        .route("/audit", get(audit_page))
        .route(
            "/audit/session/{endpoint}/{id}",
            get(item_page!(pages::report_page)),
        )
        .route("/key", get(|| async { html(pages::key_page()) }))
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/api/inventory", get(inventory))
        .route("/api/relay/{endpoint}", post(relay_route))
        .route("/api/stream/{endpoint}", post(stream_route))
        .route("/fragments/queue/{endpoint}", post(queue_fragment))
        .route("/fragments/sessions/{endpoint}", post(sessions_fragment))
        .route("/fragments/metrics/{endpoint}", post(metrics_fragment))
        .route("/fragments/report/{endpoint}/{id}", post(report_fragment))
        .fallback(|| async { (StatusCode::NOT_FOUND, html(pages::missing_page())) })
        .layer(axum::middleware::map_response(move |response| {
            secure_headers(response, tls)
        }))
        .layer(axum::middleware::from_fn(move |request, next| {
            loopback_host(request, next, tls)
        }))
        .with_state(relay)
}

/// The headers every answer carries: what the page may load, no framing,
/// no sniffing, no referrer, nothing cached (the pages show signed answers
/// of a moment).
async fn secure_headers(mut response: Response, tls: bool) -> Response {
    let headers = response.headers_mut();
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Without TLS the console serves loopback only, and so only requests
/// addressed to a loopback name: a page of another site that made its own
/// name resolve to 127.0.0.1 (DNS rebinding) is not served.
async fn loopback_host(
    request: axum::extract::Request,
    next: axum::middleware::Next,
    tls: bool,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls || loopback {
        next.run(request).await
    } else {
        ConsoleError::wrong_host(host).into_response()
    }
}

fn html(markup: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn approvals(State(relay): State<Arc<Relay>>) -> Response {
    html(pages::approvals_page(relay.names()))
}

async fn sessions_page(State(relay): State<Arc<Relay>>) -> Response {
    html(pages::sessions_page(relay.names()))
}

async fn new_session_page(State(relay): State<Arc<Relay>>) -> Response {
    html(pages::new_session_page(relay.names()))
}

async fn audit_page(State(relay): State<Arc<Relay>>) -> Response {
    html(pages::audit_page(relay.names()))
}

/// `GET /api/inventory`: the fleet inventory as the console read it, for
/// pages to check against the fleet-admin key the person gave them.
async fn inventory(State(relay): State<Arc<Relay>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        relay.inventory_file().to_string(),
    )
        .into_response()
}

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A body of at most [`MAX_BODY_BYTES`], arrived within [`BODY_TIMEOUT`].
async fn body_bytes(body: Body) -> Result<Vec<u8>, ConsoleError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => Err(ConsoleError::slow_body(BODY_TIMEOUT)),
        Ok(Err(_)) => Err(ConsoleError::too_large(MAX_BODY_BYTES)),
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
    }
}

/// The body of a request to relay to `endpoint`: one the console relays to,
/// of at most [`MAX_BODY_BYTES`], and a signed request — anything else is
/// refused here, not sent on.
async fn signed_body(relay: &Relay, endpoint: &str, body: Body) -> Result<Vec<u8>, ConsoleError> {
    if !relay.knows(endpoint) {
        return Err(ConsoleError::unknown_endpoint(endpoint));
    }
    let bytes = body_bytes(body).await?;
    serde_json::from_slice::<SignedRequest>(&bytes)
        .map_err(|e| ConsoleError::bad_request(format!("not a signed request: {e}")))?;
    Ok(bytes)
}

/// `POST /api/relay/{endpoint}`: a request the page signed, relayed
/// unchanged; the endpoint's signed answer, unchanged, with its status.
async fn relay_route(
    State(relay): State<Arc<Relay>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Result<Response, ConsoleError> {
    let bytes = signed_body(&relay, &endpoint, body).await?;
    let (status, answer) = relay.relay(&endpoint, bytes).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok((status, [(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// `POST /api/stream/{endpoint}`: a streaming request the page signed
/// (`invoke`, `follow-invocation`), relayed unchanged; the endpoint's signed
/// frames, one a line, as they come.
async fn stream_route(
    State(relay): State<Arc<Relay>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Result<Response, ConsoleError> {
    let bytes = signed_body(&relay, &endpoint, body).await?;
    let (sink, mut frames) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move { relay.relay_stream(&endpoint, bytes, sink).await });
    let lines = futures::stream::poll_fn(move |cx| {
        frames.poll_recv(cx).map(|frame| {
            frame.map(|mut line| {
                line.push(b'\n');
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(line))
            })
        })
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// The two signed requests behind one endpoint's part of the queue.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueRequests {
    /// `list-sessions`, signed.
    sessions: SignedRequest,
    /// `list-escalations`, signed.
    escalations: SignedRequest,
}

/// A part of a page the console rendered, every value escaped.
#[derive(serde::Serialize)]
struct Fragment {
    html: String,
}

/// `POST /fragments/queue/{endpoint}`: one endpoint's part of the approval
/// queue, rendered from its signed answers to the two requests the page
/// signed (`{"html": …}`).
async fn queue_fragment(
    State(relay): State<Arc<Relay>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Result<Response, ConsoleError> {
    if !relay.knows(&endpoint) {
        return Err(ConsoleError::unknown_endpoint(&endpoint));
    }
    let bytes = body_bytes(body).await?;
    let requests: QueueRequests = serde_json::from_slice(&bytes).map_err(|e| {
        ConsoleError::bad_request(format!("not the queue's two signed requests: {e}"))
    })?;
    let encode = |request: &SignedRequest| {
        serde_json::to_vec(request).map_err(|e| ConsoleError::bad_request(e.to_string()))
    };
    let (sessions, escalations) = (encode(&requests.sessions)?, encode(&requests.escalations)?);
    let (sessions, escalations) = tokio::join!(
        relay.ask::<Vec<Session>>(&endpoint, sessions),
        relay.ask::<Vec<EscalationView>>(&endpoint, escalations),
    );
    let markup = match (sessions?, escalations?) {
        (Ok(sessions), Ok(escalations)) => {
            pages::queue(&endpoint, &sessions, &escalations, SystemClock.now_ms())
        }
        (Err((_, error)), _) | (_, Err((_, error))) => pages::refused(&error.code, &error.message),
    };
    Ok(fragment(markup))
}

/// `POST /fragments/sessions/{endpoint}`: the sessions the person may see
/// on one endpoint, rendered from its signed answer to the `list-sessions`
/// the page signed (`{"html": …}`).
async fn sessions_fragment(
    State(relay): State<Arc<Relay>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Result<Response, ConsoleError> {
    let bytes = signed_body(&relay, &endpoint, body).await?;
    let markup = match relay.ask::<Vec<Session>>(&endpoint, bytes).await? {
        Ok(sessions) => pages::sessions(&endpoint, &sessions, SystemClock.now_ms()),
        Err((_, error)) => pages::refused(&error.code, &error.message),
    };
    Ok(fragment(markup))
}

/// The signed `export-audit` requests, one a page, behind an auditor's view.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditPages {
    exports: Vec<SignedRequest>,
}

/// An endpoint's audit records, from the pages the page signed.
async fn audit_records(
    relay: &Relay,
    endpoint: &str,
    body: Body,
) -> Result<Result<(Vec<salve::audit::Record>, bool), salve::api::v1::ErrorBody>, ConsoleError> {
    if !relay.knows(endpoint) {
        return Err(ConsoleError::unknown_endpoint(endpoint));
    }
    let bytes = body_bytes(body).await?;
    let pages: AuditPages = serde_json::from_slice(&bytes).map_err(|e| {
        ConsoleError::bad_request(format!("not the signed export-audit pages: {e}"))
    })?;
    records::read(relay, endpoint, &pages.exports).await
}

fn fragment(markup: Markup) -> Response {
    axum::Json(Fragment {
        html: markup.into_string(),
    })
    .into_response()
}

/// `POST /fragments/metrics/{endpoint}`: the workflow figures of one
/// endpoint, from its audit records read through the pages the page signed.
async fn metrics_fragment(
    State(relay): State<Arc<Relay>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Result<Response, ConsoleError> {
    Ok(fragment(
        match audit_records(&relay, &endpoint, body).await? {
            Ok((records, more)) => {
                let metrics = salve::audit::report::metrics(records.iter().cloned(), None);
                pages::metrics(&endpoint, &metrics, &records, more)
            }
            Err(error) => pages::refused(&error.code, &error.message),
        },
    ))
}

/// `POST /fragments/report/{endpoint}/{id}`: one session's report, from
/// the endpoint's audit records read through the pages the page signed.
async fn report_fragment(
    State(relay): State<Arc<Relay>>,
    Path((endpoint, id)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ConsoleError> {
    Ok(fragment(
        match audit_records(&relay, &endpoint, body).await? {
            Ok((records, _)) => match salve::audit::report::session_report(records, &id) {
                Some(report) => pages::session_report(&report),
                None => pages::refused(
                    "not-found",
                    &format!("the audit log of `{endpoint}` never mentions this session"),
                ),
            },
            Err(error) => pages::refused(&error.code, &error.message),
        },
    ))
}
