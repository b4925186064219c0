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

mod events;
mod flood;
pub use events::refusal_reason;
mod invocation;
pub mod live;
mod recorder;
mod recovery;

pub use recovery::Recovery;

use crate::audit::{AuditError, AuditLog, Kind, Record};
use crate::capability::CapabilityNames;
use crate::catalog::{Catalog, CatalogEntry};
use crate::clock::{Clock, SystemClock};
use crate::decision::{ActionFacts, Decision, Denial, decide};
use crate::digest::Sha256Digest;
use crate::engine::{InvokeError, Runtime};
use crate::escalation::{Escalation, EscalationRefusal};
use crate::grant::Grant;
use crate::identity::{AuthError, PrincipalId, SignedRequest};
use crate::manifest::ActionId;
use crate::outcome::{Invocation, InvocationRecord, InvocationStatus};
use crate::policy::{Access, Policy, PolicyRefusal};
use crate::replay::{ReplayGuard, ReplayRefusal};
use crate::session::{
    ClosedBy, ClosureReport, ConsentingUser, EscalationId, InvocationId, Session, SessionId,
    SessionRefusal, SessionRequest, SessionState, UnixMillis,
};
use crate::store::{StateStore, StoreError, Tx};
use crate::vetting::CatalogStore;
use live::Watcher;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, PoisonError};

/// A principal whose identity has been established: by a signed request
/// ([`Endpoint::authenticate`]) or by an embedder that authenticates people
/// itself ([`Authenticated::trusted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    principal: PrincipalId,
    source: Option<String>,
}

impl Authenticated {
    /// Vouches for `principal`: the caller has established who they are by
    /// its own means. Everything they do is still checked against the policy.
    pub fn trusted(principal: PrincipalId) -> Authenticated {
        Authenticated {
            principal,
            source: None,
        }
    }

    /// Who.
    pub fn principal(&self) -> &PrincipalId {
        &self.principal
    }

    /// Where their requests come from, as the records of what they do say
    /// it (`source`): `ip:port`, or `local:uid=<n>(<name>)`.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The same principal, their requests coming from `source`.
    #[must_use]
    pub fn from_source(mut self, source: impl Into<String>) -> Authenticated {
        self.source = Some(source.into());
        self
    }
}

/// Why an endpoint operation was refused. Nothing it asked for happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request is not authentic.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A session transition is refused.
    #[error(transparent)]
    Session(#[from] SessionRefusal),
    /// An escalation transition is refused.
    #[error(transparent)]
    Escalation(#[from] EscalationRefusal),
    /// The policy says no.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
    /// Something named does not exist.
    #[error("no {what} `{id}` on this endpoint")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its name.
        id: String,
    },
    /// The runtime refused to run (busy, bad input).
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The state store failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log could not take the record; nothing was done.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The audit log does not read back as written (a record changed,
    /// missing, or not a record): nothing is passed on from it.
    #[error("the audit log does not verify: {0}")]
    AuditCorrupt(String),
    /// The operation is not answered on the route it was sent to.
    #[error("{message}")]
    WrongRoute {
        /// The stable code (`not-streamed`, `streamed-only`).
        code: &'static str,
        /// Where to send it instead.
        message: &'static str,
    },
}

impl Refusal {
    /// The stable kebab-case code, for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Auth(AuthError::Malformed(_)) => "malformed-request",
            Refusal::Auth(AuthError::UnknownPrincipal(_)) => "unknown-principal",
            Refusal::Auth(AuthError::BadSignature(_)) => "bad-signature",
            Refusal::Auth(AuthError::Stale { .. } | AuthError::SignedBeforeRestart { .. }) => {
                "stale-request"
            }
            Refusal::Auth(AuthError::Stopping) => "stopping",
            Refusal::Auth(AuthError::ReplayState(_)) => "state-store",
            Refusal::Auth(AuthError::Replayed(_)) => "replayed-request",
            Refusal::Auth(AuthError::WrongEndpoint { .. }) => "wrong-endpoint",
            Refusal::Session(SessionRefusal::Invalid(_)) => "invalid-request",
            Refusal::Session(SessionRefusal::Category { .. }) => "category-not-allowed",
            Refusal::Session(SessionRefusal::WrongEndpoint { .. }) => "wrong-endpoint",
            Refusal::Session(SessionRefusal::ConsentNotAllowed { .. }) => "consent-not-allowed",
            Refusal::Session(SessionRefusal::Policy(p)) | Refusal::Policy(p) => p.code(),
            Refusal::Session(SessionRefusal::State { .. }) => "session-state",
            Refusal::Escalation(EscalationRefusal::Policy(p)) => p.code(),
            Refusal::Escalation(_) => "escalation-not-pending",
            Refusal::NotFound { .. } => "not-found",
            Refusal::Invoke(InvokeError::Busy { .. }) => "busy",
            Refusal::Invoke(
                InvokeError::InvalidInput { .. } | InvokeError::InputTooLarge { .. },
            ) => "invalid-input",
            Refusal::Invoke(InvokeError::RuntimeFailed { .. }) => "internal",
            Refusal::Invoke(_) => "not-runnable",
            Refusal::Store(_) => "state-store",
            Refusal::Audit(_) => "audit-unavailable",
            Refusal::WrongRoute { code, .. } => code,
            Refusal::AuditCorrupt(_) => "audit-corrupt",
        }
    }
}

/// What kind of refusal it is: all a transport needs to answer it (an HTTP
/// status, say), decided here once for every refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request cannot be read, or asks for something malformed.
    BadRequest,
    /// The request is not authentic: unknown key, bad signature, stale or
    /// replayed.
    Unauthenticated,
    /// Authentic, and not allowed.
    Forbidden,
    /// What it names does not exist here.
    NotFound,
    /// What it names is not in a state that allows it.
    Conflict,
    /// The endpoint cannot take it now (busy, stopping, its state or log
    /// unavailable); the same request may succeed later.
    Unavailable,
    /// The endpoint itself failed.
    Internal,
}

impl Refusal {
    /// Its kind. Exhaustive, with no catch-all: a new refusal does not
    /// compile until it is given one.
    pub fn kind(&self) -> RefusalKind {
        use RefusalKind::{
            BadRequest, Conflict, Forbidden, Internal, NotFound, Unauthenticated, Unavailable,
        };
        let policy = |refusal: &PolicyRefusal| match refusal {
            PolicyRefusal::UnknownPrincipal(_) => Unauthenticated,
            PolicyRefusal::NotPermitted { .. }
            | PolicyRefusal::SeparationOfDuties { .. }
            | PolicyRefusal::Rule { .. }
            | PolicyRefusal::RuleError { .. } => Forbidden,
        };
        match self {
            Refusal::Auth(auth) => match auth {
                AuthError::Malformed(_) => BadRequest,
                AuthError::UnknownPrincipal(_)
                | AuthError::BadSignature(_)
                | AuthError::Stale { .. }
                | AuthError::SignedBeforeRestart { .. }
                | AuthError::Replayed(_) => Unauthenticated,
                AuthError::WrongEndpoint { .. } => Forbidden,
                AuthError::Stopping | AuthError::ReplayState(_) => Unavailable,
            },
            Refusal::Session(session) => match session {
                SessionRefusal::Invalid(_) => BadRequest,
                SessionRefusal::Category { .. }
                | SessionRefusal::WrongEndpoint { .. }
                | SessionRefusal::ConsentNotAllowed { .. } => Forbidden,
                SessionRefusal::Policy(refusal) => policy(refusal),
                SessionRefusal::State { .. } => Conflict,
            },
            Refusal::Escalation(escalation) => match escalation {
                EscalationRefusal::Policy(refusal) => policy(refusal),
                EscalationRefusal::NotPending { .. } => Conflict,
            },
            Refusal::Policy(refusal) => policy(refusal),
            Refusal::NotFound { .. } => NotFound,
            Refusal::Invoke(invoke) => match invoke {
                InvokeError::Busy { .. } => Unavailable,
                InvokeError::InvalidInput { .. } | InvokeError::InputTooLarge { .. } => BadRequest,
                InvokeError::NotGranted { .. } | InvokeError::Sandbox { .. } => Forbidden,
                InvokeError::RuntimeFailed { .. } => Internal,
            },
            Refusal::Store(_) | Refusal::Audit(_) => Unavailable,
            Refusal::AuditCorrupt(_) => Internal,
            Refusal::WrongRoute { .. } => BadRequest,
        }
    }
}

/// What became of an invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum InvokeOutcome {
    /// It was allowed and ran; how it ended is in the invocation.
    Ran {
        /// Its id: the `invocation` of its audit records, for
        /// [`Endpoint::invocation`].
        id: InvocationId,
        /// The approval it used, for a privileged action.
        approval: Option<EscalationId>,
        /// What it did.
        invocation: Invocation,
    },
    /// It was denied; nothing ran.
    Denied {
        /// Why.
        denial: Denial,
    },
    /// It waits for a second approval; nothing ran.
    Escalated {
        /// The pending escalation.
        escalation: Escalation,
        /// Why an earlier approval does not apply, if one exists.
        note: Option<String>,
    },
}

/// What a signed request may ask of the endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Request a session.
    RequestSession {
        /// What is asked.
        request: SessionRequest,
    },
    /// Approve a session.
    ApproveSession {
        /// Which.
        session: SessionId,
    },
    /// Close a session with its write-up.
    CloseSession {
        /// Which.
        session: SessionId,
        /// What was done.
        #[serde(default)]
        report: ClosureReport,
    },
    /// Invoke an action in a session.
    Invoke {
        /// Which session.
        session: SessionId,
        /// Which action (its version is the newest the scope allows).
        action: ActionId,
        /// The input, a JSON document.
        input: serde_json::Value,
    },
    /// Approve an escalation.
    ApproveEscalation {
        /// Which.
        escalation: EscalationId,
    },
    /// Deny an escalation.
    DenyEscalation {
        /// Which.
        escalation: EscalationId,
        /// Why.
        reason: String,
    },
    /// Show a session (to its requester, technician, approvers, auditors).
    ShowSession {
        /// Which.
        session: SessionId,
    },
    /// List the sessions the caller may see.
    ListSessions {
        /// Only those not closed.
        #[serde(default)]
        open_only: bool,
    },
    /// Show an escalation with the exact action and input it holds.
    ShowEscalation {
        /// Which.
        escalation: EscalationId,
    },
    /// List the pending escalations (for approvers).
    ListEscalations,
    /// Show an invocation, running or finished, with what it did (so far).
    ShowInvocation {
        /// Which.
        invocation: InvocationId,
    },
    /// List a session's invocations (without their output).
    ListInvocations {
        /// Which session.
        session: SessionId,
    },
    /// Follow an invocation's output as it is written (a streaming
    /// operation: the service answers it on `/v1/stream`).
    FollowInvocation {
        /// Which.
        invocation: InvocationId,
    },
    /// List the installed actions with their capabilities.
    ListCatalog,
    /// Verify the audit log (for auditors).
    VerifyAudit,
    /// Read the audit log's records after `after` (a sequence number), at
    /// most `limit` (and at most 5000) at a time (for auditors).
    ExportAudit {
        /// The last sequence number already read; 0 for the start.
        #[serde(default)]
        after: u64,
        /// How many records at most.
        #[serde(default)]
        limit: Option<usize>,
    },
}

/// How long what a finished invocation did is kept for `show` (the audit
/// log keeps its record for good).
const INVOCATION_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Most audit records one export answer carries.
const EXPORT_PAGE: usize = 5000;

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
    fn revoked(&self, entry: &CatalogEntry) -> Option<String> {
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
    fn stop_accepting(&self) -> Result<(), StoreError> {
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

    fn now(&self) -> UnixMillis {
        self.clock.now_ms()
    }

    /// Logs a refusal of a request from `source` and returns it; if the log
    /// cannot take the record, the log's failure is what the caller hears.
    fn refused(&self, source: Option<&str>, record: Record, refusal: Refusal) -> Refusal {
        match self.log(source, vec![record]) {
            Ok(_) => refusal,
            Err(error) => error.into(),
        }
    }

    /// As [`Endpoint::refused`], for a request nobody is authenticated
    /// for: logged one by one up to a rate per source, counted beyond it
    /// (see [`Endpoint::log_counted_refusals`]).
    fn refused_unauthenticated(
        &self,
        source: Option<&str>,
        record: Record,
        refusal: Refusal,
    ) -> Refusal {
        let code = record.reason_code.as_deref().unwrap_or("refused");
        if self.flood.admit(source, code, std::time::Instant::now()) {
            self.refused(source, record, refusal)
        } else {
            refusal
        }
    }

    /// Logs a refusal of a request nobody is authenticated for, made
    /// outside the endpoint (by an HTTP front end: a body too large, not a
    /// signed request…): one by one up to a rate per source, counted beyond
    /// it.
    pub fn log_unauthenticated_refusal(&self, record: Record) -> Result<(), AuditError> {
        let code = record.reason_code.as_deref().unwrap_or("refused");
        let source = record.source.clone();
        if self
            .flood
            .admit(source.as_deref(), code, std::time::Instant::now())
        {
            self.log(source.as_deref(), vec![record])?;
        }
        Ok(())
    }

    /// Logs the refusals counted and not logged one by one since the last
    /// call: one `request.refused` record per source and code, the count in
    /// `details`. A service calls this periodically and when it stops.
    /// Returns how many refusals the records count.
    pub fn log_counted_refusals(&self) -> Result<u64, AuditError> {
        let counted = self.flood.take_counted();
        let total = counted.iter().map(|(_, _, count)| count).sum();
        let records: Vec<Record> = counted
            .into_iter()
            .map(|(source, code, count)| {
                let mut record = events::refused(
                    Kind::RequestRefused,
                    None,
                    &code,
                    format!(
                        "{count} more request(s) from {source} refused ({code}), counted: past the rate at which refusals are logged one by one"
                    ),
                );
                record.source = Some(source);
                record.details = Some(serde_json::json!({ "count": count }));
                record
            })
            .collect();
        if !records.is_empty()
            && let Err(error) = self.log(None, records)
        {
            tracing::error!(%error, refusals = total, "cannot log the refusals counted");
            return Err(error);
        }
        Ok(total)
    }

    /// Appends `records` about a request from `source`, each naming this
    /// endpoint and where the request came from.
    fn log(
        &self,
        source: Option<&str>,
        mut records: Vec<Record>,
    ) -> Result<Vec<crate::audit::Appended>, AuditError> {
        for record in &mut records {
            if record.endpoint.is_none() {
                record.endpoint = Some(self.id.clone());
            }
            if record.source.is_none() {
                record.source = source.map(str::to_string);
            }
        }
        self.audit.append_all(records)
    }

    /// Opens a signed request: the signature must be by the key the policy
    /// registers for its principal, the timestamp within the policy's clock
    /// skew and after the endpoint started, and the nonce never seen before
    /// (see [`crate::replay`]). A refused request is logged.
    pub fn authenticate<T: DeserializeOwned>(
        &self,
        request: &SignedRequest,
    ) -> Result<(Authenticated, T), Refusal> {
        self.authenticate_from(request, None)
    }

    /// As [`Endpoint::authenticate`], for a request that came from `source`
    /// (`ip:port`, or `local:uid=<n>(<name>)`): every record of it, and of
    /// what the principal then does, says so.
    pub fn authenticate_from<T: DeserializeOwned>(
        &self,
        request: &SignedRequest,
        source: Option<&str>,
    ) -> Result<(Authenticated, T), Refusal> {
        let now = self.now();
        let skew = i64::try_from(self.policy.clock_skew().as_millis()).unwrap_or(i64::MAX);
        let opened = request.open::<T>(|p| self.policy.key_of(p), now, skew);
        let payload = match opened {
            Ok(payload) => payload,
            Err(error) => {
                let claimed = match &error {
                    AuthError::BadSignature(principal) => Some(principal.clone()),
                    AuthError::UnknownPrincipal(name) => name.parse().ok(),
                    _ => None,
                };
                let refusal = Refusal::from(error);
                let record = events::refused(
                    Kind::RequestRefused,
                    claimed.as_ref(),
                    refusal.code(),
                    refusal.to_string(),
                );
                return Err(self.refused_unauthenticated(source, record, refusal));
            }
        };
        if payload.endpoint != self.id {
            let refusal = Refusal::from(AuthError::WrongEndpoint {
                asked: payload.endpoint,
                this: self.id.clone(),
            });
            let record = events::refused(
                Kind::RequestRefused,
                Some(&payload.principal),
                refusal.code(),
                refusal.to_string(),
            );
            return Err(self.refused(source, record, refusal));
        }
        // A nonce only needs remembering while its request could still pass
        // the timestamp check.
        let remember_until = payload.timestamp_ms.saturating_add(skew);
        let accepted = self.replay.accept(
            &payload.principal,
            payload.nonce.as_str(),
            payload.timestamp_ms,
            remember_until,
            now,
            |watermark| {
                self.store
                    .raise_replay_watermark(watermark)
                    .map_err(|e| e.to_string())
            },
        );
        if let Err(refused) = accepted {
            let error = match refused {
                ReplayRefusal::Replayed => AuthError::Replayed(payload.nonce.as_str().to_string()),
                ReplayRefusal::BeforeRestart { floor_ms } => AuthError::SignedBeforeRestart {
                    timestamp_ms: payload.timestamp_ms,
                    floor_ms,
                },
                ReplayRefusal::Stopped => AuthError::Stopping,
                ReplayRefusal::Unavailable(reason) => AuthError::ReplayState(reason),
            };
            let refusal = Refusal::from(error);
            let record = events::refused(
                Kind::RequestRefused,
                Some(&payload.principal),
                refusal.code(),
                refusal.to_string(),
            );
            // A replayed capture needs no key: as unauthenticated.
            return Err(self.refused_unauthenticated(source, record, refusal));
        }
        Ok((
            Authenticated {
                principal: payload.principal,
                source: source.map(str::to_string),
            },
            payload.operation,
        ))
    }

    /// Requests a session.
    pub fn request_session(
        &self,
        who: &Authenticated,
        request: SessionRequest,
    ) -> Result<Session, Refusal> {
        let now = self.now();
        let id = SessionId::random().map_err(SessionRefusal::Invalid)?;
        let ticket = request.ticket.to_string();
        let session =
            match Session::request(id, &who.principal, request, &self.id, &self.policy, now) {
                Ok(session) => session,
                Err(refusal) => {
                    let refusal = Refusal::from(refusal);
                    let mut record = events::refused(
                        Kind::SessionRefused,
                        Some(&who.principal),
                        refusal.code(),
                        refusal.to_string(),
                    );
                    record.ticket = Some(ticket);
                    return Err(self.refused(who.source(), record, refusal));
                }
            };
        self.store.write(|tx| {
            tx.put_session(&session)?;
            self.log(who.source(), vec![events::session_requested(&session)])?;
            Ok::<_, Refusal>(())
        })?;
        tracing::info!(session = %session.id, requester = %who.principal, ticket = %session.request.ticket, "session requested");
        Ok(session)
    }

    /// Approves a session.
    pub fn approve_session(&self, who: &Authenticated, id: &SessionId) -> Result<Session, Refusal> {
        self.change_session(who, id, |session, policy, now| {
            session.approve(&who.principal, policy, now)?;
            Ok(vec![events::session_approved(session, &who.principal)])
        })
    }

    /// The session `user` (the end user, at the endpoint) is asked to
    /// consent to, as it stands: shown to them before they consent. Refused
    /// as consent would be (a system account, a session not waiting for
    /// consent); nothing changes, and nothing is logged.
    pub fn consent_preview(
        &self,
        user: &ConsentingUser,
        id: &SessionId,
    ) -> Result<Session, Refusal> {
        let now = self.now();
        let mut session = self.store.read(|tx| load_session(tx, id))?;
        self.refresh(&mut session, now);
        session.may_consent(user, &self.policy)?;
        Ok(session)
    }

    /// The end user's consent at the endpoint. `user` comes from the operating
    /// system ([`ConsentingUser::from_peer`]), never from a request.
    pub fn consent(&self, user: ConsentingUser, id: &SessionId) -> Result<Session, Refusal> {
        let source = format!("local:uid={}({})", user.uid, user.name);
        self.change_session_as(None, Some(&source), id, |session, policy, now| {
            session.consent(user, policy, now)?;
            Ok(vec![events::session_consented(session)])
        })
    }

    /// What ran in a session, for the end user who consented to it at the
    /// endpoint (`user` from the operating system, as for
    /// [`Endpoint::consent`]): the session and its invocations, without
    /// their output. Anyone else — another local user, or any user of a
    /// session that took no consent — is told there is no such session,
    /// and that refusal is logged (counted past a rate per user, as for
    /// requests nobody signed).
    pub fn consented_activity(
        &self,
        user: &ConsentingUser,
        id: &SessionId,
    ) -> Result<(Session, Vec<InvocationRecord>), Refusal> {
        let source = format!("local:uid={}({})", user.uid, user.name);
        let now = self.now();
        let session = self
            .store
            .read(|tx| load_session(tx, id))
            .and_then(|mut session| {
                let consented = session
                    .consent
                    .as_ref()
                    .is_some_and(|(by, _)| by.uid == user.uid);
                if !consented {
                    return Err(Refusal::NotFound {
                        what: "session",
                        id: id.to_string(),
                    });
                }
                self.refresh(&mut session, now);
                Ok(session)
            })
            .map_err(|refusal| {
                // Anyone at the endpoint may ask, with no key: logged one by
                // one up to a rate per user, counted beyond it.
                let mut record = events::refused(
                    Kind::RequestRefused,
                    None,
                    refusal.code(),
                    refusal.to_string(),
                );
                record.session = Some(id.to_string());
                self.refused_unauthenticated(Some(&source), record, refusal)
            })?;
        let invocations = self.invocations_in(id)?;
        Ok((session, invocations))
    }

    /// Closes a session with its write-up; voids its pending escalations. A
    /// session that closed by itself takes its write-up this way.
    pub fn close_session(
        &self,
        who: &Authenticated,
        id: &SessionId,
        report: ClosureReport,
    ) -> Result<Session, Refusal> {
        self.change_session(who, id, |session, policy, now| {
            let closed_by_itself = matches!(
                session.closure.as_ref().map(|c| &c.by),
                Some(ClosedBy::IdleTimeout | ClosedBy::Expiry)
            );
            session.close(&who.principal, report, policy, now)?;
            // A closure by hand is logged as the session closes; a write-up
            // added afterwards is its own record.
            Ok(if closed_by_itself {
                vec![events::session_reported(session, &who.principal)]
            } else {
                Vec::new()
            })
        })
    }

    fn change_session(
        &self,
        who: &Authenticated,
        id: &SessionId,
        change: impl FnOnce(&mut Session, &Policy, UnixMillis) -> Result<Vec<Record>, SessionRefusal>,
    ) -> Result<Session, Refusal> {
        self.change_session_as(Some(&who.principal), who.source(), id, change)
    }

    /// Applies `change` to a fresh copy of the session and stores the result
    /// with its records in one transaction. An expiry or idle timeout found on
    /// the way is stored and logged even when the change is refused; the
    /// refusal is logged too.
    fn change_session_as(
        &self,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        id: &SessionId,
        change: impl FnOnce(&mut Session, &Policy, UnixMillis) -> Result<Vec<Record>, SessionRefusal>,
    ) -> Result<Session, Refusal> {
        // The change may close the session (by hand, or because it expired
        // or idled meanwhile): no invocation is between its decision and its
        // "started" record while it does (see `Endpoint::invoke`).
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        type Changed = Result<Session, (SessionRefusal, Session)>;
        let written = self.store.write(|tx| -> Result<Changed, Refusal> {
            let mut session = load_session(tx, id)?;
            let closed_by_itself = self.refresh(&mut session, now).is_some();
            let was_closed = session.state == SessionState::Closed && !closed_by_itself;
            match change(&mut session, &self.policy, now) {
                Ok(records) => {
                    let closed_now = !was_closed && session.state == SessionState::Closed;
                    self.persist(tx, &session, now, closed_now, records, source)?;
                    Ok(Ok(session))
                }
                Err(refusal) => {
                    if closed_by_itself {
                        self.persist(tx, &session, now, true, Vec::new(), source)?;
                    }
                    Ok(Err((refusal, session)))
                }
            }
        });
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(refusal @ Refusal::NotFound { .. }) => {
                let mut record = events::refused(
                    Kind::ChangeRefused,
                    who,
                    refusal.code(),
                    refusal.to_string(),
                );
                record.session = Some(id.to_string());
                return Err(self.refused_change_by(who, source, record, refusal));
            }
            Err(refusal) => return Err(refusal),
        };
        outcome.map_err(|(refusal, session)| {
            let refusal = Refusal::from(refusal);
            let mut record = events::refused(
                Kind::ChangeRefused,
                who,
                refusal.code(),
                refusal.to_string(),
            );
            record.session = Some(session.id.to_string());
            record.ticket = Some(session.request.ticket.to_string());
            self.refused_change_by(who, source, record, refusal)
        })
    }

    /// Logs a refused change: one by `who` record by record; one asked
    /// with no key (the end user's consent, from a local user), as
    /// unsigned requests are — one by one up to a rate per user, counted
    /// beyond it, so that nobody without a key can flood the log.
    fn refused_change_by(
        &self,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        record: Record,
        refusal: Refusal,
    ) -> Refusal {
        if who.is_some() {
            self.refused(source, record, refusal)
        } else {
            self.refused_unauthenticated(source, record, refusal)
        }
    }

    /// Stores a session with `records`; when it closed now, also its closure
    /// record and the voiding of its unused escalations. Runs inside a write
    /// transaction: the records are appended before it commits. `source` is
    /// where the request that made the change came from (`None` for the
    /// endpoint's own sweep).
    fn persist(
        &self,
        tx: &Tx<'_>,
        session: &Session,
        now: UnixMillis,
        closed_now: bool,
        mut records: Vec<Record>,
        source: Option<&str>,
    ) -> Result<(), Refusal> {
        tx.put_session(session)?;
        if closed_now {
            // Closing revokes every grant, those of invocations running now
            // included. (Should the transaction then fail, they are
            // cancelled in a session that stays open: the safe side.)
            self.live.cancel_session(&session.id, "its session closed");
            self.live.forget_session(&session.id);
            records.push(events::session_closed(session));
            for mut escalation in tx.escalations_of(&session.id)? {
                if escalation.void(now) {
                    tx.put_escalation(&escalation)?;
                    records.push(events::escalation_decided(
                        Kind::EscalationVoided,
                        session,
                        &escalation,
                        None,
                        Some("its session closed".to_string()),
                    ));
                }
            }
        }
        self.log(source, records)?;
        Ok(())
    }

    /// A session, for someone involved in it, an approver or an auditor.
    /// A refusal (no such session, or not one `who` may see) is logged.
    pub fn session(&self, who: &Authenticated, id: &SessionId) -> Result<Session, Refusal> {
        self.store
            .read(|tx| load_session(tx, id))
            .and_then(|session| {
                self.check_may_view(who, &session)?;
                Ok(session)
            })
            .map_err(|refusal| {
                self.refused_request(who, refusal, |r| {
                    r.session = Some(id.to_string());
                })
            })
    }

    /// Logs a refused request (one that names no session, escalation or
    /// invocation this endpoint can place, or asks for what `who` may not
    /// see) and returns the refusal; `about` says what it named.
    pub(crate) fn refused_request(
        &self,
        who: &Authenticated,
        refusal: Refusal,
        about: impl FnOnce(&mut Record),
    ) -> Refusal {
        self.refused_as(
            Kind::RequestRefused,
            Some(&who.principal),
            who.source(),
            refusal,
            about,
        )
    }

    /// Logs a refused change to a session or an escalation that names none
    /// this endpoint knows, and returns the refusal.
    fn refused_change(
        &self,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        refusal: Refusal,
        about: impl FnOnce(&mut Record),
    ) -> Refusal {
        self.refused_as(Kind::ChangeRefused, who, source, refusal, about)
    }

    fn refused_as(
        &self,
        kind: Kind,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        refusal: Refusal,
        about: impl FnOnce(&mut Record),
    ) -> Refusal {
        let mut record = events::refused(kind, who, refusal.code(), refusal.to_string());
        about(&mut record);
        self.refused(source, record, refusal)
    }

    /// The sessions `who` may see (all of them for approvers and auditors),
    /// newest first.
    pub fn sessions(&self, who: &Authenticated, open_only: bool) -> Result<Vec<Session>, Refusal> {
        let sessions = self
            .store
            .read(|tx| tx.sessions(open_only).map_err(Refusal::from))?;
        Ok(sessions
            .into_iter()
            .filter(|s| self.check_may_view(who, s).is_ok())
            .collect())
    }

    fn check_may_view(&self, who: &Authenticated, session: &Session) -> Result<(), Refusal> {
        let p = &who.principal;
        if p == &session.requester || p == &session.request.technician {
            return Ok(());
        }
        let overseer = self.policy.principal(p).is_some_and(|principal| {
            principal.roles.iter().any(|role| {
                self.policy.roles().get(role).is_some_and(|r| {
                    r.permissions.iter().any(|perm| {
                        matches!(
                            perm,
                            crate::policy::Permission::ApproveSessions
                                | crate::policy::Permission::ApproveEscalations
                                | crate::policy::Permission::ReadAudit
                                | crate::policy::Permission::Administer
                        )
                    })
                })
            })
        });
        if overseer {
            Ok(())
        } else {
            Err(Refusal::NotFound {
                what: "session",
                id: session.id.to_string(),
            })
        }
    }

    /// Approves an escalation.
    pub fn approve_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
    ) -> Result<Escalation, Refusal> {
        self.change_escalation(who, id, |escalation, session, policy, now| {
            escalation.approve(&who.principal, session, policy, now)?;
            Ok(events::escalation_decided(
                Kind::EscalationApproved,
                session,
                escalation,
                Some(&who.principal),
                None,
            ))
        })
    }

    /// Denies an escalation.
    pub fn deny_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        reason: String,
    ) -> Result<Escalation, Refusal> {
        if let Err(unreadable) = crate::text::check_readable("the reason", &reason, 2000) {
            let refusal = Refusal::Session(SessionRefusal::Invalid(unreadable));
            return Err(
                self.refused_change(Some(&who.principal), who.source(), refusal, |r| {
                    r.escalation = Some(id.to_string())
                }),
            );
        }
        self.change_escalation(who, id, |escalation, session, policy, now| {
            escalation.deny(&who.principal, reason.clone(), session, policy, now)?;
            Ok(events::escalation_decided(
                Kind::EscalationDenied,
                session,
                escalation,
                Some(&who.principal),
                Some(reason),
            ))
        })
    }

    fn change_escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
        change: impl FnOnce(
            &mut Escalation,
            &Session,
            &Policy,
            UnixMillis,
        ) -> Result<Record, EscalationRefusal>,
    ) -> Result<Escalation, Refusal> {
        // The session may be found expired or idle, and closed, on the way:
        // see `change_session_as`.
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        type Changed = Result<Escalation, (EscalationRefusal, Session)>;
        let written = self.store.write(|tx| -> Result<Changed, Refusal> {
            let mut escalation = tx.escalation(id)?.ok_or_else(|| Refusal::NotFound {
                what: "escalation",
                id: id.to_string(),
            })?;
            let mut session = load_session(tx, &escalation.key.session)?;
            if self.refresh(&mut session, now).is_some() {
                self.persist(tx, &session, now, true, Vec::new(), who.source())?;
                escalation = tx.escalation(id)?.unwrap_or(escalation);
            }
            match change(&mut escalation, &session, &self.policy, now) {
                Ok(record) => {
                    tx.put_escalation(&escalation)?;
                    self.log(who.source(), vec![record])?;
                    Ok(Ok(escalation))
                }
                Err(refusal) => Ok(Err((refusal, session))),
            }
        });
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(refusal @ Refusal::NotFound { .. }) => {
                return Err(self.refused_change(
                    Some(&who.principal),
                    who.source(),
                    refusal,
                    |r| {
                        r.escalation = Some(id.to_string());
                    },
                ));
            }
            Err(refusal) => return Err(refusal),
        };
        outcome.map_err(|(refusal, session)| {
            let refusal = Refusal::from(refusal);
            let mut record = events::refused(
                Kind::ChangeRefused,
                Some(&who.principal),
                refusal.code(),
                refusal.to_string(),
            );
            record.session = Some(session.id.to_string());
            record.escalation = Some(id.to_string());
            self.refused(who.source(), record, refusal)
        })
    }

    /// An escalation, for those who may see its session.
    pub fn escalation(
        &self,
        who: &Authenticated,
        id: &EscalationId,
    ) -> Result<Escalation, Refusal> {
        self.store
            .read(|tx| {
                let escalation = tx.escalation(id)?.ok_or_else(|| Refusal::NotFound {
                    what: "escalation",
                    id: id.to_string(),
                })?;
                let session = load_session(tx, &escalation.key.session)?;
                Ok::<_, Refusal>((escalation, session))
            })
            .and_then(|(escalation, session)| {
                self.check_may_view(who, &session)?;
                Ok(escalation)
            })
            .map_err(|refusal| {
                self.refused_request(who, refusal, |r| {
                    r.escalation = Some(id.to_string());
                })
            })
    }

    /// The pending escalations `who` may see (not those expired unapproved).
    pub fn pending_escalations(&self, who: &Authenticated) -> Result<Vec<Escalation>, Refusal> {
        let now = self.now();
        let pending = self.store.read(|tx| {
            let pending = tx.pending_escalations()?;
            pending
                .into_iter()
                .map(|e| Ok((load_session(tx, &e.key.session)?, e)))
                .collect::<Result<Vec<_>, Refusal>>()
        })?;
        Ok(pending
            .into_iter()
            .filter(|(session, e)| e.is_open(now) && self.check_may_view(who, session).is_ok())
            .map(|(_, e)| e)
            .collect())
    }

    /// Refreshes `session` to `now` ([`Session::refresh`]), counting as
    /// activity what only this process knows: an invocation running in it
    /// now, or the end of the last one. A session is not taken for idle
    /// while an action runs in it, nor right after a long one ended.
    fn refresh(&self, session: &mut Session, now: UnixMillis) -> Option<ClosedBy> {
        if session.state == SessionState::Active
            && let Some(at) = self.live.last_activity(&session.id, now)
        {
            session.touch(at);
        }
        session.refresh(now)
    }

    /// Stores the closure of session `id` if it has expired or been idle for
    /// its timeout, holding the gate: no invocation is then between its
    /// decision and its "started" record, so none starts after the closure
    /// and every one running is cancelled by it.
    fn settle_closure(&self, id: &SessionId, source: Option<&str>) -> Result<(), Refusal> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        self.store.write(|tx| {
            let mut session = load_session(tx, id)?;
            if self.refresh(&mut session, now).is_some() {
                self.persist(tx, &session, now, true, Vec::new(), source)?;
            }
            Ok::<_, Refusal>(())
        })
    }

    /// Closes every session that has expired or been idle for its timeout,
    /// voiding its escalations, and forgets finished invocations past their
    /// retention. Returns
    /// the sessions it closed. A service calls this periodically.
    pub fn sweep(&self) -> Result<Vec<SessionId>, Refusal> {
        let now = self.now();
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        self.store.write(|tx| {
            tx.purge_invocations(now.saturating_sub(INVOCATION_RETENTION_MS))?;
            let mut closed = Vec::new();
            for mut session in tx.sessions(true)? {
                if let Some(by) = self.refresh(&mut session, now) {
                    self.persist(tx, &session, now, true, Vec::new(), None)?;
                    tracing::info!(session = %session.id, ?by, "session closed by itself");
                    closed.push(session.id);
                }
            }
            self.log_expired_escalations(tx, now)?;
            Ok(closed)
        })
    }

    /// Logs, once each, the escalations that expired: unapproved past their
    /// deadline, or approved and not used before the approval expired.
    fn log_expired_escalations(&self, tx: &Tx<'_>, now: UnixMillis) -> Result<(), Refusal> {
        let expired = tx.expired_escalations(now)?;
        let mut records = Vec::with_capacity(expired.len());
        for escalation in &expired {
            let session = load_session(tx, &escalation.key.session)?;
            let reason = match &escalation.approval {
                Some(approval) => format!(
                    "approved by {} but not used before the approval expired; invoking again raises a new escalation",
                    approval.by
                ),
                None => {
                    "nobody approved it in time; invoking again raises a new escalation".to_string()
                }
            };
            records.push(events::escalation_decided(
                Kind::EscalationExpired,
                &session,
                escalation,
                None,
                Some(reason),
            ));
            tx.expiry_logged(&escalation.id, now)?;
        }
        self.log(None, records)?;
        Ok(())
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

    /// Logs that `operation`, authenticated, was sent to the streaming
    /// route, which answers only `invoke` and `follow-invocation`; returns
    /// the refusal to answer with.
    pub fn not_streamed(&self, who: &Authenticated, operation: &Operation) -> Refusal {
        let refusal = Refusal::WrongRoute {
            code: "not-streamed",
            message: "only `invoke` and `follow-invocation` are streamed: send other operations to /v1/requests",
        };
        let name = serde_json::to_value(operation)
            .ok()
            .and_then(|v| v.get("op").and_then(|op| op.as_str().map(str::to_string)));
        self.refused_request(who, refusal, |r| {
            r.details = name.map(|op| serde_json::json!({ "operation": op }));
        })
    }

    /// Carries out an authenticated operation and answers in JSON.
    pub fn execute(
        &self,
        who: &Authenticated,
        operation: Operation,
    ) -> Result<serde_json::Value, Refusal> {
        Ok(match operation {
            Operation::RequestSession { request } => json(&self.request_session(who, request)?),
            Operation::ApproveSession { session } => json(&self.approve_session(who, &session)?),
            Operation::CloseSession { session, report } => {
                json(&self.close_session(who, &session, report)?)
            }
            Operation::Invoke {
                session,
                action,
                input,
            } => {
                Endpoint::invoke_answer(&self.invoke(who, &session, &action, &input.to_string())?)
            }
            Operation::ApproveEscalation { escalation } => {
                escalation_answer(&self.approve_escalation(who, &escalation)?, self.now())
            }
            Operation::DenyEscalation { escalation, reason } => {
                escalation_answer(&self.deny_escalation(who, &escalation, reason)?, self.now())
            }
            Operation::ShowSession { session } => json(&self.session(who, &session)?),
            Operation::ListSessions { open_only } => json(&self.sessions(who, open_only)?),
            Operation::ShowEscalation { escalation } => {
                escalation_answer(&self.escalation(who, &escalation)?, self.now())
            }
            Operation::ShowInvocation { invocation } => json(&self.invocation(who, &invocation)?),
            Operation::ListInvocations { session } => json(&self.invocations(who, &session)?),
            Operation::FollowInvocation { invocation } => {
                let refusal = Refusal::WrongRoute {
                    code: "streamed-only",
                    message: "follow-invocation streams its answer: send it to /v1/stream",
                };
                return Err(self.refused_request(who, refusal, |r| {
                    r.invocation = Some(invocation.to_string());
                }));
            }
            Operation::ListEscalations => {
                let now = self.now();
                serde_json::Value::Array(
                    self.pending_escalations(who)?
                        .iter()
                        .map(|e| escalation_answer(e, now))
                        .collect(),
                )
            }
            Operation::ListCatalog => json(&self.catalog_listing()),
            Operation::ExportAudit { after, limit } => {
                self.check_read_audit(who)?;
                let limit = limit.unwrap_or(EXPORT_PAGE).min(EXPORT_PAGE);
                let mut records = Vec::new();
                let mut more = false;
                // Earlier segments and records are skipped without reading
                // them: a page costs its own size, not the log's. Each
                // record is checked as it is read: its hash is its line's,
                // and it follows the one before it (the record `after`
                // included, read for that and not sent).
                let from = after.saturating_sub(1);
                let reading =
                    crate::audit::read::records_after(self.audit.dir(), from).chained(None);
                for record in reading {
                    let record = record.map_err(|e| Refusal::AuditCorrupt(e.to_string()))?;
                    if record.seq <= after {
                        continue;
                    }
                    if records.len() == limit {
                        more = true;
                        break;
                    }
                    records.push(record);
                }
                serde_json::json!({ "records": records, "more": more })
            }
            Operation::VerifyAudit => {
                self.check_read_audit(who)?;
                let key = self.audit.checkpoint_key();
                // The log is being written meanwhile: a write in flight at
                // its end is not a torn line.
                let every = self.audit.checkpoint_every();
                match crate::audit::verify_live(self.audit.dir(), key.as_ref(), every) {
                    Ok(verified) => serde_json::json!({ "ok": true, "verified": verified }),
                    // Where, as `salve audit verify` on the files says it.
                    Err(crate::audit::VerifyError::Corrupt(c)) => serde_json::json!({
                        "ok": false,
                        "file": c.file.display().to_string(),
                        "line": c.line,
                        "seq": c.seq,
                        "error": crate::audit::VerifyError::Corrupt(c).to_string(),
                    }),
                    Err(error) => serde_json::json!({ "ok": false, "error": error.to_string() }),
                }
            }
        })
    }

    /// The answer to an invocation, in JSON: the outcome, and for a denial
    /// its reason in words beside its structured form.
    pub fn invoke_answer(outcome: &InvokeOutcome) -> serde_json::Value {
        let mut answer = json(outcome);
        if let InvokeOutcome::Denied { denial } = outcome {
            answer["reason"] = serde_json::Value::String(denial.to_string());
        }
        answer
    }

    /// The installed actions: id, version, digest, and each capability with
    /// its class and parameters.
    pub fn catalog_listing(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .catalog
            .entries()
            .map(|entry| {
                let manifest = entry.package.manifest();
                let capabilities: Vec<serde_json::Value> = manifest
                    .capabilities
                    .names()
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name(),
                            // As this endpoint's policy classes it: the
                            // policy may class more as privileged.
                            "class": self.policy.class_of(CapabilityNames::empty().with(c)).to_string(),
                            "parameters": manifest.capabilities.parameters(c).unwrap_or_default(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "id": manifest.id.as_str(),
                    "version": manifest.version.to_string(),
                    "description": manifest.description.to_string(),
                    "digest": entry.package.digest().to_string(),
                    "capabilities": capabilities,
                })
            })
            .collect();
        serde_json::Value::Array(entries)
    }

    /// Whether `who` may read the audit log; a refusal is logged.
    pub fn check_read_audit(&self, who: &Authenticated) -> Result<(), Refusal> {
        self.policy
            .authorize(&who.principal, &Access::ReadAudit { endpoint: &self.id })
            .map_err(|refusal| {
                self.refused_request(who, refusal.into(), |r| {
                    r.endpoint = Some(self.id.clone());
                })
            })
    }
}

/// A value as JSON. The types answered have string keys only, which always
/// serialize.
fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// An escalation in JSON, with its status now (`pending`, `approved`,
/// `used`, `expired`, `denied`, `voided`).
fn escalation_answer(escalation: &Escalation, now: UnixMillis) -> serde_json::Value {
    let mut answer = json(escalation);
    answer["status"] = serde_json::Value::String(escalation.status(now).to_string());
    answer
}

fn load_session(tx: &Tx<'_>, id: &SessionId) -> Result<Session, Refusal> {
    tx.session(id)?.ok_or_else(|| Refusal::NotFound {
        what: "session",
        id: id.to_string(),
    })
}
