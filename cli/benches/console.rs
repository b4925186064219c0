//! Console benchmark: what the console adds to a signed round trip and to a
//! page, against the same requests sent straight to the endpoint over its
//! Unix socket — the transport the console relays over here — in the same
//! run.
//!
//! - A signed request's round trip (`list-catalog`; `invoke` of `echo`),
//!   each signed before its timing starts, on kept-alive connections:
//!   straight to `/v1/requests` (what the CLI sends), straight to
//!   `/v1/signed-requests` (the endpoint signs its answer), and through
//!   the console's `/api/relay` (the page's path).
//! - The approval queue of one endpoint: its two signed requests straight to
//!   the endpoint, one after the other, against the console's
//!   `/fragments/queue` (both relayed, the answers checked, the rows
//!   rendered); and the page itself (`GET /approvals`).
//! - In Chromium: from navigating to the approvals page until the queue's
//!   rows have arrived (the page's script signing both requests with
//!   WebCrypto and the console answering; Resource Timing), against the
//!   CLI listing the same (`salve session list` and `salve escalation
//!   list`, each a process).
//!
//! Run: `cargo bench -p salve-cli --bench console` (`-- --quick` for fewer
//! samples).

#[path = "../tests/support/service.rs"]
mod support;

#[path = "../tests/support/console.rs"]
mod console_support;

use console_support::{ConsoleProcess, Driver};
use salve::api::v1::Operation;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Connection, signed, stage};

const SALVE: &str = env!("CARGO_BIN_EXE_salve");

/// Posts a body to a path on some connection: the status and the answer.
type Post<'a> = dyn FnMut(&str, &[u8]) -> (u16, Vec<u8>) + 'a;

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `samples` timings of `each` (after `warm` untimed ones); `each` gets
/// the sample's number and answers what it measured.
fn timed(samples: usize, warm: usize, mut each: impl FnMut(usize) -> Duration) -> Vec<Duration> {
    (0..samples + warm).map(&mut each).skip(warm).collect()
}

/// One row: the straight and the console's p50 and p99, and the difference
/// of the p50s.
fn row(what: &str, straight: &mut [Duration], console: &mut [Duration]) {
    let (s50, c50) = (percentile(straight, 0.5), percentile(console, 0.5));
    println!(
        "| {what} | {} / {} | {} / {} | +{} |",
        ms(s50),
        ms(percentile(straight, 0.99)),
        ms(c50),
        ms(percentile(console, 0.99)),
        ms(c50.saturating_sub(s50))
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, pages) = if quick { (300, 10) } else { (2000, 30) };

    let service = stage(Path::new(SALVE));
    let session = service.session();
    let console = ConsoleProcess::start(
        Path::new(SALVE),
        &service.dir.path().join("data"),
        &service.socket(),
        &service.keys,
    );
    let key = service.keys["tom"].clone();
    let mut straight = Connection::open(&service.socket()).expect("connect");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", console.port)).expect("console");
    tcp.set_nodelay(true).expect("nodelay");
    let mut relayed = Connection::new(tcp);

    let catalog = |_: usize| Operation::ListCatalog {};
    let invoke = |i: usize| Operation::Invoke {
        session: session.clone(),
        action: "echo".parse().expect("id"),
        input: json!({ "i": i }),
    };
    let trip = |connection: &mut Post, path: &str, operation: &dyn Fn(usize) -> Operation| {
        timed(samples, 50, |i| {
            let body = signed(&key, "tom", &operation(i));
            let started = Instant::now();
            let (status, answer) = connection(path, &body);
            let elapsed = started.elapsed();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
            elapsed
        })
    };
    let mut to_endpoint = |path: &str, body: &[u8]| straight.post(path, body).expect("request");
    let mut catalog_plain = trip(&mut to_endpoint, "/v1/requests", &catalog);
    let mut catalog_signed = trip(&mut to_endpoint, "/v1/signed-requests", &catalog);
    let mut invoke_plain = trip(&mut to_endpoint, "/v1/requests", &invoke);
    let mut invoke_signed = trip(&mut to_endpoint, "/v1/signed-requests", &invoke);
    let mut to_console = |path: &str, body: &[u8]| relayed.post(path, body).expect("request");
    let mut catalog_console = trip(&mut to_console, "/api/relay/pc-test", &catalog);
    let mut invoke_console = trip(&mut to_console, "/api/relay/pc-test", &invoke);

    // The queue: two signed requests straight, or one fragment.
    let ann = service.keys["ann"].clone();
    let sessions = Operation::ListSessions { open_only: true };
    let escalations = Operation::ListEscalations {};
    // New connections: the staged endpoint closes one idle for 2 s.
    let mut straight = Connection::open(&service.socket()).expect("connect");
    let mut queue_straight = timed(samples / 4, 20, |_| {
        let (a, b) = (
            signed(&ann, "ann", &sessions),
            signed(&ann, "ann", &escalations),
        );
        let started = Instant::now();
        for body in [a, b] {
            let (status, _) = straight.post("/v1/requests", &body).expect("request");
            assert_eq!(status, 200);
        }
        started.elapsed()
    });
    let mut queue_console = timed(samples / 4, 20, |_| {
        let body = serde_json::to_vec(&json!({
            "sessions": serde_json::from_slice::<serde_json::Value>(&signed(&ann, "ann", &sessions)).expect("json"),
            "escalations": serde_json::from_slice::<serde_json::Value>(&signed(&ann, "ann", &escalations)).expect("json"),
        }))
        .expect("body");
        let started = Instant::now();
        let (status, answer) = relayed
            .post("/fragments/queue/pc-test", &body)
            .expect("fragment");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        started.elapsed()
    });
    let mut page = timed(samples / 4, 20, |_| {
        let started = Instant::now();
        let (status, _) = console_support::get(console.port, "/approvals").expect("page");
        assert_eq!(status, 200);
        started.elapsed()
    });

    // In Chromium, against the CLI's two processes.
    let cli = |args: &[&str]| {
        let started = Instant::now();
        let out = Command::new(SALVE)
            .args(args)
            .env("SALVE_SOCKET", service.socket())
            .env("SALVE_KEY", console.files.path().join("ann.key"))
            .output()
            .expect("salve");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let mut cli_queue = timed(pages, 2, |_| {
        cli(&["session", "list", "--json"]) + cli(&["escalation", "list", "--json"])
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut browser_queue = runtime.block_on(async {
        let driver = Driver::start();
        let browser = driver.browser(console.files.path(), 1280).await;
        load_key(&browser, &console, "ann").await;
        let mut times = Vec::new();
        for i in 0..pages + 2 {
            browser.goto(&console.url("/approvals")).await.expect("page");
            let fragment = loop {
                let arrived = browser
                    .execute(
                        "const f = performance.getEntriesByType('resource').find(e => e.name.includes('/fragments/queue/')); return f ? f.responseEnd : null;",
                        vec![],
                    )
                    .await
                    .expect("timing");
                if let Some(ms) = arrived.as_f64() {
                    break ms;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if i >= 2 {
                times.push(Duration::from_secs_f64(fragment / 1e3));
            }
        }
        let _ = browser.close().await;
        times
    });

    println!(
        "| measurement | straight to the endpoint p50 / p99 | through the console p50 / p99 | the console adds (p50) |"
    );
    println!("|---|---|---|---|");
    row(
        "`list-catalog` (`/v1/requests` straight)",
        &mut catalog_plain,
        &mut catalog_console,
    );
    row(
        "`list-catalog` (`/v1/signed-requests` straight)",
        &mut catalog_signed,
        &mut catalog_console,
    );
    row(
        "`invoke` echo (`/v1/requests` straight)",
        &mut invoke_plain,
        &mut invoke_console,
    );
    row(
        "`invoke` echo (`/v1/signed-requests` straight)",
        &mut invoke_signed,
        &mut invoke_console,
    );
    row(
        "the queue: two requests straight, or the console's rendered rows",
        &mut queue_straight,
        &mut queue_console,
    );
    row(
        "the queue: the CLI's two processes, or Chromium from navigation to the rows",
        &mut cli_queue,
        &mut browser_queue,
    );
    println!(
        "| `GET /approvals` (the page's HTML, server-rendered) | — | {} / {} | — |",
        ms(percentile(&mut page, 0.5)),
        ms(percentile(&mut page, 0.99))
    );
}

/// Loads `who`'s key file into the page.
async fn load_key(browser: &fantoccini::Client, console: &ConsoleProcess, who: &str) {
    use fantoccini::Locator;
    browser.goto(&console.url("/key")).await.expect("key page");
    let text =
        std::fs::read_to_string(console.files.path().join(format!("{who}.key"))).expect("key");
    browser
        .find(Locator::Css("#key-file"))
        .await
        .expect("field")
        .send_keys(&text)
        .await
        .expect("keys");
    browser
        .find(Locator::Css("#admin-key"))
        .await
        .expect("field")
        .send_keys(&console.admin.public().to_string())
        .await
        .expect("keys");
    browser
        .find(Locator::Css("#key-save"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    loop {
        let said = browser
            .find(Locator::Css("#key-status"))
            .await
            .expect("status")
            .text()
            .await
            .expect("text");
        if said.contains("you act as") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
