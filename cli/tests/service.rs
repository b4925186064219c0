//! `salve serve` as a real process over its real sockets: the lifecycle
//! (through `salve demo`), hostile clients (garbage, huge and slow bodies,
//! consent from the network, forged and replayed requests) answered with
//! JSON errors while the service keeps serving, a bounded load in which
//! every invocation is answered and logged, connections that stall, flood or
//! never read (closed, and counted against a limit), and a SIGKILL in the middle of
//! that load, after which the service restarts with its state and audit log
//! intact.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

use salve::api::v1::{
    Activity, AuditVerification, CatalogEntry, EscalationView, HealthStatus, InvokeAnswer,
    Operation, Reply, StreamEvent, StreamLine,
};
use salve::audit::{Kind, read, verify_dir};
use salve::clock::{Clock, SystemClock};
use salve::escalation::EscalationStatus;
use salve::identity::{KeyPair, Nonce, SignedRequest};
use salve::outcome::{InvocationRecord, InvocationStatus};
use salve::session::{Session, SessionId, SessionState};
use salve::{Invocation, Outcome, StopReason};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{
    Answer, Service, http, post_signed, read_response, stage, stage_with, stage_with_policy,
};

/// An invocation's output, as JSON, if it succeeded.
fn output(invocation: &Invocation) -> Option<Value> {
    invocation
        .outcome
        .output()
        .map(|output| serde_json::from_str(output.get()).unwrap())
}

/// Why the sandbox stopped an invocation, if it did.
fn stopped(invocation: &Invocation) -> Option<StopReason> {
    match invocation.outcome {
        Outcome::Stopped { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn the_demo_walks_the_whole_lifecycle() {
    let out = Command::new(env!("CARGO_BIN_EXE_salve"))
        .arg("demo")
        .env_remove("SALVE_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Every step behaved as expected."),
        "{stdout}"
    );
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
}

#[test]
fn hostile_clients_get_json_errors_and_the_service_keeps_serving() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let socket = service.socket();

    let (status, answer) =
        http(&socket, "POST", "/v1/requests", b"\x00\xffnot json at all").unwrap();
    assert_eq!(
        (status, answer.code()),
        (400, "malformed-request"),
        "{answer}"
    );
    service.healthy();

    let huge = vec![b'x'; 70_000];
    let (status, answer) = http(&socket, "POST", "/v1/requests", &huge).unwrap();
    assert_eq!((status, answer.code()), (413, "body-too-large"), "{answer}");
    service.healthy();

    // A body announced far larger than the limit, that never arrives:
    // refused as too large at once, not as slow once the wait is over.
    let mut liar = UnixStream::connect(&socket).unwrap();
    write!(liar, "POST /v1/requests HTTP/1.1\r\nHost: salve\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n{{\"payl").unwrap();
    let (status, answer) = read_response(&mut liar).unwrap();
    assert_eq!((status, answer.code()), (413, "body-too-large"), "{answer}");
    service.healthy();

    // A body that never finishes arriving.
    let mut slow = UnixStream::connect(&socket).unwrap();
    write!(slow, "POST /v1/requests HTTP/1.1\r\nHost: salve\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"payl").unwrap();
    let (status, answer) = read_response(&mut slow).unwrap();
    assert_eq!((status, answer.code()), (408, "slow-body"), "{answer}");
    service.healthy();

    let (status, answer) = http(&socket, "GET", "/v1/nowhere", b"").unwrap();
    assert_eq!((status, answer.code()), (404, "no-such-route"));

    // A well-formed request signed by the wrong key.
    let (status, answer) = post_signed(
        &socket,
        &KeyPair::generate().unwrap(),
        "tom",
        "pc-test",
        &Operation::ListSessions { open_only: false },
    );
    assert_eq!((status, answer.code()), (401, "bad-signature"), "{answer}");

    // A replayed request.
    let signed = SignedRequest::sign(
        &service.keys["tom"],
        &"tom".parse().unwrap(),
        "pc-test",
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        &Operation::ListSessions { open_only: false },
    )
    .unwrap();
    let bytes = serde_json::to_vec(&signed).unwrap();
    assert_eq!(
        http(&socket, "POST", "/v1/requests", &bytes).unwrap().0,
        200
    );
    let (status, answer) = http(&socket, "POST", "/v1/requests", &bytes).unwrap();
    assert_eq!(
        (status, answer.code()),
        (401, "replayed-request"),
        "{answer}"
    );

    // A self-approval through the API.
    let session = service.requested();
    let (status, answer) = service.ask("tom", &service.approval(&session));
    assert_eq!(
        (status, answer.code()),
        (403, "separation-of-duties"),
        "{answer}"
    );

    // A consent that names no session (consent over TLS is refused as
    // local-only: see the TLS test).
    let (status, answer) = http(
        &socket,
        "POST",
        "/v1/consent",
        b"{\"session\": \"nonsense\"}",
    )
    .unwrap();
    assert_eq!((status, answer.code()), (400, "malformed-request"));
    service.healthy();

    // A "principal" of 40 000 characters, with any signature: refused, and
    // logged — cut short, whatever the client sent.
    let payload = serde_json::to_vec(&json!({ "principal": "x".repeat(40_000) })).unwrap();
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let forged = json!({ "payload": b64(&payload), "signature": b64(&[7; 64]) });
    let (status, answer) = http(
        &socket,
        "POST",
        "/v1/requests",
        &serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (status, answer.code()),
        (401, "unknown-principal"),
        "{answer}"
    );
    let logged = read::records(&service.dir.path().join("data/audit"))
        .filter_map(Result::ok)
        .filter(|r| r.reason_code.as_deref() == Some("unknown-principal"))
        .last()
        .unwrap();
    let reason = logged.reason.unwrap();
    assert!(reason.len() < 1200, "{} bytes logged", reason.len());
    assert!(reason.contains("bytes in all"), "{reason}");

    // Every refusal is in the audit log, which verifies.
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let dir = service.dir.path().join("data/audit");
    verify_dir(&dir, None, None).unwrap();
    let refused = read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::RequestRefused)
        .count();
    assert!(refused >= 2, "{refused} refused requests logged");
}

/// A captured request replayed 300 times (no key needed): every replay is
/// refused, the first 100 or so logged one by one, the rest counted and
/// logged as a count per source — the log holds every refusal, in bounded
/// space.
#[test]
fn a_flood_of_replays_is_logged_in_bounded_space() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let signed = SignedRequest::sign(
        &service.keys["tom"],
        &"tom".parse().unwrap(),
        "pc-test",
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        &Operation::ListCatalog {},
    )
    .unwrap();
    let body = serde_json::to_vec(&signed).unwrap();
    let socket = service.socket();
    let (status, _) = http(&socket, "POST", "/v1/requests", &body).unwrap();
    assert_eq!(status, 200);
    for _ in 0..300 {
        let (status, answer) = http(&socket, "POST", "/v1/requests", &body).unwrap();
        assert_eq!((status, answer.code()), (401, "replayed-request"));
    }
    service.healthy();
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let replays: Vec<_> = read::records(&service.dir.path().join("data/audit"))
        .filter_map(Result::ok)
        .filter(|r| r.reason_code.as_deref() == Some("replayed-request"))
        .collect();
    let one_by_one = replays.iter().filter(|r| r.details.is_none()).count() as u64;
    let counted: u64 = replays
        .iter()
        .filter_map(|r| r.details.as_ref()?["count"].as_u64())
        .sum();
    // A burst of 100, then 20 a second for as long as the loop took.
    assert!(one_by_one >= 100, "{one_by_one} logged one by one");
    assert!(counted > 0, "nothing counted");
    assert_eq!(one_by_one + counted, 300, "every replay is in the log");
}

/// A local user with no key asking, again and again, to consent to or see
/// sessions that do not exist: every refusal is in the log, in bounded
/// space, as for requests nobody signed.
#[test]
fn a_flood_of_keyless_local_requests_is_logged_in_bounded_space() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let socket = service.socket();
    let body = br#"{"session": "s-000000000000000000000000"}"#;
    let started = std::time::Instant::now();
    for route in ["/v1/consent", "/v1/activity"] {
        for _ in 0..150 {
            let (status, answer) = http(&socket, "POST", route, body).unwrap();
            assert_eq!((status, answer.code()), (404, "not-found"), "{route}");
        }
    }
    let took = started.elapsed();
    service.healthy();
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let refused: Vec<_> = read::records(&service.dir.path().join("data/audit"))
        .filter_map(Result::ok)
        .filter(|r| r.reason_code.as_deref() == Some("not-found"))
        .collect();
    let one_by_one = refused.iter().filter(|r| r.details.is_none()).count() as u64;
    let counted: u64 = refused
        .iter()
        .filter_map(|r| r.details.as_ref()?["count"].as_u64())
        .sum();
    // A burst of 100, then 20 a second for as long as the loops took.
    let bound = 100 + (took.as_secs_f64() * 20.0).ceil() as u64 + 1;
    assert!(
        (100..=bound).contains(&one_by_one),
        "{one_by_one} logged one by one in {took:?}"
    );
    assert!(counted > 0, "nothing counted");
    assert_eq!(one_by_one + counted, 300, "every refusal is in the log");
}

/// Whether the other end has closed `stream`: everything it had sent is
/// read, then the end of the stream (or a reset) — not a read that waits
/// `patience` for more.
fn closed_by_service(stream: &mut impl std::io::Read, patience: Duration) -> bool {
    let started = std::time::Instant::now();
    let mut buffer = vec![0; 64 << 10];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(e) => panic!("reading: {e}"),
        }
        assert!(started.elapsed() < patience * 10, "the answers never end");
    }
}

/// Reads one raw answer's status line (hyper's own answers to a malformed
/// head have no JSON body).
fn status_line(stream: &mut UnixStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match std::io::Read::read(stream, &mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).trim_end().to_string()
}

#[test]
fn connections_that_stall_flood_or_never_read_are_closed_and_counted() {
    // request-timeout-seconds is 2 in every staged service.
    let mut service = stage_with(
        Path::new(env!("CARGO_BIN_EXE_salve")),
        "max-connections = 4\nsend-timeout-seconds = 2\n",
    );
    let socket = service.socket();
    let patience = Duration::from_secs(8);

    // At the connection limit, one more local client is answered busy, in
    // JSON, at once.
    let held: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let mut over = UnixStream::connect(&socket).unwrap();
    over.set_read_timeout(Some(patience)).unwrap();
    let (status, answer) = read_response(&mut over).unwrap();
    assert_eq!((status, answer.code()), (503, "busy"), "{answer}");

    // The four held connections send nothing: each is closed within the
    // request timeout, which frees their places.
    for mut silent in held {
        silent.set_read_timeout(Some(patience)).unwrap();
        assert!(
            closed_by_service(&mut silent, patience),
            "a silent connection stayed open"
        );
    }
    service.healthy();

    // A request head that never ends is cut off too.
    let mut slow = UnixStream::connect(&socket).unwrap();
    slow.set_read_timeout(Some(patience)).unwrap();
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: salve\r\nX-Slow: ")
        .unwrap();
    assert!(
        closed_by_service(&mut slow, patience),
        "a slow head stayed open"
    );

    // Connections from the network, however many, do not take the local
    // socket's places: with the TLS listener full, local requests are served.
    let squatters: Vec<std::net::TcpStream> = (0..6)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    service.healthy();
    drop(squatters);

    // Over TCP, a client that never begins the TLS handshake is closed.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    tcp.set_read_timeout(Some(patience)).unwrap();
    assert!(
        closed_by_service(&mut tcp, patience),
        "a silent TCP client stayed open"
    );

    // A malformed request line and an oversized head are answered by the
    // HTTP layer (400, 431) and the service keeps serving.
    let mut garbage = UnixStream::connect(&socket).unwrap();
    garbage.set_read_timeout(Some(patience)).unwrap();
    garbage.write_all(b"\x16\x03\x01 nonsense\r\n\r\n").unwrap();
    assert!(status_line(&mut garbage).starts_with("HTTP/1.1 400"));
    let mut huge = UnixStream::connect(&socket).unwrap();
    huge.set_read_timeout(Some(patience)).unwrap();
    huge.set_write_timeout(Some(patience)).unwrap();
    let mut head = b"GET /v1/health HTTP/1.1\r\nHost: salve\r\nX-Huge: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 1 << 20));
    let _ = huge.write_all(&head); // the service stops reading once the head is too large
    assert!(status_line(&mut huge).starts_with("HTTP/1.1 431"));
    service.healthy();

    // A client that sends requests and never reads the answers: once an
    // answer has waited the send timeout, the connection is closed.
    let mut deaf = UnixStream::connect(&socket).unwrap();
    let mut sender = deaf.try_clone().unwrap();
    sender.set_write_timeout(Some(patience)).unwrap();
    let flooding = std::thread::spawn(move || {
        let request = b"GET /v1/nowhere HTTP/1.1\r\nHost: salve\r\n\r\n";
        (0..20_000)
            .take_while(|_| sender.write_all(request).is_ok())
            .count()
    });
    std::thread::sleep(Duration::from_secs(5));
    deaf.set_read_timeout(Some(patience)).unwrap();
    assert!(
        closed_by_service(&mut deaf, patience),
        "a client that never reads stayed open"
    );
    let sent = flooding.join().unwrap();
    assert!(
        sent < 20_000,
        "every request was taken: the answers never backed up"
    );
    service.healthy();

    service.signal(nix::sys::signal::Signal::SIGTERM);
}

/// `clients` threads each invoking echo `each` times; returns the ids of
/// the invocations answered "ran". Nobody is answered "busy": the load stays
/// within the service's limits.
fn load(service: &Service, session: &SessionId, clients: usize, each: usize) -> BTreeSet<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|n| {
                scope.spawn(move || {
                    let mut ran = Vec::new();
                    for i in 0..each {
                        let operation = Operation::Invoke {
                            session: session.clone(),
                            action: "echo".parse().unwrap(),
                            input: json!({"client": n, "i": i}),
                        };
                        let (status, answer) = service.ask("tom", &operation);
                        match (status, answer.reply()) {
                            (200, Reply::Result(InvokeAnswer::Ran { id, invocation, .. })) => {
                                assert_eq!(output(&invocation), Some(json!({"client": n, "i": i})));
                                ran.push(id.to_string());
                            }
                            _ => panic!("unexpected answer {status}: {answer}"),
                        }
                    }
                    ran
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// The ids of the invocations the log says finished with `outcome`, after
/// verifying it against the endpoint's key.
fn finished(service: &Service, outcome: &str) -> Vec<String> {
    let dir = service.dir.path().join("data/audit");
    let key = KeyPair::read(&service.dir.path().join("data/endpoint.key")).unwrap();
    verify_dir(&dir, Some(&key.public()), None).unwrap();
    read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::InvocationFinished && r.outcome.as_deref() == Some(outcome))
        .map(|r| r.invocation.unwrap())
        .collect()
}

/// A write to the audit log that fails (here: past the file-size limit)
/// stops the log: nothing more runs, health says so (503
/// `audit-stopped`), and the service exits with an error so that its
/// service manager restarts it. Restarted, the log verifies and holds
/// every invocation answered as run.
#[test]
fn a_failing_audit_log_stops_the_service_and_nothing_acknowledged_is_lost() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    service.signal(nix::sys::signal::Signal::SIGTERM);
    // Grow the log by 8 MiB of records signed with the endpoint's key, so
    // that it, not the state database, is the file that meets the limit.
    let audit_dir = service.dir.path().join("data/audit");
    let key = KeyPair::read(&service.dir.path().join("data/endpoint.key")).unwrap();
    let mut config = salve::audit::AuditConfig::new(&audit_dir);
    config.checkpoint_key = Some(std::sync::Arc::new(key));
    let log = salve::audit::AuditLog::open(config).unwrap();
    for _ in 0..8 {
        let mut padding = salve::audit::Record::event(Kind::ServiceStarted);
        padding.reason = Some("padding ".repeat(1 << 17));
        log.append(padding).unwrap();
    }
    log.close();
    let last = salve::audit::segment::list(&audit_dir)
        .unwrap()
        .pop()
        .unwrap();
    let size = std::fs::metadata(&last.path).unwrap().len();
    service.start_with_file_size_limit(size / 1024 + 24);

    let mut ran = BTreeSet::new();
    let refusal = loop {
        let (status, answer) = service.ask(
            "tom",
            &Operation::Invoke {
                session: session.clone(),
                action: "echo".parse().unwrap(),
                input: json!({"i": ran.len()}),
            },
        );
        if let (200, Reply::Result(InvokeAnswer::Ran { id, .. })) = (status, answer.reply()) {
            ran.insert(id.to_string());
            assert!(ran.len() < 200, "the log never stopped");
        } else {
            break (status, answer);
        }
    };
    assert_eq!(refusal.0, 503, "{}", refusal.1);
    assert_eq!(refusal.1.code(), "audit-unavailable", "{}", refusal.1);
    assert!(!ran.is_empty());
    // Health says why — if asked before the service is gone.
    if let Ok((status, health)) = http(&service.socket(), "GET", "/v1/health", b"") {
        assert_eq!(status, 503, "{health}");
        let health = health.health();
        assert_eq!(health.status, HealthStatus::AuditStopped, "{health:?}");
        assert!(
            health
                .audit_stopped
                .as_deref()
                .unwrap()
                .contains("File too large"),
            "{health:?}"
        );
    }
    let mut child = service.child.take().unwrap();
    let begun = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the service did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");

    service.start();
    service.healthy();
    let logged: BTreeSet<String> = finished(&service, "succeeded").into_iter().collect();
    assert!(
        ran.is_subset(&logged),
        "acknowledged but not logged: {:?}",
        ran.difference(&logged).collect::<Vec<_>>()
    );
    service.signal(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn under_load_every_invocation_is_answered_and_logged() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    let ran = load(&service, &session, 32, 100);
    assert_eq!(
        ran.len(),
        32 * 100,
        "every invocation ran, each with its own id"
    );
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let logged = finished(&service, "succeeded");
    assert_eq!(
        logged.len(),
        ran.len(),
        "one finished record per invocation"
    );
    assert_eq!(
        logged.into_iter().collect::<BTreeSet<_>>(),
        ran,
        "every invocation answered `ran` is logged as finished, and no other"
    );
}

#[test]
fn a_service_killed_under_load_restarts_with_state_and_audit_intact() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    // 32 clients invoke until the service dies under them; each counts the
    // invocations it was told ran.
    let acknowledged = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..32)
            .map(|n| {
                let (service, session) = (&service, &session);
                scope.spawn(move || {
                    let mut ran = Vec::new();
                    for i in 0.. {
                        let operation = Operation::Invoke {
                            session: session.clone(),
                            action: "echo".parse().unwrap(),
                            input: json!({"client": n, "i": i}),
                        };
                        match service.try_ask("tom", &operation) {
                            Ok((status, answer)) => match (status, answer.reply()) {
                                (200, Reply::Result(InvokeAnswer::Ran { id, .. })) => {
                                    ran.push(id.to_string())
                                }
                                _ => panic!("unexpected answer {status}: {answer}"),
                            },
                            Err(_) => break, // the service is gone
                        }
                    }
                    ran
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2000));
        let child = service.child.as_ref().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect::<BTreeSet<String>>()
    });
    service.child.take().unwrap().wait().unwrap();
    assert!(
        acknowledged.len() > 50,
        "only {} invocations ran before the kill",
        acknowledged.len()
    );
    // Restart: the session is still active and invocations go on.
    service.start();
    let (status, answer) = service.ask(
        "tom",
        &Operation::ShowSession {
            session: session.clone(),
        },
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer.result::<Session>().state, SessionState::Active);
    let (status, answer) = service.ask(
        "tom",
        &Operation::Invoke {
            session: session.clone(),
            action: "echo".parse().unwrap(),
            input: json!({}),
        },
    );
    assert_eq!(status, 200, "{answer}");
    assert!(
        matches!(answer.result(), InvokeAnswer::Ran { .. }),
        "{answer}"
    );
    let (status, answer) = service.ask("ann", &Operation::VerifyAudit {});
    assert_eq!(status, 200, "{answer}");
    assert!(
        matches!(answer.result(), AuditVerification::Verified(_)),
        "{answer}"
    );
    // Every acknowledged invocation can still be shown, for what the log
    // knows of it where its record had not reached the state store.
    for id in acknowledged
        .iter()
        .step_by((acknowledged.len() / 40).max(1))
    {
        let (status, answer) = service.ask(
            "tom",
            &Operation::ShowInvocation {
                invocation: id.parse().unwrap(),
            },
        );
        assert_eq!(status, 200, "{id}: {answer}");
        assert_eq!(
            answer.result::<InvocationRecord>().status,
            InvocationStatus::Finished,
            "{answer}"
        );
    }
    service.signal(nix::sys::signal::Signal::SIGTERM);
    // Every invocation the log shows starting, it shows ending: those the
    // kill cut short as `interrupted`, logged at the restart.
    let dir = service.dir.path().join("data/audit");
    let mut open = BTreeSet::new();
    for record in read::records(&dir).map(Result::unwrap) {
        match record.kind {
            Kind::InvocationStarted => {
                open.insert(record.invocation.unwrap());
            }
            Kind::InvocationFinished => {
                open.remove(&record.invocation.unwrap());
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "started and never finished: {open:?}");
    // No acknowledged invocation is missing from the log.
    let logged: BTreeSet<String> = finished(&service, "succeeded").into_iter().collect();
    let missing: Vec<_> = acknowledged.difference(&logged).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not logged: {missing:?}"
    );
}

/// Writes `who`'s key to a key file in the service's directory.
fn key_file(service: &Service, who: &str) -> String {
    let path = service.dir.path().join(format!("{who}.key"));
    if !path.exists() {
        service.keys[who]
            .write(&path, Some(&who.parse().unwrap()))
            .unwrap();
    }
    path.to_str().unwrap().to_string()
}

/// `salve` with `args`, against the service's socket.
fn cli(service: &Service, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(args)
        .env("SALVE_SOCKET", service.socket())
        .env_remove("SALVE_LOG")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn people_work_through_the_cli() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let (tom, ann) = (key_file(&service, "tom"), key_file(&service, "ann"));

    let out = cli(
        &service,
        &[
            "session",
            "request",
            "--key",
            &tom,
            "--ticket",
            "INC42",
            "--problem",
            "Slow.",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let id = session.id.to_string();
    assert_eq!(session.request.endpoint, "pc-test");

    // Approving your own session: refused, exit 3, the reason printed.
    let out = cli(&service, &["session", "approve", "--key", &tom, &id]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("separation of duties"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(&service, &["session", "approve", "--key", &ann, &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("active"), "{}", stdout(&out));

    let out = cli(
        &service,
        &[
            "invoke",
            "--key",
            &tom,
            &id,
            "echo",
            "--input",
            r#"{"hello": "world"}"#,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("\"hello\": \"world\""),
        "{}",
        stdout(&out)
    );

    let out = cli(&service, &["invoke", "--key", &tom, &id, "system-report"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("denied (out-of-scope)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(&service, &["session", "list", "--key", &tom]);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));

    let out = cli(
        &service,
        &[
            "session",
            "close",
            "--key",
            &tom,
            &id,
            "--resolved",
            "--summary",
            "Echoed.",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("closed"), "{}", stdout(&out));

    // No key: told how to give one.
    let out = cli(&service, &["session", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --key FILE or set SALVE_KEY"));

    // A problem statement that would rewrite what the approver's terminal
    // shows is refused where it is written: bad input, exit 2.
    let out = cli(
        &service,
        &[
            "session",
            "request",
            "--key",
            &tom,
            "--ticket",
            "INC43",
            "--problem",
            "Printer\u{1b}[31m\nFAKE: approved by ceo",
            "--allow",
            "echo",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the problem holds U+001B at character 8"),
        "{}",
        stderr(&out)
    );

    // With --json, an error is JSON too, on stdout, with the service's code.
    let out = cli(
        &service,
        &[
            "session",
            "show",
            "--key",
            &tom,
            "s-000000000000000000000000",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(error["error"]["code"], "not-found", "{error}");
    assert_eq!(error["error"]["status"], 404, "{error}");

    // A service that is not there: exit 6, said plainly (and as JSON).
    let nowhere = service.dir.path().join("nowhere.sock");
    let nowhere = nowhere.to_str().unwrap();
    let out = cli(
        &service,
        &["session", "list", "--key", &tom, "--socket", nowhere],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is `salve serve` running?"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &service,
        &[
            "session", "list", "--key", &tom, "--socket", nowhere, "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(6));
    let error: Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(error["error"]["code"], "unreachable", "{error}");

    // A closure must say whether the problem was resolved: clap says so.
    let out = cli(&service, &["session", "close", "--key", &tom, &id]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resolved"), "{}", stderr(&out));
}

#[test]
fn auditors_read_the_log_through_the_service() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    service.ask(
        "tom",
        &Operation::Invoke {
            session: session.clone(),
            action: "echo".parse().unwrap(),
            input: json!({}),
        },
    );
    let (ann, tom) = (key_file(&service, "ann"), key_file(&service, "tom"));

    let out = cli(
        &service,
        &["audit", "verify", "--service", "--key-file", &ann],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("the service's audit log verifies"),
        "{}",
        stdout(&out)
    );
    // A log directory set in the environment is no `--log`: it does not
    // conflict with --service.
    let out = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(["audit", "verify", "--service", "--key-file", &ann])
        .env("SALVE_SOCKET", service.socket())
        .env("SALVE_AUDIT_DIR", service.dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(
        &service,
        &[
            "audit",
            "export",
            "--service",
            "--key-file",
            &ann,
            "--format",
            "ocsf",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["api"]["operation"] == "invocation.finished"),
        "{events:?}"
    );

    let out = cli(
        &service,
        &[
            "report",
            "session",
            session.as_str(),
            "--service",
            "--key-file",
            &ann,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("(ticket INC1)"), "{}", stdout(&out));
    assert!(stdout(&out).contains("echo@0.1.0"), "{}", stdout(&out));

    // The technician may not read the audit.
    let out = cli(
        &service,
        &["audit", "verify", "--service", "--key-file", &tom],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));

    // A record of the log changed under the service: export and report
    // through it read nothing, and say why.
    let segment = salve::audit::segment::list(&service.dir.path().join("data/audit")).unwrap()[0]
        .path
        .clone();
    let text = std::fs::read_to_string(&segment).unwrap();
    std::fs::write(&segment, text.replacen("\"tom\"", "\"eve\"", 1)).unwrap();
    let out = cli(
        &service,
        &["audit", "verify", "--service", "--key-file", &ann, "--json"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    let answer: AuditVerification = serde_json::from_slice(&out.stdout).unwrap();
    let AuditVerification::Corrupt {
        file, line, seq, ..
    } = &answer
    else {
        panic!("not a corrupt record: {answer:?}");
    };
    assert!(*line >= 1, "{answer:?}");
    assert!(seq.unwrap() >= 1, "{answer:?}");
    assert!(file.ends_with(".jsonl"), "{answer:?}");
    for args in [
        &["audit", "export", "--service", "--key-file", &ann][..],
        &["report", "metrics", "--service", "--key-file", &ann][..],
    ] {
        let out = cli(&service, args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the service's audit log does not verify"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn over_tls_requests_work_with_the_pinned_certificate_and_consent_is_refused() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let (_, health) = http(&service.socket(), "GET", "/v1/health", b"").unwrap();
    let health = health.health();
    let pin = health.tls_fingerprint.clone().unwrap();
    assert!(pin.starts_with("sha256:"), "{health:?}");
    // The service's start is logged: at least one durable record.
    let synced = &health.audit_syncs;
    assert!(synced.syncs >= 1, "{health:?}");
    assert!(synced.records >= synced.syncs, "{health:?}");
    let url = format!("127.0.0.1:{}", service.port);
    let tom = key_file(&service, "tom");
    let session = service.requested();

    let out = cli(
        &service,
        &[
            "session", "list", "--url", &url, "--pin", &pin, "--key", &tom,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains(session.as_str()), "{}", stdout(&out));

    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = cli(
        &service,
        &[
            "session", "list", "--url", &url, "--pin", &wrong, "--key", &tom,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(6),
        "unreachable: the pin does not match"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(
        &service,
        &[
            "session",
            "consent",
            session.as_str(),
            "--url",
            &url,
            "--pin",
            &pin,
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("local-only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // So is the end user's view of what ran.
    let out = cli(
        &service,
        &[
            "session",
            "activity",
            session.as_str(),
            "--url",
            &url,
            "--pin",
            &pin,
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("local-only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A session requested over TLS.
    let out = cli(
        &service,
        &[
            "session",
            "request",
            "--url",
            &url,
            "--pin",
            &pin,
            "--key",
            &tom,
            "--ticket",
            "INC77",
            "--problem",
            "Remote.",
            "--allow",
            "echo",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The log says where each request came from: the TLS client's address,
    // the local socket's user; the refused network consent included.
    let records: Vec<_> = read::records(&service.dir.path().join("data/audit"))
        .map(Result::unwrap)
        .collect();
    let from = |kind: Kind| -> Vec<String> {
        records
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| r.source.clone())
            .collect()
    };
    assert!(
        from(Kind::SessionRequested)
            .iter()
            .any(|s| s.starts_with("127.0.0.1:")),
        "{records:?}"
    );
    assert!(
        from(Kind::RequestRefused)
            .iter()
            .any(|s| s.starts_with("127.0.0.1:")),
        "the network consent, refused, from its address"
    );
    assert!(
        from(Kind::SessionRequested)
            .iter()
            .any(|s| s.starts_with("local:uid=")),
        "the first session was requested over the local socket"
    );
}

#[test]
fn an_invocation_streams_its_output_and_is_followed_and_shown_afterwards() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.privileged_session();
    // flood-stdout prints until its output budget is spent.
    let operation = service.approve_hostile(&session, &json!({"mode": "flood-stdout"}));
    let (status, lines) = service.stream("tom", &operation);
    assert_eq!(status, 200);
    let StreamLine::Event(StreamEvent::Started { invocation }) = lines[0].line::<InvokeAnswer>()
    else {
        panic!("not started: {}", lines[0]);
    };
    let id = invocation.id.to_string();
    let stdout_of = |line: &Answer| match line.line::<InvokeAnswer>() {
        StreamLine::Event(StreamEvent::Stdout { text }) => Some(text),
        _ => None,
    };
    let printed = lines.iter().filter_map(stdout_of).count();
    assert!(printed > 100, "{printed} stdout lines streamed");
    let last = lines.last().unwrap();
    let StreamLine::End(Reply::Result(InvokeAnswer::Ran {
        id: ran,
        invocation,
        ..
    })) = last.line()
    else {
        panic!("not ran: {last}");
    };
    assert_eq!(ran.as_str(), id.as_str());
    assert_eq!(stopped(&invocation), Some(StopReason::OutputLimitExceeded));

    // Followed afterwards: the same output replayed, then the record.
    let follow = Operation::FollowInvocation {
        invocation: id.parse().unwrap(),
    };
    let (status, replayed) = service.stream("ann", &follow);
    assert_eq!(status, 200);
    assert!(
        matches!(
            replayed[0].line::<InvocationRecord>(),
            StreamLine::Event(StreamEvent::Started { .. })
        ),
        "{}",
        replayed[0]
    );
    let followed_stdout = |line: &Answer| match line.line::<InvocationRecord>() {
        StreamLine::Event(StreamEvent::Stdout { text }) => Some(text),
        _ => None,
    };
    let replayed_text: String = replayed.iter().filter_map(followed_stdout).collect();
    let streamed_text: String = lines.iter().filter_map(stdout_of).collect();
    assert_eq!(replayed_text, streamed_text);
    let last = replayed.last().unwrap();
    let StreamLine::End(Reply::Result(record)) = last.line::<InvocationRecord>() else {
        panic!("no record: {last}");
    };
    assert_eq!(record.status, InvocationStatus::Finished);

    // Shown and listed.
    let (status, shown) = service.ask(
        "tom",
        &Operation::ShowInvocation {
            invocation: id.parse().unwrap(),
        },
    );
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown.result::<InvocationRecord>().action, "hostile@0.1.0");
    let (_, listed) = service.ask("tom", &Operation::ListInvocations { session });
    assert_eq!(listed.result::<Vec<InvocationRecord>>().len(), 1);

    // Only invoke and follow-invocation stream; refusals found first are
    // ordinary error answers.
    let (status, lines) = service.stream("tom", &Operation::ListCatalog {});
    assert_eq!((status, lines[0].code()), (400, "not-streamed"));
    let unknown = Operation::FollowInvocation {
        invocation: "i-000000000000000000000000".parse().unwrap(),
    };
    let (status, lines) = service.stream("tom", &unknown);
    assert_eq!((status, lines[0].code()), (404, "not-found"));
    // Following is streamed only.
    let (status, answer) = service.ask("tom", &unknown);
    assert_eq!((status, answer.code()), (400, "streamed-only"), "{answer}");
    // Both refusals are logged, with who asked.
    let dir = service.dir.path().join("data/audit");
    let refused: Vec<_> = read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::RequestRefused)
        .collect();
    for code in ["not-streamed", "streamed-only"] {
        assert!(
            refused
                .iter()
                .any(|r| r.reason_code.as_deref() == Some(code)
                    && r.principal.as_deref() == Some("tom")),
            "{code}: {refused:?}"
        );
    }
}

#[test]
fn every_kind_of_refusal_comes_back_with_its_code() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let socket = service.socket();
    let send = |signed: &SignedRequest| {
        http(
            &socket,
            "POST",
            "/v1/requests",
            &serde_json::to_vec(signed).unwrap(),
        )
        .unwrap()
    };
    let list = Operation::ListSessions { open_only: false };
    let sign = |who: &str, key: &KeyPair, endpoint: &str, at: i64| {
        SignedRequest::sign(
            key,
            &who.parse().unwrap(),
            endpoint,
            at,
            Nonce::random().unwrap(),
            &list,
        )
        .unwrap()
    };
    let now = SystemClock.now_ms();
    let tom = &service.keys["tom"];
    let cases = [
        (
            sign("tom", tom, "pc-test", now - 3_600_000),
            401,
            "stale-request",
        ),
        (sign("zed", tom, "pc-test", now), 401, "unknown-principal"),
        (sign("tom", tom, "pc-other", now), 403, "wrong-endpoint"),
    ];
    for (signed, status, expected) in cases {
        let (got, answer) = send(&signed);
        assert_eq!((got, answer.code()), (status, expected), "{answer}");
        assert!(!answer.error().message.is_empty());
    }

    let unknown: SessionId = "s-000000000000000000000000".parse().unwrap();
    let (status, answer) = service.ask("tom", &Operation::ShowSession { session: unknown });
    assert_eq!((status, answer.code()), (404, "not-found"), "{answer}");

    // Before approval nothing runs: a denial, answered as a decision.
    let requested = service.requested();
    let (status, answer) = service.ask(
        "tom",
        &Operation::Invoke {
            session: requested.clone(),
            action: "echo".parse().unwrap(),
            input: json!({}),
        },
    );
    assert_eq!(status, 200);
    let InvokeAnswer::Denied { denial, .. } = answer.result() else {
        panic!("not denied: {answer}");
    };
    assert_eq!(denial.code, "session-not-active");

    // An escalation decided once is not decided again.
    let session = service.privileged_session();
    let held = Operation::Invoke {
        session: session.clone(),
        action: "hostile".parse().unwrap(),
        input: json!({"mode": "hostname"}),
    };
    let (_, answer) = service.ask("tom", &held);
    let InvokeAnswer::Escalated { escalation, .. } = answer.result() else {
        panic!("not escalated: {answer}");
    };
    let escalation = escalation.id;
    let (_, shown) = service.ask(
        "carol",
        &Operation::ShowEscalation {
            escalation: escalation.clone(),
        },
    );
    let view: EscalationView = shown.result();
    assert_eq!(
        view.escalation.input.as_deref(),
        Some(r#"{"mode":"hostname"}"#)
    );
    assert_eq!(view.status, EscalationStatus::Pending);
    let deny = Operation::DenyEscalation {
        escalation: escalation.clone(),
        reason: "not today".into(),
    };
    assert_eq!(service.ask("carol", &deny).0, 200);
    let approve = Operation::ApproveEscalation {
        escalation,
        action_digest: view.escalation.key.digest,
        input_digest: view.escalation.key.input_digest,
    };
    let (status, answer) = service.ask("ann", &approve);
    assert_eq!(
        (status, answer.code()),
        (409, "escalation-not-pending"),
        "{answer}"
    );

    // The wrong method on a route.
    let (status, answer) = http(&socket, "GET", "/v1/requests", b"").unwrap();
    assert_eq!((status, answer.code()), (405, "method-not-allowed"));

    // Consent comes from a person's account: under the default policy
    // (consent-min-uid = 1000) root and system accounts are refused.
    let attended = {
        let (_, answer) = service.ask("tom", &attended_request());
        let id = answer.result::<Session>().id;
        assert_eq!(service.ask("ann", &service.approval(&id)).0, 200);
        id
    };
    // What the end user is shown first: refused as consent would be.
    let body = serde_json::to_vec(&json!({ "session": attended, "preview": true })).unwrap();
    let (status, answer) = http(&socket, "POST", "/v1/consent", &body).unwrap();
    if nix::unistd::getuid().as_raw() < 1000 {
        assert_eq!(
            (status, answer.code()),
            (403, "consent-not-allowed"),
            "{answer}"
        );
    } else {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer.result::<Session>().state,
            SessionState::Approved,
            "a preview changes nothing"
        );
    }
    let body = serde_json::to_vec(&json!({ "session": attended, "preview": "yes" })).unwrap();
    let (status, answer) = http(&socket, "POST", "/v1/consent", &body).unwrap();
    assert_eq!(
        (status, answer.code()),
        (400, "malformed-request"),
        "{answer}"
    );
    let body = serde_json::to_vec(&json!({ "session": attended })).unwrap();
    let (status, answer) = http(&socket, "POST", "/v1/consent", &body).unwrap();
    if nix::unistd::getuid().as_raw() < 1000 {
        assert_eq!(
            (status, answer.code()),
            (403, "consent-not-allowed"),
            "{answer}"
        );
    } else {
        assert_eq!(status, 200, "{answer}");
    }
    service.healthy();
}

#[test]
fn the_end_user_sees_what_ran_in_a_session_they_consented_to() {
    // This test's user may consent (under a real policy, root may not).
    let uid = nix::unistd::getuid().as_raw();
    let service = stage_with_policy(
        Path::new(env!("CARGO_BIN_EXE_salve")),
        "",
        &format!("consent-min-uid = {uid}"),
    );
    let socket = service.socket();
    let (_, answer) = service.ask("tom", &attended_request());
    let id = answer.result::<Session>().id;
    let approve = service.approval(&id);
    assert_eq!(service.ask("ann", &approve).0, 200);
    let body = serde_json::to_vec(&json!({ "session": id })).unwrap();

    // Before consent, there is nothing of theirs to see: no such session
    // (as for anyone but the user who consented).
    let (status, answer) = http(&socket, "POST", "/v1/activity", &body).unwrap();
    assert_eq!((status, answer.code()), (404, "not-found"), "{answer}");
    let (status, answer) = http(&socket, "POST", "/v1/consent", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let invoke = Operation::Invoke {
        session: id.clone(),
        action: "echo".parse().unwrap(),
        input: json!({ "printer": "hp-2" }),
    };
    let (status, answer) = service.ask("tom", &invoke);
    assert_eq!(status, 200, "{answer}");

    // After it: the session, and what ran in it, by whom and how it ended.
    let (status, answer) = http(&socket, "POST", "/v1/activity", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let activity: Activity = answer.result();
    assert_eq!(activity.session.state, SessionState::Active);
    let ran = &activity.invocations;
    assert_eq!(ran.len(), 1, "{answer}");
    assert_eq!(ran[0].principal, "tom");
    assert!(ran[0].action.starts_with("echo@"));

    // The same through the CLI, with no key.
    let out = cli(&service, &["session", "activity", id.as_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains("INC7"), "{shown}");
    assert!(
        shown.contains("echo@") && shown.contains("by tom"),
        "{shown}"
    );

    // A body that names no session.
    let (status, answer) = http(&socket, "POST", "/v1/activity", br#"{"session": 7}"#).unwrap();
    assert_eq!(
        (status, answer.code()),
        (400, "malformed-request"),
        "{answer}"
    );

    // The refused look before consent is in the log, from the local user.
    let dir = service.dir.path().join("data/audit");
    let refused: Vec<_> = read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::RequestRefused && r.session.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with(&format!("local:uid={uid}"))),
        "{refused:?}"
    );
    service.healthy();
}

fn attended_request() -> Operation {
    Operation::RequestSession {
        request: salve::session::SessionRequest {
            ticket: "INC7".parse().unwrap(),
            problem: "Printer.".into(),
            category: "incident".into(),
            endpoint: "pc-test".into(),
            technician: "tom".parse().unwrap(),
            scope: salve::session::Scope {
                allowed: vec!["echo".parse().unwrap()],
                prohibited: Default::default(),
                privileged: false,
            },
            attended: true,
            idle_minutes: 30,
            duration_minutes: 60,
        },
    }
}

#[test]
fn at_its_limit_the_service_answers_busy_and_sigterm_cancels_what_still_runs() {
    let mut service = stage_with(
        Path::new(env!("CARGO_BIN_EXE_salve")),
        "max-concurrent-requests = 1\nshutdown-grace-seconds = 1\n",
    );
    let session = service.privileged_session();
    let operation = service.approve_hostile(&session, &json!({"mode": "loop"}));
    let pid = nix::unistd::Pid::from_raw(service.child.as_ref().unwrap().id() as i32);
    let (answered, stopping) = std::thread::scope(|scope| {
        let running = scope.spawn(|| service.try_ask("tom", &operation));
        // Health takes no permit, and says what runs.
        let started = std::time::Instant::now();
        while support::http(&service.socket(), "GET", "/v1/health", b"")
            .unwrap()
            .1
            .health()
            .running
            != 1
        {
            assert!(started.elapsed() < Duration::from_secs(20), "it never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        // While the loop holds the one permit, everything else is "busy" at once.
        let (status, busy) = service.ask("ann", &Operation::ListEscalations {});
        assert_eq!((status, busy.code()), (503, "busy"), "{busy}");
        // A request refused before it is authenticated takes no permit: it
        // gets its own answer (and record), not "busy".
        let forger = KeyPair::generate().unwrap();
        let (status, forged) = post_signed(
            &service.socket(),
            &forger,
            "ann",
            "pc-test",
            &Operation::ListEscalations {},
        );
        assert_eq!((status, forged.code()), (401, "bad-signature"), "{forged}");
        service.healthy();
        // SIGTERM: after the 1 s grace the loop is cancelled, not left to
        // its 30 s deadline.
        let stopping = std::time::Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        (running.join().unwrap(), stopping)
    });
    service.child.take().unwrap().wait().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        stopping.elapsed()
    );
    if let Ok((200, answer)) = &answered {
        let InvokeAnswer::Ran { invocation, .. } = answer.result() else {
            panic!("not ran: {answer}");
        };
        assert_eq!(
            stopped(&invocation),
            Some(StopReason::Cancelled),
            "{answer}"
        );
    }
    // The log has the cancellation, then the stop that says so.
    let cancelled = finished(&service, "cancelled");
    assert_eq!(cancelled.len(), 1, "the loop's end is logged");
    let dir = service.dir.path().join("data/audit");
    let records: Vec<_> = read::records(&dir).filter_map(Result::ok).collect();
    // The request answered "busy" is logged, counted in a summary record.
    let busy = records
        .iter()
        .find(|r| r.kind == Kind::RequestRefused && r.reason_code.as_deref() == Some("busy"))
        .expect("the busy refusal is logged");
    assert_eq!(busy.details.as_ref().unwrap()["count"], 1, "{busy:?}");
    let stopped = records.last().unwrap();
    let stopped_at = records
        .iter()
        .position(|r| r.kind == Kind::ServiceStopped)
        .unwrap();
    let cancelled_at = records
        .iter()
        .position(|r| r.outcome.as_deref() == Some("cancelled"))
        .unwrap();
    assert!(cancelled_at < stopped_at);
    assert!(
        records[stopped_at]
            .reason
            .as_deref()
            .unwrap()
            .contains("1 invocations cancelled"),
        "{:?}",
        stopped.reason
    );
}

#[test]
fn every_decision_of_the_policy_core_comes_back_through_the_api() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let invoke = |who: &str, session: &SessionId, action: &str| {
        let (status, answer) = service.ask(
            who,
            &Operation::Invoke {
                session: session.clone(),
                action: action.parse().unwrap(),
                input: json!({"mode": "hostname"}),
            },
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let denial = |who: &str, session: &SessionId, action: &str| {
        let answer = invoke(who, session, action);
        let InvokeAnswer::Denied { denial, reason } = answer.result() else {
            panic!("not denied: {answer}");
        };
        assert!(!reason.is_empty(), "{answer}");
        denial.code
    };
    let refused = |(status, answer): (u16, Answer)| {
        assert!(!answer.error().message.is_empty());
        (status, answer.code().to_string())
    };

    // Sessions: each request or change refused with its code.
    assert_eq!(
        refused(service.request("tom", "tom", "curiosity", &["echo"], &[], false)),
        (403, "category-not-allowed".to_string())
    );
    assert_eq!(
        refused(service.request("tom", "tom", "incident", &[], &[], false)),
        (400, "invalid-request".to_string())
    );
    assert_eq!(
        refused(service.request("carol", "tom", "incident", &["echo"], &[], false)),
        (403, "role-not-permitted".to_string()),
        "approvers do not request sessions"
    );
    let session = service.session();
    assert_eq!(
        refused(service.ask("carol", &service.approval(&session))),
        (409, "session-state".to_string()),
        "approved already"
    );

    // Invocations: each denial as a decision, with its code and reason.
    assert_eq!(denial("carol", &session, "echo"), "not-technician");
    assert_eq!(denial("tom", &session, "hostile"), "out-of-scope");
    let banned = service.active(
        "tom",
        "tom",
        "incident",
        &["echo", "system-report"],
        &["echo"],
        false,
    );
    assert_eq!(denial("tom", &banned, "echo"), "prohibited");
    let unprivileged = service.active("tom", "tom", "incident", &["hostile"], &[], false);
    assert_eq!(
        denial("tom", &unprivileged, "hostile"),
        "privileged-not-in-scope"
    );
    let helpdesk = service.active(
        "alice",
        "alice",
        "incident",
        &["echo", "system-report"],
        &[],
        false,
    );
    assert_eq!(
        denial("alice", &helpdesk, "echo"),
        "role-not-permitted",
        "her role covers system-report only"
    );
    let answer = invoke("alice", &helpdesk, "system-report");
    assert!(
        matches!(answer.result(), InvokeAnswer::Ran { .. }),
        "{answer}"
    );
    let planned = service.active("tom", "tom", "maintenance", &["system-report"], &[], false);
    let answer = invoke("tom", &planned, "system-report");
    let InvokeAnswer::Denied {
        denial: refusal,
        reason,
    } = answer.result()
    else {
        panic!("not denied: {answer}");
    };
    assert_eq!(refusal.code, "policy-rule", "{answer}");
    assert!(
        reason.contains("system reports are taken for incidents only"),
        "{answer}"
    );

    // A revocation takes effect on the running service at once.
    let (_, catalog) = service.ask("tom", &Operation::ListCatalog {});
    // A list of entries, each with its capabilities (a list, by its type).
    let catalog: Vec<CatalogEntry> = catalog.result();
    let echo = catalog.iter().find(|e| e.id.as_str() == "echo").unwrap();
    let revoked = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(["catalog", "revoke"])
        .arg(format!("echo@{}", echo.version))
        .args(["--reason", "misbehaves", "--catalog"])
        .arg(service.dir.path().join("data/catalog"))
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_eq!(denial("tom", &session, "echo"), "revoked");

    // Each is in the audit log with its code.
    let dir = service.dir.path().join("data/audit");
    let codes: BTreeSet<String> = read::records(&dir)
        .filter_map(Result::ok)
        .filter_map(|r| r.reason_code)
        .collect();
    for expected in [
        "category-not-allowed",
        "invalid-request",
        "role-not-permitted",
        "session-state",
        "not-technician",
        "out-of-scope",
        "prohibited",
        "privileged-not-in-scope",
        "policy-rule",
        "revoked",
    ] {
        assert!(codes.contains(expected), "{expected} not logged: {codes:?}");
    }
    service.healthy();
}

#[test]
fn with_no_configuration_the_service_starts_and_refuses_everyone() {
    let dir = tempfile::tempdir().unwrap();
    // Only where to keep its data: no policy, no trust file, no TLS.
    std::fs::write(
        dir.path().join("salve.toml"),
        "endpoint = \"pc-new\"\ndata-dir = \"data\"\nsocket = \"run/salve.sock\"\nlisten = \"\"\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(["serve", "--config"])
        .arg(dir.path().join("salve.toml"))
        .env("SALVE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let socket = dir.path().join("run/salve.sock");
    let started = std::time::Instant::now();
    let health = loop {
        if let Ok((200, health)) = http(&socket, "GET", "/v1/health", b"") {
            break health;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let health = health.health();
    assert_eq!(health.endpoint, "pc-new");
    assert_eq!(health.actions, 0, "nothing is trusted yet");
    // Nobody is in the policy yet.
    let (status, answer) = post_signed(
        &socket,
        &KeyPair::generate().unwrap(),
        "tom",
        "pc-new",
        &Operation::ListSessions { open_only: false },
    );
    assert_eq!(
        (status, answer.code()),
        (401, "unknown-principal"),
        "{answer}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no policy file: nobody may do anything until one is written there"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no trust file: no package is trusted"),
        "{stderr}"
    );

    // The endpoint key lost and made anew: the service does not go on
    // signing its log with another key (which would make the log fail
    // verification for good); it says so and how to recover.
    let key = dir.path().join("data/endpoint.key");
    std::fs::remove_file(&key).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(["serve", "--config"])
        .arg(dir.path().join("salve.toml"))
        .env("SALVE_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not by this endpoint's key") && stderr.contains("move the log aside"),
        "{stderr}"
    );
}

/// `salve` with `args` as `who` (their key file), against the service.
fn cli_as(service: &Service, who: &str, args: &[&str]) -> std::process::Output {
    let key = key_file(service, who);
    let mut all = args.to_vec();
    all.extend(["--key", key.as_str()]);
    cli(service, &all)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The escalation id in the CLI's "escalation pending" text.
fn escalation_in(text: &str) -> String {
    let at = text.find("e-").expect("an escalation id");
    text[at..at + 26].to_string()
}

#[test]
fn the_installed_actions_through_the_cli() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));

    // What a scope may allow: each action with its capabilities, the
    // privileged ones marked.
    let out = cli_as(&service, "tom", &["actions"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    for action in ["echo@", "system-report@1.0.0", "hostile@0.1.0"] {
        assert!(listed.contains(action), "{action} in {listed}");
    }
    assert!(
        listed.contains("! service-control (privileged): salve-test.service"),
        "{listed}"
    );
    assert!(listed.contains("   sysinfo (standard)"), "{listed}");

    let out = cli_as(&service, "tom", &["actions", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let actions: Vec<CatalogEntry> = serde_json::from_slice(&out.stdout).unwrap();
    let hostile = actions
        .iter()
        .find(|a| a.id.as_str() == "hostile")
        .expect("hostile listed");
    let digest = hostile.digest.to_string();
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest}"
    );

    // Only for someone the endpoint knows: without a key, nothing is asked.
    let out = cli(&service, &["actions"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--key"), "{}", stderr(&out));
}

#[test]
fn escalations_and_invocations_through_the_cli() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.privileged_session();
    let s = session.as_str();

    // A privileged invocation is held: exit 3, the escalation named.
    let out = cli_as(
        &service,
        "tom",
        &["invoke", s, "hostile", "--input", r#"{"mode": "hostname"}"#],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let held = format!("{}{}", stdout(&out), stderr(&out));
    assert!(held.contains("escalation pending"), "{held}");
    let escalation = escalation_in(&held);

    // The approver lists it, sees the exact input, approves it.
    let out = cli_as(&service, "carol", &["escalation", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&escalation), "{}", stdout(&out));
    let out = cli_as(
        &service,
        "carol",
        &["escalation", "show", &escalation, "--json"],
    );
    let shown: EscalationView = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown.escalation.input.as_deref(),
        Some(r#"{"mode":"hostname"}"#)
    );
    assert_eq!(shown.status, EscalationStatus::Pending);
    let out = cli_as(&service, "tom", &["escalation", "approve", &escalation]);
    assert_eq!(out.status.code(), Some(3), "nobody approves their own");
    assert!(
        stderr(&out).contains("separation of duties"),
        "{}",
        stderr(&out)
    );
    let out = cli_as(&service, "carol", &["escalation", "approve", &escalation]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cli_as(
        &service,
        "tom",
        &["invoke", s, "hostile", "--input", r#"{"mode": "hostname"}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Another input is another escalation; denied, it stays denied.
    let out = cli_as(
        &service,
        "tom",
        &[
            "invoke",
            s,
            "hostile",
            "--input",
            r#"{"mode": "status", "service": "cups.service"}"#,
        ],
    );
    let other = escalation_in(&format!("{}{}", stdout(&out), stderr(&out)));
    let out = cli_as(
        &service,
        "ann",
        &["escalation", "deny", &other, "--reason", "not needed"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cli_as(&service, "carol", &["escalation", "show", &other, "--json"]);
    let shown: EscalationView = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown.status, EscalationStatus::Denied, "{shown:?}");
    let out = cli_as(&service, "carol", &["escalation", "show", &other]);
    assert!(
        stdout(&out).contains("by ann: not needed"),
        "{}",
        stdout(&out)
    );
    let out = cli_as(
        &service,
        "tom",
        &[
            "invoke",
            s,
            "hostile",
            "--input",
            r#"{"mode": "status", "service": "cups.service"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!("denied by ann (escalation {other}): not needed"))
            && said.contains("not raised again"),
        "{said}"
    );

    // An input that would turn the approver's terminal against them (a
    // right-to-left override, a C1 control, an escape sequence) is shown
    // escaped, never raw; a denial's reason may hold none of them.
    let sly =
        "{\"mode\": \"hostname\", \"note\": \"exe.\u{202e}fdp \u{9b}31m \\u001b]0;x\\u0007\"}";
    let out = cli_as(&service, "tom", &["invoke", s, "hostile", "--input", sly]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let sly_escalation = escalation_in(&format!("{}{}", stdout(&out), stderr(&out)));
    let out = cli_as(&service, "carol", &["escalation", "show", &sly_escalation]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains("exe.\\u{202e}fdp \\u{9b}31m"), "{shown}");
    assert!(
        !shown.contains(['\u{202e}', '\u{9b}', '\u{1b}', '\u{7}']),
        "{shown:?}"
    );
    let out = cli_as(
        &service,
        "ann",
        &[
            "escalation",
            "deny",
            &sly_escalation,
            "--reason",
            "no\u{1b}[2K",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "bad input: {}", stderr(&out));
    assert!(
        stderr(&out).contains("the reason holds U+001B"),
        "{}",
        stderr(&out)
    );
    let logged = read::records(&service.dir.path().join("data/audit"))
        .filter_map(Result::ok)
        .any(|r| {
            r.kind == Kind::ChangeRefused
                && r.escalation.as_deref() == Some(sly_escalation.as_str())
                && r.reason_code.as_deref() == Some("invalid-request")
                && r.principal.as_deref() == Some("ann")
        });
    assert!(logged, "the refused denial is not in the audit log");
    let out = cli_as(
        &service,
        "ann",
        &[
            "escalation",
            "deny",
            &sly_escalation,
            "--reason",
            "odd input",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // --wait: the invocation waits for the approver, then runs once — or,
    // denied, is answered with the denial.
    let wait_for = |size: u32| {
        let key = key_file(&service, "tom");
        let input = format!(r#"{{"mode": "big-output", "size": {size}}}"#);
        let waiting = Command::new(env!("CARGO_BIN_EXE_salve"))
            .args([
                "invoke", s, "hostile", "--input", &input, "--wait", "60", "--json", "--key", &key,
            ])
            .env("SALVE_SOCKET", service.socket())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let shown = format!(r#"{{"mode":"big-output","size":{size}}}"#);
        let started = std::time::Instant::now();
        let pending = loop {
            let (_, answer) = service.ask("carol", &Operation::ListEscalations {});
            let found = answer
                .result::<Vec<EscalationView>>()
                .into_iter()
                .find(|e| e.escalation.input.as_deref() == Some(shown.as_str()))
                .map(|e| e.escalation.id.to_string());
            if let Some(id) = found {
                break id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no escalation raised"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        (waiting, pending)
    };
    let (waiting, pending) = wait_for(10);
    let out = cli_as(&service, "carol", &["escalation", "approve", &pending]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let answer: InvokeAnswer = serde_json::from_slice(&waited.stdout).unwrap();
    assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
    let (waiting, pending) = wait_for(11);
    let out = cli_as(
        &service,
        "carol",
        &["escalation", "deny", &pending, "--reason", "not now"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(3), "{}", stderr(&waited));
    let answer: InvokeAnswer = serde_json::from_slice(&waited.stdout).unwrap();
    let InvokeAnswer::Denied { denial, .. } = &answer else {
        panic!("not denied: {answer:?}");
    };
    assert_eq!(denial.code, "escalation-denied", "{answer:?}");

    // What ran in the session: listed, shown, followed afterwards.
    let out = cli_as(&service, "tom", &["invocation", "list", s, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Vec<InvocationRecord> = serde_json::from_slice(&out.stdout).unwrap();
    let ran: Vec<&str> = listed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ran.len(), 2, "{listed:?}");
    let out = cli_as(&service, "ann", &["invocation", "show", ran[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("hostile"), "{}", stdout(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
    let out = cli_as(&service, "tom", &["invocation", "follow", ran[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // --follow on a standard action: its output as it comes, then the end.
    let out = cli_as(&service, "tom", &["invoke", s, "system-report", "--follow"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("hostname"), "{}", stdout(&out));
}

#[test]
fn help_teaches_and_completions_are_generated() {
    let salve = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_salve"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = salve(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    for command in [
        "demo",
        "serve",
        "session",
        "invoke",
        "escalation",
        "audit",
        "report",
        "catalog",
    ] {
        assert!(stdout(&out).contains(command), "{command} in --help");
    }
    for command in [
        &["session", "request", "--help"][..],
        &["invoke", "--help"],
        &["escalation", "approve", "--help"],
        &["audit", "verify", "--help"],
        &["catalog", "install", "--help"],
    ] {
        let out = salve(command);
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        assert!(stdout(&out).contains("Usage: salve"), "{command:?}");
    }
    let out = salve(&["invoke", "--help"]);
    assert!(stdout(&out).contains("Example"), "{}", stdout(&out));
    for shell in ["bash", "zsh", "fish"] {
        let out = salve(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(
            script.contains("escalation") && script.len() > 1000,
            "{shell}: {script}"
        );
    }
}

#[test]
fn answers_on_the_signed_routes_are_signed_by_the_endpoint_and_bound_to_the_request() {
    use salve::api::v1::{FramePayload, InvokeAnswer, SignedFrame, SignedReply};
    use salve::digest::Sha256Digest;
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let key = KeyPair::read(&service.dir.path().join("data/endpoint.key"))
        .unwrap()
        .public();
    let session = service.session();

    // A whole answer: the endpoint's signature over it, for this request.
    let body = support::signed(&service.keys["tom"], "tom", &Operation::ListCatalog {});
    let (status, answer) =
        support::http(&service.socket(), "POST", "/v1/signed-requests", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let signed: SignedReply = serde_json::from_slice(answer.body()).unwrap();
    let (status, reply) = signed
        .open::<Vec<salve::api::v1::CatalogEntry>>("pc-test", &key, Sha256Digest::of(&body))
        .unwrap();
    assert_eq!(status, 200);
    assert!(matches!(reply, Reply::Result(entries) if !entries.is_empty()));
    // Not for another request, nor by another key.
    assert!(
        signed
            .open::<Value>("pc-test", &key, Sha256Digest::of(b"another"))
            .is_err()
    );
    assert!(
        signed
            .open::<Value>(
                "pc-test",
                &KeyPair::generate().unwrap().public(),
                Sha256Digest::of(&body)
            )
            .is_err()
    );
    // A refusal is signed too, with its status.
    let (status, answer) =
        support::http(&service.socket(), "POST", "/v1/signed-requests", b"{}").unwrap();
    assert_eq!(status, 400, "{answer}");
    let signed: SignedReply = serde_json::from_slice(answer.body()).unwrap();
    let (status, reply) = signed
        .open::<Value>("pc-test", &key, Sha256Digest::of(b"{}"))
        .unwrap();
    assert_eq!(status, 400);
    assert!(matches!(reply, Reply::Error(_)));

    // A streamed answer: numbered frames, each signed, the last the answer.
    let operation = Operation::Invoke {
        session,
        action: "echo".parse().unwrap(),
        input: json!({"hello": "frames"}),
    };
    let body = support::signed(&service.keys["tom"], "tom", &operation);
    let (status, answer) =
        support::http(&service.socket(), "POST", "/v1/signed-stream", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let frames: Vec<FramePayload> = answer
        .body()
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(seq, line)| {
            let frame: SignedFrame = serde_json::from_slice(line).unwrap();
            frame
                .open("pc-test", &key, Sha256Digest::of(&body), seq as u64)
                .unwrap()
        })
        .collect();
    assert!(frames.len() >= 2, "{frames:?}");
    let first = frames[0].line.as_deref().unwrap();
    assert!(first.contains("\"event\":\"started\""), "{first}");
    let last = frames.last().unwrap().line.as_deref().unwrap();
    let reply: Reply<InvokeAnswer> = serde_json::from_str(last).unwrap();
    assert!(
        matches!(reply, Reply::Result(InvokeAnswer::Ran { .. })),
        "{last}"
    );
}

#[test]
fn the_request_categories_are_the_policys() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let (status, answer) = service.ask("tom", &Operation::ListCategories {});
    assert_eq!(status, 200, "{answer}");
    let categories: Vec<salve::api::v1::Category> = answer.result();
    let named: Vec<(&str, &str)> = categories
        .iter()
        .map(|c| (c.name.as_str(), c.description.as_str()))
        .collect();
    assert_eq!(
        named,
        [("incident", "A fault."), ("maintenance", "Planned work.")]
    );
}
