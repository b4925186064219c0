//! Property tests of the decision path: whatever sequence of requests the
//! principals make, in whatever order, nobody both requests (or works in) and
//! approves a session, nobody approves an escalation they raised or that
//! belongs to a session they requested or work in, and every privileged run
//! used its own approval, once.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::sample::Index;
use salve::capability::CapabilityClass;
use salve::endpoint::InvokeOutcome;
use salve::session::{ClosureReport, ConsentingUser, EscalationId, SessionId};
use salve_tests::fixture::{Fixture, PEOPLE, request};
use std::collections::BTreeMap;
use std::time::Duration;

/// One request. Sessions and escalations are picked among those that exist
/// (an index into them; `None` is the newest); an invoker of `None` is the
/// session's technician.
#[derive(Debug, Clone)]
enum Step {
    Request {
        requester: usize,
        technician: usize,
        privileged: bool,
        attended: bool,
    },
    Approve {
        who: usize,
        session: Which,
    },
    Consent {
        session: Which,
    },
    Invoke {
        who: Option<usize>,
        session: Which,
        privileged: bool,
        variant: u8,
    },
    ApproveEscalation {
        who: usize,
        escalation: Which,
    },
    DenyEscalation {
        who: usize,
        escalation: Which,
    },
    Close {
        who: usize,
        session: Which,
    },
    Wait {
        minutes: u64,
    },
    /// The whole privileged path at once, each role played by anyone:
    /// request, approve, invoke, approve the escalation, invoke again.
    Flow {
        requester: usize,
        technician: usize,
        approver: usize,
        second: usize,
        variant: u8,
    },
}

/// Which existing session or escalation: by index, or the newest.
type Which = Option<Index>;

fn which() -> impl Strategy<Value = Which> {
    any::<Index>().prop_map(Some)
}

fn person() -> impl Strategy<Value = usize> {
    0..PEOPLE.len()
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (person(), person(), any::<bool>(), any::<bool>()).prop_map(
            |(requester, technician, privileged, attended)| Step::Request { requester, technician, privileged, attended }
        ),
        3 => (person(), which()).prop_map(|(who, session)| Step::Approve { who, session }),
        1 => which().prop_map(|session| Step::Consent { session }),
        5 => (prop::option::weighted(0.3, person()), which(), any::<bool>(), 0..3u8).prop_map(
            |(who, session, privileged, variant)| Step::Invoke { who, session, privileged, variant }
        ),
        3 => (person(), which()).prop_map(|(who, escalation)| Step::ApproveEscalation { who, escalation }),
        1 => (person(), which()).prop_map(|(who, escalation)| Step::DenyEscalation { who, escalation }),
        1 => (person(), which()).prop_map(|(who, session)| Step::Close { who, session }),
        1 => (1..90u64).prop_map(|minutes| Step::Wait { minutes }),
        3 => (person(), person(), person(), person(), 0..3u8).prop_map(
            |(requester, technician, approver, second, variant)| Step::Flow { requester, technician, approver, second, variant }
        ),
    ]
}

/// The item `which` picks, if there are any.
fn pick<'a, T>(items: &'a [T], which: &Which) -> Option<&'a T> {
    match which {
        Some(index) => (!items.is_empty()).then(|| index.get(items)),
        None => items.last(),
    }
}

fn name(index: usize) -> &'static str {
    PEOPLE[index].0
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_requests_defeats_separation_of_duties(steps in prop::collection::vec(step(), 1..60)) {
        let f = Fixture::new();
        let mut sessions: Vec<SessionId> = Vec::new();
        let mut escalations: Vec<EscalationId> = Vec::new();
        // approval used -> how many runs used it
        let mut used: BTreeMap<EscalationId, usize> = BTreeMap::new();
        let last: Which = None;
        let steps = steps.into_iter().flat_map(|step| match step {
            Step::Flow { requester, technician, approver, second, variant } => vec![
                Step::Request { requester, technician, privileged: true, attended: false },
                Step::Approve { who: approver, session: last },
                Step::Invoke { who: None, session: last, privileged: true, variant },
                Step::ApproveEscalation { who: second, escalation: last },
                Step::Invoke { who: None, session: last, privileged: true, variant },
            ],
            other => vec![other],
        });
        for step in steps {
            match step {
                Step::Request { requester, technician, privileged, attended } => {
                    let allowed: &[&str] = &["echo", "clear-temp-files"];
                    let mut asked = request(name(technician), allowed, privileged);
                    asked.attended = attended;
                    if let Ok(session) = f.endpoint.request_session(&f.who(name(requester)), asked) {
                        sessions.push(session.id);
                    }
                }
                Step::Approve { who, session } => {
                    if let Some(id) = pick(&sessions, &session) {
                        let _ = f.endpoint.approve_session(&f.who(name(who)), id);
                    }
                }
                Step::Consent { session } => {
                    if let Some(id) = pick(&sessions, &session) {
                        let _ = f.endpoint.consent(ConsentingUser::current_process(), id);
                    }
                }
                Step::Invoke { who, session, privileged, variant } => {
                    let Some(id) = pick(&sessions, &session).cloned() else { continue };
                    let id = &id;
                    let technician = f.endpoint.session(&f.who("dave"), id).unwrap().request.technician;
                    let who = who.map_or(technician.to_string(), |w| name(w).to_string());
                    let (action, input) = if privileged {
                        ("clear-temp-files", serde_json::json!({"directory": f.temp_dir, "dry_run": true, "older_than_days": 1 + u32::from(variant)}).to_string())
                    } else {
                        ("echo", format!("{{\"variant\": {variant}}}"))
                    };
                    let outcome = f.endpoint.invoke(&f.who(&who), id, &action.parse().unwrap(), &input);
                    match outcome {
                        Ok(InvokeOutcome::Escalated { escalation, .. }) if !escalations.contains(&escalation.id) => {
                            escalations.push(escalation.id);
                        }
                        Ok(InvokeOutcome::Ran { approval, invocation, .. }) => {
                            let stored = f.endpoint.session(&f.who("dave"), id).unwrap();
                            // Only the technician runs anything, in an active session.
                            prop_assert_eq!(stored.request.technician.as_str(), who.as_str());
                            prop_assert_eq!(stored.state, salve::session::SessionState::Active);
                            let class = f.endpoint.policy().class_of(
                                f.endpoint.catalog().entries().find(|e| e.package.manifest().label() == invocation.action).unwrap().package.manifest().capabilities.names(),
                            );
                            if class == CapabilityClass::Privileged {
                                let approval = approval.expect("a privileged run uses an approval");
                                // …an approval of exactly this input.
                                let approved = f.endpoint.escalation(&f.who("dave"), &approval).unwrap();
                                prop_assert_eq!(approved.key.input_digest, salve::Sha256Digest::of(input.as_bytes()));
                                prop_assert_eq!(&approved.key.session, id);
                                *used.entry(approval).or_default() += 1;
                            } else {
                                prop_assert!(approval.is_none());
                            }
                        }
                        _ => {}
                    }
                }
                Step::ApproveEscalation { who, escalation } => {
                    if let Some(id) = pick(&escalations, &escalation) {
                        let _ = f.endpoint.approve_escalation(&f.who(name(who)), id);
                    }
                }
                Step::DenyEscalation { who, escalation } => {
                    if let Some(id) = pick(&escalations, &escalation) {
                        let _ = f.endpoint.deny_escalation(&f.who(name(who)), id, "no".to_string());
                    }
                }
                Step::Close { who, session } => {
                    if let Some(id) = pick(&sessions, &session) {
                        let _ = f.endpoint.close_session(&f.who(name(who)), id, ClosureReport { resolved: Some(true), ..ClosureReport::default() });
                    }
                }
                Step::Wait { minutes } => f.clock.advance(Duration::from_secs(minutes * 60)),
                Step::Flow { .. } => unreachable!("flows are expanded above"),
            }
        }

        let policy = f.endpoint.policy();
        let may = |who: &salve::identity::PrincipalId, permission: salve::policy::Permission| {
            policy.principal(who).unwrap().roles.iter().any(|r| policy.roles()[r].permissions.contains(&permission))
        };
        for session in f.endpoint.sessions(&f.who("dave"), false).unwrap() {
            if let Some((approver, _)) = &session.approved {
                prop_assert_ne!(approver, &session.requester, "self-approved session {}", session.id);
                prop_assert_ne!(approver, &session.request.technician, "technician approved session {}", session.id);
                prop_assert!(may(approver, salve::policy::Permission::ApproveSessions));
            }
        }
        for id in &escalations {
            let escalation = f.endpoint.escalation(&f.who("dave"), id).unwrap();
            let session = f.endpoint.session(&f.who("dave"), &escalation.key.session).unwrap();
            if let Some(approval) = &escalation.approval {
                prop_assert_ne!(&approval.by, &escalation.invoker);
                prop_assert_ne!(&approval.by, &session.requester);
                prop_assert_ne!(&approval.by, &session.request.technician);
                prop_assert!(may(&approval.by, salve::policy::Permission::ApproveEscalations));
            }
        }
        if std::env::var_os("SALVE_PROPTEST_STATS").is_some() {
            let approved = escalations.iter().filter(|id| f.endpoint.escalation(&f.who("dave"), id).unwrap().approval.is_some()).count();
            eprintln!("sessions {} escalations {} approved {} privileged runs {}", sessions.len(), escalations.len(), approved, used.values().sum::<usize>());
        }
        for (approval, runs) in used {
            prop_assert_eq!(runs, 1, "approval of {} used {} times", approval, runs);
        }
    }
}
