//! The decision for one invocation: allow, deny with a reason a person can
//! read, or escalate. Pure: it reads the session, the policy and the
//! session's escalations, and says what should happen; the caller applies it.
//!
//! The checks, in order: the session is active; the invoker is its
//! technician; the package is not revoked; the action is not prohibited; it is in the scope (id and
//! version range); a privileged action is allowed by the scope at all; the
//! invoker's roles permit invoking it (the policy, with its rules); and a
//! privileged action has an unused, unexpired approval for this exact
//! invocation — else it is escalated.

use crate::capability::{CapabilityClass, CapabilityNames};
use crate::digest::Sha256Digest;
use crate::escalation::{Escalation, EscalationState, EscalationStatus, InvocationKey};
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
    /// Why it is revoked, if it is.
    pub revoked: Option<String>,
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

/// Why an invocation is denied. Serialized as its stable code and its
/// sentence: `{"code": "out-of-scope", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The session is not active (requested, awaiting consent, closed…).
    #[error("{0}")]
    SessionNotActive(SessionRefusal),
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
    /// The package is revoked: nothing runs it, whatever the scope says.
    #[error("{action} is revoked: {reason}")]
    Revoked {
        /// `id@version`.
        action: String,
        /// The revocation, or why revocations could not be checked.
        reason: String,
    },
    /// A second approver denied this very invocation (the same action and
    /// input) in this session: it is not raised again.
    #[error(
        "{action} with this input was denied by {by} (escalation {escalation}): {reason}; it is not raised again in this session (a different input is a new escalation)"
    )]
    EscalationDenied {
        /// `id@version`.
        action: String,
        /// The denied escalation.
        escalation: String,
        /// Who denied it.
        by: PrincipalId,
        /// Why.
        reason: String,
    },
    /// The policy says no.
    #[error("{0}")]
    Policy(PolicyRefusal),
}

impl Serialize for Denial {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut denial = serializer.serialize_struct("Denial", 2)?;
        denial.serialize_field("code", self.code())?;
        denial.serialize_field("message", &self.to_string())?;
        denial.end()
    }
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
            Denial::Revoked { .. } => "revoked",
            Denial::EscalationDenied { .. } => "escalation-denied",
            Denial::Policy(refusal) => refusal.code(),
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
    if let Some(reason) = &action.revoked {
        return Decision::Deny(Denial::Revoked {
            action: label,
            reason: reason.clone(),
        });
    }
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
    // Denied once, held as denied: a technician cannot wear approvers down
    // by raising the same request again.
    if let Some((denied, by, reason)) = same
        .iter()
        .filter_map(|e| match &e.state {
            EscalationState::Denied { by, reason, .. } => Some((e, by, reason)),
            _ => None,
        })
        .max_by_key(|(e, ..)| e.raised_ms)
    {
        return Decision::Deny(Denial::EscalationDenied {
            action: label,
            escalation: denied.id.to_string(),
            by: by.clone(),
            reason: reason.clone(),
        });
    }
    let existing = same.iter().find(|e| e.is_open(now)).map(|e| e.id.clone());
    let note = same
        .iter()
        .filter(|e| {
            e.state == EscalationState::Approved || e.status(now) == EscalationStatus::Expired
        })
        .max_by_key(|e| e.raised_ms)
        .map(|e| match e.state {
            EscalationState::Pending => format!(
                "escalation {} expired unapproved; a new approval is needed",
                e.id
            ),
            _ => format!(
                "the approval of escalation {} is {}; a new approval is needed",
                e.id,
                e.status(now)
            ),
        });
    Decision::Escalate {
        key,
        existing,
        note,
    }
}

#[cfg(test)]
mod tests {
    //! The decision alone: no wasmtime, no database, no clock but numbers.

    use super::*;
    use crate::capability::Capability;
    use crate::escalation::Escalation;
    use crate::identity::KeyPair;
    use crate::session::{ActionRule, Scope, SessionId, SessionRequest};
    use std::path::Path;

    const NOW: UnixMillis = 1_000_000;

    fn policy() -> Policy {
        let mut text = String::from(
            r#"schema = 1
[categories]
incident = "A fault."
[roles.tier1]
permissions = ["request-sessions", "invoke-standard"]
actions = ["echo"]
[roles.tier2]
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]
[roles.approver]
permissions = ["approve-sessions", "approve-escalations"]
"#,
        );
        for (id, role) in [("alice", "tier1"), ("tom", "tier2"), ("bob", "approver")] {
            let key = KeyPair::generate().unwrap().public();
            text.push_str(&format!(
                "[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{role}\"]\npublic-key = \"{key}\"\n"
            ));
        }
        Policy::parse(&text, Path::new("policy.toml")).unwrap()
    }

    fn id(text: &str) -> PrincipalId {
        text.parse().unwrap()
    }

    fn session(
        policy: &Policy,
        technician: &str,
        allowed: &[&str],
        prohibited: &[&str],
    ) -> Session {
        let request = SessionRequest {
            ticket: "INC1".parse().unwrap(),
            problem: "Broken.".to_string(),
            category: "incident".to_string(),
            endpoint: "pc".to_string(),
            technician: id(technician),
            scope: Scope {
                allowed: allowed
                    .iter()
                    .map(|a| a.parse::<ActionRule>().unwrap())
                    .collect(),
                prohibited: prohibited.iter().map(|p| p.parse().unwrap()).collect(),
                privileged: true,
            },
            attended: false,
            idle_minutes: 10,
            duration_minutes: 60,
        };
        let mut session = Session::request(
            SessionId::random().unwrap(),
            &id("tom"),
            request,
            "pc",
            policy,
            NOW,
        )
        .unwrap();
        session.approve(&id("bob"), policy, NOW).unwrap();
        session
    }

    struct Action {
        id: ActionId,
        version: semver::Version,
        capabilities: CapabilityNames,
    }

    fn action(name: &str, version: &str, capabilities: &[Capability]) -> Action {
        Action {
            id: name.parse().unwrap(),
            version: version.parse().unwrap(),
            capabilities: capabilities.iter().copied().collect(),
        }
    }

    fn facts(action: &Action) -> ActionFacts<'_> {
        ActionFacts {
            id: &action.id,
            version: &action.version,
            digest: Sha256Digest::of(action.id.as_str().as_bytes()),
            capabilities: action.capabilities,
            revoked: None,
        }
    }

    const INPUT: &str = "{}";

    fn input() -> Sha256Digest {
        Sha256Digest::of(INPUT.as_bytes())
    }

    #[test]
    fn the_checks_in_order() {
        let policy = policy();
        let echo = action("echo", "1.0.0", &[Capability::Log]);
        let restart = action("restart-service", "1.2.0", &[Capability::ServiceControl]);
        let old = action("echo", "0.9.0", &[Capability::Log]);
        let tom = id("tom");
        let s = session(&policy, "tom", &["echo@^1", "restart-service"], &[]);
        let code = |decision: Decision| match decision {
            Decision::Deny(denial) => denial.code(),
            Decision::Allow { .. } => "allow",
            Decision::Escalate { .. } => "escalate",
        };
        assert_eq!(
            code(decide(&s, &tom, &facts(&echo), input(), &[], &policy, NOW)),
            "allow"
        );
        assert_eq!(
            code(decide(&s, &tom, &facts(&old), input(), &[], &policy, NOW)),
            "out-of-scope"
        );
        assert_eq!(
            code(decide(
                &s,
                &tom,
                &facts(&restart),
                input(),
                &[],
                &policy,
                NOW
            )),
            "escalate"
        );
        assert_eq!(
            code(decide(
                &s,
                &id("alice"),
                &facts(&echo),
                input(),
                &[],
                &policy,
                NOW
            )),
            "not-technician"
        );
        let prohibiting = session(&policy, "tom", &["echo"], &["echo"]);
        assert_eq!(
            code(decide(
                &prohibiting,
                &tom,
                &facts(&echo),
                input(),
                &[],
                &policy,
                NOW
            )),
            "prohibited"
        );
        // A tier1 technician in a session that allows a privileged action.
        let tier1 = session(&policy, "alice", &["restart-service"], &[]);
        assert_eq!(
            code(decide(
                &tier1,
                &id("alice"),
                &facts(&restart),
                input(),
                &[],
                &policy,
                NOW
            )),
            "role-not-permitted"
        );
        let mut closed = session(&policy, "tom", &["echo"], &[]);
        closed.refresh(NOW + 11 * 60_000);
        assert_eq!(
            code(decide(
                &closed,
                &tom,
                &facts(&echo),
                input(),
                &[],
                &policy,
                NOW
            )),
            "session-not-active"
        );
    }

    #[test]
    fn an_approval_covers_one_exact_invocation_until_it_expires() {
        let policy = policy();
        let restart = action("restart-service", "1.2.0", &[Capability::ServiceControl]);
        let tom = id("tom");
        let s = session(&policy, "tom", &["restart-service"], &[]);
        let Decision::Escalate {
            key,
            existing: None,
            note: None,
        } = decide(&s, &tom, &facts(&restart), input(), &[], &policy, NOW)
        else {
            panic!("expected a new escalation");
        };
        let mut escalation = Escalation::raise(
            "e-0123456789abcdef01234567".parse().unwrap(),
            key,
            &tom,
            INPUT,
            &policy,
            NOW,
        );
        let pending = [escalation.clone()];
        assert!(matches!(
            decide(&s, &tom, &facts(&restart), input(), &pending, &policy, NOW),
            Decision::Escalate {
                existing: Some(_),
                ..
            }
        ));
        // The technician may not approve it; the approver may.
        assert!(escalation.approve(&tom, &s, &policy, NOW).is_err());
        escalation.approve(&id("bob"), &s, &policy, NOW).unwrap();
        let approved = [escalation.clone()];
        assert!(matches!(
            decide(&s, &tom, &facts(&restart), input(), &approved, &policy, NOW),
            Decision::Allow {
                approval: Some(_),
                ..
            }
        ));
        // Not for another input.
        let other = Sha256Digest::of(b"{\"service\": \"sshd.service\"}");
        assert!(matches!(
            decide(&s, &tom, &facts(&restart), other, &approved, &policy, NOW),
            Decision::Escalate {
                existing: None,
                note: None,
                ..
            }
        ));
        // Not after it expires (30 minutes by default).
        let later = NOW + 31 * 60_000;
        let mut fresh = session(&policy, "tom", &["restart-service"], &[]);
        fresh.touch(later);
        fresh.id = s.id.clone();
        assert!(matches!(
            decide(
                &fresh,
                &tom,
                &facts(&restart),
                input(),
                &approved,
                &policy,
                later
            ),
            Decision::Escalate { note: Some(_), .. }
        ));
        // Not twice.
        escalation.consume(NOW);
        assert!(matches!(
            decide(
                &s,
                &tom,
                &facts(&restart),
                input(),
                &[escalation],
                &policy,
                NOW
            ),
            Decision::Escalate { note: Some(_), .. }
        ));
    }

    #[test]
    fn a_denied_escalation_is_held_as_denied_for_that_input() {
        let policy = policy();
        let restart = action("restart-service", "1.2.0", &[Capability::ServiceControl]);
        let tom = id("tom");
        let s = session(&policy, "tom", &["restart-service"], &[]);
        let Decision::Escalate { key, .. } =
            decide(&s, &tom, &facts(&restart), input(), &[], &policy, NOW)
        else {
            panic!("expected a new escalation");
        };
        let id_ = "e-0123456789abcdef01234567".parse().unwrap();
        let mut escalation = Escalation::raise(id_, key, &tom, INPUT, &policy, NOW);
        escalation
            .deny(&id("bob"), "not on a weekday".into(), &s, &policy, NOW)
            .unwrap();
        let denied = [escalation];
        let Decision::Deny(denial) = decide(
            &s,
            &tom,
            &facts(&restart),
            input(),
            &denied,
            &policy,
            NOW + 1,
        ) else {
            panic!("a denied escalation is raised again");
        };
        assert_eq!(denial.code(), "escalation-denied");
        let text = denial.to_string();
        assert!(
            text.contains(
                "denied by bob (escalation e-0123456789abcdef01234567): not on a weekday"
            ),
            "{text}"
        );
        // Another input is another request.
        let other = Sha256Digest::of(b"{\"service\": \"sshd.service\"}");
        assert!(matches!(
            decide(&s, &tom, &facts(&restart), other, &denied, &policy, NOW + 1),
            Decision::Escalate { existing: None, .. }
        ));
    }

    #[test]
    fn a_pending_escalation_expires_unapproved() {
        let policy = policy();
        let restart = action("restart-service", "1.2.0", &[Capability::ServiceControl]);
        let tom = id("tom");
        let s = session(&policy, "tom", &["restart-service"], &[]);
        let Decision::Escalate { key, .. } =
            decide(&s, &tom, &facts(&restart), input(), &[], &policy, NOW)
        else {
            panic!("expected a new escalation");
        };
        let id_ = "e-0123456789abcdef01234567".parse().unwrap();
        let mut escalation = Escalation::raise(id_, key, &tom, INPUT, &policy, NOW);
        assert_eq!(escalation.input.as_deref(), Some(INPUT));
        // 30 minutes by default: then it is no longer approvable…
        let later = NOW + 30 * 60_000;
        assert_eq!(escalation.status(later - 1), "pending");
        assert_eq!(escalation.status(later), "expired");
        let refused = escalation
            .approve(&id("bob"), &s, &policy, later)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("expired unapproved"), "{refused}");
        // …and invoking again raises a new one instead of reusing it.
        let mut fresh = session(&policy, "tom", &["restart-service"], &[]);
        fresh.touch(later);
        fresh.id = s.id.clone();
        let pending = [escalation];
        assert!(matches!(
            decide(
                &fresh,
                &tom,
                &facts(&restart),
                input(),
                &pending,
                &policy,
                later
            ),
            Decision::Escalate {
                existing: None,
                note: Some(_),
                ..
            }
        ));
    }

    mod properties {
        //! The decision over arbitrary sessions, invokers and escalations:
        //! whatever it is given, what it allows is what the rules allow.

        use super::*;
        use crate::escalation::Approval;
        use crate::session::ClosureReport;
        use proptest::prelude::*;

        const PEOPLE: [&str; 3] = ["alice", "tom", "bob"];

        #[derive(Debug, Clone)]
        struct Held {
            approver: usize,
            same_input: bool,
            approved: bool,
            consumed: bool,
            age_minutes: i64,
        }

        fn held() -> impl Strategy<Value = Held> {
            (
                0..3usize,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                0..90i64,
            )
                .prop_map(|(approver, same_input, approved, consumed, age_minutes)| {
                    Held {
                        approver,
                        same_input,
                        approved,
                        consumed,
                        age_minutes,
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn what_is_allowed_is_what_the_rules_allow(
                invoker in 0..3usize,
                technician in 0..2usize,
                privileged_action in any::<bool>(),
                in_scope in any::<bool>(),
                prohibited in any::<bool>(),
                closed in any::<bool>(),
                held in prop::collection::vec(held(), 0..4),
            ) {
                let policy = policy();
                let (name, capabilities): (&str, &[Capability]) = if privileged_action {
                    ("restart-service", &[Capability::ServiceControl])
                } else {
                    ("echo", &[])
                };
                let subject = action(name, "1.0.0", capabilities);
                let allowed: &[&str] = if in_scope { &[name, "system-report"] } else { &["system-report"] };
                let banned: &[&str] = if prohibited { &[name] } else { &[] };
                let mut s = session(&policy, PEOPLE[technician], allowed, banned);
                if closed {
                    s.close(&id("tom"), ClosureReport { resolved: Some(true), ..ClosureReport::default() }, &policy, NOW).unwrap();
                }
                let invoker_id = id(PEOPLE[invoker]);
                let other = Sha256Digest::of(b"other input");
                let key = |same: bool| InvocationKey {
                    session: s.id.clone(),
                    action: subject.id.clone(),
                    version: subject.version.clone(),
                    digest: facts(&subject).digest,
                    input_digest: if same { input() } else { other },
                    endpoint: "pc".to_string(),
                };
                let escalations: Vec<Escalation> = held
                    .iter()
                    .enumerate()
                    .map(|(n, h)| {
                        let raised = NOW - h.age_minutes * 60_000;
                        let mut e = Escalation::raise(
                            format!("e-{n:024x}").parse().unwrap(),
                            key(h.same_input),
                            &invoker_id,
                            INPUT,
                            &policy,
                            raised,
                        );
                        if h.approved {
                            e.state = EscalationState::Approved;
                            e.approval = Some(Approval {
                                by: id(PEOPLE[h.approver]),
                                at_ms: raised,
                                expires_ms: raised + 30 * 60_000,
                                consumed_ms: h.consumed.then_some(raised),
                            });
                        }
                        e
                    })
                    .collect();
                let decision = decide(&s, &invoker_id, &facts(&subject), input(), &escalations, &policy, NOW);
                if let Decision::Allow { approval, class } = &decision {
                    prop_assert_eq!(s.state, crate::session::SessionState::Active);
                    prop_assert_eq!(invoker, technician, "only the technician");
                    prop_assert!(in_scope && !prohibited);
                    prop_assert_eq!(*class == CapabilityClass::Privileged, privileged_action);
                    if privileged_action {
                        prop_assert_eq!(PEOPLE[invoker], "tom", "only tier2 invokes privileged actions");
                        let used = approval.as_ref().expect("a privileged run needs an approval");
                        let e = escalations.iter().find(|e| &e.id == used).unwrap();
                        let a = e.approval.as_ref().unwrap();
                        prop_assert!(e.key.input_digest == input(), "approved for this exact input");
                        prop_assert!(a.consumed_ms.is_none() && NOW < a.expires_ms, "unused and unexpired");
                    } else {
                        prop_assert!(approval.is_none());
                    }
                }
                if let Decision::Escalate { existing: Some(pending), .. } = &decision {
                    let e = escalations.iter().find(|e| &e.id == pending).unwrap();
                    prop_assert!(e.is_open(NOW), "only an open escalation is reused");
                }
            }
        }
    }
}
