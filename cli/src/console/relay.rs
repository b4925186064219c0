//! Where the console may relay to, and relaying: each endpoint of the
//! fleet inventory the console was given a way to reach (directly, or
//! through the broker), and nothing else — the console is never an open
//! proxy. A relayed request goes unchanged, and its answer comes back as
//! the endpoint signed it.

use super::error::ConsoleError;
use crate::client::{ApiError, Client, FleetTarget, Target, Unreachable};
use salve::Sha256Digest;
use salve::api::v1::{Reply, SignedReply};
use salve::fleet::Inventory;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long an endpoint has to answer a relayed request: the broker's own
/// patience (30 s), and a little more.
const RELAY_PATIENCE: Duration = Duration::from_secs(35);

/// The most requests relayed at once; past it, the next waits.
const MAX_RELAYED: usize = 64;

/// The most auditor's views (each up to 200 000 records in memory) read at
/// once; past it, the next waits.
const MAX_AUDIT_VIEWS: usize = 2;

/// The endpoints the console relays to, and the inventory that names them.
pub struct Relay {
    endpoints: BTreeMap<String, Client>,
    inventory: Inventory,
    /// The inventory file as read, which pages check for themselves.
    inventory_file: String,
    /// Requests being relayed.
    relaying: tokio::sync::Semaphore,
    /// Auditor's views being read.
    audit_views: tokio::sync::Semaphore,
}

/// How to reach one endpoint directly, from `--direct NAME=ADDRESS`.
pub fn parse_direct(text: &str) -> Result<(String, Target), String> {
    let explain = "give NAME=unix:PATH or NAME=tls:HOST:PORT@sha256:FINGERPRINT";
    let (name, address) = text
        .split_once('=')
        .ok_or_else(|| format!("--direct {text}: {explain}"))?;
    let target = if let Some(path) = address.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(format!("--direct {text}: the socket's path is empty"));
        }
        Target::Unix(PathBuf::from(path))
    } else if let Some(rest) = address.strip_prefix("tls:") {
        let (address, pin) = rest.rsplit_once('@').ok_or_else(|| {
            format!(
                "--direct {text}: a TLS address needs the certificate's fingerprint after @ (`salve serve` prints it)"
            )
        })?;
        let pin = pin
            .trim_start_matches("sha256:")
            .parse()
            .map_err(|e| format!("--direct {text}: {e}"))?;
        match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(format!("--direct {text}: `{address}` is not HOST:PORT")),
        }
        Target::Tls {
            address: address.to_string(),
            pin,
        }
    } else {
        return Err(format!("--direct {text}: {explain}"));
    };
    Ok((name.to_string(), target))
}

impl Relay {
    /// The console's endpoints: those reached directly, then — with a
    /// broker — every other endpoint of the inventory through it. Every
    /// direct one must be in the inventory (its answers are checked
    /// against the key the inventory gives).
    pub fn new(
        inventory: Inventory,
        inventory_file: String,
        direct: Vec<(String, Target)>,
        fleet: Option<FleetTarget>,
    ) -> Result<Relay, String> {
        let mut endpoints = BTreeMap::new();
        for (name, target) in direct {
            if inventory.key_of(&name).is_err() {
                return Err(format!(
                    "--direct {name}: `{name}` is not in the fleet inventory; add it (salve fleet inventory add) and have a fleet admin sign it, so that its answers can be checked"
                ));
            }
            let client = Client::new(target, None).for_endpoint(name.clone());
            if endpoints.insert(name.clone(), client).is_some() {
                return Err(format!("--direct {name} is given twice"));
            }
        }
        if let Some(fleet) = fleet {
            for (name, _) in inventory.endpoints() {
                if !endpoints.contains_key(name) {
                    let client = Client::new(Target::Fleet(Box::new(fleet.clone())), None)
                        .for_endpoint(name.to_string());
                    endpoints.insert(name.to_string(), client);
                }
            }
        }
        if endpoints.is_empty() {
            return Err(
                "the console has no endpoint to relay to: give --fleet (every endpoint of the inventory, through the broker) or --direct NAME=ADDRESS"
                    .to_string(),
            );
        }
        Ok(Relay {
            endpoints,
            inventory,
            inventory_file,
            relaying: tokio::sync::Semaphore::new(MAX_RELAYED),
            audit_views: tokio::sync::Semaphore::new(MAX_AUDIT_VIEWS),
        })
    }

    /// The endpoints' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.endpoints.keys().map(String::as_str)
    }

    /// Whether the console relays to `endpoint`.
    pub fn knows(&self, endpoint: &str) -> bool {
        self.endpoints.contains_key(endpoint)
    }

    /// The inventory file as read.
    pub fn inventory_file(&self) -> &str {
        &self.inventory_file
    }

    /// Relays the signed request `body` to `endpoint`: the answer's HTTP
    /// status and bytes as the endpoint gave them (a signed answer, or an
    /// unsigned refusal of a body it would not read).
    pub async fn relay(
        &self,
        endpoint: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), ConsoleError> {
        let client = self
            .endpoints
            .get(endpoint)
            .ok_or_else(|| ConsoleError::unknown_endpoint(endpoint))?;
        let _relaying = self.relaying.acquire().await;
        match tokio::time::timeout(RELAY_PATIENCE, client.relay_signed(body)).await {
            Err(_) => Err(ConsoleError::timeout(endpoint, RELAY_PATIENCE)),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(relay_failure(endpoint, error)),
        }
    }

    /// Relays the signed streaming request `body` to `endpoint`: each frame
    /// of the endpoint's signed answer is given to `frames` as it comes,
    /// unchanged; a relay that fails gives one last line, the console's
    /// error (`{"error": …}`, not signed: the page tells it apart).
    pub async fn relay_stream(
        &self,
        endpoint: &str,
        body: Vec<u8>,
        frames: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) {
        let Some(client) = self.endpoints.get(endpoint) else {
            let _ = frames.send(error_line(ConsoleError::unknown_endpoint(endpoint)));
            return;
        };
        let _relaying = self.relaying.acquire().await;
        if let Err(error) = client.relay_stream(body, &frames).await {
            let _ = frames.send(error_line(relay_failure(endpoint, error)));
        }
    }

    /// Waits for one of the few auditor's views read at once.
    pub async fn audit_view(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.audit_views.acquire().await.ok()
    }

    /// Relays `body` and opens the answer as `T`, checked as a page checks
    /// it (signed by the inventory's key for `endpoint`, for this very
    /// request): for the parts of pages the console renders. What it
    /// renders is only as true as the console; the approval pages check
    /// for themselves.
    pub async fn ask<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: Vec<u8>,
    ) -> Result<Result<T, (u16, salve::api::v1::ErrorBody)>, ConsoleError> {
        let digest = Sha256Digest::of(&body);
        let (status, bytes) = self.relay(endpoint, body).await?;
        let signed: SignedReply = serde_json::from_slice(&bytes)
            .map_err(|_| ConsoleError::unsigned(endpoint, status, &bytes))?;
        let key = self
            .inventory
            .key_of(endpoint)
            .map_err(|_| ConsoleError::unknown_endpoint(endpoint))?;
        match signed.open::<T>(endpoint, key, digest) {
            Ok((_, Reply::Result(answer))) => Ok(Ok(answer)),
            Ok((status, Reply::Error(error))) => Ok(Err((status, error))),
            Err(error) => Err(ConsoleError::bad_answer(&error)),
        }
    }
}

/// The console's error as the last line of a relayed stream.
fn error_line(error: ConsoleError) -> Vec<u8> {
    let reply: Reply<()> = Reply::Error(salve::api::v1::ErrorBody {
        code: error.code,
        message: error.message,
    });
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// A relay that failed, as the page is told: the endpoint's own refusal
/// (offline, timed out through the broker) keeps its code.
fn relay_failure(endpoint: &str, error: anyhow::Error) -> ConsoleError {
    if let Some(api) = error.downcast_ref::<ApiError>() {
        return ConsoleError::from_api(api);
    }
    if error.downcast_ref::<Unreachable>().is_some() {
        return ConsoleError::unreachable(endpoint, &error);
    }
    ConsoleError::relay_failed(endpoint, &error)
}
