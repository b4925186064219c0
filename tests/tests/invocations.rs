//! Invocations as people see them: followed while they run, shown and listed
//! afterwards, cancelled when their session closes; and what an escalation
//! shows its approver.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::audit::Kind;
use salve::clock::Clock;
use salve::endpoint::live::{FeedItem, Watcher};
use salve::endpoint::{InvokeOutcome, Refusal};
use salve::host::output::OutputEvent;
use salve::outcome::{InvocationRecord, InvocationStatus};
use salve::session::{ClosureReport, Session, SessionId, SessionState};
use salve_tests::fixture::{Fixture, request};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn active(f: &Fixture, allowed: &[&str], privileged: bool) -> Session {
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("tom", allowed, privileged))
        .unwrap();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Active);
    session
}

/// What a follower saw, one line per item.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Watcher for Seen {
    fn item(&self, item: FeedItem<'_>) -> bool {
        self.0.lock().unwrap().push(match item {
            FeedItem::Started(r) => format!("started {} {:?}", r.action, r.status),
            FeedItem::Output(OutputEvent::Log(entry)) => format!("log {}", entry.level),
            FeedItem::Output(OutputEvent::Stdout { .. }) => "stdout".to_string(),
            FeedItem::Output(OutputEvent::Stderr { .. }) => "stderr".to_string(),
            FeedItem::Ended(r) => format!("ended {:?}", r.status),
        });
        true
    }
}

impl Seen {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

const DISK_USAGE: &str = r#"{"warn_percent": 1}"#;

#[test]
fn an_invocation_is_followed_as_it_runs_then_shown_and_listed() {
    let f = Fixture::new();
    let session = active(&f, &["disk-usage"], false);
    let seen = Arc::new(Seen::default());
    let outcome = f
        .endpoint
        .invoke_watched(
            &f.who("tom"),
            &session.id,
            &"disk-usage".parse().unwrap(),
            DISK_USAGE,
            Some(seen.clone()),
        )
        .unwrap();
    let InvokeOutcome::Ran { invocation, .. } = outcome else {
        panic!("expected a run, got {outcome:?}");
    };
    assert!(invocation.outcome.succeeded(), "{:?}", invocation.outcome);
    assert!(
        !invocation.logs.is_empty(),
        "disk-usage warns per full mount"
    );

    // Started first, every log message as it was written, ended last.
    let lines = seen.lines();
    let mut expected = vec!["started disk-usage@1.0.0 Running".to_string()];
    expected.extend(invocation.logs.iter().map(|l| format!("log {}", l.level)));
    expected.push("ended Finished".to_string());
    assert_eq!(lines, expected);

    // Afterwards: shown, with what it did, and listed in its session.
    let records = f
        .endpoint
        .invocations(&f.who("alice"), &session.id)
        .unwrap();
    assert_eq!(records.len(), 1);
    let id = records[0].id.clone();
    assert!(
        records[0].invocation.is_none(),
        "a listing carries no output"
    );
    let shown: InvocationRecord = f.endpoint.invocation(&f.who("bob"), &id).unwrap();
    assert_eq!(shown.status, InvocationStatus::Finished);
    assert_eq!(shown.principal, "tom");
    let shown_logs = &shown.invocation.as_ref().unwrap().logs;
    assert_eq!(shown_logs, &invocation.logs);
    // Its id is the one its audit records carry.
    let finished: Vec<_> = f
        .audit_records()
        .into_iter()
        .filter(|r| r.kind == Kind::InvocationFinished)
        .collect();
    assert_eq!(finished[0].invocation.as_deref(), Some(id.as_str()));

    // Following it now replays it whole.
    let late = Arc::new(Seen::default());
    f.endpoint.follow(&f.who("tom"), &id, late.clone()).unwrap();
    assert_eq!(late.lines(), expected);

    // An id that names nothing is not found.
    let none = f
        .endpoint
        .invocation(
            &f.who("tom"),
            &"i-000000000000000000000000".parse().unwrap(),
        )
        .unwrap_err();
    assert_eq!(none.code(), "not-found");
}

#[test]
fn what_an_invocation_did_survives_a_restart() {
    let mut f = Fixture::new();
    let session = active(&f, &["echo"], false);
    f.endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"echo".parse().unwrap(),
            r#"{"hello": "world"}"#,
        )
        .unwrap();
    f.restart();
    let records = f.endpoint.invocations(&f.who("tom"), &session.id).unwrap();
    let shown = f
        .endpoint
        .invocation(&f.who("tom"), &records[0].id)
        .unwrap();
    let output = shown
        .invocation
        .unwrap()
        .outcome
        .output()
        .unwrap()
        .get()
        .to_string();
    assert_eq!(output, r#"{"hello":"world"}"#);
}

/// Approves and runs the hostile guest in `mode`, in a thread; returns the
/// thread, which answers with the outcome.
fn run_hostile(
    f: &Arc<Fixture>,
    session: &SessionId,
    input: &'static str,
) -> std::thread::JoinHandle<InvokeOutcome> {
    let hostile = "hostile".parse().unwrap();
    let held = f
        .endpoint
        .invoke(&f.who("tom"), session, &hostile, input)
        .unwrap();
    let InvokeOutcome::Escalated { escalation, .. } = held else {
        panic!("a privileged action is escalated first, got {held:?}");
    };
    f.endpoint
        .approve_escalation(&f.who("carol"), &escalation.id)
        .unwrap();
    let (f, session) = (f.clone(), session.clone());
    std::thread::spawn(move || {
        f.endpoint
            .invoke(&f.who("tom"), &session, &hostile, input)
            .unwrap()
    })
}

fn wait_until_running(f: &Fixture) {
    let started = Instant::now();
    while f.endpoint.running() == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "it never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn closing_a_session_cancels_what_runs_in_it() {
    let f = Arc::new(Fixture::with_hostile());
    let session = active(&f, &["hostile"], true);
    let running = run_hostile(&f, &session.id, r#"{"mode": "loop"}"#);
    wait_until_running(&f);
    let closed_at = Instant::now();
    f.endpoint
        .close_session(
            &f.who("alice"),
            &session.id,
            ClosureReport {
                resolved: Some(false),
                ..ClosureReport::default()
            },
        )
        .unwrap();
    let outcome = running.join().unwrap();
    let InvokeOutcome::Ran { invocation, .. } = outcome else {
        panic!("it ran, got {outcome:?}");
    };
    assert_eq!(invocation.outcome.code(), "cancelled");
    assert!(
        closed_at.elapsed() < Duration::from_secs(5),
        "cancelled at once, not at its 30 s deadline"
    );
    // The log says so, after the closure.
    let records = f.audit_records();
    let closed = records
        .iter()
        .position(|r| r.kind == Kind::SessionClosed)
        .unwrap();
    let finished = records
        .iter()
        .position(|r| r.kind == Kind::InvocationFinished)
        .unwrap();
    assert!(closed < finished);
    assert_eq!(records[finished].outcome.as_deref(), Some("cancelled"));
    assert!(
        records[finished]
            .reason
            .as_deref()
            .unwrap()
            .contains("its session closed")
    );
    salve_tests::assert_runtime_still_works();
}

#[test]
fn a_stopping_endpoint_cancels_everything_running() {
    let f = Arc::new(Fixture::with_hostile());
    let session = active(&f, &["hostile"], true);
    let running = run_hostile(&f, &session.id, r#"{"mode": "loop"}"#);
    wait_until_running(&f);
    assert_eq!(f.endpoint.cancel_running("the service is stopping"), 1);
    let InvokeOutcome::Ran { invocation, .. } = running.join().unwrap() else {
        panic!("it ran");
    };
    assert_eq!(invocation.outcome.code(), "cancelled");
    assert_eq!(f.endpoint.running(), 0);
}

#[test]
fn a_follower_sees_output_while_the_action_is_still_running() {
    let f = Arc::new(Fixture::with_hostile());
    let session = active(&f, &["hostile"], true);
    // flood-stdout prints until its output budget is spent.
    let running = run_hostile(&f, &session.id, r#"{"mode": "flood-stdout"}"#);
    let outcome = running.join().unwrap();
    let InvokeOutcome::Ran { invocation, .. } = outcome else {
        panic!("it ran");
    };
    assert_eq!(invocation.outcome.code(), "output-limit-exceeded");
    let id = f
        .endpoint
        .invocations(&f.who("tom"), &session.id)
        .unwrap()
        .pop()
        .unwrap()
        .id;
    let seen = Arc::new(Seen::default());
    f.endpoint.follow(&f.who("tom"), &id, seen.clone()).unwrap();
    let lines = seen.lines();
    assert_eq!(lines.first().unwrap(), "started hostile@0.1.0 Running");
    assert!(lines.contains(&"stdout".to_string()));
    assert_eq!(lines.last().unwrap(), "ended Finished");
}

#[test]
fn an_approver_sees_the_exact_input_and_a_held_invocation_expires() {
    let f = Fixture::new();
    let session = active(&f, &["clear-temp-files"], true);
    let input = serde_json::json!({"directory": f.temp_dir, "older_than_days": 1, "dry_run": true})
        .to_string();
    let held = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"clear-temp-files".parse().unwrap(),
            &input,
        )
        .unwrap();
    let InvokeOutcome::Escalated { escalation, .. } = held else {
        panic!("escalated, got {held:?}");
    };
    let shown = f
        .endpoint
        .escalation(&f.who("carol"), &escalation.id)
        .unwrap();
    assert_eq!(shown.input.as_deref(), Some(input.as_str()));
    assert_eq!(
        shown.key.input_digest,
        salve::Sha256Digest::of(input.as_bytes())
    );

    // Unapproved for the policy's 30 minutes: no longer approvable, and no
    // longer listed as pending.
    f.clock.advance(Duration::from_secs(30 * 60));
    let refused = f
        .endpoint
        .approve_escalation(&f.who("carol"), &escalation.id)
        .unwrap_err();
    assert_eq!(refused.code(), "escalation-not-pending");
    assert!(
        refused.to_string().contains("expired unapproved"),
        "{refused}"
    );
    assert!(
        f.endpoint
            .pending_escalations(&f.who("carol"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        shown_status(&f, &escalation.id),
        "expired",
        "its status says why"
    );
    // Invoking again raises a new one.
    let again = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"clear-temp-files".parse().unwrap(),
            &input,
        )
        .unwrap();
    let InvokeOutcome::Escalated {
        escalation: fresh, ..
    } = again
    else {
        panic!("escalated again");
    };
    assert_ne!(fresh.id, escalation.id);
}

fn shown_status(f: &Fixture, id: &salve::session::EscalationId) -> String {
    let escalation = f.endpoint.escalation(&f.who("carol"), id).unwrap();
    escalation.status(f.clock.now_ms()).to_string()
}

#[test]
fn refusals_before_any_decision_are_logged() {
    let f = Fixture::new();
    let session = active(&f, &["echo"], false);
    let tom = f.who("tom");
    let cases: [(&str, &str, &str); 3] = [
        ("echo", "not json", "invalid-input"),
        ("no-such-action", "{}", "not-found"),
        ("echo", "{}", "not-found"),
    ];
    for (i, (action, input, code)) in cases.iter().enumerate() {
        let target: SessionId = if i == 2 {
            "s-000000000000000000000000".parse().unwrap()
        } else {
            session.id.clone()
        };
        let refusal: Refusal = f
            .endpoint
            .invoke(&tom, &target, &action.parse().unwrap(), input)
            .unwrap_err();
        assert_eq!(refusal.code(), *code, "{refusal}");
    }
    let refused: Vec<_> = f
        .audit_records()
        .into_iter()
        .filter(|r| r.kind == Kind::RequestRefused)
        .collect();
    assert_eq!(refused.len(), 3);
    for (record, (action, _, code)) in refused.iter().zip(cases) {
        assert_eq!(record.reason_code.as_deref(), Some(code));
        assert_eq!(record.action.as_deref(), Some(action));
        assert_eq!(record.principal.as_deref(), Some("tom"));
    }
}

#[test]
fn a_session_that_closed_by_itself_takes_its_write_up_once() {
    let f = Fixture::new();
    let session = active(&f, &["echo"], false);
    f.clock.advance(Duration::from_secs(61 * 60));
    f.endpoint.sweep().unwrap();
    let report = ClosureReport {
        resolved: Some(true),
        summary: Some("Done before the timeout.".into()),
        follow_up: None,
    };
    f.endpoint
        .close_session(&f.who("tom"), &session.id, report.clone())
        .unwrap();
    let refused = f
        .endpoint
        .close_session(&f.who("alice"), &session.id, ClosureReport::default())
        .unwrap_err();
    assert_eq!(refused.code(), "session-state");
    assert!(
        refused
            .to_string()
            .contains("write-up was already recorded")
    );
    let stored = f.endpoint.session(&f.who("tom"), &session.id).unwrap();
    assert_eq!(stored.closure.unwrap().report, report);
}

#[test]
fn after_a_crash_what_the_run_left_open_is_settled_from_the_log() {
    let mut f = Fixture::new();
    assert!(!f.endpoint.begin_run().unwrap().previous_run_crashed);
    let session = active(&f, &["echo"], false);
    let InvokeOutcome::Ran { id: ran, .. } = f
        .endpoint
        .invoke(&f.who("tom"), &session.id, &"echo".parse().unwrap(), "{}")
        .unwrap()
    else {
        panic!("echo runs")
    };
    // The run dies with one invocation logged as started and never as
    // finished, and another logged as finished but not yet stored for
    // `show`: both as a crash leaves them.
    let records = f.audit_records();
    let started = records
        .iter()
        .find(|r| r.kind == Kind::InvocationStarted)
        .unwrap()
        .clone();
    let finished = records
        .iter()
        .find(|r| r.kind == Kind::InvocationFinished)
        .unwrap()
        .clone();
    let running = salve::session::InvocationId::random().unwrap();
    let unstored = salve::session::InvocationId::random().unwrap();
    let mut left_running = started.clone();
    left_running.invocation = Some(running.to_string());
    let mut left_unstored = finished;
    left_unstored.invocation = Some(unstored.to_string());
    let mut its_start = started;
    its_start.invocation = Some(unstored.to_string());
    f.endpoint
        .audit()
        .append_all(vec![left_running, its_start, left_unstored])
        .unwrap();
    f.crash_and_restart();

    let recovery = f.endpoint.begin_run().unwrap();
    assert!(recovery.previous_run_crashed);
    assert_eq!(recovery.interrupted, [running.to_string()]);
    assert_eq!(recovery.restored, [unstored.to_string()]);
    // The log now ends every invocation it shows starting.
    let records = f.audit_records();
    let ends: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::InvocationFinished)
        .collect();
    assert_eq!(ends.len(), 3);
    let end = ends
        .iter()
        .find(|r| r.invocation.as_deref() == Some(running.as_str()))
        .unwrap();
    assert_eq!(end.outcome.as_deref(), Some("interrupted"));
    assert_eq!(end.session.as_deref(), Some(session.id.as_str()));
    assert_eq!(end.action.as_deref(), Some("echo"));
    // Both are shown, for what the log knows of them; the first, stored
    // before the crash, is shown as it was.
    let shown = f.endpoint.invocation(&f.who("tom"), &running).unwrap();
    assert_eq!(shown.status, InvocationStatus::Interrupted);
    assert!(shown.reason.unwrap().contains("how it ended is not known"));
    let shown = f.endpoint.invocation(&f.who("tom"), &unstored).unwrap();
    assert_eq!(shown.status, InvocationStatus::Finished);
    assert!(
        shown
            .reason
            .unwrap()
            .ends_with("its output was not kept (outcome `succeeded`)"),
    );
    let shown = f.endpoint.invocation(&f.who("tom"), &ran).unwrap();
    assert!(shown.invocation.is_some() && shown.reason.is_none());
    // A clean stop leaves nothing to settle.
    assert!(f.endpoint.stop().unwrap());
    f.crash_and_restart();
    let recovery = f.endpoint.begin_run().unwrap();
    assert_eq!(recovery, salve::endpoint::Recovery::default());
}

/// A session is not taken for idle while an action runs in it, nor right
/// after a long one ends: its idle timeout counts from the end of the last
/// invocation.
#[test]
fn a_session_is_not_idle_while_an_action_runs_or_right_after() {
    let f = Arc::new(Fixture::with_hostile());
    let mut asked = request("tom", &["hostile"], true);
    asked.idle_minutes = 1;
    let session = f.endpoint.request_session(&f.who("alice"), asked).unwrap();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Active);
    let running = run_hostile(&f, &session.id, r#"{"mode": "loop"}"#);
    wait_until_running(&f);
    let state = |f: &Fixture| {
        f.endpoint
            .session(&f.who("alice"), &session.id)
            .unwrap()
            .state
    };
    // Five minutes into the run: still active, and the run goes on.
    f.clock.advance(Duration::from_secs(300));
    assert!(f.endpoint.sweep().unwrap().is_empty());
    assert_eq!(state(&f), SessionState::Active);
    assert_eq!(f.endpoint.running(), 1);
    assert_eq!(f.endpoint.cancel_running("the test is done with it"), 1);
    running.join().unwrap();
    // Idle from its end: open 50 s later, closed 61 s later.
    f.clock.advance(Duration::from_secs(50));
    assert!(f.endpoint.sweep().unwrap().is_empty());
    assert_eq!(state(&f), SessionState::Active);
    f.clock.advance(Duration::from_secs(11));
    assert_eq!(f.endpoint.sweep().unwrap(), vec![session.id.clone()]);
    assert_eq!(state(&f), SessionState::Closed);
}

/// A stop while an invocation still runs (in the service: stuck in a host
/// call past its cancellation) is not a clean one: that invocation may
/// never log how it ended, so the next start settles the run as crashed.
#[test]
fn a_stop_with_an_invocation_running_leaves_the_run_to_be_settled() {
    let f = Arc::new(Fixture::with_hostile());
    f.endpoint.begin_run().unwrap();
    let session = active(&f, &["hostile"], true);
    let running = run_hostile(&f, &session.id, r#"{"mode": "loop"}"#);
    wait_until_running(&f);
    assert!(!f.endpoint.stop().unwrap(), "stopped cleanly while running");
    assert_eq!(f.endpoint.cancel_running("the test is stopping"), 1);
    running.join().unwrap();
    let Ok(mut f) = Arc::try_unwrap(f) else {
        panic!("the fixture is still shared");
    };
    f.crash_and_restart();
    let recovery = f.endpoint.begin_run().unwrap();
    assert!(recovery.previous_run_crashed);
    // It did end (cancelled) before the restart: nothing is interrupted.
    assert!(recovery.interrupted.is_empty(), "{recovery:?}");
}

#[test]
fn revoking_a_package_stops_its_invocations_that_run() {
    let catalog_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(salve::vetting::CatalogStore::open(catalog_dir.path()).unwrap());
    let mut f = Fixture::with_hostile();
    f.restart_with_revocations(store.clone());
    let f = Arc::new(f);
    let session = active(&f, &["hostile"], true);
    // Nothing revoked: nothing is cancelled.
    assert_eq!(f.endpoint.cancel_revoked(), 0);
    let running = run_hostile(&f, &session.id, r#"{"mode": "loop"}"#);
    wait_until_running(&f);
    assert_eq!(f.endpoint.cancel_revoked(), 0, "not revoked yet");
    let digest = f
        .endpoint
        .catalog()
        .entries()
        .find(|e| e.package.manifest().id.as_str() == "hostile")
        .unwrap()
        .package
        .digest();
    store
        .revoke(
            &[salve::vetting::Revocation {
                target: format!("sha256:{digest}").parse().unwrap(),
                reason: "loops forever".into(),
            }],
            "root",
            "now",
        )
        .unwrap();
    let revoked_at = Instant::now();
    assert_eq!(f.endpoint.cancel_revoked(), 1);
    let outcome = running.join().unwrap();
    let InvokeOutcome::Ran { invocation, .. } = outcome else {
        panic!("it ran, got {outcome:?}");
    };
    assert_eq!(invocation.outcome.code(), "cancelled");
    assert!(revoked_at.elapsed() < Duration::from_secs(5), "at once");
    let records = f.audit_records();
    let finished = records
        .iter()
        .find(|r| r.kind == Kind::InvocationFinished)
        .unwrap();
    assert_eq!(finished.outcome.as_deref(), Some("cancelled"));
    assert!(
        finished
            .reason
            .as_deref()
            .unwrap()
            .contains("its package was revoked: loops forever"),
        "{finished:?}"
    );
}

/// Found by the crash campaign (cli/tests/crash_campaign.rs): each change is
/// logged before its transaction commits, so a kill between the two leaves
/// the log ahead of the state store — a session the log closed still open in
/// the store, an approval the log shows used still unused. The next start
/// applies to the store what the log holds.
#[test]
fn after_a_crash_the_state_store_catches_up_with_the_log() {
    let mut f = Fixture::with_hostile();
    f.endpoint.begin_run().unwrap();
    let hostile = "hostile".parse().unwrap();
    let input = r#"{"mode": "hostname"}"#;
    let escalate = |session: &SessionId| {
        let held = f
            .endpoint
            .invoke(&f.who("tom"), session, &hostile, input)
            .unwrap();
        let InvokeOutcome::Escalated { escalation, .. } = held else {
            panic!("not escalated: {held:?}");
        };
        let approved = f
            .endpoint
            .approve_escalation(&f.who("carol"), &escalation.id)
            .unwrap();
        (escalation, approved)
    };
    let close = |session: &SessionId| {
        let report = ClosureReport {
            resolved: Some(true),
            summary: Some("Done.".into()),
            follow_up: None,
        };
        f.endpoint
            .close_session(&f.who("tom"), session, report)
            .unwrap();
    };
    // One session: an approval used, then the session closed.
    let used = active(&f, &["hostile"], true);
    let (first, first_approved) = escalate(&used.id);
    let ran = f
        .endpoint
        .invoke(&f.who("tom"), &used.id, &hostile, input)
        .unwrap();
    assert!(matches!(ran, InvokeOutcome::Ran { .. }), "{ran:?}");
    close(&used.id);
    // Another: an approval, then the session closed before it was used.
    let unused = active(&f, &["hostile"], true);
    let (second, _) = escalate(&unused.id);
    close(&unused.id);
    // The store lost those commits: it holds each as it was before.
    let store = salve::store::StateStore::open(&f.state_path).unwrap();
    store
        .write(|tx| -> Result<(), salve::store::StoreError> {
            tx.put_session(&used)?;
            tx.put_escalation(&first_approved)?;
            tx.put_session(&unused)?;
            tx.put_escalation(&second)?;
            Ok(())
        })
        .unwrap();
    drop(store);
    let voided = |f: &Fixture| {
        f.audit_records()
            .iter()
            .filter(|r| r.kind == Kind::EscalationVoided)
            .count()
    };
    let voided_before = voided(&f);

    f.crash_and_restart();
    let recovery = f.endpoint.begin_run().unwrap();
    assert_eq!(
        recovery.reconciled,
        [
            format!("escalation {} used", first.id),
            format!("session {} closed", used.id),
            format!("escalation {} approved", second.id),
            format!("session {} closed", unused.id),
        ]
    );
    for id in [&used.id, &unused.id] {
        let session = f.endpoint.session(&f.who("tom"), id).unwrap();
        assert_eq!(session.state, SessionState::Closed);
        let closure = session.closure.unwrap();
        assert_eq!(closure.report.summary.as_deref(), Some("Done."));
    }
    assert_eq!(shown_status(&f, &first.id), "used");
    assert_eq!(shown_status(&f, &second.id), "voided");
    // The log already said all of it: nothing is logged twice.
    assert_eq!(voided(&f), voided_before);
    // Nothing more runs in the session the log closed.
    let again = f
        .endpoint
        .invoke(&f.who("tom"), &used.id, &hostile, input)
        .unwrap();
    assert!(matches!(&again, InvokeOutcome::Denied { .. }), "{again:?}");
}
