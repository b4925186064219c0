//! Service benchmark: authenticated (signed) invocations of the trivial
//! `echo` action through `salve serve` over its Unix socket — one client on
//! a kept-alive connection for latency, 32 clients for throughput — against
//! the in-process invocation (`Runtime::invoke`) in the same run.
//!
//! Every request is signed, its signature checked, its nonce recorded
//! durably, the decision made against the policy and session, and its
//! `invocation.started` and `invocation.finished` records made durable in the
//! audit log before the answer.
//!
//! Run: `cargo bench -p salve --bench service` (`-- --quick` for fewer
//! samples).

#[path = "../tests/support/service.rs"]
mod support;

#[path = "../src/bin/salve/pin.rs"]
mod pin;

use salve::endpoint::Operation;
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

    // The in-process baseline.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let package = Package::open(salve_test_artifacts::ECHO).expect("echo");
    let action = runtime.load(&package).expect("load");
    let grant = Grant::declared(&package.manifest().capabilities);
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
        if i >= 100 {
            one.push(elapsed);
        }
    }

    // 32 clients: throughput and latency under load, over the Unix socket
    // and over TLS loopback (the certificate pinned by its fingerprint).
    let socket = service.socket();
    let unix = clients(seconds, &key, &invoke, || {
        Connection::open(&socket).expect("connect")
    });
    let (_, health) = support::http(&socket, "GET", "/v1/health", b"").expect("health");
    let pin: salve::Sha256Digest = health["tls_fingerprint"]
        .as_str()
        .expect("TLS")
        .trim_start_matches("sha256:")
        .parse()
        .expect("pin");
    let config = std::sync::Arc::new(pin::client_config(pin).expect("TLS config"));
    let port = service.port;
    let tls = clients(seconds, &key, &invoke, || {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let session = rustls::ClientConnection::new(config.clone(), name).expect("TLS");
        Connection::new(rustls::StreamOwned::new(session, tcp))
    });
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
    println!(
        "| signed invocation over the Unix socket, 1 client | {} | {} |",
        us(p50),
        us(percentile(&mut one, 0.99))
    );
    let mut rows = [("Unix socket", unix), ("TLS loopback", tls)];
    for (name, load) in &mut rows {
        println!(
            "| signed invocation over the {name}, 32 clients | {} | {} |",
            us(percentile(&mut load.latencies, 0.5)),
            us(percentile(&mut load.latencies, 0.99))
        );
    }
    println!();
    for (name, load) in &rows {
        println!(
            "{name}, 32 clients: {:.0} invocations/s ({} answered busy)",
            load.ok as f64 / seconds as f64,
            load.busy
        );
    }
    println!(
        "1 client p50 / in-process p50: {:.1}×",
        p50.as_secs_f64() / base.as_secs_f64()
    );
}

/// What 32 clients achieved.
struct Load {
    ok: u64,
    busy: u64,
    latencies: Vec<Duration>,
}

/// 32 clients, each on its own kept-alive connection from `connect`,
/// invoking for `seconds`.
fn clients<S: std::io::Read + std::io::Write>(
    seconds: u64,
    key: &salve::identity::KeyPair,
    invoke: &(dyn Fn(usize) -> Operation + Sync),
    connect: impl Fn() -> Connection<S> + Sync,
) -> Load {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let results: Vec<Load> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|n| {
                let connect = &connect;
                scope.spawn(move || {
                    let mut connection = connect();
                    let mut load = Load {
                        ok: 0,
                        busy: 0,
                        latencies: Vec::new(),
                    };
                    let mut i = n * 1_000_000;
                    while Instant::now() < deadline {
                        let body = signed(key, "tom", &invoke(i));
                        i += 1;
                        let started = Instant::now();
                        let (status, _) = connection.post("/v1/requests", &body).expect("request");
                        match status {
                            200 => {
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
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    Load {
        ok: results.iter().map(|r| r.ok).sum(),
        busy: results.iter().map(|r| r.busy).sum(),
        latencies: results.into_iter().flat_map(|r| r.latencies).collect(),
    }
}
