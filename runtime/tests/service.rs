//! `salve serve` as a real process over its real sockets: the lifecycle
//! (through `salve demo`), hostile clients (garbage, huge and slow bodies,
//! consent from the network, forged and replayed requests) answered with
//! JSON errors while the service keeps serving, a bounded load in which
//! every invocation is answered and logged, and a SIGKILL in the middle of
//! that load, after which the service restarts with its state and audit log
//! intact.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

use salve::audit::{Kind, read, verify_dir};
use salve::clock::{Clock, SystemClock};
use salve::endpoint::Operation;
use salve::identity::{KeyPair, Nonce, SignedRequest};
use salve::session::SessionId;
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Service, http, read_response, stage};

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
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
        (status, code(&answer)),
        (400, "malformed-request"),
        "{answer}"
    );
    service.healthy();

    let huge = vec![b'x'; 70_000];
    let (status, answer) = http(&socket, "POST", "/v1/requests", &huge).unwrap();
    assert_eq!((status, code(&answer)), (413, "body-too-large"), "{answer}");
    service.healthy();

    // A body that never finishes arriving.
    let mut slow = UnixStream::connect(&socket).unwrap();
    write!(slow, "POST /v1/requests HTTP/1.1\r\nHost: salve\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"payl").unwrap();
    let (status, answer) = read_response(&mut slow).unwrap();
    assert_eq!((status, code(&answer)), (408, "slow-body"), "{answer}");
    service.healthy();

    let (status, answer) = http(&socket, "GET", "/v1/nowhere", b"").unwrap();
    assert_eq!((status, code(&answer)), (404, "no-such-route"));

    // A well-formed request signed by the wrong key.
    let forged = SignedRequest::sign(
        &KeyPair::generate().unwrap(),
        &"tom".parse().unwrap(),
        "pc-test",
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        &Operation::ListSessions { open_only: false },
    )
    .unwrap();
    let (status, answer) = http(
        &socket,
        "POST",
        "/v1/requests",
        &serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    assert_eq!((status, code(&answer)), (401, "bad-signature"), "{answer}");

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
        (status, code(&answer)),
        (401, "replayed-request"),
        "{answer}"
    );

    // A self-approval through the API.
    let session = service.requested();
    let (status, answer) = service.ask("tom", &Operation::ApproveSession { session });
    assert_eq!(
        (status, code(&answer)),
        (403, "separation-of-duties"),
        "{answer}"
    );

    // Consent from the network is refused: only the local socket vouches for a user.
    let tls = std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    drop(tls); // The TLS port is open…
    let (status, answer) = http(
        &socket,
        "POST",
        "/v1/consent",
        b"{\"session\": \"nonsense\"}",
    )
    .unwrap();
    assert_eq!((status, code(&answer)), (400, "malformed-request"));
    service.healthy();

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

/// `clients` threads each invoking echo `each` times; returns how many
/// were answered "ran".
fn load(service: &Service, session: &SessionId, clients: usize, each: usize) -> usize {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|n| {
                scope.spawn(move || {
                    let mut ran = 0;
                    for i in 0..each {
                        let operation = Operation::Invoke {
                            session: session.clone(),
                            action: "echo".parse().unwrap(),
                            input: json!({"client": n, "i": i}),
                        };
                        match service.ask("tom", &operation) {
                            (200, answer) if answer["result"]["decision"] == "ran" => ran += 1,
                            (503, answer) if code(&answer) == "busy" => {}
                            (status, answer) => panic!("unexpected answer {status}: {answer}"),
                        }
                    }
                    ran
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

#[test]
fn under_load_every_invocation_is_answered_and_logged() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    let ran = load(&service, &session, 32, 60);
    assert!(ran > 1000, "only {ran} of 1920 ran");
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let dir = service.dir.path().join("data/audit");
    verify_dir(&dir, None, None).unwrap();
    let finished = read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::InvocationFinished && r.outcome.as_deref() == Some("succeeded"))
        .count();
    assert_eq!(
        finished, ran,
        "every invocation answered `ran` is logged as finished, and no other"
    );
}

#[test]
fn a_service_killed_under_load_restarts_with_state_and_audit_intact() {
    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    // 8 clients invoke until the service dies under them; each counts the
    // invocations it was told ran.
    let acknowledged: usize = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|n| {
                let (service, session) = (&service, &session);
                scope.spawn(move || {
                    let mut ran = 0;
                    for i in 0.. {
                        let operation = Operation::Invoke {
                            session: session.clone(),
                            action: "echo".parse().unwrap(),
                            input: json!({"client": n, "i": i}),
                        };
                        match service.try_ask("tom", &operation) {
                            Ok((200, answer)) if answer["result"]["decision"] == "ran" => ran += 1,
                            Ok((503, _)) => {}
                            Ok((status, answer)) => panic!("unexpected answer {status}: {answer}"),
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
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    service.child.take().unwrap().wait().unwrap();
    assert!(
        acknowledged > 50,
        "only {acknowledged} invocations ran before the kill"
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
    assert_eq!(answer["result"]["state"], "active");
    let (status, answer) = service.ask(
        "tom",
        &Operation::Invoke {
            session: session.clone(),
            action: "echo".parse().unwrap(),
            input: json!({}),
        },
    );
    assert_eq!(
        (status, answer["result"]["decision"].as_str()),
        (200, Some("ran")),
        "{answer}"
    );
    let (status, answer) = service.ask("ann", &Operation::VerifyAudit);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["ok"], true, "{answer}");
    service.signal(nix::sys::signal::Signal::SIGTERM);
    let dir = service.dir.path().join("data/audit");
    verify_dir(&dir, None, None).unwrap();
    // No acknowledged invocation is missing from the log.
    let finished = read::records(&dir)
        .filter_map(Result::ok)
        .filter(|r| r.kind == Kind::InvocationFinished && r.outcome.as_deref() == Some("succeeded"))
        .count();
    assert!(
        finished > acknowledged,
        "{finished} finished records for {acknowledged} acknowledged invocations (+1 after the restart)"
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
    let session: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(session["request"]["endpoint"], "pc-test");

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
}

#[test]
fn over_tls_requests_work_with_the_pinned_certificate_and_consent_is_refused() {
    let service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let (_, health) = http(&service.socket(), "GET", "/v1/health", b"").unwrap();
    let pin = health["tls_fingerprint"].as_str().unwrap().to_string();
    assert!(pin.starts_with("sha256:"), "{health}");
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
    assert_eq!(out.status.code(), Some(1));
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
}
