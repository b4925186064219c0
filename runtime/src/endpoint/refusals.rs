//! Refusals: what each one is (its code and kind), and logging one with its
//! context — the one place a refused request becomes an audit record.

use crate::audit::{AuditError, Kind, Record};
use crate::engine::InvokeError;
use crate::escalation::EscalationRefusal;
use crate::identity::{AuthError, PrincipalId};
use crate::policy::PolicyRefusal;
use crate::random::NoRandomness;
use crate::session::SessionRefusal;
use crate::store::StoreError;

use super::{Authenticated, Endpoint, events};

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
    /// An operation answered in one piece was asked for as a stream (only
    /// `invoke` and `follow-invocation` are streamed).
    #[error(
        "only `invoke` and `follow-invocation` are streamed: `{operation}` is answered in one piece"
    )]
    NotStreamed {
        /// The operation's name.
        operation: &'static str,
    },
    /// No randomness for an id: the endpoint itself failed.
    #[error("the endpoint cannot answer: {0}")]
    NoRandomness(#[from] NoRandomness),
    /// `follow-invocation` was asked for in one piece: it streams its
    /// answer.
    #[error("follow-invocation streams its answer: ask for it as a stream")]
    StreamedOnly,
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
            Refusal::Session(SessionRefusal::ApprovalMismatch { .. })
            | Refusal::Escalation(EscalationRefusal::ApprovalMismatch { .. }) => {
                "approval-mismatch"
            }
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
            Refusal::NotStreamed { .. } => "not-streamed",
            Refusal::StreamedOnly => "streamed-only",
            Refusal::NoRandomness(_) => "internal",
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
                SessionRefusal::State { .. } | SessionRefusal::ApprovalMismatch { .. } => Conflict,
            },
            Refusal::Escalation(escalation) => match escalation {
                EscalationRefusal::Policy(refusal) => policy(refusal),
                EscalationRefusal::NotPending { .. }
                | EscalationRefusal::ApprovalMismatch { .. } => Conflict,
            },
            Refusal::Policy(refusal) => policy(refusal),
            Refusal::NotFound { .. } => NotFound,
            Refusal::Invoke(invoke) => match invoke {
                InvokeError::Busy { .. } => Unavailable,
                InvokeError::InvalidInput { .. } | InvokeError::InputTooLarge { .. } => BadRequest,
                InvokeError::NotGranted { .. }
                | InvokeError::NotOnThisSystem { .. }
                | InvokeError::Sandbox { .. } => Forbidden,
                InvokeError::RuntimeFailed { .. } => Internal,
            },
            Refusal::Store(_) | Refusal::Audit(_) => Unavailable,
            Refusal::AuditCorrupt(_) | Refusal::NoRandomness(_) => Internal,
            Refusal::NotStreamed { .. } | Refusal::StreamedOnly => BadRequest,
        }
    }
}

impl Endpoint {
    /// Logs a refusal of a request from `source` and returns it; if the log
    /// cannot take the record, the log's failure is what the caller hears.
    pub(super) fn refused(
        &self,
        source: Option<&str>,
        record: Record,
        refusal: Refusal,
    ) -> Refusal {
        match self.log(source, vec![record]) {
            Ok(_) => refusal,
            Err(error) => error.into(),
        }
    }

    /// As [`Endpoint::refused`], for a request nobody is authenticated
    /// for: logged one by one up to a rate per source, counted beyond it
    /// (see [`Endpoint::log_counted_refusals`]).
    pub(super) fn refused_unauthenticated(
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
    pub(super) fn log(
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
    pub(super) fn refused_change(
        &self,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        refusal: Refusal,
        about: impl FnOnce(&mut Record),
    ) -> Refusal {
        self.refused_as(Kind::ChangeRefused, who, source, refusal, about)
    }

    pub(super) fn refused_as(
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

    /// Logs a refused change: one by `who` record by record; one asked
    /// with no key (the end user's consent, from a local user), as
    /// unsigned requests are — one by one up to a rate per user, counted
    /// beyond it, so that nobody without a key can flood the log.
    pub(super) fn refused_change_by(
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
}
