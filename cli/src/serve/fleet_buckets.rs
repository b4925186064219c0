//! The endpoint's part of the fleet's key-value buckets: what awaits an
//! approver here (sessions requested, escalations open) in the approval
//! queue, and its presence. Every value is signed by the endpoint for the
//! key it is stored under, so that a broker can hide or replay an entry but
//! not alter one, nor move it to another key.
//!
//! The buckets are the fleet admin's to create (`salve fleet setup`); until
//! they exist, or while the broker is away, nothing is published and local
//! work goes on.

use super::api::Api;
use salve::api::v1::{Presence, Reply, SignedReply};
use salve::digest::Sha256Digest;
use salve::fleet::EndpointName;
use salve::fleet::subjects::{PENDING_BUCKET, PRESENCE_BUCKET, pending_key};
use salve::identity::KeyPair;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often the endpoint looks whether its part of the queue changed (it
/// reads it again only when its audit log moved, or a refresh is due).
const QUEUE_EVERY: Duration = Duration::from_secs(2);

/// How often it says it is there.
const PRESENCE_EVERY: Duration = Duration::from_secs(10);

/// How often everything is read and written again, whatever was written
/// before: a bucket purged or recreated meanwhile is filled again, an
/// escalation expired without a record is withdrawn, and readers see the
/// entries are fresh (`salve fleet pending` leaves out those older than
/// three minutes).
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The two buckets, opened.
struct Buckets {
    pending: async_nats::jetstream::kv::Store,
    presence: async_nats::jetstream::kv::Store,
}

/// What the publisher knows of what it wrote.
struct Publisher {
    api: Arc<Api>,
    key: Arc<KeyPair>,
    name: EndpointName,
    jetstream: async_nats::jetstream::Context,
    buckets: Option<Buckets>,
    /// The queue's entries last written: key → digest of the value.
    written: HashMap<String, Sha256Digest>,
    /// The audit log's head when the queue was last written in full.
    synced_at_head: Option<u64>,
    last_presence: Option<Instant>,
    last_refresh: Instant,
}

/// Keeps this endpoint's part of the approval queue and its presence up to
/// date until `stop`.
pub async fn publish(
    api: Arc<Api>,
    key: Arc<KeyPair>,
    client: async_nats::Client,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(name) = api.endpoint.id().parse::<EndpointName>() else {
        return;
    };
    let mut publisher = Publisher {
        api,
        key,
        name,
        jetstream: async_nats::jetstream::new(client),
        buckets: None,
        written: HashMap::new(),
        synced_at_head: None,
        last_presence: None,
        last_refresh: Instant::now(),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(QUEUE_EVERY) => {}
            _ = stop.changed() => return,
        }
        publisher.step().await;
    }
}

impl Publisher {
    /// One look: the queue written if it may have changed, the presence if
    /// it is due.
    async fn step(&mut self) {
        if !self.api.fleet.as_ref().is_some_and(|link| link.connected()) {
            return;
        }
        if self.last_refresh.elapsed() >= REFRESH_EVERY {
            self.written.clear();
            self.synced_at_head = None;
            self.last_presence = None;
            self.last_refresh = Instant::now();
        }
        if self.buckets.is_none() {
            match self.open().await {
                Ok(buckets) => self.buckets = Some(buckets),
                Err(error) => {
                    tracing::debug!(%error, "the fleet's buckets are not there (yet): nothing published");
                    return;
                }
            }
        }
        let head = self.api.endpoint.audit().last_seq();
        if self.synced_at_head != Some(head) {
            match self.write_queue().await {
                Ok(()) => self.synced_at_head = Some(head),
                Err(error) => {
                    tracing::warn!(%error, "cannot bring the fleet's approval queue up to date");
                    self.buckets = None;
                    return;
                }
            }
        }
        if self
            .last_presence
            .is_none_or(|at| at.elapsed() >= PRESENCE_EVERY)
        {
            match self.write_presence(head).await {
                Ok(()) => self.last_presence = Some(Instant::now()),
                Err(error) => {
                    tracing::warn!(%error, "cannot publish this endpoint's presence");
                    self.buckets = None;
                }
            }
        }
    }

    async fn open(&self) -> anyhow::Result<Buckets> {
        Ok(Buckets {
            pending: self.jetstream.get_key_value(PENDING_BUCKET).await?,
            presence: self.jetstream.get_key_value(PRESENCE_BUCKET).await?,
        })
    }

    /// `value`, signed by this endpoint for `entry`, the key it is stored
    /// under.
    fn signed<T: serde::Serialize>(&self, entry: &str, value: &T) -> anyhow::Result<Vec<u8>> {
        let signed = SignedReply::sign(
            &self.key,
            self.name.as_str(),
            Sha256Digest::of(entry.as_bytes()),
            200,
            &Reply::Result(value),
        )?;
        Ok(serde_json::to_vec(&signed)?)
    }

    /// Writes what awaits approval now and withdraws what no longer does.
    async fn write_queue(&mut self) -> anyhow::Result<()> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        let endpoint = self.api.endpoint.clone();
        let (sessions, escalations) =
            tokio::task::spawn_blocking(move || endpoint.awaiting_approval()).await??;
        let mut current = HashMap::new();
        for session in &sessions {
            let entry = pending_key(&self.name, "session", session.id.as_str());
            let bytes = self.signed(&entry, session)?;
            current.insert(entry, bytes);
        }
        for queued in &escalations {
            let id = queued.escalation.escalation.id.as_str();
            let entry = pending_key(&self.name, "escalation", id);
            let bytes = self.signed(&entry, queued)?;
            current.insert(entry, bytes);
        }
        for (entry, bytes) in current.iter() {
            let digest = Sha256Digest::of(bytes);
            if self.written.get(entry) == Some(&digest) {
                continue;
            }
            buckets
                .pending
                .put(entry.as_str(), bytes.clone().into())
                .await?;
            self.written.insert(entry.clone(), digest);
        }
        let gone: Vec<String> = self
            .written
            .keys()
            .filter(|entry| !current.contains_key(*entry))
            .cloned()
            .collect();
        for entry in gone {
            buckets.pending.purge(entry.as_str()).await?;
            self.written.remove(&entry);
        }
        Ok(())
    }

    /// Says this endpoint is there, with what it runs.
    async fn write_presence(&self, audit_seq: u64) -> anyhow::Result<()> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        let endpoint = &self.api.endpoint;
        let value = Presence {
            endpoint: self.name.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            actions: endpoint
                .catalog()
                .entries()
                .map(|entry| entry.package.manifest().label())
                .collect(),
            audit_seq,
            seen_ms: endpoint.now(),
        };
        let bytes = self.signed(self.name.as_str(), &value)?;
        buckets
            .presence
            .put(self.name.as_str(), bytes.into())
            .await?;
        Ok(())
    }
}
