//! Service benchmark: authenticated (signed) invocations of the trivial
//! `echo` action through `salve serve` over its Unix socket — one client on
//! a kept-alive connection for latency, 32 clients for throughput (over TLS
//! also with every request signed before the run) — against
//! the in-process invocation (`Runtime::invoke`) in the same run.
//!
//! Every request is signed, its signature checked, its nonce checked
//! against replays (in memory, behind a durable watermark), the decision
//! made against the policy and session, and its `invocation.started` record
//! made durable in the audit log before the action runs and its
//! `invocation.finished` record before the answer: two `fdatasync`s in
//! sequence, which for one client no batching can share. So the run also
//! measures the disk's floor: `fdatasync` of a line appended to a file in
//! the same directory.
//!
//! Each 32-client run also counts the CPU time it took, the service's
//! process and the clients' (this process) apart, from `/proc/<pid>/stat`:
//! the CPU an invocation costs, and so the most that the machine's cores
//! could answer at that cost, however the work were scheduled.
//!
//! Run: `cargo bench -p salve-cli --bench service` (`-- --quick` for fewer
//! samples).

#[path = "../tests/support/service.rs"]
mod support;

#[path = "../src/pin.rs"]
mod pin;

#[path = "common/proc.rs"]
mod proc;

use salve::api::v1::{InvokeAnswer, Operation, Reply};
use salve::{Grant, Package, Runtime, RuntimeConfig};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Connection, signed, stage};

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, seconds) = if quick { (500, 1) } else { (3000, 3) };

    // The disk's floor, in the directory the service's audit log will use.
    let disk = tempfile::tempdir().expect("temporary directory");
    let mut syncs = fdatasyncs(disk.path(), samples.min(1000));

    // The in-process baseline.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let package = Package::open(salve_test_artifacts::ECHO).expect("echo");
    let action = runtime.load(&package).expect("load");
    let grant = Grant::declared(package.manifest().capabilities.here());
    let mut in_process = Vec::with_capacity(samples);
    for i in 0..samples + 200 {
        let started = Instant::now();
        let invocation = runtime
            .invoke(&action, &grant, r#"{"i":1}"#)
            .expect("invoke");
        assert!(invocation.outcome.succeeded());
        if i >= 200 {
            in_process.push(started.elapsed());
        }
    }

    let mut service = stage(Path::new(env!("CARGO_BIN_EXE_salve")));
    let session = service.session();
    let key = service.keys["tom"].clone();
    let invoke = |i: usize| Operation::Invoke {
        session: session.clone(),
        action: "echo".parse().expect("id"),
        input: json!({ "i": i }),
    };

    // One client, one kept-alive connection: latency.
    let mut connection = Connection::open(&service.socket()).expect("connect");
    let mut one = Vec::with_capacity(samples);
    for i in 0..samples + 100 {
        let body = signed(&key, "tom", &invoke(i));
        let started = Instant::now();
        let (status, answer) = connection.post("/v1/requests", &body).expect("request");
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        assert_ran(&answer);
        if i >= 100 {
            one.push(elapsed);
        }
    }

    // 32 clients: throughput and latency under load, over the Unix socket
    // and over TLS loopback (the certificate pinned by its fingerprint).
    let socket = service.socket();
    let pid = service.child.as_ref().expect("running").id().to_string();
    let unix = clients(&pid, seconds, &key, &invoke, false, || {
        Connection::open(&socket).expect("connect")
    });
    let (_, health) = support::http(&socket, "GET", "/v1/health", b"").expect("health");
    let pin: salve::Sha256Digest = health
        .health()
        .tls_fingerprint
        .expect("TLS")
        .trim_start_matches("sha256:")
        .parse()
        .expect("pin");
    let config = std::sync::Arc::new(pin::client_config(pin).expect("TLS config"));
    let port = service.port;
    let connect_tls = || {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let session = rustls::ClientConnection::new(config.clone(), name).expect("TLS");
        Connection::new(rustls::StreamOwned::new(session, tcp))
    };
    let tls = clients(&pid, seconds, &key, &invoke, false, connect_tls);
    // The same with every request signed before the run, as clients on
    // other machines would: what the service alone does on the 2 cores.
    let presigned = clients(&pid, seconds, &key, &invoke, true, connect_tls);
    service.signal(nix::sys::signal::Signal::SIGTERM);

    let base = percentile(&mut in_process, 0.5);
    let p50 = percentile(&mut one, 0.5);
    println!("| measurement | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| in-process invocation (`Runtime::invoke`) | {} | {} |",
        us(base),
        us(percentile(&mut in_process, 0.99))
    );
    let sync = percentile(&mut syncs, 0.5);
    println!(
        "| `fdatasync` of an appended line (the disk's floor) | {} | {} |",
        us(sync),
        us(percentile(&mut syncs, 0.99))
    );
    println!(
        "| signed invocation over the Unix socket, 1 client | {} | {} |",
        us(p50),
        us(percentile(&mut one, 0.99))
    );
    let mut rows = [
        ("Unix socket", unix),
        ("TLS loopback", tls),
        ("TLS loopback, signed before the run", presigned),
    ];
    for (name, load) in &mut rows {
        println!(
            "| signed invocation over the {name}, 32 clients | {} | {} |",
            us(percentile(&mut load.latencies, 0.5)),
            us(percentile(&mut load.latencies, 0.99))
        );
    }
    println!();
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    for (name, load) in &rows {
        let (service_cpu, clients_cpu) = load.cpu_per_request();
        println!(
            "{name}, 32 clients: {:.0} invocations/s ({} answered busy); CPU per invocation: service {service_cpu:.0} µs, clients {clients_cpu:.0} µs — at that cost {cores} cores answer at most {:.0}/s",
            load.ok as f64 / seconds as f64,
            load.busy,
            cores * 1e6 / (service_cpu + clients_cpu),
        );
    }
    println!(
        "1 client p50 / in-process p50: {:.1}×",
        p50.as_secs_f64() / base.as_secs_f64()
    );
    println!(
        "1 client p50 / two fdatasync p50: {:.2}× (the rest of the request: {} at p50)",
        p50.as_secs_f64() / (2.0 * sync.as_secs_f64()),
        us(p50.saturating_sub(sync * 2))
    );
}

/// Checks that an answer is an invocation that ran: a denial or an
/// escalation answered 200 would not be what is measured.
fn assert_ran(answer: &[u8]) {
    let reply: Reply<InvokeAnswer> = serde_json::from_slice(answer).expect("JSON answer");
    assert!(
        matches!(reply, Reply::Result(InvokeAnswer::Ran { .. })),
        "{}",
        String::from_utf8_lossy(answer)
    );
}

/// `count` appends of a ~650-byte line to a file in `dir`, each followed by
/// `fdatasync`, as the audit log does for a lone record: how long each sync
/// took.
fn fdatasyncs(dir: &Path, count: usize) -> Vec<Duration> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("floor.jsonl"))
        .expect("file");
    let line = [b'x'; 650];
    (0..count)
        .map(|_| {
            file.write_all(&line).expect("write");
            let started = Instant::now();
            file.sync_data().expect("fdatasync");
            started.elapsed()
        })
        .collect()
}

/// What 32 clients achieved, and the CPU time it took: the service's and
/// the clients' (this process's) apart.
struct Load {
    ok: u64,
    busy: u64,
    latencies: Vec<Duration>,
    service_cpu: Duration,
    clients_cpu: Duration,
}

impl Load {
    /// CPU time per answered request, in µs: the service's and the clients'.
    fn cpu_per_request(&self) -> (f64, f64) {
        let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64;
        (per(self.service_cpu), per(self.clients_cpu))
    }
}

/// Requests each client signs before a run with `presigned`: at 1 000/s
/// per client (32 000/s in all), more than a run can use.
const PRESIGNED_PER_SECOND: usize = 1_000;

/// 32 clients, each on its own kept-alive connection from `connect`,
/// invoking for `seconds`, each signing its next request as it goes — or,
/// with `presigned`, all of them before the run starts.
fn clients<S: std::io::Read + std::io::Write>(
    service_pid: &str,
    seconds: u64,
    key: &salve::identity::KeyPair,
    invoke: &(dyn Fn(usize) -> Operation + Sync),
    presigned: bool,
    connect: impl Fn() -> Connection<S> + Sync,
) -> Load {
    let ready = std::sync::Barrier::new(33);
    let deadline = std::sync::OnceLock::new();
    let mut cpu = None;
    let results: Vec<Load> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|n| {
                let (connect, ready, deadline) = (&connect, &ready, &deadline);
                scope.spawn(move || {
                    let mut connection = connect();
                    let mut load = Load {
                        ok: 0,
                        busy: 0,
                        latencies: Vec::new(),
                        service_cpu: Duration::ZERO,
                        clients_cpu: Duration::ZERO,
                    };
                    let mut i = n * 1_000_000;
                    let count = if presigned {
                        PRESIGNED_PER_SECOND * seconds as usize
                    } else {
                        0
                    };
                    let mut bodies: std::collections::VecDeque<Vec<u8>> = (i..i + count)
                        .map(|i| signed(key, "tom", &invoke(i)))
                        .collect();
                    i += count;
                    ready.wait();
                    let deadline =
                        *deadline.get_or_init(|| Instant::now() + Duration::from_secs(seconds));
                    while Instant::now() < deadline {
                        let body = match bodies.pop_front() {
                            Some(body) => body,
                            None if presigned => panic!("more requests than were signed"),
                            None => signed(key, "tom", &invoke(i)),
                        };
                        i += 1;
                        let started = Instant::now();
                        let (status, answer) =
                            connection.post("/v1/requests", &body).expect("request");
                        match status {
                            200 => {
                                assert_ran(&answer);
                                load.ok += 1;
                                load.latencies.push(started.elapsed());
                            }
                            503 => load.busy += 1,
                            other => panic!("status {other}"),
                        }
                    }
                    load
                })
            })
            .collect();
        // Counted from when every client is connected and ready: the CPU
        // time of the run itself (presigning included neither side).
        ready.wait();
        cpu = Some((proc::cpu_time(service_pid), proc::cpu_time("self")));
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let (service_before, clients_before) = cpu.expect("counted");
    Load {
        service_cpu: proc::cpu_time(service_pid).saturating_sub(service_before),
        clients_cpu: proc::cpu_time("self").saturating_sub(clients_before),
        ok: results.iter().map(|r| r.ok).sum(),
        busy: results.iter().map(|r| r.busy).sum(),
        latencies: results.into_iter().flat_map(|r| r.latencies).collect(),
    }
}
