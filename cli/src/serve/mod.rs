//! `salve serve`: the endpoint as a long-running service. Builds the
//! endpoint from its data directory (state, audit log, catalog, keys), then
//! answers the API over a Unix socket (local users, consent) and over TLS
//! (remote people), until SIGTERM or SIGINT: then it stops accepting, lets
//! requests in flight finish (up to the grace period), and closes the audit
//! log with a `service.stopped` record and a final checkpoint.

pub mod api;
pub mod config;
mod connection;
mod fleet;
mod fleet_buckets;
mod signed_stream;
mod simulate;
mod streaming;
pub mod tls;

use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::{Context, anyhow};
use api::{Api, Peer};
use config::Config;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use salve::audit::{AuditConfig, AuditLog, Kind, Record};
use salve::catalog::Catalog;
use salve::clock::{Clock as _, SystemClock};
use salve::endpoint::Endpoint;
use salve::identity::KeyPair;
use salve::policy::Policy;
use salve::session::ConsentingUser;
use salve::store::StateStore;
use salve::vetting::{CatalogStore, TrustConfig};
use salve::{Runtime, RuntimeConfig};
pub use simulate::simulate;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};

/// How often running invocations are checked against revocations.
const REVOCATION_POLL: Duration = Duration::from_secs(1);

/// How long a stopping service waits for cancelled invocations to end.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// The endpoint's own key (it signs the audit log's checkpoints), made on
/// first start.
fn endpoint_key(path: &Path) -> anyhow::Result<KeyPair> {
    if !path.exists() {
        KeyPair::generate()?.write(path, None)?;
        tracing::info!(path = %path.display(), "generated the endpoint key");
    }
    Ok(KeyPair::read(path)?)
}

/// The policy of an endpoint that has none yet: no principals, no roles,
/// so every request is refused.
const EMPTY_POLICY: &str = "schema = 1\n[categories]\n[roles]\n";

/// The trust of an endpoint that has none yet: no keys, so no package loads.
const EMPTY_TRUST: &str = "schema = 1\n";

/// Makes `dir` if it is not there, private to the service's user (0700).
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| {
        format!(
            "cannot make the data directory {} private (mode 0700): it must belong to the user the service runs as",
            dir.display()
        )
    })
}

/// What endpoints built from one configuration share: the engine, the
/// actions loaded into it, and the installed packages (for revocations).
struct Shared {
    runtime: Runtime,
    catalog: Catalog,
    store: Arc<CatalogStore>,
}

/// The engine and the installed actions of the configuration's data
/// directory, loaded.
fn shared(config: &Config) -> anyhow::Result<Shared> {
    let data = &config.data_dir;
    private_dir(data)?;
    let trust = if config.trust_is_default() && !config.trust.exists() {
        tracing::warn!(
            path = %config.trust.display(),
            "no trust file: no package is trusted, so no action runs until one is written there (an example is dist/trust.toml)"
        );
        TrustConfig::parse(EMPTY_TRUST, &config.trust)?
    } else {
        TrustConfig::read(&config.trust)?
    };
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(data.join("cache")),
        limits: config.runtime_limits(),
        ..RuntimeConfig::default()
    })?;
    let store = Arc::new(CatalogStore::open(&data.join("catalog"))?);
    let loadable = store.packages(&trust)?;
    for (package, why) in &loadable.refused {
        tracing::warn!(%package, %why, "installed package not loaded");
    }
    let mut packages = Vec::new();
    for package in loadable.packages {
        match runtime.config().limits.resolve(&package.manifest().limits) {
            Ok(_) => packages.push(package),
            Err(why) => {
                let package = package.manifest().label();
                tracing::warn!(%package, %why, "installed package not loaded: it asks for more than [limits] in the configuration allows");
            }
        }
    }
    let catalog = Catalog::load(&runtime, packages)?;
    Ok(Shared {
        runtime,
        catalog,
        store,
    })
}

/// The endpoint `name` on `shared`, with its own key, audit log, policy
/// and state in `data` (the audit log's checkpoints also copied to `copy`,
/// if given).
fn open_endpoint(
    config: &Config,
    shared: &Shared,
    name: String,
    data: &Path,
    copy: Option<std::path::PathBuf>,
) -> anyhow::Result<(Endpoint, Arc<AuditLog>)> {
    private_dir(data)?;
    let key = Arc::new(endpoint_key(&data.join("endpoint.key"))?);
    let mut audit = AuditConfig::new(data.join("audit"));
    if audit.dir.exists()
        && let Some(signer) = salve::audit::last_signer(&audit.dir, audit.checkpoint_every)
            .map_err(|e| {
                anyhow::anyhow!("cannot read the audit log in {}: {e}", audit.dir.display())
            })?
        && signer != key.public()
    {
        anyhow::bail!(
            "the audit log in {} is signed by {signer}, not by this endpoint's key {} ({}): the endpoint key was replaced, and every checkpoint signed from now on would make the log fail verification. Put the endpoint's key back, or move the log aside (keep it for auditors: it verifies with `--key {signer}`) so that a new one is started",
            audit.dir.display(),
            key.public(),
            data.join("endpoint.key").display()
        );
    }
    audit.checkpoint_key = Some(key.clone());
    if let Some(copy) = copy {
        // The copy is written by a thread of its own, which can only warn:
        // a destination that cannot be written at all is said now.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&copy)
            .with_context(|| {
                format!(
                    "cannot write the checkpoint copy {} (checkpoint-copy): under the shipped unit, a path outside the data directory must be added to ReadWritePaths=",
                    copy.display()
                )
            })?;
        audit.checkpoint_copy = Some(copy);
    }
    let audit = Arc::new(AuditLog::open(audit)?);
    let policy = if config.policy_is_default() && !config.policy.exists() {
        tracing::warn!(
            path = %config.policy.display(),
            "no policy file: nobody may do anything until one is written there (an example is dist/policy.toml)"
        );
        Policy::parse(EMPTY_POLICY, &config.policy)?
    } else {
        Policy::read(&config.policy)?
    };
    let state = StateStore::open(&data.join("state.db"))?;
    let endpoint = Endpoint::new(
        name,
        shared.runtime.clone(),
        shared.catalog.clone(),
        policy,
        state,
        audit.clone(),
    )
    .with_revocations(shared.store.clone());
    Ok((endpoint, audit))
}

fn build(config: &Config) -> anyhow::Result<(Endpoint, Arc<AuditLog>)> {
    let shared = shared(config)?;
    open_endpoint(
        config,
        &shared,
        config.endpoint(),
        &config.data_dir,
        Some(config.checkpoint_copy()),
    )
}

pub fn serve(config_path: Option<&Path>) -> CliResult {
    let config = Config::read(config_path).exit_with(Exit::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("salve-serve")
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    // From the first write on, a write past the file-size limit
    // (`LimitFSIZE=`, `ulimit -f`) fails with EFBIG — which stops the audit
    // log, or the start, with a message — instead of killing the service
    // without a word. (Once caught, the signal stays caught for the
    // process.)
    let _file_too_large = {
        let _entered = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
            nix::libc::SIGXFSZ,
        ))
        .context("cannot catch SIGXFSZ")
        .exit_with(Exit::Failed)?
    };
    let (endpoint, audit) = build(&config).exit_with(Exit::Usage)?;
    let result = runtime.block_on(run(config, Arc::new(endpoint), audit.clone()));
    // An invocation stuck in a host call past the cancellation is not waited
    // for: its host call ends by its own deadline, and its record with it.
    runtime.shutdown_timeout(CANCEL_WAIT);
    audit.close();
    result.exit_with(Exit::Failed)?;
    Ok(Exit::Success)
}

/// How often the requests refused "busy" are logged, as one record.
const BUSY_SUMMARY: Duration = Duration::from_secs(10);

/// Logs how many authenticated requests were refused "busy" since the last
/// time, if any were: one `request.refused` record (code `busy`, the count
/// in `details`).
async fn log_busy_refusals(api: &Arc<api::Api>) {
    let endpoint = api.endpoint.clone();
    match tokio::task::spawn_blocking(move || endpoint.log_counted_refusals()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(count)) => tracing::warn!(
            count,
            "refused requests past the logging rate, logged as counts"
        ),
        Ok(Err(error)) => tracing::error!(%error, "cannot log the counted refusals"),
        Err(error) => tracing::error!(%error, "cannot log the counted refusals"),
    }
    let count = api.busy_refused.swap(0, Ordering::AcqRel);
    if count == 0 {
        return;
    }
    let mut refused = record(
        Kind::RequestRefused,
        &api.endpoint,
        format!(
            "{count} request(s) refused at the concurrency limit in the last {} s or less",
            BUSY_SUMMARY.as_secs()
        ),
    );
    refused.decision = Some("refused".to_string());
    refused.reason_code = Some("busy".to_string());
    refused.details = Some(serde_json::json!({ "count": count }));
    let endpoint = api.endpoint.clone();
    match tokio::task::spawn_blocking(move || endpoint.audit().append(refused)).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::error!(%error, count, "cannot log the busy refusals"),
        Err(error) => tracing::error!(%error, count, "cannot log the busy refusals"),
    }
}

fn record(kind: Kind, endpoint: &Endpoint, reason: String) -> Record {
    let mut record = Record::event(kind);
    record.endpoint = Some(endpoint.id().to_string());
    record.reason = Some(reason);
    record
}

/// After a crash, requests signed up to the replay watermark are refused
/// (see `salve::replay`): the service waits for its clock to pass it before
/// it listens, so that no client is refused for signing too early. A
/// watermark further ahead than this means the clock was set back; then the
/// service starts at once and such requests are refused.
const MAX_REPLAY_WAIT: Duration = Duration::from_secs(10);

async fn wait_for_replay_floor(endpoint: &Endpoint) {
    let now = SystemClock.now_ms();
    let ahead = endpoint.replay_floor_ms().saturating_sub(now);
    if ahead <= 0 {
        return;
    }
    let ahead = Duration::from_millis(u64::try_from(ahead).unwrap_or(u64::MAX));
    if ahead > MAX_REPLAY_WAIT {
        tracing::warn!(
            ahead_ms = ahead.as_millis(),
            "the replay watermark is ahead of the clock (was it set back?): requests signed before it are refused"
        );
        return;
    }
    tracing::info!(
        wait_ms = ahead.as_millis(),
        "the previous run did not stop cleanly: waiting for the clock to pass its replay watermark"
    );
    tokio::time::sleep(ahead + Duration::from_millis(1)).await;
}

async fn run(config: Config, endpoint: Arc<Endpoint>, audit: Arc<AuditLog>) -> anyhow::Result<()> {
    wait_for_replay_floor(&endpoint).await;
    let socket_path = config.socket();
    if let Some(dir) = socket_path.parent().filter(|d| !d.is_dir()) {
        // End users must reach the socket to consent: the directory is open
        // to all (0755), unlike the data directory.
        let made = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)));
        if let Err(error) = made {
            return Err(anyhow!(
                "cannot listen on {}: the directory {} does not exist and cannot be made ({error}). Create it (mode 0755, owned by the service's user; systemd's RuntimeDirectory=salve does) or set `socket` in salve.toml",
                socket_path.display(),
                dir.display()
            ));
        }
    }
    if socket_path.exists() {
        // A socket left by a crash; refuse if a service still answers on it.
        if std::os::unix::net::UnixStream::connect(&socket_path).is_ok() {
            return Err(anyhow!(
                "another salve service is answering on {}",
                socket_path.display()
            ));
        }
        std::fs::remove_file(&socket_path)
            .with_context(|| format!("cannot remove the stale socket {}", socket_path.display()))?;
    }
    let unix = UnixListener::bind(&socket_path)
        .with_context(|| format!("cannot listen on {}", socket_path.display()))?;
    // Anyone local may connect: who they are comes from the kernel, and what
    // they may do from the policy.
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o666))?;
    let tls = if config.listen.is_empty() {
        None
    } else {
        let identity = tls::identity(
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
            &config.data_dir.join("tls"),
            endpoint.id(),
        )?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Some((listener, identity))
    };
    let fingerprint = tls
        .as_ref()
        .map(|(_, identity)| format!("sha256:{}", identity.fingerprint));
    let key = Arc::new(endpoint_key(&config.data_dir.join("endpoint.key"))?);
    let api = Arc::new(Api {
        endpoint: endpoint.clone(),
        key: key.clone(),
        limit: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        max_body_bytes: config.max_body_bytes,
        body_timeout: Duration::from_secs(config.request_timeout_seconds),
        fingerprint: fingerprint.clone(),
        busy_refused: AtomicU64::new(0),
        fleet: config
            .fleet
            .as_ref()
            .map(|_| Arc::new(fleet::FleetLink::default())),
    });
    let router = api::router(api.clone());
    let recovery = {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || endpoint.begin_run()).await?
    }
    .context("cannot begin the run")?;
    if recovery.previous_run_crashed {
        println!(
            "the previous run did not stop cleanly: {} invocation(s) it left running logged as interrupted, {} record(s) of finished ones rebuilt from the audit log, {} change(s) the log held applied to the state store",
            recovery.interrupted.len(),
            recovery.restored.len(),
            recovery.reconciled.len()
        );
    }
    let started = {
        let (endpoint, audit) = (endpoint.clone(), audit.clone());
        let detail = format!(
            "listening on {}{}",
            socket_path.display(),
            tls.as_ref()
                .map(|_| format!(" and {}", config.listen))
                .unwrap_or_default()
        );
        tokio::task::spawn_blocking(move || {
            audit.append(record(Kind::ServiceStarted, &endpoint, detail))
        })
        .await?
    };
    started.context("the audit log does not take records: not serving")?;
    println!(
        "salve serving endpoint {} (version {})",
        endpoint.id(),
        env!("CARGO_PKG_VERSION")
    );
    println!("  local socket  {}", socket_path.display());
    if let Some(fingerprint) = &fingerprint {
        println!(
            "  TLS           https://{}  certificate {fingerprint}",
            config.listen
        );
    }
    if let Some(key) = audit.checkpoint_key() {
        println!(
            "  audit log     {} (checkpoints signed by {key})",
            audit.dir().display()
        );
    }
    println!("  actions       {}", endpoint.catalog().entries().count());

    let (stop_tx, stop) = watch::channel(false);
    let graceful = Arc::new(GracefulShutdown::new());
    // HTTP/1.1 only: the header deadline then runs from the moment a
    // connection is served, so one that never sends a request is closed.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.request_timeout_seconds));
    let builder = Arc::new(builder);
    let send_timeout = Duration::from_secs(config.send_timeout_seconds);
    let connections =
        connection::Connections::new("local socket", config.max_connections, send_timeout);

    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(fleet_config), Some(link)) = (&config.fleet, &api.fleet) {
        let client = fleet::connect(fleet_config, endpoint.id(), link.clone()).await?;
        let servers = fleet_config.servers.join(",");
        let max_in_flight = config.max_connections.max(1);
        println!(
            "  fleet         {servers} (salve.v1.ep.{}.req)",
            endpoint.id()
        );
        {
            let (api, key, client, stop) = (api.clone(), key.clone(), client.clone(), stop.clone());
            tasks.spawn(fleet_buckets::publish(api, key, client, stop));
        }
        let (api, stop) = (api.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(error) =
                fleet::answer(api, key, client, servers, max_in_flight, stop).await
            {
                tracing::error!(error = %format!("{error:#}"), "the fleet's requests are not answered");
            }
        });
    }
    {
        let (router, graceful, builder, connections, mut stop) = (
            router.clone(),
            graceful.clone(),
            builder.clone(),
            connections.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = unix.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors, say: not a busy loop.
                            tracing::warn!(%error, "accept failed; trying again in 100 ms");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => break,
                };
                let Some(slot) = connections.admit() else {
                    connection::refuse(stream);
                    continue;
                };
                let peer = match ConsentingUser::from_peer(&stream) {
                    Ok(user) => Peer::Local(user),
                    Err(error) => {
                        tracing::warn!(%error, "no peer credentials");
                        continue;
                    }
                };
                let service = TowerToHyperService::new(router.clone().layer(axum::Extension(peer)));
                let connection = builder
                    .serve_connection(TokioIo::new(connections.timed(stream)), service)
                    .into_owned();
                let watched = graceful.watcher().watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                    drop(slot);
                });
            }
        });
    }
    if let Some((listener, identity)) = tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.config);
        let timeout = Duration::from_secs(config.request_timeout_seconds);
        let (router, graceful, builder, mut stop) = (
            router.clone(),
            graceful.clone(),
            builder.clone(),
            stop.clone(),
        );
        let connections = connection::Connections::new("tls", config.max_connections, send_timeout);
        tasks.spawn(async move {
            loop {
                let (tcp, address) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors, say: not a busy loop.
                            tracing::warn!(%error, "accept failed; trying again in 100 ms");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => break,
                };
                let Some(slot) = connections.admit() else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let tcp = connections.timed(tcp);
                let (acceptor, router, builder) =
                    (acceptor.clone(), router.clone(), builder.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        _ => return,
                    };
                    let service = TowerToHyperService::new(
                        router.layer(axum::Extension(Peer::Remote(address))),
                    );
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let _ = watcher.watch(connection).await;
                });
            }
        });
    }
    {
        // Requests refused "busy", and unauthenticated refusals past the
        // rate logged one by one, are logged as counts once per interval.
        let (api, mut stop) = (api.clone(), stop.clone());
        tasks.spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = tokio::time::sleep(BUSY_SUMMARY) => false,
                    _ = stop.changed() => true,
                };
                log_busy_refusals(&api).await;
                if stopping {
                    break;
                }
            }
        });
    }
    {
        // Idle timeouts and expiry close sessions by themselves.
        let (endpoint, mut stop) = (endpoint.clone(), stop.clone());
        let every = Duration::from_secs(config.sweep_seconds.max(1));
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
                let endpoint = endpoint.clone();
                match tokio::task::spawn_blocking(move || endpoint.sweep()).await {
                    Ok(Ok(closed)) if !closed.is_empty() => {
                        tracing::info!(closed = closed.len(), "closed idle or expired sessions")
                    }
                    Ok(Err(error)) => tracing::error!(%error, "sweeping sessions failed"),
                    _ => {}
                }
            }
        });
    }

    {
        // A package revoked while an invocation of it runs (`salve catalog
        // revoke`, from another process) stops that invocation too.
        // It looks only while something runs: idle, it sleeps until an
        // invocation starts.
        let (endpoint, mut stop) = (endpoint.clone(), stop.clone());
        let started = Arc::new(tokio::sync::Notify::new());
        endpoint.on_invocation_start(Box::new({
            let started = Arc::clone(&started);
            move || started.notify_one()
        }));
        tasks.spawn(async move {
            loop {
                if endpoint.running() == 0 {
                    // A start since the check left its permit: not missed.
                    tokio::select! {
                        _ = started.notified() => {}
                        _ = stop.changed() => break,
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(REVOCATION_POLL) => {}
                    _ = stop.changed() => break,
                }
                if endpoint.running() == 0 {
                    continue;
                }
                let endpoint = endpoint.clone();
                if let Ok(cancelled) =
                    tokio::task::spawn_blocking(move || endpoint.cancel_revoked()).await
                    && cancelled > 0
                {
                    tracing::warn!(cancelled, "cancelled invocations of a revoked package");
                }
            }
        });
    }

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // A stopped audit log (a failed write or sync) refuses everything from
    // then on: the service stops, with an error, so that its service
    // manager restarts it — reopening the log repairs a torn tail, and a
    // disk that still fails stops it again.
    let audit_stopped = {
        // The log says when it stops: no timer polls it.
        let (told, mut stopped) = watch::channel(None::<String>);
        audit.on_stop(Box::new(move |reason| {
            let _ = told.send(Some(reason.to_string()));
        }));
        async move {
            loop {
                if let Some(reason) = stopped.borrow_and_update().clone() {
                    return reason;
                }
                if stopped.changed().await.is_err() {
                    // The log is gone, and with it anyone to tell.
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let audit_stopped = tokio::select! {
        _ = terminate.recv() => None,
        _ = tokio::signal::ctrl_c() => None,
        reason = audit_stopped => Some(reason),
    };
    if let Some(reason) = &audit_stopped {
        tracing::error!(%reason, "the audit log has stopped: nothing can run or be logged; stopping");
    }
    tracing::info!("stopping: no new connections; letting requests in flight finish");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let _ = std::fs::remove_file(&socket_path);
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let graceful =
        Arc::try_unwrap(graceful).map_err(|_| anyhow!("connections still referenced"))?;
    let finished = tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_ok();
    let detail = if finished {
        "stopped: every request answered".to_string()
    } else {
        // Past the grace period: invocations still running are cancelled
        // (each ends with its "finished" record, outcome `cancelled`), and
        // the connections waiting for them are cut off.
        let cancelled = endpoint.cancel_running("the service is stopping");
        let waited = Instant::now();
        while endpoint.running() > 0 && waited.elapsed() < CANCEL_WAIT {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        format!(
            "stopped: requests still running after {} s were cut off ({cancelled} invocations cancelled, {} still in a host call)",
            grace.as_secs(),
            endpoint.running()
        )
    };
    // Refusals counted since the summary task's last round (requests that
    // were still being answered) are logged too.
    log_busy_refusals(&api).await;
    let stopped = tokio::task::spawn_blocking(move || {
        // Nothing more is authenticated: the next start accepts every
        // request signed after the last one this run accepted.
        match endpoint.stop() {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                running = endpoint.running(),
                "invocations may not have logged how they ended: the next start settles them"
            ),
            Err(error) => tracing::warn!(
                %error,
                "cannot record the clean stop; the next start takes this run for a crash"
            ),
        }
        if let Some(reason) = audit_stopped {
            return Err(anyhow!(
                "the audit log stopped ({reason}): salve stopped so that it is restarted, which reopens the log; if the disk still fails, fix it first"
            ));
        }
        audit
            .append(record(Kind::ServiceStopped, &endpoint, detail))
            .context("cannot log the stop")
    })
    .await?;
    stopped?;
    println!("salve stopped");
    Ok(())
}
