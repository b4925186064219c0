//! The decision for one invocation: allow, deny with a reason a person can
//! read, or escalate. Pure: it reads the session, the policy and the
//! session's escalations, and says what should happen; the caller applies it.
//!
//! The checks, in order: the session is active; the invoker is its
//! technician; the action is not prohibited; it is in the scope (id and
//! version range); a privileged action is allowed by the scope at all; the
//! invoker's roles permit invoking it (the policy, with its rules); and a
//! privileged action has an unused, unexpired approval for this exact
//! invocation — else it is escalated.

use crate::capability::{CapabilityClass, CapabilityNames};
use crate::digest::Sha256Digest;
use crate::escalation::{Escalation, EscalationState, InvocationKey};
use crate::identity::PrincipalId;
use crate::manifest::ActionId;
use crate::policy::{Access, Policy, PolicyRefusal};
use crate::session::{EscalationId, Session, SessionRefusal, UnixMillis};
use serde::Serialize;

/// What the decision needs to know about an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFacts<'a> {
    /// Its id.
    pub id: &'a ActionId,
    /// Its version.
    pub version: &'a semver::Version,
    /// Its component's sha256.
    pub digest: Sha256Digest,
    /// The capabilities its manifest declares.
    pub capabilities: CapabilityNames,
}

/// What should happen to an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it (after consuming `approval`, for a privileged action).
    Allow {
        /// The approval this invocation uses.
        approval: Option<EscalationId>,
        /// The action's class under the policy.
        class: CapabilityClass,
    },
    /// Do not run it.
    Deny(Denial),
    /// Hold it until a second principal approves exactly this invocation.
    Escalate {
        /// The invocation to be approved.
        key: InvocationKey,
        /// A pending escalation of this very invocation, if there is one.
        existing: Option<EscalationId>,
        /// Why an earlier approval does not apply, if one exists.
        note: Option<String>,
    },
}

/// Why an invocation is denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", content = "message", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Denial {
    /// The session is not active (requested, awaiting consent, closed…).
    #[error("{0}")]
    SessionNotActive(#[serde(serialize_with = "as_text")] SessionRefusal),
    /// Only the session's technician invokes in it.
    #[error(
        "{principal} is not the technician of session {session} ({technician} is): only they may invoke actions in it"
    )]
    NotTechnician {
        /// Who asked.
        principal: PrincipalId,
        /// The session.
        session: String,
        /// Its technician.
        technician: PrincipalId,
    },
    /// The scope prohibits the action explicitly.
    #[error("{action} is prohibited in session {session}'s scope")]
    Prohibited {
        /// The action.
        action: String,
        /// The session.
        session: String,
    },
    /// The action (or this version of it) is not in the scope.
    #[error("{action} is outside session {session}'s scope (allowed: {allowed})")]
    OutOfScope {
        /// `id@version`.
        action: String,
        /// The session.
        session: String,
        /// The scope's rules.
        allowed: String,
    },
    /// The scope does not allow privileged actions.
    #[error(
        "{action} needs privileged capabilities ({capabilities}), and session {session}'s scope does not allow privileged actions"
    )]
    PrivilegedNotInScope {
        /// The action.
        action: String,
        /// Its privileged capabilities.
        capabilities: String,
        /// The session.
        session: String,
    },
    /// The policy says no.
    #[error("{0}")]
    Policy(#[serde(serialize_with = "as_text")] PolicyRefusal),
}

fn as_text<S: serde::Serializer, E: std::fmt::Display>(
    error: &E,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&error.to_string())
}

impl Denial {
    /// The stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::SessionNotActive(_) => "session-not-active",
            Denial::NotTechnician { .. } => "not-technician",
            Denial::Prohibited { .. } => "prohibited",
            Denial::OutOfScope { .. } => "out-of-scope",
            Denial::PrivilegedNotInScope { .. } => "privileged-not-in-scope",
            Denial::Policy(PolicyRefusal::SeparationOfDuties { .. }) => "separation-of-duties",
            Denial::Policy(_) => "role-not-permitted",
        }
    }
}

/// Decides the invocation of `action` with input digest `input_digest` by
/// `principal` in `session` (already refreshed to `now`), given the session's
/// `escalations`.
pub fn decide(
    session: &Session,
    principal: &PrincipalId,
    action: &ActionFacts<'_>,
    input_digest: Sha256Digest,
    escalations: &[Escalation],
    policy: &Policy,
    now: UnixMillis,
) -> Decision {
    if let Err(refusal) = session.check_active() {
        return Decision::Deny(Denial::SessionNotActive(refusal));
    }
    let request = &session.request;
    let session_id = session.id.to_string();
    if principal != &request.technician {
        return Decision::Deny(Denial::NotTechnician {
            principal: principal.clone(),
            session: session_id,
            technician: request.technician.clone(),
        });
    }
    let label = format!("{}@{}", action.id, action.version);
    if request.scope.prohibited.contains(action.id) {
        return Decision::Deny(Denial::Prohibited {
            action: action.id.to_string(),
            session: session_id,
        });
    }
    if !request
        .scope
        .allowed
        .iter()
        .any(|rule| rule.allows(action.id, action.version))
    {
        return Decision::Deny(Denial::OutOfScope {
            action: label,
            session: session_id,
            allowed: request
                .scope
                .allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let class = policy.class_of(action.capabilities);
    if class == CapabilityClass::Privileged && !request.scope.privileged {
        let capabilities = action
            .capabilities
            .iter()
            .filter(|c| {
                policy.class_of(CapabilityNames::empty().with(*c)) == CapabilityClass::Privileged
            })
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ");
        return Decision::Deny(Denial::PrivilegedNotInScope {
            action: label,
            capabilities,
            session: session_id,
        });
    }
    let access = Access::Invoke {
        session: session.facts(),
        action: action.id,
        version: action.version,
        class,
    };
    if let Err(refusal) = policy.authorize(principal, &access) {
        return Decision::Deny(Denial::Policy(refusal));
    }
    if class == CapabilityClass::Standard {
        return Decision::Allow {
            approval: None,
            class,
        };
    }
    let key = InvocationKey {
        session: session.id.clone(),
        action: action.id.clone(),
        version: action.version.clone(),
        digest: action.digest,
        input_digest,
        endpoint: request.endpoint.clone(),
    };
    let same: Vec<&Escalation> = escalations.iter().filter(|e| e.key == key).collect();
    if let Some(approved) = same.iter().find(|e| e.authorizes(&key, now)) {
        return Decision::Allow {
            approval: Some(approved.id.clone()),
            class,
        };
    }
    let existing = same
        .iter()
        .find(|e| e.state == EscalationState::Pending)
        .map(|e| e.id.clone());
    let note = same
        .iter()
        .filter(|e| e.state == EscalationState::Approved)
        .max_by_key(|e| e.raised_ms)
        .map(|e| {
            format!(
                "the approval of escalation {} is {}; a new approval is needed",
                e.id,
                e.status(now)
            )
        });
    Decision::Escalate {
        key,
        existing,
        note,
    }
}
