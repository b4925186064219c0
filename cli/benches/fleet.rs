//! Fleet benchmark: N endpoints simulated in one process (`salve fleet
//! simulate`: one engine shared, each endpoint with its own key, audit
//! log, policy and state) against one real nats-server, measuring
//!
//! - a signed `invoke` of the trivial `echo` action through the broker, its
//!   answer's signature checked against the endpoint's key, against the same
//!   request over a `salve serve`'s local socket in the same run (p50, p99);
//! - `salve fleet pending` listing every endpoint's pending session (one per
//!   endpoint), each entry checked against the signed inventory;
//! - the time from a broker restart until every endpoint is connected again;
//! - the memory each simulated endpoint adds to the process.
//!
//! Run: `cargo bench -p salve-cli --bench fleet` (`-- --quick` for 100
//! endpoints only; `-- --endpoints 100,1000,3000` for other sizes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/service.rs"]
mod support;

#[path = "../tests/support/nats.rs"]
mod nats;

use futures::StreamExt as _;
use nats::{Nats, User};
use salve::api::v1::{InvokeAnswer, Operation, Reply, SignedReply};
use salve::clock::{Clock as _, SystemClock};
use salve::digest::Sha256Digest;
use salve::fleet::{InventoryFile, request_subject};
use salve::identity::{KeyPair, Nonce, PrincipalId, PublicKey, SignedRequest};
use salve::session::{Scope, Session, SessionId, SessionRequest};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::{Connection, signed, stage_as};

const SALVE: &str = env!("CARGO_BIN_EXE_salve");

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A broker user that may do anything: the simulated endpoints share it
/// (the permissions are not what is measured here).
fn simulator() -> User {
    User {
        name: "sim".to_string(),
        password: "sim-secret".to_string(),
        permissions: "{ publish: { allow: [\">\"] }, subscribe: { allow: [\">\"] }, allow_responses: { max: -1, expires: \"1h\" } }".to_string(),
    }
}

/// `operation` signed by `who` for `endpoint`.
fn signed_for(key: &KeyPair, who: &str, endpoint: &str, operation: &Operation) -> Vec<u8> {
    let principal: PrincipalId = who.parse().unwrap();
    let signed = SignedRequest::sign(
        key,
        &principal,
        endpoint,
        SystemClock.now_ms(),
        Nonce::random().unwrap(),
        operation,
    )
    .unwrap();
    serde_json::to_vec(&signed).unwrap()
}

/// Sends `body` to `endpoint` through the broker; its answer, checked.
async fn ask<T: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    endpoint: &str,
    key: &PublicKey,
    body: Vec<u8>,
) -> T {
    let digest = Sha256Digest::of(&body);
    let subject = request_subject(&endpoint.parse().unwrap());
    let message = client.request(subject, body.into()).await.expect("answer");
    let signed: SignedReply = serde_json::from_slice(&message.payload).expect("signed");
    match signed.open::<T>(endpoint, key, digest).expect("verifies") {
        (_, Reply::Result(answer)) => answer,
        (status, Reply::Error(error)) => panic!("{endpoint}: {status} {}", error.message),
    }
}

fn session_request(endpoint: &str) -> Operation {
    Operation::RequestSession {
        request: SessionRequest {
            ticket: "INC1".parse().unwrap(),
            problem: "Slow.".into(),
            category: "incident".into(),
            endpoint: endpoint.into(),
            technician: "tom".parse().unwrap(),
            scope: Scope {
                allowed: vec!["echo".parse().unwrap()],
                prohibited: Default::default(),
                privileged: false,
            },
            attended: false,
            idle_minutes: 60,
            duration_minutes: 240,
        },
    }
}

/// Waits for the line `want` from the simulator.
fn wait_for(lines: &Receiver<String>, want: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) if line == want => return,
            Ok(_) => {}
            Err(_) => panic!("the simulator did not say `{want}` within {within:?}"),
        }
    }
}

struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--endpoints") {
        Some(i) => args[i + 1]
            .split(',')
            .map(|n| n.parse().expect("--endpoints 100,1000"))
            .collect(),
        None if quick => vec![100],
        None => vec![100, 1000],
    };
    let samples = if quick { 300 } else { 2000 };
    println!(
        "| endpoints | invoke, local socket p50 / p99 | invoke, through the broker p50 / p99 | broker ÷ socket (p50) | `fleet pending` (all N listed) | back after a broker restart | memory per endpoint |"
    );
    println!("|---|---|---|---|---|---|---|");
    for size in sizes {
        run(size, samples);
    }
}

fn run(size: usize, samples: usize) {
    let sim = simulator();
    let nats = Nats::start(&[simulator(), User::people(), User::admin()]);
    let password = nats.password_file(&sim);
    let extra = format!(
        "\n[fleet]\nservers = [\"{}\"]\nuser = \"sim\"\npassword-file = \"{}\"\n",
        nats.url(),
        password.display()
    );
    let people = support::people();
    // The baseline: a `salve serve` over its socket, in the same run.
    let service = stage_as(Path::new(SALVE), "pc-test", people.clone(), &extra, "");
    let session = service.session();
    let tom = people["tom"].clone();
    let invoke = |session: &SessionId, i: usize| Operation::Invoke {
        session: session.clone(),
        action: "echo".parse().unwrap(),
        input: json!({ "i": i }),
    };
    let mut connection = Connection::open(&service.socket()).expect("connect");
    let mut local = Vec::with_capacity(samples);
    for i in 0..samples + 100 {
        let body = signed(&tom, "tom", &invoke(&session, i));
        let started = Instant::now();
        let (status, answer) = connection.post("/v1/requests", &body).expect("request");
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        if i >= 100 {
            local.push(elapsed);
        }
    }

    // The simulated endpoints, from the same configuration.
    let keys_file = service.dir.path().join("simulated-keys.json");
    let mut child = Command::new(SALVE)
        .args(["fleet", "simulate", "--endpoints", &size.to_string()])
        .arg("--config")
        .arg(service.dir.path().join("salve.toml"))
        .arg("--keys-out")
        .arg(&keys_file)
        .env("SALVE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("salve fleet simulate");
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let _simulator = Simulator(child);
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    wait_for(&lines, "loaded", Duration::from_secs(120));
    let loaded = rss_kib(pid);
    wait_for(
        &lines,
        &format!("connected {size}"),
        Duration::from_secs(600),
    );
    let connected = rss_kib(pid);
    let keys: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&keys_file).unwrap()).unwrap();
    let keys: BTreeMap<String, PublicKey> = keys
        .into_iter()
        .map(|(name, key)| (name, key.parse().unwrap()))
        .collect();

    // The inventory, signed by a fleet admin; the buckets.
    let admin = KeyPair::generate().unwrap();
    let inventory = service.dir.path().join("inventory.json");
    let mut file = InventoryFile::read_or_new(&inventory).unwrap();
    for (name, key) in &keys {
        file.add(name, *key).unwrap();
    }
    file.sign(&admin);
    file.write(&inventory).unwrap();
    let out = Command::new(SALVE)
        .args(["fleet", "setup", "--fleet", &nats.url()])
        .args(["--fleet-user", "admin", "--fleet-password-file"])
        .arg(nats.password_file(&User::admin()))
        .env("SALVE_INVENTORY", &inventory)
        .env("SALVE_FLEET_ADMIN_KEY", admin.public().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let names: Vec<String> = keys.keys().cloned().collect();
    let ann = people["ann"].clone();
    let client = runtime.block_on(async {
        async_nats::ConnectOptions::new()
            .user_and_password("people".into(), "people-secret".into())
            .custom_inbox_prefix("_INBOX_people")
            .connect(nats.url())
            .await
            .expect("connect")
    });
    // Ten endpoints spread over the fleet, each with an active session.
    let spread: Vec<&String> = names.iter().step_by((size / 10).max(1)).take(10).collect();
    let sessions: Vec<(String, SessionId)> = runtime.block_on(async {
        let mut sessions = Vec::new();
        for name in &spread {
            let key = &keys[*name];
            let session: Session = ask(
                &client,
                name,
                key,
                signed_for(&tom, "tom", name, &session_request(name)),
            )
            .await;
            let approve = Operation::ApproveSession {
                session: session.id.clone(),
                request_digest: session.request.digest(),
            };
            let _: Session = ask(&client, name, key, signed_for(&ann, "ann", name, &approve)).await;
            sessions.push(((*name).clone(), session.id));
        }
        sessions
    });
    let mut broker = Vec::with_capacity(samples);
    runtime.block_on(async {
        for i in 0..samples + 100 {
            let (name, session) = &sessions[i % sessions.len()];
            let body = signed_for(&tom, "tom", name, &invoke(session, i));
            let started = Instant::now();
            let answer: InvokeAnswer = ask(&client, name, &keys[name], body).await;
            let elapsed = started.elapsed();
            assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
            if i >= 100 {
                broker.push(elapsed);
            }
        }
    });

    // One pending session on every endpoint, then the whole queue listed.
    runtime.block_on(async {
        let requests = futures::stream::iter(names.iter().map(|name| {
            let (client, tom, key) = (client.clone(), tom.clone(), keys[name]);
            async move {
                let _: Session = ask(
                    &client,
                    name,
                    &key,
                    signed_for(&tom, "tom", name, &session_request(name)),
                )
                .await;
            }
        }))
        .buffer_unordered(64);
        requests.collect::<Vec<()>>().await;
    });
    let ann_key = service.dir.path().join("ann.key");
    ann.write(&ann_key, Some(&"ann".parse().unwrap())).unwrap();
    let list = || {
        let started = Instant::now();
        let out = Command::new(SALVE)
            .args(["fleet", "pending", "--json", "--key"])
            .arg(&ann_key)
            .env("SALVE_FLEET", nats.url())
            .env("SALVE_FLEET_USER", "people")
            .env(
                "SALVE_FLEET_PASSWORD_FILE",
                nats.password_file(&User::people()),
            )
            .env("SALVE_INVENTORY", &inventory)
            .env("SALVE_FLEET_ADMIN_KEY", admin.public().to_string())
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        (rows.len(), elapsed)
    };
    let started = Instant::now();
    while list().0 < size {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not every endpoint's session in the queue"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut listings: Vec<Duration> = (0..3).map(|_| list().1).collect();
    let listing = percentile(&mut listings, 0.5);

    // The broker restarted: how long until every endpoint is back.
    nats.kill();
    std::thread::sleep(Duration::from_secs(1));
    nats.run();
    let restarted = Instant::now();
    wait_for(
        &lines,
        &format!("reconnected {size}"),
        Duration::from_secs(600),
    );
    let back = restarted.elapsed();
    drop(client);

    let p50_local = percentile(&mut local, 0.5);
    let p99_local = percentile(&mut local, 0.99);
    let p50_broker = percentile(&mut broker, 0.5);
    let p99_broker = percentile(&mut broker, 0.99);
    println!(
        "| {size} | {} / {} | {} / {} | {:.2}× | {:.0} ms | {:.1} s | {:.0} KiB |",
        us(p50_local),
        us(p99_local),
        us(p50_broker),
        us(p99_broker),
        p50_broker.as_secs_f64() / p50_local.as_secs_f64(),
        listing.as_secs_f64() * 1e3,
        back.as_secs_f64(),
        connected.saturating_sub(loaded) as f64 / size as f64,
    );
}
