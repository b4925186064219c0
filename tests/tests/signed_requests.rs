//! Identity: every request from a person is signed over its content, a
//! timestamp and a nonce; unknown keys, bad signatures, stale timestamps and
//! replayed nonces are refused, and nothing they ask for happens.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::api::v1::{Answer, InvokeAnswer, Operation};
use salve::clock::Clock;
use salve::identity::{KeyPair, Nonce, SignedRequest};
use salve::session::SessionState;
use salve_tests::fixture::{Fixture, request};
use std::time::Duration;

fn sign(
    f: &Fixture,
    key: &KeyPair,
    principal: &str,
    timestamp_ms: i64,
    operation: &Operation,
) -> SignedRequest {
    SignedRequest::sign(
        key,
        &f.id(principal),
        f.endpoint.id(),
        timestamp_ms,
        Nonce::random().unwrap(),
        operation,
    )
    .unwrap()
}

fn request_session() -> Operation {
    Operation::RequestSession {
        request: request("alice", &["echo"], false),
    }
}

fn sessions(f: &Fixture) -> usize {
    f.endpoint.sessions(&f.who("dave"), false).unwrap().len()
}

#[test]
fn a_signed_request_is_carried_out() {
    let f = Fixture::new();
    let signed = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms(),
        &request_session(),
    );
    let (who, operation) = f.endpoint.authenticate::<Operation>(&signed).unwrap();
    assert_eq!(who.principal().as_str(), "alice");
    let answer = session_of(f.endpoint.execute(&who, operation).unwrap());
    assert_eq!(answer.state, SessionState::Requested);
    assert_eq!(answer.requester.as_str(), "alice");
    assert_eq!(sessions(&f), 1);
}

#[test]
fn a_request_signed_by_an_unknown_key_is_refused() {
    let f = Fixture::new();
    let stranger = KeyPair::generate().unwrap();
    // An unknown principal...
    let signed = sign(
        &f,
        &stranger,
        "mallory",
        f.clock.now_ms(),
        &request_session(),
    );
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "unknown-principal");
    assert_eq!(
        error.to_string(),
        "unknown principal `mallory`: no key is registered for it in the policy"
    );
    // ...or a known one with someone else's key.
    let signed = sign(&f, &stranger, "alice", f.clock.now_ms(), &request_session());
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "bad-signature");
    assert_eq!(sessions(&f), 0);
}

#[test]
fn a_bad_signature_is_refused() {
    let f = Fixture::new();
    let mut signed = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms(),
        &request_session(),
    );
    // Sign one request, send another's payload under that signature.
    let other = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms() + 1,
        &request_session(),
    );
    signed.payload = other.payload;
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "bad-signature");
    assert_eq!(
        error.to_string(),
        "bad signature: the request was not signed by the key registered for `alice`, or was changed after signing"
    );
    // A signature that is not even the right size.
    signed.signature = "AAAA".to_string();
    assert_eq!(
        f.endpoint
            .authenticate::<Operation>(&signed)
            .unwrap_err()
            .code(),
        "malformed-request"
    );
    assert_eq!(sessions(&f), 0);
}

#[test]
fn a_stale_timestamp_is_refused() {
    let f = Fixture::new();
    let six_minutes = 6 * 60_000;
    for timestamp in [
        f.clock.now_ms() - six_minutes,
        f.clock.now_ms() + six_minutes,
    ] {
        let signed = sign(&f, &f.keys["alice"], "alice", timestamp, &request_session());
        let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
        assert_eq!(error.code(), "stale-request");
        assert!(
            error
                .to_string()
                .contains("360000 ms away from this endpoint's clock (at most 300000 ms allowed)"),
            "{error}"
        );
    }
    assert_eq!(sessions(&f), 0);
}

#[test]
fn a_replayed_request_is_refused_even_after_a_restart() {
    let mut f = Fixture::new();
    let signed = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms(),
        &request_session(),
    );
    let (who, operation) = f.endpoint.authenticate::<Operation>(&signed).unwrap();
    f.endpoint.execute(&who, operation).unwrap();
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "replayed-request");
    // After a restart nothing the earlier run may have accepted is
    // accepted: a replay of what it saw is refused without remembering its
    // nonce…
    f.clock.advance(Duration::from_millis(1));
    f.restart();
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "stale-request");
    assert!(
        error
            .to_string()
            .contains("before this endpoint restarted: its previous run may have accepted requests signed up to 1000000000000 ms, so those are refused to keep any from being replayed; sign it again"),
        "{error}"
    );
    // …while a request signed after the last one it accepted is accepted:
    // a graceful stop leaves nothing to wait for.
    f.clock.advance(Duration::from_millis(1));
    let fresh = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms(),
        &Operation::ListSessions { open_only: false },
    );
    assert!(f.endpoint.authenticate::<Operation>(&fresh).is_ok());
    // Once the request is too old to pass anyway, its nonce is forgotten;
    // the timestamp check still refuses it.
    f.clock.advance(Duration::from_secs(600));
    f.endpoint.sweep().unwrap();
    assert_eq!(
        f.endpoint
            .authenticate::<Operation>(&signed)
            .unwrap_err()
            .code(),
        "stale-request"
    );
    assert_eq!(sessions(&f), 1);
}

#[test]
fn a_request_signed_ahead_of_the_clock_is_not_replayed_after_a_crash() {
    let mut f = Fixture::new();
    // Signed a minute ahead of the endpoint's clock (within the skew) and
    // accepted; then the endpoint dies without stopping, and restarts
    // before its clock reaches the request's timestamp.
    let ahead = f.clock.now_ms() + 60_000;
    let signed = sign(&f, &f.keys["alice"], "alice", ahead, &request_session());
    let (who, operation) = f.endpoint.authenticate::<Operation>(&signed).unwrap();
    f.endpoint.execute(&who, operation).unwrap();
    f.clock.advance(Duration::from_secs(5));
    f.crash_and_restart();
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "stale-request", "{error}");
    assert_eq!(sessions(&f), 1, "the replay created nothing");
    // Every request signed up to the watermark is refused after the crash;
    // once the clock has passed it, requests are accepted again.
    assert!(f.endpoint.replay_floor_ms() >= ahead);
    f.clock.advance(Duration::from_millis(
        (f.endpoint.replay_floor_ms() - f.clock.now_ms() + 1) as u64,
    ));
    let later = sign(
        &f,
        &f.keys["alice"],
        "alice",
        f.clock.now_ms(),
        &Operation::ListSessions { open_only: false },
    );
    assert!(f.endpoint.authenticate::<Operation>(&later).is_ok());
}

#[test]
fn the_whole_lifecycle_through_signed_requests() {
    let f = Fixture::new();
    let run = |principal: &str, operation: Operation| {
        let signed = sign(
            &f,
            &f.keys[principal],
            principal,
            f.clock.now_ms(),
            &operation,
        );
        let (who, operation) = f.endpoint.authenticate::<Operation>(&signed).unwrap();
        f.endpoint.execute(&who, operation)
    };
    let asked = session_of(run("alice", request_session()).unwrap());
    let id = asked.id.clone();
    // An approval of another request than the session holds (what a
    // tampering transport would have shown the approver) is refused, logged.
    let mut other = asked.request.clone();
    other.problem = "Something harmless.".to_string();
    let refused = run(
        "bob",
        Operation::ApproveSession {
            session: id.clone(),
            request_digest: other.digest(),
        },
    )
    .unwrap_err();
    assert_eq!(refused.code(), "approval-mismatch", "{refused}");
    assert!(
        f.audit_records()
            .iter()
            .any(|r| r.reason_code.as_deref() == Some("approval-mismatch")),
        "not logged"
    );
    let approved = run(
        "bob",
        Operation::ApproveSession {
            session: id.clone(),
            request_digest: asked.request.digest(),
        },
    )
    .unwrap();
    assert_eq!(session_of(approved).state, SessionState::Active);
    let outcome = run(
        "alice",
        Operation::Invoke {
            session: id.clone(),
            action: "echo".parse().unwrap(),
            input: serde_json::json!({"ticket": "INC0012345"}),
        },
    )
    .unwrap();
    let Answer::Invoke(InvokeAnswer::Ran { invocation, .. }) = outcome else {
        panic!("did not run: {outcome:?}");
    };
    let output: serde_json::Value =
        serde_json::from_str(invocation.outcome.output().unwrap().get()).unwrap();
    assert_eq!(output["ticket"], "INC0012345");
    let closed = run(
        "alice",
        Operation::CloseSession {
            session: id.clone(),
            report: salve::session::ClosureReport {
                resolved: Some(true),
                ..Default::default()
            },
        },
    )
    .unwrap();
    assert_eq!(session_of(closed).state, SessionState::Closed);
    // A closed session takes no approval; a self-approval is refused with its
    // code, whatever path it takes.
    let refused = run(
        "bob",
        Operation::ApproveSession {
            session: id,
            request_digest: asked.request.digest(),
        },
    )
    .unwrap_err();
    assert_eq!(refused.code(), "session-state");
    let own = run(
        "ann",
        Operation::RequestSession {
            request: request("tom", &["echo"], false),
        },
    )
    .unwrap();
    let own = session_of(own);
    let refused = run(
        "ann",
        Operation::ApproveSession {
            session: own.id,
            request_digest: own.request.digest(),
        },
    )
    .unwrap_err();
    assert_eq!(refused.code(), "separation-of-duties");
    let stored = f.endpoint.sessions(&f.who("alice"), false).unwrap();
    assert_eq!(stored[0].state, SessionState::Closed);
}

#[test]
fn a_malformed_operation_is_refused_even_when_signed() {
    let f = Fixture::new();
    let operation = serde_json::json!({"op": "request-session", "request": {"ticket": "INC1", "surprise": true}});
    let signed = SignedRequest::sign(
        &f.keys["alice"],
        &f.id("alice"),
        f.endpoint.id(),
        f.clock.now_ms(),
        Nonce::random().unwrap(),
        &operation,
    )
    .unwrap();
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert_eq!(error.code(), "malformed-request");
    assert!(
        error
            .to_string()
            .starts_with("malformed request: the request cannot be read: unknown field `surprise`"),
        "{error}"
    );
    let operation = serde_json::json!({"op": "format-disk"});
    let signed = SignedRequest::sign(
        &f.keys["alice"],
        &f.id("alice"),
        f.endpoint.id(),
        f.clock.now_ms(),
        Nonce::random().unwrap(),
        &operation,
    )
    .unwrap();
    let error = f.endpoint.authenticate::<Operation>(&signed).unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `format-disk`"),
        "{error}"
    );
    assert_eq!(sessions(&f), 0);
}

#[test]
fn a_request_signed_for_another_endpoint_is_refused_there() {
    let f = Fixture::new();
    let nonce = Nonce::random().unwrap();
    let elsewhere = SignedRequest::sign(
        &f.keys["alice"],
        &f.id("alice"),
        "pc-9999",
        f.clock.now_ms(),
        nonce.clone(),
        &request_session(),
    )
    .unwrap();
    let error = f
        .endpoint
        .authenticate::<Operation>(&elsewhere)
        .unwrap_err();
    assert_eq!(error.code(), "wrong-endpoint");
    assert_eq!(
        error.to_string(),
        "the request was signed for endpoint `pc-9999`, but this is `pc-0421`: sign it for this endpoint"
    );
    assert_eq!(sessions(&f), 0);
    // The refusal used up nothing: the same nonce, signed for this endpoint,
    // is accepted once.
    let here = SignedRequest::sign(
        &f.keys["alice"],
        &f.id("alice"),
        f.endpoint.id(),
        f.clock.now_ms(),
        nonce,
        &request_session(),
    )
    .unwrap();
    assert!(f.endpoint.authenticate::<Operation>(&here).is_ok());
    assert_eq!(
        f.endpoint
            .authenticate::<Operation>(&here)
            .unwrap_err()
            .code(),
        "replayed-request"
    );
    let refused = f
        .audit_records()
        .into_iter()
        .filter(|r| r.reason_code.as_deref() == Some("wrong-endpoint"))
        .count();
    assert_eq!(refused, 1, "the refusal is logged");
}

/// The session an answer carries.
fn session_of(answer: Answer) -> salve::session::Session {
    match answer {
        Answer::Session(session) => session,
        other => panic!("not a session: {other:?}"),
    }
}

/// An escalation's approval names the component and the input the approver
/// was shown: another of either is refused, and the escalation stays
/// pending for the approval of what it holds.
#[test]
fn an_escalation_approval_binds_the_component_and_input_shown() {
    let f = Fixture::new();
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("tom", &["clear-temp-files"], true))
        .unwrap();
    f.endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    let input = serde_json::json!({"older_than_days": 30, "dry_run": true}).to_string();
    let held = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"clear-temp-files".parse().unwrap(),
            &input,
        )
        .unwrap();
    let salve::endpoint::InvokeOutcome::Escalated { escalation, .. } = held else {
        panic!("not held: {held:?}");
    };
    let key = &escalation.key;
    let approve = |action: salve::Sha256Digest, input: salve::Sha256Digest| {
        let operation = Operation::ApproveEscalation {
            escalation: escalation.id.clone(),
            action_digest: action,
            input_digest: input,
        };
        let signed = sign(&f, &f.keys["carol"], "carol", f.clock.now_ms(), &operation);
        let (who, operation) = f.endpoint.authenticate::<Operation>(&signed).unwrap();
        f.endpoint.execute(&who, operation)
    };
    let other = salve::Sha256Digest::of(b"{}");
    for (action, input) in [(other, key.input_digest), (key.digest, other)] {
        let refused = approve(action, input).unwrap_err();
        assert_eq!(refused.code(), "approval-mismatch", "{refused}");
    }
    let approved = approve(key.digest, key.input_digest).unwrap();
    let Answer::Escalation(view) = approved else {
        panic!("{approved:?}");
    };
    assert_eq!(view.status, salve::escalation::EscalationStatus::Approved);
}
