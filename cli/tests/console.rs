//! The console in a real browser: Debian's chromium driven through
//! chromium-driver (WebDriver), against a real `salve console` relaying to
//! a real `salve serve`. People load their key files into the page, see the
//! queue, and approve sessions and escalations signed in the page; the
//! endpoint's refusals show with its reason; HTML in what people and
//! actions write stays text.
//!
//! Screenshots of each view are written to `$SALVE_CONSOLE_SCREENSHOTS`
//! when it is set, else beside the test's files. The README's are refreshed
//! from the repository's root with
//! `SALVE_CONSOLE_SCREENSHOTS=$PWD/docs/images/console cargo test --release -p salve-cli --test console`.

#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

#[path = "support/console.rs"]
mod console_support;

#[path = "../src/pin.rs"]
mod pin;

use console_support::{ConsoleProcess, Driver};
use fantoccini::{Client, Locator};
use salve::api::v1::{InvokeAnswer, Operation};
use salve::escalation::EscalationStatus;
use salve::fleet::InventoryFile;
use salve::identity::KeyPair;
use salve::session::{ActionRule, Scope, Session, SessionRequest, SessionState};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::Service;

const SALVE: &str = env!("CARGO_BIN_EXE_salve");

/// The console, the browser and the endpoint behind them.
struct Console {
    service: Service,
    console: ConsoleProcess,
    driver: Driver,
    shots: PathBuf,
}

impl Console {
    /// A staged endpoint, a signed inventory naming it, people's key files,
    /// `salve console` relaying to the endpoint's socket, and chromium-driver.
    fn start() -> Console {
        // The test's own user may consent (the end user, at the endpoint).
        let consent = format!("consent-min-uid = {}", nix::unistd::getuid().as_raw());
        let service = support::stage_with_policy(Path::new(SALVE), "", &consent);
        let console = ConsoleProcess::start(
            Path::new(SALVE),
            &service.dir.path().join("data"),
            &service.socket(),
            &service.keys,
        );
        let driver = Driver::start();
        let shots = std::env::var_os("SALVE_CONSOLE_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| console.files.path().join("screenshots"));
        std::fs::create_dir_all(&shots).unwrap();
        Console {
            service,
            console,
            driver,
            shots,
        }
    }

    fn url(&self, path: &str) -> String {
        self.console.url(path)
    }

    /// A new headless browser, with a profile of its own (one person), at
    /// `width` pixels.
    async fn browser(&self, width: u32) -> Client {
        self.driver.browser(self.console.files.path(), width).await
    }

    /// Loads `who`'s key file into the page, as a person pastes it.
    async fn load_key(&self, browser: &Client, who: &str) {
        self.load_key_at(browser, &self.url(""), who).await;
    }

    /// Loads `who`'s key file into the page of the console at `base`.
    async fn load_key_at(&self, browser: &Client, base: &str, who: &str) {
        browser.goto(&format!("{base}/key")).await.unwrap();
        let text =
            std::fs::read_to_string(self.console.files.path().join(format!("{who}.key"))).unwrap();
        let field = browser.find(Locator::Css("#key-file")).await.unwrap();
        field.send_keys(&text).await.unwrap();
        browser
            .find(Locator::Css("#admin-key"))
            .await
            .unwrap()
            .send_keys(&self.console.admin.public().to_string())
            .await
            .unwrap();
        click(browser, "#key-save").await;
        let said = text_when(browser, "#key-status", |t| !t.is_empty()).await;
        assert!(
            said.contains(&format!("you act as {who}")),
            "the key was not kept: {said}"
        );
    }

    async fn screenshot(&self, browser: &Client, name: &str) {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}

/// The text of `css` once `ready` holds for it (within 20 s).
async fn text_when(browser: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            let text = element.text().await.unwrap_or_default();
            if ready(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("`{css}` never became ready; it says: {text}");
            }
        } else if Instant::now() > deadline {
            panic!("`{css}` never appeared");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks what `css` finds.
async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// What the page holds in `data-field="name"`.
async fn field(browser: &Client, name: &str) -> String {
    text_when(browser, &format!("[data-field=\"{name}\"]"), |_| true).await
}

/// Whether a script planted in text ran (it would set `window.pwned`).
async fn script_ran(browser: &Client) -> bool {
    browser
        .execute("return window.pwned === true;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// A session tom asks for with HTML in its problem statement.
fn request_with_markup(service: &Service, privileged: bool) -> Session {
    let mut allowed: Vec<ActionRule> = vec!["echo".parse().unwrap()];
    if privileged {
        allowed.push("hostile".parse().unwrap());
    }
    let request = SessionRequest {
        ticket: "INC-4711".parse().unwrap(),
        problem: "Printer <b>offline</b><img src=x onerror=\"window.pwned=true\"><script>window.pwned=true</script>".into(),
        category: "incident".into(),
        endpoint: "pc-test".into(),
        technician: "tom".parse().unwrap(),
        scope: Scope {
            allowed,
            prohibited: Default::default(),
            privileged,
        },
        attended: false,
        idle_minutes: 60,
        duration_minutes: 240,
    };
    let (status, answer) = service.ask("tom", &Operation::RequestSession { request });
    assert_eq!(status, 200, "{answer}");
    answer.result()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_in_the_browser_what_the_endpoint_signed() {
    let console = Console::start();
    let session = request_with_markup(&console.service, true);

    // Without a key, the page says how to load one.
    let ann = console.browser(1280).await;
    ann.goto(&console.url("/approvals")).await.unwrap();
    let said = text_when(&ann, "[role=alert]", |t| !t.is_empty()).await;
    assert!(said.contains("Load your key first"), "{said}");
    console.screenshot(&ann, "no-key").await;

    // Tom's own key: he may not approve his own request, and the page says
    // the endpoint's reason.
    let tom = console.browser(1280).await;
    console.load_key(&tom, "tom").await;
    tom.goto(&console.url(&format!("/approvals/session/pc-test/{}", session.id)))
        .await
        .unwrap();
    text_when(&tom, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    click(&tom, "#approve").await;
    let refused = text_when(&tom, "#result", |t| !t.is_empty()).await;
    assert!(refused.starts_with("Not approved:"), "{refused}");
    assert!(
        refused.contains("(separation-of-duties, signed by the endpoint)"),
        "{refused}"
    );
    console.screenshot(&tom, "self-approval-refused").await;
    tom.close().await.unwrap();

    // Ann loads her key, sees the request in the queue, opens it.
    console.load_key(&ann, "ann").await;
    console.screenshot(&ann, "key").await;
    ann.goto(&console.url("/approvals")).await.unwrap();
    let row = text_when(&ann, "section[data-endpoint=pc-test] .queue", |t| {
        t.contains("INC-4711")
    })
    .await;
    assert!(row.contains("tom"), "{row}");
    console.screenshot(&ann, "queue").await;
    ann.find(Locator::LinkText("INC-4711"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let verified = text_when(&ann, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    assert!(verified.contains("inventory"), "{verified}");
    // The problem statement is shown as the text it is.
    let problem = field(&ann, "problem").await;
    assert!(
        problem.contains("<script>window.pwned=true</script>"),
        "{problem}"
    );
    assert!(
        !script_ran(&ann).await,
        "a script in a problem statement ran"
    );
    assert_eq!(
        field(&ann, "request-digest").await,
        session.request.digest().to_string()
    );
    console.screenshot(&ann, "session").await;
    click(&ann, "#approve").await;
    let approved = text_when(&ann, "#result", |t| !t.is_empty()).await;
    assert!(approved.starts_with("Approved by ann"), "{approved}");
    let (_, answer) = console.service.ask(
        "ann",
        &Operation::ShowSession {
            session: session.id.clone(),
        },
    );
    assert_eq!(answer.result::<Session>().state, SessionState::Active);
    ann.close().await.unwrap();

    // Tom's privileged invocation waits for a second approval; its input
    // carries markup and a right-to-left override.
    let input = serde_json::json!({
        "mode": "read",
        "path": "/tmp/<img src=x onerror=\"window.pwned=true\">\u{202e}gnp.exe",
    });
    let invoke = Operation::Invoke {
        session: session.id.clone(),
        action: "hostile".parse().unwrap(),
        input: input.clone(),
    };
    let (status, answer) = console.service.ask("tom", &invoke);
    assert_eq!(status, 200, "{answer}");
    let InvokeAnswer::Escalated { escalation, .. } = answer.result() else {
        panic!("not escalated: {answer}");
    };

    // Carol sees it at phone width, with its exact input escaped.
    let carol = console.browser(400).await;
    console.load_key(&carol, "carol").await;
    carol.goto(&console.url("/approvals")).await.unwrap();
    text_when(&carol, "section[data-endpoint=pc-test] .queue", |t| {
        t.contains("hostile")
    })
    .await;
    console.screenshot(&carol, "queue-phone").await;
    carol
        .goto(&console.url(&format!("/approvals/escalation/pc-test/{}", escalation.id)))
        .await
        .unwrap();
    text_when(&carol, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    let shown = field(&carol, "input").await;
    assert!(shown.contains("\\u{202e}gnp.exe"), "{shown}");
    assert!(shown.contains("<img src=x"), "{shown}");
    assert!(!script_ran(&carol).await, "a script in an input ran");
    let digest = field(&carol, "input-digest").await;
    assert!(
        digest.starts_with(&escalation.key.input_digest.to_string())
            && digest.ends_with("(matches the input shown)"),
        "{digest}"
    );
    let capabilities = text_when(&carol, "[data-field=capabilities]", |t| !t.is_empty()).await;
    assert!(capabilities.contains("(privileged)"), "{capabilities}");
    console.screenshot(&carol, "escalation-phone").await;
    click(&carol, "#approve").await;
    let approved = text_when(&carol, "#result", |t| !t.is_empty()).await;
    assert!(approved.starts_with("Approved by carol"), "{approved}");
    carol.close().await.unwrap();

    // The approval is for exactly that invocation: it now runs.
    let (status, answer) = console.service.ask(
        "tom",
        &Operation::ShowEscalation {
            escalation: escalation.id.clone(),
        },
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.result::<salve::api::v1::EscalationView>().status,
        EscalationStatus::Approved
    );
    let (status, answer) = console.service.ask("tom", &invoke);
    assert_eq!(status, 200, "{answer}");
    assert!(
        matches!(answer.result(), InvokeAnswer::Ran { .. }),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_relays_only_signed_requests_to_its_endpoints() {
    let console = Console::start();
    let request = |method: &str, path: &str, body: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", console.console.port)).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let post = |path: &str, body: &str| request("POST", path, body);
    // Only loopback names: a rebound name of another site is not served.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", console.console.port)).unwrap();
    {
        use std::io::{Read, Write};
        write!(
            stream,
            "GET /api/inventory HTTP/1.1\r\nHost: evil.example:8480\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
        assert!(answer.contains("\"wrong-host\""), "{answer}");
    }
    // Not an open proxy: an endpoint outside its configuration is refused.
    let answer = post("/api/relay/pc-other", "{}");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("\"unknown-endpoint\""), "{answer}");
    // Only signed requests are carried.
    let answer = post("/api/relay/pc-test", "{\"op\":\"list-catalog\"}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not a signed request"), "{answer}");
    // A body over the limit.
    let answer = post("/api/relay/pc-test", &"x".repeat(1024 * 1024 + 1));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A signed request is carried unchanged, and the endpoint's signed
    // answer comes back.
    let body = support::signed(
        &console.service.keys["ann"],
        "ann",
        &Operation::ListCatalog {},
    );
    let answer = post("/api/relay/pc-test", std::str::from_utf8(&body).unwrap());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"signature\""), "{answer}");
    // Every page forbids inline script and framing.
    let answer = request("GET", "/key", "");
    assert!(
        answer
            .to_lowercase()
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{answer}"
    );
    assert!(answer.contains("frame-ancestors 'none'"), "{answer}");
}

#[test]
fn the_console_refuses_a_relay_target_outside_its_inventory() {
    let files = tempfile::tempdir().unwrap();
    let admin = KeyPair::generate().unwrap();
    let mut inventory = InventoryFile::default();
    inventory
        .add("pc-test", KeyPair::generate().unwrap().public())
        .unwrap();
    inventory.sign(&admin);
    inventory
        .write(&files.path().join("inventory.json"))
        .unwrap();
    let out = Command::new(SALVE)
        .args(["console", "--inventory"])
        .arg(files.path().join("inventory.json"))
        .args(["--fleet-admin-key", &admin.public().to_string()])
        .args(["--direct", "pc-9=unix:/nowhere.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("`pc-9` is not in the fleet inventory"),
        "{said}"
    );
    // An inventory signed by someone else is refused at start.
    let out = Command::new(SALVE)
        .args(["console", "--inventory"])
        .arg(files.path().join("inventory.json"))
        .args([
            "--fleet-admin-key",
            &KeyPair::generate().unwrap().public().to_string(),
        ])
        .args(["--direct", "pc-test=unix:/nowhere.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Not on a network address without TLS.
    let out = Command::new(SALVE)
        .args(["console", "--listen", "0.0.0.0:8480", "--inventory"])
        .arg(files.path().join("inventory.json"))
        .args(["--fleet-admin-key", &admin.public().to_string()])
        .args(["--direct", "pc-test=unix:/nowhere.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("loopback only"), "{said}");
}

/// What the compromised console in front of the real one does to the
/// answers it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    /// Changes the signed payload of every relayed answer.
    Alter,
    /// Passes answers on, keeping the last one.
    Record,
    /// Answers every relayed request with the answer it kept.
    Replay,
    /// Changes the signed request of an approval on its way to the endpoint.
    AlterApproval,
}

/// A console that lies: an HTTP proxy in front of the real console that
/// tampers with what it relays as `mode` says. Gives its port.
fn compromised(console_port: u16, mode: std::sync::Arc<std::sync::Mutex<Tamper>>) -> u16 {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let (mode, kept) = (mode.clone(), kept.clone());
            std::thread::spawn(move || {
                let b64 = base64::engine::general_purpose::STANDARD;
                // One request: its head, then its body by Content-Length.
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    let Ok(n) = client.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while raw.len() < head_end + length {
                    let n = client.read(&mut buf).unwrap();
                    raw.extend_from_slice(&buf[..n]);
                }
                let mut body = raw[head_end..head_end + length].to_vec();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let relayed = path.starts_with("/api/relay/");
                let mode = *mode.lock().unwrap();
                if relayed && mode == Tamper::AlterApproval {
                    let mut request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let payload = b64.decode(request["payload"].as_str().unwrap()).unwrap();
                    let text = String::from_utf8(payload).unwrap();
                    if text.contains("approve-escalation") {
                        // The input digest of another input.
                        let altered = {
                            let at = text.find("\"input_digest\":\"").unwrap() + 16;
                            let mut t = text.clone();
                            let first = &text[at..at + 1];
                            t.replace_range(at..at + 1, if first == "a" { "b" } else { "a" });
                            t
                        };
                        request["payload"] = b64.encode(altered).into();
                        body = serde_json::to_vec(&request).unwrap();
                    }
                }
                let head = head
                    .lines()
                    .filter(|l| {
                        let l = l.to_ascii_lowercase();
                        !l.starts_with("connection:")
                            && !l.starts_with("content-length:")
                            && !l.is_empty()
                    })
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let mut upstream =
                    std::net::TcpStream::connect(("127.0.0.1", console_port)).unwrap();
                write!(
                    upstream,
                    "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .unwrap();
                upstream.write_all(&body).unwrap();
                let mut response = Vec::new();
                upstream.read_to_end(&mut response).unwrap();
                let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let (head, mut answer) = (
                    String::from_utf8_lossy(&response[..at]).into_owned(),
                    response[at..].to_vec(),
                );
                if relayed {
                    match mode {
                        Tamper::Alter => {
                            let mut signed: serde_json::Value =
                                serde_json::from_slice(&answer).unwrap();
                            let payload = b64.decode(signed["payload"].as_str().unwrap()).unwrap();
                            let text = String::from_utf8(payload).unwrap().replace("read", "list");
                            signed["payload"] = b64.encode(text).into();
                            answer = serde_json::to_vec(&signed).unwrap();
                        }
                        Tamper::Record => *kept.lock().unwrap() = answer.clone(),
                        Tamper::Replay => answer = kept.lock().unwrap().clone(),
                        Tamper::AlterApproval => {}
                    }
                }
                let head = head
                    .lines()
                    .filter(|l| {
                        let l = l.to_ascii_lowercase();
                        !l.starts_with("connection:")
                            && !l.starts_with("content-length:")
                            && !l.starts_with("transfer-encoding:")
                            && !l.is_empty()
                    })
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let _ = write!(
                    client,
                    "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    answer.len()
                );
                let _ = client.write_all(&answer);
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_console_cannot_make_an_approver_approve_anything_else() {
    let console = Console::start();
    let session = console.service.privileged_session();
    let input = serde_json::json!({ "mode": "read", "path": "/etc/hostname" });
    let (status, answer) = console.service.ask(
        "tom",
        &Operation::Invoke {
            session,
            action: "hostile".parse().unwrap(),
            input,
        },
    );
    assert_eq!(status, 200, "{answer}");
    let InvokeAnswer::Escalated { escalation, .. } = answer.result() else {
        panic!("not escalated: {answer}");
    };
    let mode = std::sync::Arc::new(std::sync::Mutex::new(Tamper::Alter));
    let port = compromised(console.console.port, mode.clone());
    let page = format!(
        "http://127.0.0.1:{port}/approvals/escalation/pc-test/{}",
        escalation.id
    );
    let carol = console.browser(1280).await;
    // Another port is another origin, with its own storage: the key is
    // loaded through the lying console.
    console
        .load_key_at(&carol, &format!("http://127.0.0.1:{port}"), "carol")
        .await;

    // An answer changed on the way: the page shows nothing to approve.
    carol.goto(&page).await.unwrap();
    let said = text_when(&carol, "#verified", |t| t.starts_with("Not shown")).await;
    assert!(
        said.contains("not signed by pc-test's key in the inventory"),
        "{said}"
    );
    assert!(
        carol
            .find(Locator::Css("#approve"))
            .await
            .unwrap()
            .attr("disabled")
            .await
            .unwrap()
            .is_some()
    );
    console.screenshot(&carol, "tampered-answer").await;

    // An old answer replayed for a new request: refused the same way.
    *mode.lock().unwrap() = Tamper::Record;
    carol.goto(&page).await.unwrap();
    text_when(&carol, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    *mode.lock().unwrap() = Tamper::Replay;
    carol.refresh().await.unwrap();
    let said = text_when(&carol, "#verified", |t| t.starts_with("Not shown")).await;
    assert!(said.contains("an old answer replayed"), "{said}");

    // An approval changed on its way to the endpoint: its signature fails
    // there, and nothing is approved; the endpoint's refusal is of a request
    // the page did not send, so the page does not take it as its answer.
    *mode.lock().unwrap() = Tamper::AlterApproval;
    carol.goto(&page).await.unwrap();
    text_when(&carol, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    click(&carol, "#approve").await;
    let said = text_when(&carol, "#result", |t| !t.is_empty()).await;
    assert!(said.starts_with("Outcome unknown"), "{said}");
    assert!(said.contains("another request"), "{said}");
    carol.close().await.unwrap();
    let (_, answer) = console.service.ask(
        "carol",
        &Operation::ShowEscalation {
            escalation: escalation.id.clone(),
        },
    );
    assert_eq!(
        answer.result::<salve::api::v1::EscalationView>().status,
        EscalationStatus::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_requests_invokes_and_closes_in_the_browser() {
    let console = Console::start();
    let tom = console.browser(1280).await;
    console.load_key(&tom, "tom").await;

    // The request form: the scope chosen from the endpoint's signed catalog.
    tom.goto(&console.url("/sessions/new")).await.unwrap();
    let scope = text_when(&tom, "#scope", |t| t.contains("echo")).await;
    assert!(scope.contains("hostile 0.1.0 (privileged)"), "{scope}");
    // The categories are the policy's.
    let categories = text_when(&tom, "#category", |t| t.contains("maintenance")).await;
    assert!(categories.contains("incident: A fault."), "{categories}");
    for (field, text) in [
        ("#ticket", "INC-5150"),
        ("#problem", "The printer queue is stuck."),
    ] {
        tom.find(Locator::Css(field))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    click(&tom, "input[name=action][value=echo]").await;
    console.screenshot(&tom, "request").await;
    click(&tom, "#request").await;
    let said = text_when(&tom, "#result", |t| !t.is_empty()).await;
    assert!(said.starts_with("Requested: session s-"), "{said}");
    let id: salve::session::SessionId = said
        .trim_start_matches("Requested: session ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // Ann approves it (on the command line's path); tom sees it in his list.
    let (status, answer) = console.service.ask("ann", &console.service.approval(&id));
    assert_eq!(status, 200, "{answer}");
    // Attended: the queue and the session say it waits for the end user.
    tom.goto(&console.url("/approvals")).await.unwrap();
    let queue = text_when(&tom, "section[data-endpoint=pc-test] .queue", |t| {
        !t.starts_with("Asking")
    })
    .await;
    assert!(
        queue.contains("the end user's consent, at the endpoint"),
        "{queue}"
    );
    tom.goto(&console.url(&format!("/sessions/pc-test/{id}")))
        .await
        .unwrap();
    text_when(&tom, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    assert_eq!(
        field(&tom, "state").await,
        "approved: waits for the end user's consent at the endpoint"
    );
    // The end user consents on their own machine (the local socket).
    let body = serde_json::to_vec(&serde_json::json!({ "session": id })).unwrap();
    let (status, answer) =
        support::http(&console.service.socket(), "POST", "/v1/consent", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    tom.goto(&console.url("/sessions")).await.unwrap();
    let list = text_when(&tom, "section[data-endpoint=pc-test] .queue", |t| {
        t.contains("INC-5150")
    })
    .await;
    assert!(list.contains("active"), "{list}");
    console.screenshot(&tom, "sessions").await;
    tom.find(Locator::LinkText("INC-5150"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_when(&tom, "#verified", |t| t.starts_with("Signed by pc-test")).await;
    assert_eq!(field(&tom, "state").await, "active");
    // The input form starts from the action's manifest: its description
    // and its example.
    let help = text_when(&tom, "#input-help", |t| !t.is_empty()).await;
    assert_eq!(help, "Any JSON document.");
    let example = tom
        .find(Locator::Css("#input"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(example, "{\n  \"hello\": \"world\"\n}");

    // Input that is not JSON is refused in the page: nothing is signed.
    let input = tom.find(Locator::Css("#input")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("{not json").await.unwrap();
    text_when(&tom, "#invoke", |_| true).await;
    click(&tom, "#invoke:not([disabled])").await;
    let said = text_when(&tom, "#invoke-result", |t| !t.is_empty()).await;
    assert!(said.starts_with("The input is not JSON"), "{said}");

    // Echo runs; its output (markup included) is shown as text.
    input.clear().await.unwrap();
    input
        .send_keys(
            r#"{"note": "<img src=x onerror=\"window.pwned=true\">", "pid": 9007199254740993}"#,
        )
        .await
        .unwrap();
    click(&tom, "#invoke").await;
    let said = text_when(&tom, "#invoke-result", |t| t.starts_with("It ran")).await;
    assert!(said.contains("invocation i-"), "{said}");
    // Followed as it ran, in frames the page checked.
    let live = text_when(&tom, "#live", |t| !t.is_empty()).await;
    assert!(live.starts_with("started: invocation i-"), "{live}");
    let output = field(&tom, "run-output").await;
    assert!(output.contains("<img src=x onerror="), "{output}");
    assert!(
        !script_ran(&tom).await,
        "a script in an action's output ran"
    );
    assert!(field(&tom, "run-outcome").await.starts_with("succeeded"));
    let ran = text_when(&tom, "#invocations", |t| t.contains("echo@")).await;
    assert!(ran.contains("echo@0.1.0 by tom: finished"), "{ran}");
    // The input went as written: no integer past 2^53 rounded on the way.
    let (_, answer) = console.service.ask(
        "tom",
        &Operation::ListInvocations {
            session: id.clone(),
        },
    );
    let records: Vec<salve::outcome::InvocationRecord> = answer.result();
    let exact = serde_json::json!({
        "note": "<img src=x onerror=\"window.pwned=true\">",
        "pid": 9_007_199_254_740_993_u64,
    });
    assert_eq!(
        records[0].input_digest,
        salve::Sha256Digest::of(exact.to_string().as_bytes()).to_string()
    );
    console.screenshot(&tom, "workspace").await;

    // Closed with the write-up.
    tom.find(Locator::Css("#summary"))
        .await
        .unwrap()
        .send_keys("Cleared the queue.")
        .await
        .unwrap();
    click(&tom, "#close").await;
    let said = text_when(&tom, "#close-result", |t| !t.is_empty()).await;
    assert!(said.starts_with("Closed"), "{said}");
    let (_, answer) = console.service.ask(
        "tom",
        &Operation::ShowSession {
            session: id.clone(),
        },
    );
    let session: Session = answer.result();
    assert_eq!(session.state, SessionState::Closed);
    assert_eq!(
        session.closure.unwrap().report.summary.as_deref(),
        Some("Cleared the queue.")
    );
    tom.close().await.unwrap();

    // The auditor's view (ann may read the audit log): the log as the
    // endpoint verified it, the figures as charts, the session's report.
    let ann = console.browser(1280).await;
    console.load_key(&ann, "ann").await;
    ann.goto(&console.url("/audit")).await.unwrap();
    let verified = text_when(
        &ann,
        "section[data-endpoint=pc-test] [data-field=verified]",
        |t| !t.starts_with("Asking"),
    )
    .await;
    assert!(
        verified.starts_with("verified by the endpoint: "),
        "{verified}"
    );
    let figures = text_when(&ann, "section[data-endpoint=pc-test] .queue", |t| {
        t.contains("Workflow figures")
    })
    .await;
    assert!(figures.contains("everyone"), "{figures}");
    let chart = ann
        .find(Locator::Css("figure.chart svg[role=img]"))
        .await
        .unwrap()
        .attr("aria-label")
        .await
        .unwrap()
        .unwrap();
    assert!(
        chart.starts_with("Mean time to resolution: tom: "),
        "{chart}"
    );
    console.screenshot(&ann, "audit").await;
    ann.goto(&console.url(&format!("/audit/session/pc-test/{id}")))
        .await
        .unwrap();
    let report = text_when(&ann, "#detail .queue", |t| t.contains("What ran")).await;
    assert!(report.contains("INC-5150"), "{report}");
    assert!(report.contains("Cleared the queue."), "{report}");
    assert!(report.contains("echo@0.1.0"), "{report}");
    console.screenshot(&ann, "report").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_an_unreachable_endpoint_are_said_on_the_page() {
    let mut console = Console::start();
    let page = console.browser(1280).await;
    page.goto(&console.url("/key")).await.unwrap();
    // A file that is not a key file.
    page.find(Locator::Css("#key-file"))
        .await
        .unwrap()
        .send_keys("principal = \"ann\"\npublic-key = \"ed25519:AAAA\"\n")
        .await
        .unwrap();
    page.find(Locator::Css("#admin-key"))
        .await
        .unwrap()
        .send_keys(&console.console.admin.public().to_string())
        .await
        .unwrap();
    click(&page, "#key-save").await;
    let said = text_when(&page, "#key-status", |t| !t.is_empty()).await;
    assert!(
        said.starts_with("The key was not kept: this is not a salve key file"),
        "{said}"
    );

    // A key the policy does not know: the endpoint says so.
    let stranger = KeyPair::generate().unwrap();
    let path = console.console.files.path().join("zed.key");
    stranger
        .write(&path, Some(&"zed".parse().unwrap()))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let field = page.find(Locator::Css("#key-file")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&text).await.unwrap();
    click(&page, "#key-save").await;
    text_when(&page, "#key-status", |t| t.contains("you act as zed")).await;
    page.goto(&console.url("/approvals")).await.unwrap();
    let said = text_when(&page, "section[data-endpoint=pc-test] .queue", |t| {
        !t.starts_with("Asking")
    })
    .await;
    assert!(said.contains("unknown-principal"), "{said}");
    console.screenshot(&page, "unknown-key").await;

    // The endpoint stopped: the page says it cannot be reached.
    if let Some(mut child) = console.service.child.take() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    page.refresh().await.unwrap();
    let said = text_when(&page, "section[data-endpoint=pc-test] .queue", |t| {
        !t.starts_with("Asking")
    })
    .await;
    assert!(said.contains("endpoint-unreachable"), "{said}");
}

#[test]
fn with_a_certificate_the_console_serves_https_on_any_address() {
    use std::io::{Read, Write};
    let service = support::stage(Path::new(SALVE));
    let files = tempfile::tempdir().unwrap();
    let admin = console_support::signed_inventory(files.path(), &service.dir.path().join("data"));
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(files.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(
        files.path().join("key.pem"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    let pin = salve::Sha256Digest::of(made.cert.der());
    let port = console_support::free_port();
    let _console = console_support::Running(
        Command::new(SALVE)
            .args(["console", "--listen", &format!("0.0.0.0:{port}")])
            .arg("--tls-cert")
            .arg(files.path().join("cert.pem"))
            .arg("--tls-key")
            .arg(files.path().join("key.pem"))
            .arg("--inventory")
            .arg(files.path().join("inventory.json"))
            .args(["--fleet-admin-key", &admin.public().to_string()])
            .arg("--direct")
            .arg(format!("pc-test=unix:{}", service.socket().display()))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    console_support::wait_for_port(port, "salve console");
    let config = std::sync::Arc::new(pin::client_config(pin).unwrap());
    let https = |path: &str, body: &[u8]| {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let session = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut stream = rustls::StreamOwned::new(session, tcp);
        let method = if body.is_empty() { "GET" } else { "POST" };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let page = https("/key", b"");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Your key file"), "{page}");
    let body = support::signed(&service.keys["ann"], "ann", &Operation::ListCatalog {});
    let answer = https("/api/relay/pc-test", &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"signature\""), "{answer}");
    // Plain HTTP gets no page from it.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    write!(plain, "GET /key HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("Your key file"));
}
