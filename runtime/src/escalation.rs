//! Escalations: an invocation that needs a privileged capability waits for a
//! second, distinct principal to approve exactly it.
//!
//! An escalation binds the session, the action's digest, the digest of the
//! exact input and the endpoint. Its approval is by a principal whose role may
//! approve escalations and who is neither the invoker nor the session's
//! requester or technician; it expires, and it is consumed by the one
//! invocation it authorizes. A pending escalation expires too: an approver
//! cannot approve an invocation held for longer than the policy's
//! `escalation-minutes` (the technician invokes again to raise a new one).
//!
//! The escalation keeps the exact input, so that the approver sees what
//! they approve, not only its digest.

use crate::digest::Sha256Digest;
use crate::identity::PrincipalId;
use crate::manifest::ActionId;
use crate::policy::{Access, Policy, PolicyRefusal};
use crate::session::{EscalationId, Session, SessionId, UnixMillis};
use serde::{Deserialize, Serialize};

/// Exactly which invocation an escalation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationKey {
    /// The session.
    pub session: SessionId,
    /// The action.
    pub action: ActionId,
    /// Its version.
    pub version: semver::Version,
    /// Its component's sha256.
    pub digest: Sha256Digest,
    /// The sha256 of the exact input.
    pub input_digest: Sha256Digest,
    /// The endpoint.
    pub endpoint: String,
}

/// An approval of an escalation: single-use, and valid until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub by: PrincipalId,
    /// When.
    pub at_ms: UnixMillis,
    /// Until when it may be used.
    pub expires_ms: UnixMillis,
    /// When the invocation it authorized used it.
    pub consumed_ms: Option<UnixMillis>,
}

/// Where an escalation is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum EscalationState {
    /// Waiting for an approver.
    Pending,
    /// Approved (see its [`Approval`]).
    Approved,
    /// Denied by an approver.
    Denied {
        /// Who denied it.
        by: PrincipalId,
        /// When.
        at_ms: UnixMillis,
        /// Why.
        reason: String,
    },
    /// The session closed before it was used.
    Voided {
        /// When.
        at_ms: UnixMillis,
    },
}

/// A held invocation and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Its id.
    pub id: EscalationId,
    /// The exact invocation.
    pub key: InvocationKey,
    /// Who invoked.
    pub invoker: PrincipalId,
    /// When it was raised.
    pub raised_ms: UnixMillis,
    /// Until when it may be approved.
    pub expires_ms: UnixMillis,
    /// The exact input of the held invocation (a JSON document), whose
    /// sha256 is `key.input_digest`; `None` only for escalations stored
    /// before inputs were kept.
    pub input: Option<String>,
    /// Where it is.
    pub state: EscalationState,
    /// Its approval, once approved.
    pub approval: Option<Approval>,
}

/// Why an escalation transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EscalationRefusal {
    /// The policy says no (role, separation of duties, a rule).
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
    /// An approval of another action or input than the escalation holds.
    #[error(
        "the approval is for another invocation than escalation {id} holds: {what}; show the escalation again and approve what it holds"
    )]
    ApprovalMismatch {
        /// The escalation.
        id: EscalationId,
        /// What differs.
        what: String,
    },
    /// It is not pending.
    #[error("escalation {id} is not pending: {what}")]
    NotPending {
        /// The escalation.
        id: EscalationId,
        /// What it is instead.
        what: String,
    },
}

impl Escalation {
    /// A pending escalation of the invocation `key` by `invoker` on `input`,
    /// approvable for `policy`'s escalation lifetime.
    pub fn raise(
        id: EscalationId,
        key: InvocationKey,
        invoker: &PrincipalId,
        input: &str,
        policy: &Policy,
        now: UnixMillis,
    ) -> Escalation {
        Escalation {
            id,
            key,
            invoker: invoker.clone(),
            raised_ms: now,
            expires_ms: now.saturating_add(lifetime_ms(policy)),
            input: Some(input.to_string()),
            state: EscalationState::Pending,
            approval: None,
        }
    }

    /// Whether it is pending and may still be approved at `now`.
    pub fn is_open(&self, now: UnixMillis) -> bool {
        self.state == EscalationState::Pending && now < self.expires_ms
    }

    fn check_pending(&self, now: UnixMillis) -> Result<(), EscalationRefusal> {
        let what = match (&self.state, &self.approval) {
            (EscalationState::Pending, _) if now >= self.expires_ms => {
                "it expired unapproved; the technician invokes again to raise a new one".to_string()
            }
            (EscalationState::Pending, _) => return Ok(()),
            (EscalationState::Approved, Some(a)) if a.consumed_ms.is_some() => {
                "it was approved and used".to_string()
            }
            (EscalationState::Approved, Some(a)) if a.expires_ms <= now => {
                "its approval expired unused".to_string()
            }
            (EscalationState::Approved, _) => "it is already approved".to_string(),
            (EscalationState::Denied { by, .. }, _) => format!("{by} denied it"),
            (EscalationState::Voided { .. }, _) => "its session closed".to_string(),
        };
        Err(EscalationRefusal::NotPending {
            id: self.id.clone(),
            what,
        })
    }

    /// Approval by `approver` for `policy`'s escalation lifetime.
    pub fn approve(
        &mut self,
        approver: &PrincipalId,
        session: &Session,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<(), EscalationRefusal> {
        self.check_pending(now)?;
        policy.authorize(
            approver,
            &Access::ApproveEscalation {
                session: session.facts(),
                escalation: self.id.as_str(),
                invoker: &self.invoker,
            },
        )?;
        self.state = EscalationState::Approved;
        self.approval = Some(Approval {
            by: approver.clone(),
            at_ms: now,
            expires_ms: now.saturating_add(lifetime_ms(policy)),
            consumed_ms: None,
        });
        Ok(())
    }

    /// Denial by `approver`, who must be allowed to approve it.
    pub fn deny(
        &mut self,
        approver: &PrincipalId,
        reason: String,
        session: &Session,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<(), EscalationRefusal> {
        self.check_pending(now)?;
        policy.authorize(
            approver,
            &Access::ApproveEscalation {
                session: session.facts(),
                escalation: self.id.as_str(),
                invoker: &self.invoker,
            },
        )?;
        self.state = EscalationState::Denied {
            by: approver.clone(),
            at_ms: now,
            reason,
        };
        Ok(())
    }

    /// Voids a pending or unused escalation when its session closes. Returns
    /// whether anything changed.
    pub fn void(&mut self, now: UnixMillis) -> bool {
        let unused = match (&self.state, &self.approval) {
            (EscalationState::Pending, _) => true,
            (EscalationState::Approved, Some(a)) => a.consumed_ms.is_none(),
            _ => false,
        };
        if unused {
            self.state = EscalationState::Voided { at_ms: now };
        }
        unused
    }

    /// Whether this escalation's approval authorizes exactly `key` now.
    pub fn authorizes(&self, key: &InvocationKey, now: UnixMillis) -> bool {
        self.state == EscalationState::Approved
            && &self.key == key
            && self
                .approval
                .as_ref()
                .is_some_and(|a| a.consumed_ms.is_none() && now < a.expires_ms)
    }

    /// Uses the approval for the invocation it authorizes.
    pub fn consume(&mut self, now: UnixMillis) {
        if let Some(approval) = &mut self.approval {
            approval.consumed_ms = Some(now);
        }
    }

    /// Where it stands at `now`: its state, with an approval told apart by
    /// whether it was used or has expired, and a pending one by whether it
    /// has expired.
    pub fn status(&self, now: UnixMillis) -> EscalationStatus {
        match (&self.state, &self.approval) {
            (EscalationState::Pending, _) if now >= self.expires_ms => EscalationStatus::Expired,
            (EscalationState::Pending, _) => EscalationStatus::Pending,
            (EscalationState::Approved, Some(a)) if a.consumed_ms.is_some() => {
                EscalationStatus::Used
            }
            (EscalationState::Approved, Some(a)) if a.expires_ms <= now => {
                EscalationStatus::Expired
            }
            (EscalationState::Approved, _) => EscalationStatus::Approved,
            (EscalationState::Denied { .. }, _) => EscalationStatus::Denied,
            (EscalationState::Voided { .. }, _) => EscalationStatus::Voided,
        }
    }
}

/// Where an escalation stands at a given time, for listings and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationStatus {
    /// Waiting for an approver.
    Pending,
    /// Approved; the approval is unused and valid.
    Approved,
    /// Its approval was used by the invocation it authorized.
    Used,
    /// It waited too long, or its approval was not used in time.
    Expired,
    /// An approver denied it.
    Denied,
    /// Its session closed first.
    Voided,
}

impl EscalationStatus {
    /// The status's name: `pending`, `approved`, `used`, `expired`,
    /// `denied`, `voided`.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Pending => "pending",
            EscalationStatus::Approved => "approved",
            EscalationStatus::Used => "used",
            EscalationStatus::Expired => "expired",
            EscalationStatus::Denied => "denied",
            EscalationStatus::Voided => "voided",
        }
    }
}

impl std::fmt::Display for EscalationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for EscalationStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How long an escalation may wait for approval, and how long an approval
/// stays valid.
/// How long an approval may be used, in milliseconds.
pub(crate) fn lifetime_ms(policy: &Policy) -> i64 {
    i64::from(policy.settings().escalation_minutes) * 60_000
}
