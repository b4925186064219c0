//! `salve fleet simulate`: many endpoints in one process, each with its own
//! key, audit log, policy and state, sharing one engine and its loaded
//! actions, each connected to the broker as `salve serve` connects
//! (answering its requests, streaming, keeping its part of the buckets).
//! For measuring a broker and the fleet's scale on one machine: the fleet
//! benchmark runs it. No socket and no TLS listener: the simulated
//! endpoints are reached through the broker only.
//!
//! It says on stdout, one line each, when the shared actions are loaded
//! (`loaded`), when every endpoint is connected (`connected N`), and each
//! time every one is back after some went away (`reconnected N`), so that
//! a caller can time them; it runs until SIGTERM or SIGINT.

use super::api::Api;
use super::config::Config;
use super::{endpoint_key, fleet, fleet_buckets, open_endpoint, shared};
use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::Context;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// How often the links are counted.
const COUNT_EVERY: Duration = Duration::from_millis(50);

/// Runs `count` endpoints named `<prefix>00000`, `<prefix>00001`, … from the
/// configuration at `config_path` (its `[fleet]` section, policy, trust and
/// installed actions), each in `<data-dir>/simulated/<name>`; writes their
/// names and public keys to `keys_out` (JSON: `{"name": "ed25519:…"}`).
pub fn simulate(
    config_path: Option<&Path>,
    count: usize,
    prefix: &str,
    keys_out: &Path,
) -> CliResult {
    let config = Config::read(config_path).exit_with(Exit::Usage)?;
    let Some(fleet_config) = config.fleet.clone() else {
        return Err(anyhow::anyhow!(
            "the configuration has no [fleet] section: simulated endpoints are reached through a broker only"
        ))
        .exit_with(Exit::Usage);
    };
    // Each endpoint holds seven files open (its audit segment, its state
    // database's two connections with their journals, its broker
    // connection): as many as the system allows a process (fs.nr_open) if
    // this user may raise its hard limit, else as many as the hard limit.
    let nofile = nix::sys::resource::Resource::RLIMIT_NOFILE;
    let most = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|n| n.trim().parse::<u64>().ok());
    if most.is_none_or(|most| nix::sys::resource::setrlimit(nofile, most, most).is_err())
        && let Ok((_, hard)) = nix::sys::resource::getrlimit(nofile)
    {
        let _ = nix::sys::resource::setrlimit(nofile, hard, hard);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("salve-simulate")
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    let shared = shared(&config).exit_with(Exit::Usage)?;
    println!("loaded");
    let _ = std::io::stdout().flush();
    let root = config.data_dir.join("simulated");
    let mut endpoints = Vec::with_capacity(count);
    let mut keys = serde_json::Map::new();
    for i in 0..count {
        let name = format!("{prefix}{i:05}");
        let data = root.join(&name);
        let (endpoint, audit) = open_endpoint(&config, &shared, name.clone(), &data, None)
            .with_context(|| format!("cannot open the simulated endpoint {name}"))
            .exit_with(Exit::Failed)?;
        let key = Arc::new(endpoint_key(&data.join("endpoint.key")).exit_with(Exit::Failed)?);
        keys.insert(name, serde_json::Value::String(key.public().to_string()));
        endpoints.push((Arc::new(endpoint), audit, key));
    }
    std::fs::write(
        keys_out,
        serde_json::to_vec_pretty(&keys).exit_with(Exit::Failed)?,
    )
    .with_context(|| format!("cannot write {}", keys_out.display()))
    .exit_with(Exit::Failed)?;
    let result = runtime.block_on(async {
        let (stop_tx, stop) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut links = Vec::with_capacity(count);
        let servers = fleet_config.servers.join(",");
        for (endpoint, _, key) in &endpoints {
            let recovery = {
                let endpoint = endpoint.clone();
                tokio::task::spawn_blocking(move || endpoint.begin_run()).await?
            };
            recovery.with_context(|| format!("cannot begin the run of {}", endpoint.id()))?;
            let link = Arc::new(fleet::FleetLink::default());
            links.push(link.clone());
            let api = Arc::new(Api {
                endpoint: endpoint.clone(),
                key: key.clone(),
                limit: Arc::new(Semaphore::new(config.max_concurrent_requests)),
                max_body_bytes: config.max_body_bytes,
                body_timeout: Duration::from_secs(config.request_timeout_seconds),
                fingerprint: None,
                busy_refused: AtomicU64::new(0),
                fleet: Some(link.clone()),
            });
            let client = fleet::connect(&fleet_config, endpoint.id(), link).await?;
            tasks.spawn(fleet_buckets::publish(
                api.clone(),
                key.clone(),
                client.clone(),
                stop.clone(),
            ));
            let (key, servers, stop) = (key.clone(), servers.clone(), stop.clone());
            let max_in_flight = config.max_connections.max(1);
            tasks.spawn(async move {
                if let Err(error) =
                    fleet::answer(api, key, client, servers, max_in_flight, stop).await
                {
                    tracing::error!(error = %format!("{error:#}"), "a simulated endpoint's requests are not answered");
                }
            });
        }
        let mut all_there = false;
        let mut ever = false;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(COUNT_EVERY) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
            let connected = links.iter().filter(|link| link.connected()).count();
            if connected == count && !all_there {
                println!("{} {count}", if ever { "reconnected" } else { "connected" });
                let _ = std::io::stdout().flush();
                all_there = true;
                ever = true;
            } else if connected < count {
                all_there = false;
            }
        }
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    for (_, audit, _) in &endpoints {
        audit.close();
    }
    result.exit_with(Exit::Failed)?;
    Ok(Exit::Success)
}
