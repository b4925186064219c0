//! `salve serve` as a real process over its real sockets: the lifecycle
//! (through `salve demo`), hostile clients (garbage, huge and slow bodies,
//! consent from the network, forged and replayed requests) answered with
//! JSON errors while the service keeps serving, a bounded load in which
//! every invocation is answered and logged, and a SIGKILL in the middle of
//! that load, after which the service restarts with its state and audit log
//! intact.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::audit::{Kind, read, verify_dir};
use salve::clock::{Clock, SystemClock};
use salve::endpoint::Operation;
use salve::identity::{KeyPair, Nonce, PrincipalId, SignedRequest};
use salve::session::{ActionRule, Scope, SessionId, SessionRequest};
use salve::vetting::{CatalogStore, Role, Signatures, TrustConfig};
use salve::{Package, Runtime, RuntimeConfig};
use salve_test_artifacts as artifacts;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEOPLE: &[(&str, &str)] = &[
    ("tom", "technician"),
    ("ann", "approver"),
    ("carol", "approver"),
];

/// A staged endpoint and its running service.
struct Service {
    dir: tempfile::TempDir,
    keys: BTreeMap<String, KeyPair>,
    child: Option<Child>,
    port: u16,
}

fn stage() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = String::from(
        "schema = 1\n\n[categories]\nincident = \"A fault.\"\n\n[roles.technician]\npermissions = [\"request-sessions\", \"invoke-standard\", \"invoke-privileged\"]\nactions = [\"*\"]\n\n[roles.approver]\npermissions = [\"approve-sessions\", \"approve-escalations\", \"read-audit\"]\n",
    );
    let mut keys = BTreeMap::new();
    for (id, role) in PEOPLE {
        let key = KeyPair::generate().unwrap();
        policy.push_str(&format!("\n[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{role}\"]\npublic-key = \"{}\"\n", key.public()));
        keys.insert(id.to_string(), key);
    }
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let board = KeyPair::generate().unwrap();
    std::fs::write(
        dir.path().join("trust.toml"),
        format!(
            "schema = 1\n[[vetting-keys]]\nprincipal = \"board\"\nkey = \"{}\"\n",
            board.public()
        ),
    )
    .unwrap();
    let trust = TrustConfig::read(&dir.path().join("trust.toml")).unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let store = CatalogStore::open(&dir.path().join("data/catalog")).unwrap();
    for source in [artifacts::ECHO, artifacts::SYSTEM_REPORT] {
        let copy = dir
            .path()
            .join("packages")
            .join(Path::new(source).file_name().unwrap());
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        let package = Package::open(&copy).unwrap();
        Signatures::add(
            &package,
            &board,
            Role::Vetting,
            "board".parse().unwrap(),
            "t".into(),
        )
        .unwrap();
        store.install(&runtime, &copy, &trust, "t").unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("salve.toml"),
        format!("endpoint = \"pc-test\"\ndata-dir = \"data\"\nlisten = \"127.0.0.1:{port}\"\nrequest-timeout-seconds = 2\nmax-body-bytes = 65536\n"),
    )
    .unwrap();
    // The policy and trust files sit beside the configuration.
    let mut config = std::fs::read_to_string(dir.path().join("salve.toml")).unwrap();
    config.push_str("policy = \"policy.toml\"\ntrust = \"trust.toml\"\n");
    std::fs::write(dir.path().join("salve.toml"), config).unwrap();
    let mut service = Service {
        dir,
        keys,
        child: None,
        port,
    };
    service.start();
    service
}

impl Service {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("data/salve.sock")
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_salve"))
            .args(["serve", "--config"])
            .arg(self.dir.path().join("salve.toml"))
            .env_remove("SALVE_LOG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while http(&self.socket(), "GET", "/v1/health", b"").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let mut child = self.child.take().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        child.wait().unwrap();
    }

    /// Signs `operation` as `who` and sends it.
    fn ask(&self, who: &str, operation: &Operation) -> (u16, Value) {
        self.try_ask(who, operation).unwrap()
    }

    fn try_ask(&self, who: &str, operation: &Operation) -> std::io::Result<(u16, Value)> {
        let principal: PrincipalId = who.parse().unwrap();
        let signed = SignedRequest::sign(
            &self.keys[who],
            &principal,
            SystemClock.now_ms(),
            Nonce::random().unwrap(),
            operation,
        )
        .unwrap();
        http(
            &self.socket(),
            "POST",
            "/v1/requests",
            &serde_json::to_vec(&signed).unwrap(),
        )
    }

    fn healthy(&self) {
        let (status, health) = http(&self.socket(), "GET", "/v1/health", b"").unwrap();
        assert_eq!(status, 200);
        assert_eq!(health["status"], "ok");
    }

    /// An active session for tom allowing echo and system-report.
    fn session(&self) -> SessionId {
        let id = self.requested();
        let (status, answer) = self.ask(
            "ann",
            &Operation::ApproveSession {
                session: id.clone(),
            },
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"]["state"], "active");
        id
    }

    /// A session tom requested for himself, not yet approved.
    fn requested(&self) -> SessionId {
        let request = SessionRequest {
            ticket: "INC1".parse().unwrap(),
            problem: "Slow.".into(),
            category: "incident".into(),
            endpoint: "pc-test".into(),
            technician: "tom".parse().unwrap(),
            scope: Scope {
                allowed: vec![
                    "echo".parse::<ActionRule>().unwrap(),
                    "system-report".parse().unwrap(),
                ],
                prohibited: Default::default(),
                privileged: false,
            },
            attended: false,
            idle_minutes: 60,
            duration_minutes: 240,
        };
        let (status, answer) = self.ask("tom", &Operation::RequestSession { request });
        assert_eq!(status, 200, "{answer}");
        answer["result"]["id"].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP/1.1 request over the Unix socket; the status and JSON body.
fn http(socket: &Path, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Value)> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: salve\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    read_response(&mut stream)
}

fn read_response(stream: &mut impl Read) -> std::io::Result<(u16, Value)> {
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // A chunked body: take the JSON between the chunk sizes.
    let json = body
        .find('{')
        .and_then(|start| body.rfind('}').map(|end| &body[start..=end]))
        .unwrap_or("null");
    Ok((status, serde_json::from_str(json).unwrap_or(Value::Null)))
}

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
    let mut service = stage();
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
    let mut service = stage();
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
    let mut service = stage();
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
