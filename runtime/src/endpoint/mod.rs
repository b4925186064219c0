//! The endpoint: sessions, decisions, escalations and the sandbox, behind
//! one object an embedder uses — "invoke this action in this session as this
//! principal" — and that the service is one client of.
//!
//! Every invocation takes the same path: find the session and refresh it
//! (idle, expiry); decide ([`crate::decision::decide`]); commit the decision
//! to the state store in one transaction (an approval is used up, an
//! escalation is raised, the session is touched); log "started" durably —
//! no log, no run; run in a fresh instance, with what the manifest declares
//! and the scope allows; log "finished" with the outcome; answer.
//!
//! Everything else is logged too: every request refused, every session
//! transition, every decision with its reason, every escalation and approval.
//! A record describing a change of state is appended inside the change's
//! transaction, before it commits: if the log cannot take it, the change
//! does not happen. If the log stops (a failed write or sync), every
//! operation fails until it is fixed.
//!
//! The files follow the workflow: [`authenticate`](Endpoint::authenticate)
//! (who asks), `sessions` (request, approval, consent, closure, sweep),
//! `escalations` (the second approval), `invocation` (the path of one
//! invocation), `operations` (what a signed request may ask, and the
//! dispatcher that answers it), `refusals` (each refusal's code and kind,
//! and logging one), `recovery` (what a restart finds); `events` builds the
//! audit records, `live` and `recorder` keep running and finished
//! invocations, `flood` bounds what unauthenticated refusals cost.

mod authenticate;
mod escalations;
mod events;
mod flood;
mod invocation;
pub mod live;
mod operations;
mod recorder;
mod recovery;
mod refusals;
mod sessions;

pub use authenticate::Authenticated;
pub use events::refusal_reason;
use operations::INVOCATION_RETENTION_MS;
pub use operations::InvokeOutcome;
pub use recovery::Recovery;
pub use refusals::{Refusal, RefusalKind};
use sessions::load_session;

use crate::audit::AuditLog;
use crate::catalog::{Catalog, CatalogEntry};
use crate::clock::{Clock, SystemClock};
use crate::engine::Runtime;
use crate::policy::Policy;
use crate::random::{NoRandomness, RandomSource, SystemRandom};
use crate::replay::ReplayGuard;
use crate::session::UnixMillis;
use crate::store::{StateStore, StoreError};
use crate::vetting::CatalogStore;
use std::sync::Arc;

/// An endpoint: the runtime, its catalog, the policy, the durable state and
/// the audit log.
pub struct Endpoint {
    id: String,
    runtime: Runtime,
    catalog: Catalog,
    policy: Arc<Policy>,
    store: Arc<StateStore>,
    replay: ReplayGuard,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    revocations: Option<Arc<CatalogStore>>,
    live: live::LiveInvocations,
    recorder: recorder::Recorder,
    /// Closing a session waits for invocations between their decision and
    /// their "started" record (they hold it shared), so that nothing starts
    /// in a session after it closed.
    gate: std::sync::RwLock<()>,
    /// Refusals of unauthenticated requests beyond a rate per source are
    /// counted, not logged one by one.
    flood: flood::FloodGuard,
}

impl Endpoint {
    /// An endpoint named `id` (the name sessions are requested for).
    pub fn new(
        id: impl Into<String>,
        runtime: Runtime,
        catalog: Catalog,
        policy: Policy,
        store: StateStore,
        audit: Arc<AuditLog>,
    ) -> Endpoint {
        let store = Arc::new(store);
        // Unreadable, the watermark is taken to be as far ahead as any
        // request could have been signed: nothing an earlier run may have
        // accepted gets through.
        let watermark = store.replay_watermark().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the replay watermark; refusing requests signed up to the clock skew from now");
            SystemClock
                .now_ms()
                .saturating_add(i64::try_from(policy.clock_skew().as_millis()).unwrap_or(i64::MAX))
        });
        Endpoint {
            id: id.into(),
            runtime,
            catalog,
            policy: Arc::new(policy),
            replay: ReplayGuard::new(watermark),
            recorder: recorder::Recorder::start(Arc::clone(&store)),
            store,
            audit,
            clock: Arc::new(SystemClock),
            random: Arc::new(SystemRandom),
            revocations: None,
            live: live::LiveInvocations::default(),
            gate: std::sync::RwLock::new(()),
            flood: flood::FloodGuard::default(),
        }
    }

    /// The same endpoint consulting `catalog`'s revocations before every
    /// invocation: a package revoked there is denied at once, even though it
    /// is loaded. If the revocations cannot be read, invocations are denied.
    #[must_use]
    pub fn with_revocations(mut self, catalog: Arc<CatalogStore>) -> Endpoint {
        self.revocations = Some(catalog);
        self
    }

    /// Why `entry` is revoked, if it is (or revocations cannot be checked).
    pub(super) fn revoked(&self, entry: &CatalogEntry) -> Option<String> {
        let store = self.revocations.as_ref()?;
        let manifest = entry.package.manifest();
        match store.revocation(
            manifest.id.as_str(),
            &manifest.version,
            &entry.package.digest().to_string(),
        ) {
            Ok(found) => found.map(|(target, reason)| format!("{reason} (revoked as {target})")),
            Err(error) => Some(format!(
                "revocations cannot be checked, so nothing runs: {error}"
            )),
        }
    }

    /// The same endpoint reading time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Endpoint {
        self.clock = clock;
        self
    }

    /// The same endpoint drawing the ids it hands out from `random`.
    #[must_use]
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Endpoint {
        self.random = random;
        self
    }

    /// A fresh id (`make` is e.g. [`SessionId::random_from`]); without
    /// randomness, an internal failure, reported in the operational log.
    fn fresh_id<T>(
        &self,
        make: fn(&dyn RandomSource) -> Result<T, NoRandomness>,
    ) -> Result<T, Refusal> {
        make(self.random.as_ref()).map_err(|error| {
            tracing::error!(%error, "cannot make an id: no randomness");
            Refusal::NoRandomness(error)
        })
    }

    /// Requests signed at or before this instant are refused: a previous run
    /// of this endpoint may have accepted them (see [`crate::replay`]).
    /// After a graceful stop it is the latest request that run accepted;
    /// after a crash, up to two seconds later.
    pub fn replay_floor_ms(&self) -> UnixMillis {
        self.replay.floor_ms()
    }

    /// Stops accepting signed requests and records, durably, the latest
    /// timestamp accepted, so that the next run refuses none signed after
    /// it (see [`Endpoint::stop`]); without it the next run refuses requests
    /// signed up to two seconds after the last one accepted.
    pub(super) fn stop_accepting(&self) -> Result<(), StoreError> {
        let latest = self.replay.stop();
        self.store.set_replay_watermark(latest)
    }

    /// The endpoint's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The loaded actions.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The time by this endpoint's clock.
    pub fn now(&self) -> UnixMillis {
        self.clock.now_ms()
    }

    /// Cancels every invocation running now of a package revoked since it
    /// started (see [`Endpoint::with_revocations`]); returns how many. A
    /// service calls this often: a revocation then stops what runs, too.
    pub fn cancel_revoked(&self) -> usize {
        if self.revocations.is_none() || self.live.count() == 0 {
            return 0;
        }
        self.live.cancel_where(|running| {
            let (id, version) = running.action.split_once('@')?;
            let entry = self.catalog.entries().find(|e| {
                e.package.manifest().id.as_str() == id && e.version().to_string() == version
            })?;
            self.revoked(entry)
                .map(|why| format!("its package was revoked: {why}"))
        })
    }

    /// Cancels every invocation running now (a service that stops does this
    /// once its grace period is over); returns how many.
    pub fn cancel_running(&self, reason: &str) -> usize {
        self.live.cancel_all(reason)
    }

    /// How many invocations are running now.
    pub fn running(&self) -> usize {
        self.live.count()
    }

    /// Has `listener` called each time an invocation starts, once it counts
    /// in [`Endpoint::running`]: what watches running invocations (for
    /// revocations, say) can sleep while none runs. It runs on the
    /// invoking thread and must only pass the news on.
    pub fn on_invocation_start(&self, listener: Box<dyn Fn() + Send + Sync>) {
        self.live.on_start(listener);
    }
}
