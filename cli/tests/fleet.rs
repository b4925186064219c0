//! The fleet, against a real nats-server with authentication on: endpoints
//! dial out and answer there, people reach them by name with the CLI, every
//! answer is checked against the signed inventory, and what a broker user
//! may not do, or forges, gets nowhere.

#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

#[path = "support/nats.rs"]
mod nats;

use futures::StreamExt as _;
use nats::{Nats, User};
use salve::api::v1::{InvokeAnswer, Reply, SignedReply};
use salve::digest::Sha256Digest;
use salve::identity::{KeyPair, PublicKey};
use salve::session::Session;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::Service;

const SALVE: &str = env!("CARGO_BIN_EXE_salve");

/// What a person needs to reach the fleet: the broker, the people's
/// login, the inventory and the admin key that signed it.
struct Fleet {
    nats: Nats,
    inventory: PathBuf,
    admin: KeyPair,
    password: PathBuf,
    keys: tempfile::TempDir,
}

impl Fleet {
    fn new(nats: Nats) -> Fleet {
        let keys = tempfile::tempdir().unwrap();
        let password = nats.password_file(&User::people());
        Fleet {
            inventory: keys.path().join("inventory.json"),
            admin: KeyPair::generate().unwrap(),
            password,
            nats,
            keys,
        }
    }

    /// `salve` with `args`, as `who` (their key file), through the broker
    /// to `endpoint`.
    fn cli(&self, who: &str, key: &KeyPair, endpoint: &str, args: &[&str]) -> Output {
        let file = self.keys.path().join(format!("{who}.key"));
        if !file.exists() {
            key.write(&file, Some(&who.parse().unwrap())).unwrap();
        }
        Command::new(SALVE)
            .args(args)
            .args(["--key", &file.display().to_string()])
            .env("SALVE_FLEET", self.nats.url())
            .env("SALVE_FLEET_USER", "people")
            .env("SALVE_FLEET_PASSWORD_FILE", &self.password)
            .env("SALVE_INVENTORY", &self.inventory)
            .env("SALVE_FLEET_ADMIN_KEY", self.admin.public().to_string())
            .env("SALVE_ENDPOINT", endpoint)
            .env("SALVE_SOCKET", "/nonexistent/salve.sock")
            .env_remove("SALVE_LOG")
            .output()
            .unwrap()
    }

    /// The fleet admin creates the buckets, with the CLI.
    fn setup(&self) {
        let admin = User::admin();
        let password = self.nats.password_file(&admin);
        let out = Command::new(SALVE)
            .args(["fleet", "setup", "--fleet", &self.nats.url()])
            .args(["--fleet-user", "admin", "--fleet-password-file"])
            .arg(&password)
            .env("SALVE_INVENTORY", &self.inventory)
            .env("SALVE_FLEET_ADMIN_KEY", self.admin.public().to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// Adds `name` with `key` to the inventory and signs it, with the CLI.
    fn enlist(&self, name: &str, key: &str) {
        let inventory = self.inventory.display().to_string();
        let out = Command::new(SALVE)
            .args(["fleet", "inventory", "add", "--inventory", &inventory])
            .args(["--name", name, "--key", key])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let admin = self.keys.path().join("admin.key");
        if !admin.exists() {
            self.admin.write(&admin, None).unwrap();
        }
        let out = Command::new(SALVE)
            .args(["fleet", "inventory", "sign", "--inventory", &inventory])
            .args(["--key", &admin.display().to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An endpoint named `name` on the fleet, with the people's `keys`.
fn endpoint_on(
    fleet: &Fleet,
    name: &str,
    keys: &std::collections::BTreeMap<String, KeyPair>,
) -> Service {
    let user = User::endpoint(name);
    let password = fleet.nats.password_file(&user);
    let extra = format!(
        "\n[fleet]\nservers = [\"{}\"]\nuser = \"{name}\"\npassword-file = \"{}\"\n",
        fleet.nats.url(),
        password.display()
    );
    // This test's user may consent at the endpoint.
    let consent = format!("consent-min-uid = {}", nix::unistd::getuid().as_raw());
    let service = support::stage_as(Path::new(SALVE), name, keys.clone(), &extra, &consent);
    let started = Instant::now();
    loop {
        let (_, answer) = support::http(&service.socket(), "GET", "/v1/health", b"").unwrap();
        let health = answer.health();
        if health.fleet_connected == Some(true) {
            fleet.enlist(name, health.audit_key.as_deref().unwrap());
            return service;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} did not connect to the broker: {health:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A broker with a user for each of `names`, the people and the admin; its
/// buckets set up; the people, each with a new key; an endpoint on it for
/// each name.
fn fleet_of(
    names: &[&str],
) -> (
    Fleet,
    std::collections::BTreeMap<String, KeyPair>,
    Vec<Service>,
) {
    let mut users: Vec<User> = names.iter().map(|n| User::endpoint(n)).collect();
    users.push(User::people());
    users.push(User::admin());
    let fleet = Fleet::new(Nats::start(&users));
    fleet.setup();
    let people = support::people();
    let services = names
        .iter()
        .map(|name| endpoint_on(&fleet, name, &people))
        .collect();
    (fleet, people, services)
}

/// Every audit record of `service` so far, as text lines.
fn audit_lines(service: &Service) -> Vec<String> {
    let dir = service.dir.path().join("data/audit");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            lines.extend(
                std::fs::read_to_string(path)
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
    }
    lines
}

#[test]
fn people_work_on_three_endpoints_through_the_broker() {
    let names = ["pc-1", "pc-2", "pc-3"];
    let (fleet, people, services) = fleet_of(&names);
    let (tom, ann, carol) = (&people["tom"], &people["ann"], &people["carol"]);
    // The fleet's approval queue as ann sees it, with `filter`.
    let queue = |filter: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["fleet", "pending", "--json"];
        args.extend(filter);
        let out = fleet.cli("ann", ann, "pc-1", &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let queued = |id: &str| queue(&[]).iter().any(|row| row["id"] == id);
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{what}: {:#?}",
                queue(&[])
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // tom asks each endpoint for an attended session with a privileged
    // action: the three wait in the fleet's one approval queue, each
    // checked against the inventory.
    let mut asked = Vec::new();
    for name in names {
        let out = fleet.cli(
            "tom",
            tom,
            name,
            &[
                "session",
                "request",
                "--ticket",
                "INC0099",
                "--problem",
                "Printer queue stuck.",
                "--allow",
                "echo",
                "--allow",
                "hostile",
                "--privileged",
                "--attended",
                "--json",
            ],
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let session: Session = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(session.request.endpoint, name);
        asked.push(session.id.to_string());
    }
    wait_until("not all three in the queue", &|| {
        asked.iter().all(|id| queued(id))
    });
    let listed = queue(&["--ticket", "INC0099"]);
    assert_eq!(listed.len(), 3, "{listed:#?}");
    assert!(listed.iter().all(|row| row["kind"] == "session"));
    assert!(queue(&["--ticket", "INC0100"]).is_empty());
    let only_pc2 = {
        let out = fleet.cli("ann", ann, "pc-2", &["fleet", "pending", "--only", "pc-2"]);
        text(&out.stdout)
    };
    assert!(
        only_pc2.contains(&asked[1]) && !only_pc2.contains(&asked[0]),
        "{only_pc2}"
    );
    // Every endpoint says it is there, as its own key signs it.
    let out = fleet.cli("ann", ann, "pc-1", &["fleet", "endpoints"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in names {
        assert!(
            text(&out.stdout)
                .lines()
                .any(|l| l.starts_with(name) && l.contains("connected")),
            "{}",
            text(&out.stdout)
        );
    }

    for ((name, service), id) in names.iter().zip(&services).zip(&asked) {
        // Separation of duties holds over the fleet as anywhere.
        let out = fleet.cli("tom", tom, name, &["session", "approve", id]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("separation"),
            "{}",
            text(&out.stderr)
        );
        // Approved from the queue by ann, through the broker.
        let out = fleet.cli("ann", ann, name, &["session", "approve", id]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        // The end user consents at the endpoint.
        let body = serde_json::to_vec(&serde_json::json!({ "session": id })).unwrap();
        let (status, answer) =
            support::http(&service.socket(), "POST", "/v1/consent", &body).unwrap();
        assert_eq!(status, 200, "{name}: {answer}");
        // The privileged action is held for a second approval.
        let hostile = [
            "invoke",
            id.as_str(),
            "hostile",
            "--input",
            "{\"mode\": \"hostname\"}",
        ];
        let out = fleet.cli("tom", tom, name, &hostile);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out.stderr));
    }
    // Decided sessions leave the queue; the three escalations are in it,
    // found by their session's ticket.
    wait_until("sessions still queued, or escalations missing", &|| {
        let rows = queue(&["--ticket", "INC0099"]);
        rows.len() == 3 && rows.iter().all(|row| row["kind"] == "escalation")
    });
    let escalations = queue(&["--ticket", "INC0099"]);
    for ((name, service), id) in names.iter().zip(&services).zip(&asked) {
        let row = escalations
            .iter()
            .find(|row| row["endpoint"] == *name)
            .unwrap();
        assert_eq!(row["entry"]["input"], "{\"mode\":\"hostname\"}", "{row:#}");
        let escalation = row["id"].as_str().unwrap();
        // carol approves it from the queue: the digests she was shown go
        // with her approval, through the broker.
        let out = fleet.cli("carol", carol, name, &["escalation", "approve", escalation]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let out = fleet.cli(
            "tom",
            tom,
            name,
            &[
                "invoke",
                id,
                "hostile",
                "--input",
                "{\"mode\": \"hostname\"}",
                "--json",
            ],
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let answer: InvokeAnswer = serde_json::from_slice(&out.stdout).unwrap();
        let InvokeAnswer::Ran { invocation, .. } = answer else {
            panic!("{name}: did not run: {answer:?}");
        };
        assert!(invocation.outcome.succeeded(), "{invocation:?}");
        let out = fleet.cli("tom", tom, name, &["session", "close", id, "--resolved"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        // The endpoint's log says the requests came through the broker.
        let lines = audit_lines(service);
        for kind in [
            "session.requested",
            "session.approved",
            "session.consented",
            "escalation.approved",
            "session.closed",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(&format!("\"kind\":\"{kind}\""))),
                "{name}: no {kind} in {lines:#?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"kind\":\"escalation.approved\"")
                    && l.contains("fleet:nats://")),
            "{name}: {lines:#?}"
        );
    }
    wait_until("escalations still queued", &|| {
        queue(&["--ticket", "INC0099"]).is_empty()
    });
    // An endpoint the inventory does not list is not asked at all.
    let out = fleet.cli("tom", tom, "pc-9", &["session", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`pc-9` is not in the fleet inventory"),
        "{}",
        text(&out.stderr)
    );
    // One the inventory lists that is not connected: offline, at once.
    fleet.enlist("pc-4", &KeyPair::generate().unwrap().public().to_string());
    let started = Instant::now();
    let out = fleet.cli("tom", tom, "pc-4", &["session", "list"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        text(&out.stderr).contains("endpoint-offline")
            && text(&out.stderr).contains("no presence of it"),
        "{}",
        text(&out.stderr)
    );
    // One that was there and stopped: offline, last seen when it said.
    let mut services = services;
    drop(services.pop());
    let out = fleet.cli("tom", tom, "pc-3", &["session", "list"]);
    assert!(
        text(&out.stderr).contains("endpoint-offline")
            && text(&out.stderr).contains("last seen 20"),
        "{}",
        text(&out.stderr)
    );
    let out = fleet.cli("ann", ann, "pc-1", &["fleet", "endpoints", "--json"]);
    let seen: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let state = |name: &str| {
        seen.iter()
            .find(|row| row["endpoint"] == name)
            .map(|row| row["state"].clone())
    };
    assert_eq!(state("pc-1"), Some("connected".into()), "{seen:#?}");
    assert_eq!(state("pc-4"), Some("never-seen".into()), "{seen:#?}");
}

/// A raw NATS client, as an attacker with broker credentials would use.
async fn raw(nats: &Nats, user: &User) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .user_and_password(user.name.clone(), user.password.clone())
        .custom_inbox_prefix(format!("_INBOX_{}", user.name))
        .connect(nats.url())
        .await
        .unwrap()
}

#[test]
fn the_broker_carries_but_cannot_forge_or_misdirect() {
    let mallory = User {
        name: "mallory".to_string(),
        password: "mallory-secret".to_string(),
        // A broker account far too wide: it may take any endpoint's requests.
        permissions: "{ subscribe: { allow: [\">\"] }, publish: { allow: [\">\"] } }".to_string(),
    };
    let users = vec![
        User::endpoint("pc-1"),
        User::endpoint("pc-2"),
        User::people(),
        User {
            name: "mallory".to_string(),
            password: mallory.password.clone(),
            permissions: mallory.permissions.clone(),
        },
    ];
    let fleet = Fleet::new(Nats::start(&users));
    let people = support::people();
    let pc1 = endpoint_on(&fleet, "pc-1", &people);
    let pc1_key: PublicKey = {
        let (_, answer) = support::http(&pc1.socket(), "GET", "/v1/health", b"").unwrap();
        answer.health().audit_key.unwrap().parse().unwrap()
    };
    // pc-2 is listed but not running; pc-5 is listed with a key mallory
    // does not have.
    fleet.enlist("pc-2", &KeyPair::generate().unwrap().public().to_string());
    fleet.enlist("pc-5", &KeyPair::generate().unwrap().public().to_string());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // pc-1's credentials cannot take pc-2's requests: the broker refuses
        // the subscription, so a request to pc-2 finds nobody.
        let as_pc1 = raw(&fleet.nats, &User::endpoint("pc-1")).await;
        let _stolen = as_pc1.subscribe("salve.v1.ep.pc-2.req").await.unwrap();
        as_pc1.flush().await.unwrap();
        // Mallory answers pc-5's requests with answers of her own key.
        let as_mallory = raw(&fleet.nats, &mallory).await;
        let mut taken = as_mallory.subscribe("salve.v1.ep.pc-5.req").await.unwrap();
        let forger = KeyPair::generate().unwrap();
        tokio::spawn(async move {
            while let Some(message) = taken.next().await {
                let reply: Reply<Vec<u8>> = Reply::Result(Vec::new());
                let signed = SignedReply::sign(
                    &forger,
                    "pc-5",
                    Sha256Digest::of(&message.payload),
                    200,
                    &reply,
                )
                .unwrap();
                if let Some(to) = message.reply {
                    let _ = as_mallory
                        .publish(to, serde_json::to_vec(&signed).unwrap().into())
                        .await;
                }
            }
        });
        as_pc1.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Garbage, an unsigned request and an oversized one sent to pc-1
        // straight through the broker: each is refused in an answer pc-1
        // signs, and logged.
        // A request asking pc-1 to answer onto pc-2's request subject gets
        // no answer there.
        let watcher = raw(&fleet.nats, &mallory).await;
        let mut on_pc2 = watcher.subscribe("salve.v1.ep.pc-2.req").await.unwrap();
        watcher.flush().await.unwrap();
        let sender = raw(&fleet.nats, &mallory).await;
        sender
            .publish_with_reply("salve.v1.ep.pc-1.req", "salve.v1.ep.pc-2.req", "{}".into())
            .await
            .unwrap();
        sender.flush().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(1), on_pc2.next())
                .await
                .is_err(),
            "pc-1 answered onto pc-2's request subject"
        );
        let people_raw = raw(&fleet.nats, &User::people()).await;
        for (body, code) in [
            (b"not json".to_vec(), "malformed-request"),
            (
                br#"{"payload": "e30=", "signature": "AAAA"}"#.to_vec(),
                "malformed-request",
            ),
            (vec![b' '; 70_000], "body-too-large"),
        ] {
            let message = people_raw
                .request("salve.v1.ep.pc-1.req", body.clone().into())
                .await
                .unwrap();
            let signed: SignedReply = serde_json::from_slice(&message.payload).unwrap();
            let (status, reply) = signed
                .open::<serde_json::Value>("pc-1", &pc1_key, Sha256Digest::of(&body))
                .unwrap();
            match reply {
                Reply::Error(error) => assert_eq!(error.code, code, "{status}"),
                Reply::Result(value) => panic!("accepted: {value}"),
            }
        }
    });
    let lines = audit_lines(&pc1);
    for code in ["malformed-request", "body-too-large"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("request.refused") && l.contains(code)),
            "{code} not logged: {lines:#?}"
        );
    }
    let tom = &people["tom"];
    let out = fleet.cli("tom", tom, "pc-2", &["session", "list"]);
    assert!(
        text(&out.stderr).contains("endpoint-offline"),
        "pc-1's credentials took pc-2's requests: {}",
        text(&out.stderr)
    );
    let out = fleet.cli("tom", tom, "pc-5", &["session", "list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("not signed by that endpoint's key"),
        "a forged answer was believed: {}",
        text(&out.stderr)
    );
    drop(runtime);
}

#[test]
fn endpoints_come_back_after_the_broker_restarts_mid_burst() {
    let users = vec![User::endpoint("pc-1"), User::people()];
    let fleet = Fleet::new(Nats::start(&users));
    let people = support::people();
    let pc1 = endpoint_on(&fleet, "pc-1", &people);
    let (tom, ann) = (people["tom"].clone(), people["ann"].clone());
    let out = fleet.cli(
        "tom",
        &tom,
        "pc-1",
        &[
            "session",
            "request",
            "--ticket",
            "INC7",
            "--problem",
            "Slow.",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let id = session.id.to_string();
    let out = fleet.cli("ann", &ann, "pc-1", &["session", "approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fleet_connected = |pc1: &Service| {
        let (_, answer) = support::http(&pc1.socket(), "GET", "/v1/health", b"").unwrap();
        answer.health().fleet_connected
    };

    // A burst of invocations through the broker, which is killed in the
    // middle of it and started again.
    let fleet = std::sync::Arc::new(fleet);
    let succeeded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let burst = {
        let (fleet, tom, id) = (fleet.clone(), tom.clone(), id.clone());
        let succeeded = succeeded.clone();
        std::thread::spawn(move || {
            let mut outcomes = Vec::new();
            for _ in 0..40 {
                let out = fleet.cli(
                    "tom",
                    &tom,
                    "pc-1",
                    &[
                        "invoke",
                        &id,
                        "echo",
                        "--input",
                        "{\"ticket\": \"INC7\"}",
                        "--json",
                    ],
                );
                if out.status.success() {
                    succeeded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                outcomes.push(out);
                std::thread::sleep(Duration::from_millis(20));
            }
            outcomes
        })
    };
    // The broker dies once a few invocations went through it.
    let started = Instant::now();
    while succeeded.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing went through"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    fleet.nats.kill();
    // While it is down: the endpoint says so, and works locally.
    let started = Instant::now();
    while fleet_connected(&pc1) != Some(false) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let key = fleet.keys.path().join("ann.key");
    let out = Command::new(SALVE)
        .args(["session", "show", &id, "--key"])
        .arg(&key)
        .env("SALVE_SOCKET", pc1.socket())
        .env_remove("SALVE_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    fleet.nats.run();
    let started = Instant::now();
    while fleet_connected(&pc1) != Some(true) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pc-1 did not reconnect within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcomes = burst.join().unwrap();
    let lines = audit_lines(&pc1);
    let (mut answered, mut failed) = (0, 0);
    for out in &outcomes {
        if out.status.success() {
            // Every invocation a client got an answer to is in the log.
            let answer: InvokeAnswer = serde_json::from_slice(&out.stdout).unwrap();
            let InvokeAnswer::Ran { id, .. } = answer else {
                panic!("not run: {answer:?}");
            };
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(id.as_str()) && l.contains("invocation.finished")),
                "{id} answered but not logged"
            );
            answered += 1;
        } else {
            // The others failed with a clear error, not a hang (with
            // --json, the error is JSON on stdout).
            let error = format!("{}{}", text(&out.stderr), text(&out.stdout));
            assert!(
                error.contains("broker") || error.contains("endpoint-offline"),
                "exit {:?}: {error} {}",
                out.status.code(),
                text(&out.stdout)
            );
            failed += 1;
        }
    }
    assert!(
        answered > 0 && failed > 0,
        "answered {answered}, failed {failed}"
    );
    // And through the broker again.
    let out = fleet.cli(
        "tom",
        &tom,
        "pc-1",
        &["invoke", &id, "echo", "--input", "{\"ticket\": \"INC7\"}"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn the_broker_configuration_made_from_the_inventory_admits_each_endpoint() {
    let keys = tempfile::tempdir().unwrap();
    let inventory = keys.path().join("inventory.json");
    let passwords = keys.path().join("passwords");
    // The names are what the configuration needs; the keys come later.
    let placeholder = KeyPair::generate().unwrap().public().to_string();
    for name in ["pc-1", "pc-2"] {
        let out = Command::new(SALVE)
            .args(["fleet", "inventory", "add", "--inventory"])
            .arg(&inventory)
            .args(["--name", name, "--key", &placeholder])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = Command::new(SALVE)
        .args(["fleet", "nats-config", "--inventory"])
        .arg(&inventory)
        .arg("--out")
        .arg(&passwords)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let block = text(&out.stdout);
    assert!(block.contains("salve.v1.ep.pc-2.>"), "{block}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(passwords.join("pc-1.password"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "a password file others may read");
    // A server run with that block admits pc-1 with its password, and
    // people with theirs.
    let nats = Nats::start_with(&block);
    let mut fleet = Fleet::new(nats);
    std::fs::copy(&inventory, &fleet.inventory).unwrap();
    fleet.password = passwords.join("people.password");
    let people = support::people();
    let extra = format!(
        "\n[fleet]\nservers = [\"{}\"]\nuser = \"pc-1\"\npassword-file = \"{}\"\n",
        fleet.nats.url(),
        passwords.join("pc-1.password").display()
    );
    let service = support::stage_as(Path::new(SALVE), "pc-1", people.clone(), &extra, "");
    let started = Instant::now();
    let key = loop {
        let (_, answer) = support::http(&service.socket(), "GET", "/v1/health", b"").unwrap();
        let health = answer.health();
        if health.fleet_connected == Some(true) {
            break health.audit_key.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "pc-1 not admitted: {health:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    fleet.enlist("pc-1", &key);
    let out = fleet.cli("tom", &people["tom"], "pc-1", &["session", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn the_queue_shows_only_what_endpoints_signed_for_their_own_keys() {
    let mallory = User {
        name: "mallory".to_string(),
        password: "mallory-secret".to_string(),
        // A broker account far too wide: it may write anything anywhere.
        permissions: "{ subscribe: { allow: [\">\"] }, publish: { allow: [\">\"] } }".to_string(),
    };
    let users = vec![
        User::endpoint("pc-1"),
        User::endpoint("pc-2"),
        User::people(),
        User::admin(),
        User {
            name: "mallory".to_string(),
            password: mallory.password.clone(),
            permissions: mallory.permissions.clone(),
        },
    ];
    let fleet = Fleet::new(Nats::start(&users));
    fleet.setup();
    let people = support::people();
    let _pc1 = endpoint_on(&fleet, "pc-1", &people);
    fleet.enlist("pc-2", &KeyPair::generate().unwrap().public().to_string());
    let (tom, ann) = (&people["tom"], &people["ann"]);
    let out = fleet.cli(
        "tom",
        tom,
        "pc-1",
        &[
            "session",
            "request",
            "--ticket",
            "INC5",
            "--problem",
            "Slow.",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let real = format!("pc-1.session.{}", session.id);
    let pending = || {
        let out = fleet.cli("ann", ann, "pc-1", &["fleet", "pending"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let started = Instant::now();
    while !pending().0.contains(session.id.as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            pending()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let jetstream = async_nats::jetstream::new(raw(&fleet.nats, &mallory).await);
        let queue = jetstream.get_key_value("salve-pending").await.unwrap();
        let presence = jetstream.get_key_value("salve-presence").await.unwrap();
        // pc-1's real entry, moved to another key of pc-1's; garbage; an
        // entry signed by a key that is not pc-2's; a presence for pc-2.
        let bytes = queue.get(&real).await.unwrap().unwrap();
        queue
            .put("pc-1.session.s-moved", bytes.clone())
            .await
            .unwrap();
        queue
            .put("pc-1.escalation.e-garbage", "not json".into())
            .await
            .unwrap();
        let forger = KeyPair::generate().unwrap();
        let mut forged_session = session.clone();
        forged_session.request.endpoint = "pc-2".into();
        let forged = SignedReply::sign(
            &forger,
            "pc-2",
            Sha256Digest::of(b"pc-2.session.s-forged"),
            200,
            &Reply::Result(&forged_session),
        )
        .unwrap();
        let forged = serde_json::to_vec(&forged).unwrap();
        queue
            .put("pc-2.session.s-forged", forged.into())
            .await
            .unwrap();
        presence.put("pc-2", bytes).await.unwrap();
        // pc-2's own credentials cannot write pc-1's part of the queue.
        let as_pc2 = async_nats::jetstream::new(raw(&fleet.nats, &User::endpoint("pc-2")).await);
        let theirs = as_pc2.get_key_value("salve-pending").await.unwrap();
        assert!(
            theirs.put("pc-1.session.s-pc2", "{}".into()).await.is_err(),
            "pc-2 wrote pc-1's part of the queue"
        );
    });
    let (shown, named) = pending();
    assert!(shown.contains(session.id.as_str()), "{shown}");
    for key in ["s-moved", "e-garbage", "s-forged", "s-pc2"] {
        assert!(!shown.contains(key), "{key} shown: {shown}");
    }
    for key in ["s-moved", "e-garbage", "s-forged"] {
        assert!(
            named
                .lines()
                .any(|l| l.contains("not shown, it does not verify: pc-") && l.contains(key)),
            "{key} not named: {named}"
        );
    }
    let out = fleet.cli("ann", ann, "pc-1", &["fleet", "endpoints"]);
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("pc-2") && l.contains("never seen")),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("pc-2"), "{}", text(&out.stderr));
    drop(runtime);
}

#[test]
fn output_streams_through_the_broker_in_signed_frames() {
    let users = vec![User::endpoint("pc-1"), User::people()];
    let fleet = Fleet::new(Nats::start(&users));
    let people = support::people();
    let pc1 = endpoint_on(&fleet, "pc-1", &people);
    let pc1_key: PublicKey = {
        let (_, answer) = support::http(&pc1.socket(), "GET", "/v1/health", b"").unwrap();
        answer.health().audit_key.unwrap().parse().unwrap()
    };
    fleet.enlist("pc-2", &KeyPair::generate().unwrap().public().to_string());
    let (tom, ann) = (&people["tom"], &people["ann"]);
    let out = fleet.cli(
        "tom",
        tom,
        "pc-1",
        &[
            "session",
            "request",
            "--ticket",
            "INC8",
            "--problem",
            "Slow.",
            "--allow",
            "system-report",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let id = session.id.to_string();
    let out = fleet.cli("ann", ann, "pc-1", &["session", "approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The report's output as it comes, then its end, through the broker.
    let out = fleet.cli(
        "tom",
        tom,
        "pc-1",
        &["invoke", &id, "system-report", "--follow"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("hostname"),
        "{}",
        text(&out.stdout)
    );
    // An invocation that ended, followed: what it wrote, then how it ended.
    let out = fleet.cli(
        "tom",
        tom,
        "pc-1",
        &["invoke", &id, "echo", "--input", "{\"n\": 1}", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let InvokeAnswer::Ran { id: ran, .. } = serde_json::from_slice(&out.stdout).unwrap() else {
        panic!("echo did not run: {}", text(&out.stdout));
    };
    let out = fleet.cli("tom", tom, "pc-1", &["invocation", "follow", ran.as_str()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("echo@0.1.0 succeeded"),
        "{}",
        text(&out.stderr)
    );
    let lines = audit_lines(&pc1);
    assert!(
        lines.iter().any(|l| l.contains("invocation.started")
            && l.contains("system-report")
            && l.contains("fleet:nats://")),
        "{lines:#?}"
    );
    // Following on an endpoint that is not there: at once, and said so.
    let started = Instant::now();
    let out = fleet.cli("tom", tom, "pc-2", &["invoke", &id, "echo", "--follow"]);
    assert!(
        text(&out.stderr).contains("endpoint-offline"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Garbage sent for streaming is refused in one frame pc-1 signs, the
    // first of its stream, and logged.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = raw(&fleet.nats, &User::people()).await;
        let inbox = client.new_inbox();
        let mut frames = client.subscribe(inbox.clone()).await.unwrap();
        let body = b"not json".to_vec();
        client
            .publish_with_reply("salve.v1.ep.pc-1.stream", inbox, body.clone().into())
            .await
            .unwrap();
        let message = tokio::time::timeout(Duration::from_secs(10), frames.next())
            .await
            .unwrap()
            .unwrap();
        let signed: salve::api::v1::SignedFrame = serde_json::from_slice(&message.payload).unwrap();
        let frame = signed
            .open("pc-1", &pc1_key, Sha256Digest::of(&body), 0)
            .unwrap();
        assert_eq!(frame.status, 400);
        assert!(
            frame.line.as_deref().unwrap().contains("malformed-request"),
            "{frame:?}"
        );
        // Nothing follows a refusal.
        assert!(
            tokio::time::timeout(Duration::from_millis(500), frames.next())
                .await
                .is_err()
        );
    });
}

#[test]
fn many_endpoints_simulated_in_one_process_answer_through_the_broker() {
    let sim = User {
        name: "sim".to_string(),
        password: "sim-secret".to_string(),
        // One broker user for all the simulated endpoints, which may do
        // anything (not what is tested here).
        permissions: "{ publish: { allow: [\">\"] }, subscribe: { allow: [\">\"] }, allow_responses: { max: -1, expires: \"1h\" } }".to_string(),
    };
    let users = vec![
        User {
            name: sim.name.clone(),
            password: sim.password.clone(),
            permissions: sim.permissions.clone(),
        },
        User::people(),
    ];
    let fleet = Fleet::new(Nats::start(&users));
    let people = support::people();
    let extra = format!(
        "\n[fleet]\nservers = [\"{}\"]\nuser = \"sim\"\npassword-file = \"{}\"\n",
        fleet.nats.url(),
        fleet.nats.password_file(&sim).display()
    );
    let template = support::stage_as(Path::new(SALVE), "pc-template", people.clone(), &extra, "");
    let keys_out = template.dir.path().join("keys.json");
    let mut child = Command::new(SALVE)
        .args(["fleet", "simulate", "--endpoints", "3", "--prefix", "lab-"])
        .arg("--config")
        .arg(template.dir.path().join("salve.toml"))
        .arg("--keys-out")
        .arg(&keys_out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "loaded");
    assert_eq!(lines.next().unwrap().unwrap(), "connected 3");
    let keys: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&keys_out).unwrap()).unwrap();
    assert_eq!(
        keys.keys().collect::<Vec<_>>(),
        ["lab-00000", "lab-00001", "lab-00002"]
    );
    for (name, key) in &keys {
        fleet.enlist(name, key);
    }
    // Each is an endpoint of its own: its own sessions, its own log.
    let out = fleet.cli(
        "tom",
        &people["tom"],
        "lab-00002",
        &[
            "session",
            "request",
            "--ticket",
            "INC3",
            "--problem",
            "Slow.",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let out = fleet.cli("tom", &people["tom"], "lab-00001", &["session", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(session.id.as_str()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let log = template.dir.path().join("data/simulated/lab-00002/audit");
    let out = Command::new(SALVE)
        .args(["audit", "verify", "--log"])
        .arg(&log)
        .args(["--key", &keys["lab-00002"]])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records: String = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(
        records.contains("session.requested") && records.contains(session.id.as_str()),
        "{records}"
    );
}

#[test]
fn answers_larger_than_the_broker_carries_come_in_parts() {
    // A broker that carries 8 KiB a message: an audit export, or a streamed
    // answer, is larger than that.
    let users = vec![User::endpoint("pc-1"), User::people()];
    let fleet = Fleet::new(Nats::start_carrying(&users, "8KB"));
    let people = support::people();
    let pc1 = endpoint_on(&fleet, "pc-1", &people);
    let (tom, ann) = (&people["tom"], &people["ann"]);
    let out = fleet.cli(
        "tom",
        tom,
        "pc-1",
        &[
            "session",
            "request",
            "--ticket",
            "INC9",
            "--problem",
            "Slow.",
            "--allow",
            "echo",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let session: Session = serde_json::from_slice(&out.stdout).unwrap();
    let id = session.id.to_string();
    let out = fleet.cli("ann", ann, "pc-1", &["session", "approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Quotes double in each JSON string they are written in: the streamed
    // answer's last frame is several times the request.
    let quotes = "\"".repeat(1500);
    let input = serde_json::json!({ "q": quotes }).to_string();
    for _ in 0..5 {
        let out = fleet.cli(
            "tom",
            tom,
            "pc-1",
            &[
                "invoke", &id, "echo", "--input", &input, "--follow", "--json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&"\\\"".repeat(1500)),
            "{}",
            text(&out.stdout)
        );
    }
    // The whole log through the broker, page by page, each page in parts.
    let file = fleet.keys.path().join("ann.key");
    let out = Command::new(SALVE)
        .args(["audit", "export", "--service", "--key-file"])
        .arg(&file)
        .env("SALVE_FLEET", fleet.nats.url())
        .env("SALVE_FLEET_USER", "people")
        .env("SALVE_FLEET_PASSWORD_FILE", &fleet.password)
        .env("SALVE_INVENTORY", &fleet.inventory)
        .env("SALVE_FLEET_ADMIN_KEY", fleet.admin.public().to_string())
        .env("SALVE_ENDPOINT", "pc-1")
        .env("SALVE_SOCKET", "/nonexistent/salve.sock")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = text(&out.stdout);
    let on_disk = audit_lines(&pc1);
    assert!(exported.len() > 8 * 1024, "{} bytes", exported.len());
    assert!(
        exported.lines().count() >= on_disk.len() - 1,
        "{} exported, {} on disk",
        exported.lines().count(),
        on_disk.len()
    );
}

#[test]
fn the_console_relays_through_the_broker_and_the_endpoints_sign_what_it_carries() {
    use salve::api::v1::{FramePayload, SignedFrame};
    use salve::clock::{Clock, SystemClock};
    use salve::identity::{Nonce, SignedRequest};
    use std::io::Write;
    let names = ["pc-1", "pc-2"];
    let (fleet, people, services) = fleet_of(&names);
    // pc-3 is in the inventory but never connects.
    fleet.enlist("pc-3", &KeyPair::generate().unwrap().public().to_string());
    let key_of = |service: &Service| {
        KeyPair::read(&service.dir.path().join("data/endpoint.key"))
            .unwrap()
            .public()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut console = Command::new(SALVE)
        .args(["console", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--fleet", &fleet.nats.url(), "--fleet-user", "people"])
        .arg("--fleet-password-file")
        .arg(&fleet.password)
        .arg("--inventory")
        .arg(&fleet.inventory)
        .args(["--fleet-admin-key", &fleet.admin.public().to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "no console");
        std::thread::sleep(Duration::from_millis(50));
    }
    let post = |path: &str, body: &[u8]| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        support::read_response(&mut stream).unwrap()
    };
    let sign = |who: &str, endpoint: &str, operation: &salve::api::v1::Operation| {
        let signed = SignedRequest::sign(
            &people[who],
            &who.parse().unwrap(),
            endpoint,
            SystemClock.now_ms(),
            Nonce::random().unwrap(),
            operation,
        )
        .unwrap();
        serde_json::to_vec(&signed).unwrap()
    };
    // tom's session on pc-2, requested and approved through the console
    // and the broker; each answer signed by pc-2 for that very request.
    let request = salve::session::SessionRequest {
        ticket: "INC-77".parse().unwrap(),
        problem: "Slow.".into(),
        category: "incident".into(),
        endpoint: "pc-2".into(),
        technician: "tom".parse().unwrap(),
        scope: salve::session::Scope {
            allowed: vec!["echo".parse().unwrap()],
            prohibited: Default::default(),
            privileged: false,
        },
        attended: false,
        idle_minutes: 60,
        duration_minutes: 240,
    };
    let body = sign(
        "tom",
        "pc-2",
        &salve::api::v1::Operation::RequestSession {
            request: request.clone(),
        },
    );
    let (status, answer) = post("/api/relay/pc-2", &body);
    assert_eq!(status, 200, "{answer}");
    let signed: SignedReply = serde_json::from_slice(answer.body()).unwrap();
    let (_, reply) = signed
        .open::<Session>("pc-2", &key_of(&services[1]), Sha256Digest::of(&body))
        .unwrap();
    let Reply::Result(session) = reply else {
        panic!("refused: {answer}")
    };
    let body = sign(
        "ann",
        "pc-2",
        &salve::api::v1::Operation::ApproveSession {
            session: session.id.clone(),
            request_digest: request.digest(),
        },
    );
    let (status, answer) = post("/api/relay/pc-2", &body);
    assert_eq!(status, 200, "{answer}");
    // pc-1's key does not open pc-2's answer.
    let signed: SignedReply = serde_json::from_slice(answer.body()).unwrap();
    assert!(
        signed
            .open::<Session>("pc-2", &key_of(&services[0]), Sha256Digest::of(&body))
            .is_err()
    );

    // An invocation streamed through the console and the broker: frames
    // signed by pc-2, in order, the last the answer.
    let body = sign(
        "tom",
        "pc-2",
        &salve::api::v1::Operation::Invoke {
            session: session.id.clone(),
            action: "echo".parse().unwrap(),
            input: serde_json::json!({"through": "the broker"}),
        },
    );
    let (status, answer) = post("/api/stream/pc-2", &body);
    assert_eq!(status, 200, "{answer}");
    let frames: Vec<FramePayload> = answer
        .body()
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(seq, line)| {
            let frame: SignedFrame = serde_json::from_slice(line).unwrap();
            frame
                .open(
                    "pc-2",
                    &key_of(&services[1]),
                    Sha256Digest::of(&body),
                    seq as u64,
                )
                .unwrap()
        })
        .collect();
    let last = frames.last().unwrap().line.as_deref().unwrap();
    assert!(last.contains("\"decision\":\"ran\""), "{last}");

    // The queue's rows for pc-1, rendered from its signed answers.
    let queue = serde_json::json!({
        "sessions": serde_json::from_slice::<serde_json::Value>(&sign("ann", "pc-1", &salve::api::v1::Operation::ListSessions { open_only: true })).unwrap(),
        "escalations": serde_json::from_slice::<serde_json::Value>(&sign("ann", "pc-1", &salve::api::v1::Operation::ListEscalations {})).unwrap(),
    });
    let (status, answer) = post(
        "/fragments/queue/pc-1",
        &serde_json::to_vec(&queue).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(
        text(answer.body()).contains("Nothing waits here."),
        "{answer}"
    );

    // An endpoint of the inventory that is not connected: offline, said.
    let body = sign("ann", "pc-3", &salve::api::v1::Operation::ListCatalog {});
    let (status, answer) = post("/api/relay/pc-3", &body);
    assert_eq!(status, 503, "{answer}");
    assert!(
        text(answer.body()).contains("\"endpoint-offline\""),
        "{answer}"
    );
    let _ = console.kill();
    let _ = console.wait();
}
