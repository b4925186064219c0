//! A staged endpoint running `salve serve` as a real process, and a minimal
//! HTTP/1.1 client over its Unix socket — shared by the service tests and
//! the service benchmark.

#![allow(dead_code, clippy::unwrap_used)]

use salve::api::v1::{ErrorBody, Health, HealthStatus, InvokeAnswer, Operation, Reply, StreamLine};
use salve::clock::{Clock, SystemClock};
use salve::identity::{KeyPair, Nonce, PrincipalId, SignedRequest};
use salve::session::{ActionRule, Scope, Session, SessionId, SessionRequest, SessionState};
use salve::vetting::{CatalogStore, Role, Signatures, TrustConfig};
use salve::{Package, Runtime, RuntimeConfig};
use salve_test_artifacts as artifacts;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PEOPLE: &[(&str, &str)] = &[
    ("tom", "technician"),
    ("ann", "approver"),
    ("carol", "approver"),
    ("alice", "helpdesk"),
];

/// An answer of the service, as it came: its body's bytes, read through
/// the contract's types (`salve::api::v1`). Read from the bytes, never
/// through a `serde_json::Value`: an invocation's output is raw JSON, which
/// a `Value` cannot hand on.
pub struct Answer {
    body: Vec<u8>,
    error: OnceLock<Option<ErrorBody>>,
    json: OnceLock<Value>,
}

impl Answer {
    pub fn new(body: Vec<u8>) -> Answer {
        Answer {
            body,
            error: OnceLock::new(),
            json: OnceLock::new(),
        }
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as a [`Reply`] of `T`; panics (with the body) if it is not
    /// one.
    pub fn reply<T: DeserializeOwned>(&self) -> Reply<T> {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a Reply<{}> ({e}): {self}", std::any::type_name::<T>()))
    }

    /// The answer's result, as `T`; panics (with the body) if it is not a
    /// result of `T`.
    pub fn result<T: DeserializeOwned>(&self) -> T {
        match self.reply() {
            Reply::Result(result) => result,
            Reply::Error(error) => panic!("an error, not a result: {error:?}"),
        }
    }

    /// The answer's error; panics (with the body) if it is not one.
    pub fn error(&self) -> ErrorBody {
        self.refusal()
            .cloned()
            .unwrap_or_else(|| panic!("not an error: {self}"))
    }

    /// The error's code; "" if the answer is not an error.
    pub fn code(&self) -> &str {
        self.refusal().map_or("", |error| error.code.as_str())
    }

    fn refusal(&self) -> Option<&ErrorBody> {
        self.error
            .get_or_init(|| match serde_json::from_slice(&self.body) {
                Ok(Reply::<IgnoredAny>::Error(error)) => Some(error),
                _ => None,
            })
            .as_ref()
    }

    /// The body as the health answer (`GET /v1/health`, not in a
    /// [`Reply`]); panics (with the body) if it is not one.
    pub fn health(&self) -> Health {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a health answer ({e}): {self}"))
    }

    /// The body as one line of a streamed answer whose last line is a
    /// [`Reply`] of `T`; panics (with the line) if it is not one.
    pub fn line<T: DeserializeOwned>(&self) -> StreamLine<T> {
        StreamLine::parse(&self.body).unwrap_or_else(|e| {
            panic!(
                "not a line of a streamed {} ({e}): {self}",
                std::any::type_name::<T>()
            )
        })
    }

    /// The body as JSON (`null` if it is not), to print.
    pub fn raw(&self) -> Value {
        self.json().clone()
    }

    fn json(&self) -> &Value {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.body).unwrap_or(Value::Null))
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.body))
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer({self})")
    }
}

/// A free loopback port below Linux's ephemeral range (32768–60999): the
/// service keeps its port across restarts, and while it is down a client
/// connection made by another test could otherwise be given that port as
/// its own local one, and the restart fail with "address in use".
fn listen_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761).wrapping_add(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    );
    for _ in 0..1000 {
        let pick = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        let port = 20_000 + (pick % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

/// A staged endpoint and its running service.
pub struct Service {
    pub dir: tempfile::TempDir,
    pub keys: BTreeMap<String, KeyPair>,
    pub child: Option<Child>,
    pub port: u16,
    salve: PathBuf,
    /// `SALVE_LOG` for the service (`warn` unless a test says otherwise).
    pub log_level: &'static str,
}

pub fn stage(salve: &Path) -> Service {
    stage_with(salve, "")
}

/// A staged endpoint whose `salve.toml` ends with `extra` (more settings).
pub fn stage_with(salve: &Path, extra: &str) -> Service {
    stage_with_policy(salve, extra, "")
}

/// A staged endpoint whose policy has these `[settings]` (TOML lines), and
/// whose `salve.toml` ends with `extra`.
pub fn stage_with_policy(salve: &Path, extra: &str, settings: &str) -> Service {
    let keys = PEOPLE
        .iter()
        .map(|(id, _)| (id.to_string(), KeyPair::generate().unwrap()))
        .collect();
    stage_as(salve, "pc-test", keys, extra, settings)
}

/// The people of every staged endpoint, each with a new key.
#[allow(dead_code)]
pub fn people() -> BTreeMap<String, KeyPair> {
    PEOPLE
        .iter()
        .map(|(id, _)| (id.to_string(), KeyPair::generate().unwrap()))
        .collect()
}

/// A staged endpoint named `endpoint`, whose people have these `keys`, its
/// policy these `[settings]` and its `salve.toml` ending with `extra`.
pub fn stage_as(
    salve: &Path,
    endpoint: &str,
    keys: BTreeMap<String, KeyPair>,
    extra: &str,
    settings: &str,
) -> Service {
    stage_packages(
        salve,
        endpoint,
        keys,
        extra,
        settings,
        &[
            artifacts::ECHO,
            artifacts::SYSTEM_REPORT,
            artifacts::HOSTILE,
        ],
    )
}

/// A staged endpoint as [`stage_as`] makes it, with `packages` (built
/// package directories) vetted and installed.
pub fn stage_packages(
    salve: &Path,
    endpoint: &str,
    keys: BTreeMap<String, KeyPair>,
    extra: &str,
    settings: &str,
    packages: &[&str],
) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = format!("schema = 1\n\n[settings]\n{settings}\n");
    policy.push_str(
        r#"

[categories]
incident = "A fault."
maintenance = "Planned work."

[roles.technician]
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]

[roles.approver]
permissions = ["approve-sessions", "approve-escalations", "read-audit"]

[roles.helpdesk]
permissions = ["request-sessions", "invoke-standard"]
actions = ["system-report"]

[rules]
cedar = """
@reason("system reports are taken for incidents only")
forbid (principal, action == Salve::Action::"invoke", resource == Salve::Package::"system-report")
unless { context.category == "incident" };
"""
"#,
    );
    for (id, role) in PEOPLE {
        let key = &keys[*id];
        policy.push_str(&format!("\n[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{role}\"]\npublic-key = \"{}\"\n", key.public()));
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
    // As `salve catalog install` does: each package compiled once, into the
    // cache the service reads, so that the service starts without compiling.
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.path().join("data/cache")),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let store = CatalogStore::open(&dir.path().join("data/catalog")).unwrap();
    for source in packages {
        let copy = dir
            .path()
            .join("packages")
            .join(Path::new(*source).file_name().unwrap());
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
            "2026-11-24T10:00:00Z".into(),
        )
        .unwrap();
        store.install(&runtime, &copy, &trust, "t").unwrap();
    }
    let port = listen_port();
    std::fs::write(
        dir.path().join("salve.toml"),
        format!("endpoint = \"{endpoint}\"\ndata-dir = \"data\"\nsocket = \"data/salve.sock\"\nlisten = \"127.0.0.1:{port}\"\nrequest-timeout-seconds = 2\nmax-body-bytes = 65536\n"),
    )
    .unwrap();
    // The policy and trust files sit beside the configuration.
    let mut config = std::fs::read_to_string(dir.path().join("salve.toml")).unwrap();
    config.push_str("policy = \"policy.toml\"\ntrust = \"trust.toml\"\n");
    config.push_str(extra);
    std::fs::write(dir.path().join("salve.toml"), config).unwrap();
    let mut service = Service {
        dir,
        keys,
        child: None,
        port,
        salve: salve.to_path_buf(),
        log_level: "warn",
    };
    service.start();
    service
}

impl Service {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("data/salve.sock")
    }

    pub fn start(&mut self) {
        let mut command = Command::new(&self.salve);
        command.args(["serve", "--config"]);
        self.start_from(command);
    }

    /// Starts the service with no file it writes allowed past `kib` KiB
    /// (`ulimit -f`): a write past it fails.
    #[allow(dead_code)]
    pub fn start_with_file_size_limit(&mut self, kib: u64) {
        let mut command = Command::new("bash");
        command
            .args([
                "-c",
                "ulimit -f \"$1\" && exec \"$0\" serve --config \"$2\"",
            ])
            .arg(&self.salve)
            .arg(kib.to_string());
        self.start_from(command);
    }

    /// Runs `salve serve`, which must fail to start: its exit status and
    /// what it wrote to stderr.
    #[allow(dead_code)]
    pub fn start_failing(&self) -> (std::process::ExitStatus, String) {
        let mut child = Command::new(&self.salve)
            .args(["serve", "--config"])
            .arg(self.dir.path().join("salve.toml"))
            .env("SALVE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("the service started; it should have refused to");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    }

    /// Waits for the service to exit by itself (at most 60 s): its status.
    #[allow(dead_code)]
    pub fn exited(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `command`, which takes the configuration's path last.
    fn start_from(&mut self, mut command: Command) {
        let child = command
            .arg(self.dir.path().join("salve.toml"))
            .env("SALVE_LOG", self.log_level)
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

    pub fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let mut child = self.child.take().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        child.wait().unwrap();
    }

    /// Signs `operation` as `who` and sends it.
    pub fn ask(&self, who: &str, operation: &Operation) -> (u16, Answer) {
        self.try_ask(who, operation).unwrap()
    }

    pub fn try_ask(&self, who: &str, operation: &Operation) -> std::io::Result<(u16, Answer)> {
        let principal: PrincipalId = who.parse().unwrap();
        let signed = SignedRequest::sign(
            &self.keys[who],
            &principal,
            "pc-test",
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

    pub fn healthy(&self) {
        let (status, health) = http(&self.socket(), "GET", "/v1/health", b"").unwrap();
        assert_eq!(status, 200, "{health}");
        assert_eq!(health.health().status, HealthStatus::Ok, "{health}");
    }

    /// `approve-session` of `id` as it stands now: with the digest of its
    /// request, as read by ann.
    pub fn approval(&self, id: &SessionId) -> Operation {
        let (status, answer) = self.ask(
            "ann",
            &Operation::ShowSession {
                session: id.clone(),
            },
        );
        assert_eq!(status, 200, "{answer}");
        Operation::ApproveSession {
            session: id.clone(),
            request_digest: answer.result::<Session>().request.digest(),
        }
    }

    /// An active session for tom allowing echo and system-report.
    pub fn session(&self) -> SessionId {
        let id = self.requested();
        let (status, answer) = self.ask("ann", &self.approval(&id));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer.result::<Session>().state, SessionState::Active);
        id
    }

    /// A session tom requested for himself, not yet approved.
    pub fn requested(&self) -> SessionId {
        self.requested_with(false)
    }

    /// An active session for tom allowing echo, system-report and (with a
    /// second approval each time) the hostile guest.
    pub fn privileged_session(&self) -> SessionId {
        let id = self.requested_with(true);
        let (status, answer) = self.ask("ann", &self.approval(&id));
        assert_eq!(status, 200, "{answer}");
        id
    }

    /// Has tom's invocation of the hostile guest on `input` escalated and
    /// carol approve it; tom's next identical invocation runs.
    pub fn approve_hostile(&self, session: &SessionId, input: &Value) -> Operation {
        let operation = Operation::Invoke {
            session: session.clone(),
            action: "hostile".parse().unwrap(),
            input: input.clone(),
        };
        let (status, answer) = self.ask("tom", &operation);
        assert_eq!(status, 200, "{answer}");
        let InvokeAnswer::Escalated { escalation, .. } = answer.result() else {
            panic!("not escalated: {answer}");
        };
        let approve = Operation::ApproveEscalation {
            escalation: escalation.id,
            action_digest: escalation.key.digest,
            input_digest: escalation.key.input_digest,
        };
        let (status, answer) = self.ask("carol", &approve);
        assert_eq!(status, 200, "{answer}");
        operation
    }

    /// Signs `operation` as `who` and sends it to `/v1/stream`: the status
    /// and every line of the answer (read each with [`Answer::line`], or,
    /// for a refusal answered whole, [`Answer::code`]).
    pub fn stream(&self, who: &str, operation: &Operation) -> (u16, Vec<Answer>) {
        let body = signed(&self.keys[who], who, operation);
        let mut stream = UnixStream::connect(self.socket()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "POST /v1/stream HTTP/1.1\r\nHost: salve\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(&body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = &response[split + 4..];
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_vec()
        };
        let lines = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .map(|l| Answer::new(l.to_vec()))
            .collect();
        (status, lines)
    }

    /// Asks, as `who`, for a session for `technician`: the answer as is.
    pub fn request(
        &self,
        who: &str,
        technician: &str,
        category: &str,
        allowed: &[&str],
        prohibited: &[&str],
        privileged: bool,
    ) -> (u16, Answer) {
        let request = SessionRequest {
            ticket: "INC9".parse().unwrap(),
            problem: "Odd.".into(),
            category: category.into(),
            endpoint: "pc-test".into(),
            technician: technician.parse().unwrap(),
            scope: Scope {
                allowed: allowed.iter().map(|a| a.parse().unwrap()).collect(),
                prohibited: prohibited.iter().map(|a| a.parse().unwrap()).collect(),
                privileged,
            },
            attended: false,
            idle_minutes: 60,
            duration_minutes: 240,
        };
        self.ask(who, &Operation::RequestSession { request })
    }

    /// A session requested as `request` asks, approved by ann.
    pub fn active(
        &self,
        who: &str,
        technician: &str,
        category: &str,
        allowed: &[&str],
        prohibited: &[&str],
        privileged: bool,
    ) -> SessionId {
        let (status, answer) =
            self.request(who, technician, category, allowed, prohibited, privileged);
        assert_eq!(status, 200, "{answer}");
        let id = answer.result::<Session>().id;
        let (status, answer) = self.ask("ann", &self.approval(&id));
        assert_eq!(status, 200, "{answer}");
        id
    }

    fn requested_with(&self, privileged: bool) -> SessionId {
        let mut allowed = vec!["echo", "system-report"];
        if privileged {
            allowed.push("hostile");
        }
        let request = session_request(&allowed, privileged);
        let (status, answer) = self.ask("tom", &Operation::RequestSession { request });
        assert_eq!(status, 200, "{answer}");
        answer.result::<Session>().id
    }
}

/// Tom's request for a session on pc-test for an incident, allowing
/// `allowed` (and privileged actions among them, if `privileged`).
pub fn session_request(allowed: &[&str], privileged: bool) -> SessionRequest {
    SessionRequest {
        ticket: "INC1".parse().unwrap(),
        problem: "Slow.".into(),
        category: "incident".into(),
        endpoint: "pc-test".into(),
        technician: "tom".parse().unwrap(),
        scope: Scope {
            allowed: allowed
                .iter()
                .map(|a| a.parse::<ActionRule>().unwrap())
                .collect(),
            prohibited: Default::default(),
            privileged,
        },
        attended: false,
        idle_minutes: 60,
        duration_minutes: 240,
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

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let rest = &body[end + 2..];
        out.extend_from_slice(&rest[..size]);
        body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// `operation` signed by `key` as `principal` for `endpoint`, now, and
/// posted to `/v1/requests` over `socket`: the status and the answer.
pub fn post_signed(
    socket: &Path,
    key: &KeyPair,
    principal: &str,
    endpoint: &str,
    operation: &Operation,
) -> (u16, Answer) {
    let signed = SignedRequest::sign(
        key,
        &principal.parse().unwrap(),
        endpoint,
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        operation,
    )
    .unwrap();
    http(
        socket,
        "POST",
        "/v1/requests",
        &serde_json::to_vec(&signed).unwrap(),
    )
    .unwrap()
}

/// One HTTP/1.1 request over the Unix socket; the status and the answer.
pub fn http(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Answer)> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: salve\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    // A service refusing a body too large answers before it has read it
    // and closes: the rest of the body then has nowhere to go, and the
    // answer is still there to read.
    match stream.write_all(body) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    read_response(&mut stream)
}

/// Reads a whole HTTP/1.1 response (to the end of the stream): its status
/// and its body (de-chunked) as an answer.
pub fn read_response(stream: &mut impl Read) -> std::io::Result<(u16, Answer)> {
    let mut response = Vec::new();
    // A service that answered without reading the whole body closes with
    // bytes unread: the answer comes, then the connection is reset.
    match stream.read_to_end(&mut response) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !response.is_empty() => {}
        other => {
            other?;
        }
    }
    let split = response.windows(4).position(|w| w == b"\r\n\r\n");
    let head =
        String::from_utf8_lossy(&response[..split.unwrap_or(response.len())]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no status in {:?}",
                String::from_utf8_lossy(&response)
            ))
        })?;
    let body = split.map_or(&[][..], |split| &response[split + 4..]);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, Answer::new(body.trim_ascii().to_vec())))
}

/// A kept-alive HTTP/1.1 connection: over the Unix socket, or any stream
/// (a TLS one, for the benchmark).
pub struct Connection<S: Read + Write> {
    stream: BufReader<S>,
}

impl Connection<UnixStream> {
    pub fn open(socket: &Path) -> std::io::Result<Connection<UnixStream>> {
        Ok(Connection::new(UnixStream::connect(socket)?))
    }
}

impl<S: Read + Write> Connection<S> {
    pub fn new(stream: S) -> Connection<S> {
        Connection {
            stream: BufReader::new(stream),
        }
    }

    /// POSTs `body` to `path`; the status and the body's bytes.
    pub fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        request.extend_from_slice(body);
        let writer = self.stream.get_mut();
        writer.write_all(&request)?;
        writer.flush()?;
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if status == 0 {
                status = trimmed
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}

/// `operation` signed by `who` with `key`, as request bytes.
pub fn signed(key: &KeyPair, who: &str, operation: &Operation) -> Vec<u8> {
    let principal: PrincipalId = who.parse().unwrap();
    let signed = SignedRequest::sign(
        key,
        &principal,
        "pc-test",
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        operation,
    )
    .unwrap();
    serde_json::to_vec(&signed).unwrap()
}
