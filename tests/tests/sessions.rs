//! Approved scope end to end: sessions, roles, separation of duties, and the
//! two-person escalation of privileged invocations. Every refusal carries its
//! reason, and nothing runs.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::clock::Clock;
use salve::decision::Denial;
use salve::endpoint::{InvokeOutcome, Refusal};
use salve::escalation::Escalation;
use salve::session::{ClosureReport, ConsentingUser, Session, SessionId, SessionState};
use salve_tests::fixture::{Fixture, request};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// A session requested by `requester` for `technician`, approved by `approver`.
fn active(
    f: &Fixture,
    requester: &str,
    technician: &str,
    allowed: &[&str],
    privileged: bool,
    approver: &str,
) -> Session {
    let session = f
        .endpoint
        .request_session(&f.who(requester), request(technician, allowed, privileged))
        .expect("session requested");
    let session = f
        .endpoint
        .approve_session(&f.who(approver), &session.id)
        .expect("session approved");
    assert_eq!(session.state, SessionState::Active);
    session
}

fn invoke(f: &Fixture, who: &str, session: &SessionId, action: &str, input: &str) -> InvokeOutcome {
    f.endpoint
        .invoke(&f.who(who), session, &action.parse().unwrap(), input)
        .expect("the invocation is decided")
}

fn denied(outcome: InvokeOutcome) -> Denial {
    match outcome {
        InvokeOutcome::Denied { denial } => denial,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn escalation(outcome: InvokeOutcome) -> (Escalation, Option<String>) {
    match outcome {
        InvokeOutcome::Escalated { escalation, note } => (escalation, note),
        other => panic!("expected an escalation, got {other:?}"),
    }
}

fn ran(outcome: InvokeOutcome) -> salve::Invocation {
    match outcome {
        InvokeOutcome::Ran { invocation, .. } => invocation,
        other => panic!("expected a run, got {other:?}"),
    }
}

fn cleanup_input(f: &Fixture, dry_run: bool) -> String {
    serde_json::json!({"directory": f.temp_dir, "older_than_days": 1, "dry_run": dry_run})
        .to_string()
}

/// An old file in the directory the privileged cleanup may touch: it is gone
/// only if the privileged action really ran.
fn old_file(f: &Fixture) -> std::path::PathBuf {
    let path = f.temp_dir.join("old.tmp");
    std::fs::write(&path, "old").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(10 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    path
}

#[test]
fn a_standard_action_runs_in_an_approved_session() {
    let f = Fixture::new();
    let session = active(
        &f,
        "alice",
        "alice",
        &["system-report", "echo"],
        false,
        "bob",
    );
    let invocation = ran(invoke(&f, "alice", &session.id, "echo", r#"{"hello": 1}"#));
    assert_eq!(
        invocation.outcome.output().map(|o| o.get()),
        Some(r#"{"hello":1}"#)
    );
    assert!(
        ran(invoke(&f, "alice", &session.id, "system-report", "{}"))
            .outcome
            .succeeded()
    );
}

#[test]
fn a_requester_cannot_approve_their_own_session() {
    let f = Fixture::new();
    // ann may approve sessions, but not one she requested...
    let session = f
        .endpoint
        .request_session(&f.who("ann"), request("tom", &["echo"], false))
        .unwrap();
    let error = f
        .endpoint
        .approve_session(&f.who("ann"), &session.id)
        .unwrap_err();
    assert_eq!(error.code(), "separation-of-duties");
    assert_eq!(
        error.to_string(),
        format!(
            "ann may not approve session {}: separation of duties — nobody approves a session they requested or are assigned to work on",
            session.id
        )
    );
    // ...nor one she is assigned to work in.
    let session = f
        .endpoint
        .request_session(&f.who("tom"), request("ann", &["echo"], false))
        .unwrap();
    let error = f
        .endpoint
        .approve_session(&f.who("ann"), &session.id)
        .unwrap_err();
    assert_eq!(error.code(), "separation-of-duties");
    // Nothing changed.
    let stored = f.endpoint.session(&f.who("tom"), &session.id).unwrap();
    assert_eq!(stored.state, SessionState::Requested);
}

#[test]
fn approval_needs_the_approver_role() {
    let f = Fixture::new();
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("alice", &["echo"], false))
        .unwrap();
    let error = f
        .endpoint
        .approve_session(&f.who("tom"), &session.id)
        .unwrap_err();
    assert_eq!(error.code(), "role-not-permitted");
    assert_eq!(
        error.to_string(),
        format!(
            "tom may not approve session {}: their roles (tier2) do not permit it",
            session.id
        )
    );
    let error = f
        .endpoint
        .request_session(&f.who("bob"), request("alice", &["echo"], false))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "bob may not request sessions: their roles (approver) do not permit it"
    );
}

#[test]
fn a_category_that_does_not_justify_remote_access_is_refused() {
    let f = Fixture::new();
    let mut asked = request("alice", &["echo"], false);
    asked.category = "how-to-question".to_string();
    let error = f
        .endpoint
        .request_session(&f.who("alice"), asked)
        .unwrap_err();
    assert_eq!(error.code(), "category-not-allowed");
    assert_eq!(
        error.to_string(),
        "category `how-to-question` does not justify remote access under this endpoint's policy (allowed: incident, service-request)"
    );
}

#[test]
fn a_tier_that_may_not_invoke_privileged_actions_is_denied() {
    let f = Fixture::new();
    let file = old_file(&f);
    let session = active(&f, "alice", "alice", &["clear-temp-files"], true, "bob");
    let denial = denied(invoke(
        &f,
        "alice",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, false),
    ));
    assert_eq!(denial.code(), "role-not-permitted");
    assert_eq!(
        denial.to_string(),
        "alice may not invoke clear-temp-files (a privileged action): their roles (tier1) do not permit it"
    );
    assert!(file.exists(), "nothing may run");
}

// Runs clear-temp-files on a directory granted by its Unix path.
#[cfg(unix)]
#[test]
fn a_privileged_action_waits_for_a_distinct_approver_then_runs_once() {
    let f = Fixture::new();
    let file = old_file(&f);
    let session = active(&f, "alice", "tom", &["clear-temp-files"], true, "bob");
    let input = cleanup_input(&f, false);

    let (pending, note) = escalation(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    assert_eq!(note, None);
    assert!(file.exists(), "held, not run");
    // Asking again does not raise a second escalation.
    let (again, _) = escalation(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    assert_eq!(again.id, pending.id);
    assert_eq!(
        f.endpoint
            .pending_escalations(&f.who("carol"))
            .unwrap()
            .len(),
        1
    );

    let approved = f
        .endpoint
        .approve_escalation(&f.who("carol"), &pending.id)
        .unwrap();
    assert_eq!(approved.status(f.clock.now_ms()), "approved");
    let invocation = ran(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    assert!(invocation.outcome.succeeded(), "{:?}", invocation.outcome);
    assert!(!file.exists(), "the approved invocation ran");

    // The approval was for one invocation: the same one again is held anew.
    let (second, note) = escalation(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    assert_ne!(second.id, pending.id);
    assert!(note.unwrap().contains("is used; a new approval is needed"));
}

#[test]
fn an_approval_does_not_cover_different_input() {
    let f = Fixture::new();
    let file = old_file(&f);
    let session = active(&f, "alice", "tom", &["clear-temp-files"], true, "bob");
    let (pending, _) = escalation(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, true),
    ));
    f.endpoint
        .approve_escalation(&f.who("carol"), &pending.id)
        .unwrap();
    // Approved was the dry run; the real run is another invocation.
    let (other, _) = escalation(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, false),
    ));
    assert_ne!(other.id, pending.id);
    assert!(file.exists());
}

#[test]
fn nobody_approves_their_own_escalation() {
    let f = Fixture::new();
    // ann works in the session (and holds the approver role).
    let session = active(&f, "tom", "ann", &["clear-temp-files"], true, "bob");
    let (pending, _) = escalation(invoke(
        &f,
        "ann",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, false),
    ));
    let error = f
        .endpoint
        .approve_escalation(&f.who("ann"), &pending.id)
        .unwrap_err();
    assert_eq!(error.code(), "separation-of-duties");
    assert!(
        error
            .to_string()
            .contains("nobody approves an escalation they raised"),
        "{error}"
    );

    // Nor does the session's requester.
    let session = active(&f, "ann", "tom", &["clear-temp-files"], true, "bob");
    let (pending, _) = escalation(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, false),
    ));
    let error = f
        .endpoint
        .approve_escalation(&f.who("ann"), &pending.id)
        .unwrap_err();
    assert_eq!(error.code(), "separation-of-duties");
    // And someone without the role cannot approve at all.
    let error = f
        .endpoint
        .approve_escalation(&f.who("alice"), &pending.id)
        .unwrap_err();
    assert_eq!(error.code(), "role-not-permitted");
}

#[test]
fn an_expired_approval_is_not_used() {
    let f = Fixture::new();
    let file = old_file(&f);
    let session = active(&f, "alice", "tom", &["clear-temp-files"], true, "bob");
    let input = cleanup_input(&f, false);
    let (pending, _) = escalation(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    f.endpoint
        .approve_escalation(&f.who("carol"), &pending.id)
        .unwrap();
    f.clock.advance(31 * MINUTE);
    let (renewed, note) = escalation(invoke(&f, "tom", &session.id, "clear-temp-files", &input));
    assert_ne!(renewed.id, pending.id);
    assert!(note.unwrap().contains("is expired"));
    assert!(file.exists());

    // The sweep logs each expiry once: the approval not used in time now,
    // the new escalation nobody approved once its time is up too.
    f.endpoint.sweep().unwrap();
    f.clock.advance(31 * MINUTE);
    f.endpoint.sweep().unwrap();
    f.endpoint.sweep().unwrap();
    let expired: Vec<_> = f
        .audit_records()
        .into_iter()
        .filter(|r| r.kind == salve::audit::Kind::EscalationExpired)
        .collect();
    assert_eq!(expired.len(), 2, "{expired:?}");
    assert_eq!(expired[0].escalation.as_deref(), Some(pending.id.as_str()));
    assert!(
        expired[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("approved by carol but not used before the approval expired")
    );
    assert_eq!(expired[1].escalation.as_deref(), Some(renewed.id.as_str()));
    assert!(
        expired[1]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("nobody approved it in time")
    );
    assert_eq!(expired[1].session.as_deref(), Some(session.id.as_str()));
}

#[test]
fn nothing_runs_before_approval_or_before_consent() {
    let f = Fixture::new();
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("alice", &["echo"], false))
        .unwrap();
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert_eq!(denial.code(), "session-not-active");
    assert_eq!(
        denial.to_string(),
        format!(
            "session {} is requested: nothing runs before it is approved",
            session.id
        )
    );

    let mut attended = request("alice", &["echo"], false);
    attended.attended = true;
    let session = f
        .endpoint
        .request_session(&f.who("alice"), attended)
        .unwrap();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Approved);
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert_eq!(
        denial.to_string(),
        format!(
            "session {} is approved: nothing runs before the end user consents at the endpoint",
            session.id
        )
    );
    // Only a person's account consents (consent-min-uid, 1000 by default).
    let user = ConsentingUser {
        uid: 1000,
        name: "enduser".to_string(),
    };
    let session = f.endpoint.consent(user.clone(), &session.id).unwrap();
    assert_eq!(session.state, SessionState::Active);
    assert_eq!(session.consent.as_ref().map(|(u, _)| u.uid), Some(user.uid));
    assert!(
        ran(invoke(&f, "alice", &session.id, "echo", "{}"))
            .outcome
            .succeeded()
    );
    // What ran is shown to the user who consented, and to nobody else:
    // another local user is told there is no such session.
    let (shown, ran) = f.endpoint.consented_activity(&user, &session.id).unwrap();
    assert_eq!(shown.id, session.id);
    assert_eq!(ran.len(), 1);
    let other = ConsentingUser {
        uid: user.uid.wrapping_add(1),
        name: "eve".to_string(),
    };
    assert_eq!(
        f.endpoint
            .consented_activity(&other, &session.id)
            .unwrap_err()
            .code(),
        "not-found"
    );
    // Consent is not given twice, nor to an unattended session.
    assert_eq!(
        f.endpoint.consent(user, &session.id).unwrap_err().code(),
        "session-state"
    );
}

#[test]
fn closing_ends_the_session_and_voids_pending_escalations() {
    let f = Fixture::new();
    let session = active(
        &f,
        "alice",
        "tom",
        &["echo", "clear-temp-files"],
        true,
        "bob",
    );
    let (pending, _) = escalation(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, false),
    ));
    let report = ClosureReport {
        resolved: Some(true),
        summary: Some("Cleared the queue.".to_string()),
        follow_up: None,
    };
    let closed = f
        .endpoint
        .close_session(&f.who("tom"), &session.id, report.clone())
        .unwrap();
    assert_eq!(closed.state, SessionState::Closed);
    assert_eq!(closed.closure.as_ref().map(|c| &c.report), Some(&report));

    let denial = denied(invoke(&f, "tom", &session.id, "echo", "{}"));
    assert_eq!(
        denial.to_string(),
        format!(
            "session {} is closed: nothing runs in a closed session",
            session.id
        )
    );
    let voided = f.endpoint.escalation(&f.who("carol"), &pending.id).unwrap();
    assert_eq!(voided.status(f.clock.now_ms()), "voided");
    let error = f
        .endpoint
        .approve_escalation(&f.who("carol"), &pending.id)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "escalation {} is not pending: its session closed",
            pending.id
        )
    );
}

#[test]
fn idle_sessions_close_by_themselves() {
    let f = Fixture::new();
    let session = active(&f, "alice", "alice", &["echo"], false, "bob");
    f.clock.advance(59 * MINUTE);
    assert!(
        ran(invoke(&f, "alice", &session.id, "echo", "{}"))
            .outcome
            .succeeded()
    );
    f.clock.advance(60 * MINUTE);
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert_eq!(
        denial.to_string(),
        format!(
            "session {} is closed: nothing runs in a closed session (it closed after 60 idle minutes)",
            session.id
        )
    );
    // The technician still records what was done.
    let report = ClosureReport {
        resolved: Some(false),
        summary: Some("Ran out of time.".into()),
        follow_up: Some("Call back.".into()),
    };
    let closed = f
        .endpoint
        .close_session(&f.who("alice"), &session.id, report.clone())
        .unwrap();
    assert_eq!(closed.closure.map(|c| c.report), Some(report));
}

/// A session with a one-minute idle timeout stays open while invocations
/// come every 30 seconds, and closes a minute after the last one.
#[test]
fn a_busy_session_with_a_short_idle_timeout_stays_open() {
    let f = Fixture::new();
    let mut asked = request("alice", &["echo"], false);
    asked.idle_minutes = 1;
    let session = f.endpoint.request_session(&f.who("alice"), asked).unwrap();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Active);
    for _ in 0..8 {
        f.clock.advance(Duration::from_secs(30));
        assert!(
            ran(invoke(&f, "alice", &session.id, "echo", "{}"))
                .outcome
                .succeeded()
        );
    }
    f.clock.advance(Duration::from_secs(61));
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert!(
        denial
            .to_string()
            .ends_with("(it closed after 1 idle minute)"),
        "{denial}"
    );
}

#[test]
fn expired_sessions_close_by_themselves_and_the_sweeper_finds_them() {
    let f = Fixture::new();
    let session = active(&f, "alice", "alice", &["echo"], false, "bob");
    for _ in 0..4 {
        f.clock.advance(50 * MINUTE);
        assert!(
            ran(invoke(&f, "alice", &session.id, "echo", "{}"))
                .outcome
                .succeeded()
        );
    }
    // 250 minutes after the request: past its 240-minute duration, although
    // never idle.
    f.clock.advance(50 * MINUTE);
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert!(denial.to_string().ends_with("(it expired)"), "{denial}");

    let idle = active(&f, "alice", "alice", &["echo"], false, "bob");
    f.clock.advance(61 * MINUTE);
    assert_eq!(f.endpoint.sweep().unwrap(), vec![idle.id.clone()]);
    assert_eq!(
        f.endpoint.session(&f.who("alice"), &idle.id).unwrap().state,
        SessionState::Closed
    );
}

#[test]
fn a_prohibited_action_is_denied_even_when_the_scope_allows_it() {
    let f = Fixture::new();
    let mut asked = request("alice", &["echo", "system-report"], false);
    asked
        .scope
        .prohibited
        .insert("system-report".parse().unwrap());
    let session = f.endpoint.request_session(&f.who("alice"), asked).unwrap();
    f.endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    let denial = denied(invoke(&f, "alice", &session.id, "system-report", "{}"));
    assert_eq!(denial.code(), "prohibited");
    assert_eq!(
        denial.to_string(),
        format!(
            "system-report is prohibited in session {}'s scope",
            session.id
        )
    );
}

#[test]
fn an_action_outside_the_scope_is_denied() {
    let f = Fixture::new();
    let session = active(
        &f,
        "alice",
        "alice",
        &["echo", "system-report@^2"],
        false,
        "bob",
    );
    let denial = denied(invoke(&f, "alice", &session.id, "disk-usage", "{}"));
    assert_eq!(denial.code(), "out-of-scope");
    assert_eq!(
        denial.to_string(),
        format!(
            "disk-usage@1.0.0 is outside session {}'s scope (allowed: echo, system-report@^2)",
            session.id
        )
    );
    // The version range counts: the catalog has system-report 1.0.0 only.
    assert_eq!(
        denial_code(invoke(&f, "alice", &session.id, "system-report", "{}")),
        "out-of-scope"
    );
    // Privileged actions need a scope that allows them.
    let session = active(&f, "alice", "tom", &["clear-temp-files"], false, "bob");
    let denial = denied(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, true),
    ));
    assert_eq!(denial.code(), "privileged-not-in-scope");
    // An action the endpoint does not have at all is not found.
    let error = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"format-disk".parse().unwrap(),
            "{}",
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no action `format-disk` on this endpoint"
    );
}

fn denial_code(outcome: InvokeOutcome) -> &'static str {
    denied(outcome).code()
}

#[test]
fn only_the_technician_invokes() {
    let f = Fixture::new();
    let session = active(&f, "alice", "tom", &["echo"], false, "bob");
    let denial = denied(invoke(&f, "alice", &session.id, "echo", "{}"));
    assert_eq!(denial.code(), "not-technician");
}

// Runs clear-temp-files on a directory granted by its Unix path.
#[cfg(unix)]
#[test]
fn state_survives_a_restart() {
    let mut f = Fixture::new();
    let session = active(&f, "alice", "tom", &["clear-temp-files"], true, "bob");
    let (pending, _) = escalation(invoke(
        &f,
        "tom",
        &session.id,
        "clear-temp-files",
        &cleanup_input(&f, true),
    ));
    f.endpoint
        .approve_escalation(&f.who("carol"), &pending.id)
        .unwrap();
    f.restart();
    let stored = f.endpoint.session(&f.who("bob"), &session.id).unwrap();
    assert_eq!(stored, session_after(&f, &session.id));
    assert_eq!(stored.state, SessionState::Active);
    let stored = f.endpoint.escalation(&f.who("carol"), &pending.id).unwrap();
    assert_eq!(stored.status(f.clock.now_ms()), "approved");
    // The approval made before the restart is used after it, once.
    assert!(
        ran(invoke(
            &f,
            "tom",
            &session.id,
            "clear-temp-files",
            &cleanup_input(&f, true)
        ))
        .outcome
        .succeeded()
    );
    f.restart();
    let stored = f.endpoint.escalation(&f.who("carol"), &pending.id).unwrap();
    assert_eq!(stored.status(f.clock.now_ms()), "used");
}

#[cfg(unix)]
fn session_after(f: &Fixture, id: &SessionId) -> Session {
    f.endpoint.session(&f.who("alice"), id).unwrap()
}

#[test]
fn people_outside_a_session_cannot_see_it() {
    let f = Fixture::new();
    let session = active(&f, "alice", "alice", &["echo"], false, "bob");
    let error = f.endpoint.session(&f.who("tom"), &session.id).unwrap_err();
    assert!(matches!(error, Refusal::NotFound { .. }), "{error:?}");
    assert!(
        f.endpoint
            .sessions(&f.who("tom"), false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.endpoint.sessions(&f.who("dave"), false).unwrap().len(), 1);
}

#[test]
fn a_policy_rule_forbids_what_a_role_permits() {
    let f = Fixture::with_rules(
        r#"
[rules]
cedar = '''
@reason("disk reports are for incidents only")
forbid (principal, action == Salve::Action::"invoke", resource == Salve::Package::"disk-usage")
unless { context.category == "incident" };
'''
"#,
    );
    let mut asked = request("alice", &["disk-usage"], false);
    asked.category = "service-request".to_string();
    let session = f.endpoint.request_session(&f.who("alice"), asked).unwrap();
    f.endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    let denial = denied(invoke(&f, "alice", &session.id, "disk-usage", "{}"));
    assert_eq!(
        denial.to_string(),
        "alice may not invoke disk-usage (a standard action): policy rule rule:1 forbids it — disk reports are for incidents only"
    );
    // In an incident the same role may.
    let session = active(&f, "alice", "alice", &["disk-usage"], false, "bob");
    assert!(
        ran(invoke(&f, "alice", &session.id, "disk-usage", "{}"))
            .outcome
            .succeeded()
    );
}

#[test]
fn refusals_that_name_nothing_known_or_what_may_not_be_seen_are_logged() {
    use salve::audit::Kind;
    use salve::session::EscalationId;
    let f = Fixture::new();
    let unknown = SessionId::random().unwrap();
    let nowhere = EscalationId::random().unwrap();
    let code = |refusal: Refusal| refusal.code();
    assert_eq!(
        code(
            f.endpoint
                .approve_session(&f.who("bob"), &unknown)
                .unwrap_err()
        ),
        "not-found"
    );
    let user = ConsentingUser {
        uid: 1000,
        name: "enduser".to_string(),
    };
    assert_eq!(
        code(f.endpoint.consent(user, &unknown).unwrap_err()),
        "not-found"
    );
    assert_eq!(
        code(f.endpoint.session(&f.who("tom"), &unknown).unwrap_err()),
        "not-found"
    );
    assert_eq!(
        code(
            f.endpoint
                .approve_escalation(&f.who("bob"), &nowhere)
                .unwrap_err()
        ),
        "not-found"
    );
    assert_eq!(
        code(f.endpoint.escalation(&f.who("bob"), &nowhere).unwrap_err()),
        "not-found"
    );
    // A session alice has no part in is not hers to see.
    let theirs = active(&f, "ann", "tom", &["echo"], false, "bob");
    assert_eq!(
        code(f.endpoint.session(&f.who("alice"), &theirs.id).unwrap_err()),
        "not-found"
    );
    // Only auditors read the audit log.
    assert_eq!(
        code(f.endpoint.check_read_audit(&f.who("tom")).unwrap_err()),
        "role-not-permitted"
    );

    let records = f.audit_records();
    let refused = |kind: Kind, principal: Option<&str>, code: &str| {
        records
            .iter()
            .filter(|r| {
                r.kind == kind
                    && r.principal.as_deref() == principal
                    && r.reason_code.as_deref() == Some(code)
            })
            .count()
    };
    // approve-session, consent (by no principal: the user at the endpoint)
    // and approve-escalation are refused changes; the rest refused requests.
    assert_eq!(refused(Kind::ChangeRefused, Some("bob"), "not-found"), 2);
    assert_eq!(refused(Kind::ChangeRefused, None, "not-found"), 1);
    assert_eq!(refused(Kind::RequestRefused, Some("tom"), "not-found"), 1);
    assert_eq!(refused(Kind::RequestRefused, Some("bob"), "not-found"), 1);
    assert_eq!(refused(Kind::RequestRefused, Some("alice"), "not-found"), 1);
    assert_eq!(
        refused(Kind::RequestRefused, Some("tom"), "role-not-permitted"),
        1
    );
    assert!(
        records.iter().any(
            |r| r.kind == Kind::ChangeRefused && r.session.as_deref() == Some(unknown.as_str())
        )
    );
    assert!(records.iter().any(
        |r| r.kind == Kind::RequestRefused && r.escalation.as_deref() == Some(nowhere.as_str())
    ));
}

/// A random source that has none to give, as a broken `getrandom` would.
struct NoRandomness;

impl salve::random::RandomSource for NoRandomness {
    fn fill(&self, _: &mut [u8]) -> Result<(), salve::random::NoRandomness> {
        Err(salve::random::NoRandomness(
            "the entropy pool is gone".into(),
        ))
    }
}

/// Without randomness no id can be made: the request fails as the
/// endpoint's own failure (internal, 500), logged, and never as the
/// requester's mistake (`invalid-request`).
#[test]
fn no_randomness_is_an_internal_failure_that_is_logged() {
    let mut f = Fixture::new();
    let session = active(&f, "alice", "alice", &["echo"], false, "bob").id;
    f.restart_with_random(std::sync::Arc::new(NoRandomness));
    let refused = f
        .endpoint
        .request_session(&f.who("alice"), request("alice", &["echo"], false))
        .unwrap_err();
    assert_eq!(refused.code(), "internal", "{refused}");
    assert_eq!(refused.kind(), salve::endpoint::RefusalKind::Internal);
    let refused = f
        .endpoint
        .invoke(&f.who("alice"), &session, &"echo".parse().unwrap(), "{}")
        .unwrap_err();
    assert_eq!(refused.code(), "internal", "{refused}");
    let records = f.audit_records();
    let logged = records
        .iter()
        .find(|r| r.reason_code.as_deref() == Some("internal"))
        .expect("the failed request is logged");
    assert_eq!(logged.ticket.as_deref(), Some("INC0012345"), "{logged:?}");
}

/// Who may see a session is the policy's to say, like every other "may":
/// a `forbid` rule on `view-session` hides sessions from a role that
/// oversees them, while the people in the session and other overseers
/// still see it.
#[test]
fn a_policy_rule_can_hide_sessions_from_a_role() {
    let f = Fixture::with_rules(
        r#"
[rules]
cedar = '''
@reason("auditors see only closed sessions")
forbid (principal in Salve::Role::"auditor", action == Salve::Action::"view-session", resource)
unless { context.category == "service-request" };
'''
"#,
    );
    let session = active(&f, "alice", "tom", &["echo"], false, "bob");
    let refused = f.endpoint.session(&f.who("dave"), &session.id).unwrap_err();
    assert_eq!(refused.code(), "not-found", "{refused}");
    assert!(
        f.endpoint
            .sessions(&f.who("dave"), false)
            .unwrap()
            .is_empty()
    );
    for who in ["alice", "tom", "carol"] {
        assert_eq!(
            f.endpoint.session(&f.who(who), &session.id).unwrap().id,
            session.id,
            "{who}"
        );
    }
    // Someone neither in the session nor overseeing sessions does not see it.
    let other = active(&f, "ann", "ann", &["echo"], false, "bob");
    let refused = f.endpoint.session(&f.who("alice"), &other.id).unwrap_err();
    assert_eq!(refused.code(), "not-found", "{refused}");
}
