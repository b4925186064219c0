//! Crash campaigns: `salve serve` killed with SIGKILL at random points under
//! a mixed load (sessions requested, approved and closed; invocations;
//! escalations raised, approved and used; catalog installs and revocations
//! from another process), restarted each time, and checked after each
//! restart against every answer a client received:
//!
//! - the audit log verifies (its chain and signed checkpoints: the whole
//!   log after the first restart, every tenth and the last; after the
//!   others, the records the round added, chained on from the last one
//!   read — a long campaign's log holds a million records);
//! - every answer a client received is in the log;
//! - the state store agrees with the log: no session open that the log
//!   closed, none closed that the log does not close, no approval used
//!   twice, no escalation voided and then approved, or both voided and
//!   used, every invocation the log starts it also ends;
//! - every request accepted before the kill is refused when replayed;
//! - every install and revocation the catalog command reported is there.
//!
//! CI runs a short campaign; the campaign of record (RELIABILITY.md) runs
//! 1000 kills:
//!
//! ```text
//! SALVE_CRASH_KILLS=1000 cargo test --release -p salve-cli --test crash_campaign \
//!     -- --nocapture random_kills
//! ```
//!
//! `SALVE_CRASH_SEED` replays a campaign's kill points; each run prints its
//! seed. `SALVE_CRASH_BIN` names the `salve` binary to run instead of the
//! one just built (a copy, say, so that a long campaign keeps running one
//! version while the tree is rebuilt).

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

use salve::api::v1::{AuditVerification, InvokeAnswer, Operation, Reply};
use salve::audit::{Kind, Record, read};
use salve::escalation::Escalation;
use salve::identity::KeyPair;
use salve::package::Package;
use salve::session::{ClosureReport, Session, SessionId, SessionState};
use salve::vetting::signature::SIGNATURE_FILE;
use salve::vetting::{CatalogStore, Role, Signatures};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Answer, Service, http, signed, stage};

/// The `salve` binary under test.
fn salve_binary() -> PathBuf {
    std::env::var_os("SALVE_CRASH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_salve")))
}

/// A small, seeded generator (splitmix64): the kill points of a campaign
/// can be replayed from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// What clients were told: each entry was answered as done.
#[derive(Default)]
struct Ledger {
    requested: BTreeSet<String>,
    approved: BTreeSet<String>,
    closed: BTreeSet<String>,
    ran: BTreeSet<String>,
    escalated: BTreeSet<String>,
    escalations_approved: BTreeSet<String>,
    installed: BTreeSet<String>,
    revoked: BTreeSet<String>,
    /// Signed requests the service accepted (the last few of each client
    /// in each round), to replay after the restart.
    accepted: Vec<Vec<u8>>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.requested.extend(other.requested);
        self.approved.extend(other.approved);
        self.closed.extend(other.closed);
        self.ran.extend(other.ran);
        self.escalated.extend(other.escalated);
        self.escalations_approved.extend(other.escalations_approved);
        self.installed.extend(other.installed);
        self.revoked.extend(other.revoked);
        self.accepted.extend(other.accepted);
    }

    /// Keeps a request body for the replay check (at most four per client
    /// and round).
    fn accepted(&mut self, body: Vec<u8>) {
        if self.accepted.len() == 4 {
            self.accepted.remove(0);
        }
        self.accepted.push(body);
    }
}

/// One client's view of the service: asks until the service is gone.
struct Client<'s> {
    service: &'s Service,
    ledger: Ledger,
}

/// The service went away under the client (killed).
struct Gone;

impl Client<'_> {
    /// Signs `operation` as `who` and sends it: the answer, or `Gone`.
    fn ask(&mut self, who: &str, operation: &Operation) -> Result<(u16, Answer), Gone> {
        let body = signed(&self.service.keys[who], who, operation);
        match http(&self.service.socket(), "POST", "/v1/requests", &body) {
            // Stopping cleanly, the service answers what is in flight and
            // refuses what comes after: the client stops there too.
            Ok((503, _)) => Err(Gone),
            Ok((status, answer)) => {
                if status == 200 {
                    self.ledger.accepted(body);
                }
                Ok((status, answer))
            }
            Err(_) => Err(Gone),
        }
    }

    /// A session for tom allowing echo and (with a second approval each
    /// time) the hostile guest, approved by ann.
    fn session(&mut self) -> Result<SessionId, Gone> {
        let request = support::session_request(&["echo", "hostile"], true);
        let (status, answer) = self.ask("tom", &Operation::RequestSession { request })?;
        assert_eq!(status, 200, "{answer}");
        let session = answer.result::<Session>();
        self.ledger.requested.insert(session.id.to_string());
        let approve = Operation::ApproveSession {
            session: session.id.clone(),
            request_digest: session.request.digest(),
        };
        let (status, answer) = self.ask("ann", &approve)?;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer.result::<Session>().state, SessionState::Active);
        self.ledger.approved.insert(session.id.to_string());
        Ok(session.id)
    }

    /// Invokes `action` on `input` in `session` as tom: what it came to.
    fn invoke(
        &mut self,
        session: &SessionId,
        action: &str,
        input: serde_json::Value,
    ) -> Result<InvokeAnswer, Gone> {
        let operation = Operation::Invoke {
            session: session.clone(),
            action: action.parse().unwrap(),
            input,
        };
        let (status, answer) = self.ask("tom", &operation)?;
        assert_eq!(status, 200, "{answer}");
        let answer: InvokeAnswer = answer.result();
        if let InvokeAnswer::Ran { id, .. } = &answer {
            self.ledger.ran.insert(id.to_string());
        }
        Ok(answer)
    }

    /// Invocations of echo in one long session, one after another.
    fn invoke_forever(&mut self, session: &SessionId) -> Result<(), Gone> {
        for i in 0.. {
            let answer = self.invoke(session, "echo", json!({ "i": i }))?;
            assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
        }
        Ok(())
    }

    /// Sessions from request to closure: invocations, and an escalation
    /// raised, approved by carol and used, in each.
    fn lifecycles_forever(&mut self) -> Result<(), Gone> {
        for round in 0u64.. {
            let session = self.session()?;
            self.invoke(&session, "echo", json!({ "round": round }))?;
            let input = json!({ "mode": "hostname", "round": round });
            let InvokeAnswer::Escalated { escalation, .. } =
                self.invoke(&session, "hostile", input.clone())?
            else {
                panic!("a privileged invocation was not escalated");
            };
            self.ledger.escalated.insert(escalation.id.to_string());
            self.approve(&escalation)?;
            let answer = self.invoke(&session, "hostile", input)?;
            assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
            let close = Operation::CloseSession {
                session: session.clone(),
                report: ClosureReport {
                    resolved: Some(true),
                    summary: Some("Done.".into()),
                    follow_up: None,
                },
            };
            let (status, answer) = self.ask("tom", &close)?;
            assert_eq!(status, 200, "{answer}");
            self.ledger.closed.insert(session.to_string());
        }
        Ok(())
    }

    fn approve(&mut self, escalation: &Escalation) -> Result<(), Gone> {
        let approve = Operation::ApproveEscalation {
            escalation: escalation.id.clone(),
            action_digest: escalation.key.digest,
            input_digest: escalation.key.input_digest,
        };
        let (status, answer) = self.ask("carol", &approve)?;
        assert_eq!(status, 200, "{answer}");
        self.ledger
            .escalations_approved
            .insert(escalation.id.to_string());
        Ok(())
    }
}

/// A catalog change from another process, after `pause`: the next version
/// of `churn` installed, the one before it revoked.
fn churn_catalog(
    campaign: &Campaign,
    gone: &AtomicBool,
    next: &mut usize,
    pause: Duration,
) -> Ledger {
    let mut ledger = Ledger::default();
    // One change a round, at a random point of it (the kill may come first).
    std::thread::sleep(pause);
    if !gone.load(Ordering::Acquire) && *next < campaign.churn.len() {
        let (label, dir) = &campaign.churn[*next];
        let installed = campaign.salve(&["catalog", "install", dir.to_str().unwrap()]);
        assert!(
            installed.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        ledger.installed.insert(label.clone());
        if *next > 0 {
            let previous = &campaign.churn[*next - 1].0;
            let revoked =
                campaign.salve(&["catalog", "revoke", previous, "--reason", "superseded"]);
            assert!(
                revoked.status.success(),
                "{previous}: {}",
                String::from_utf8_lossy(&revoked.stderr)
            );
            ledger.revoked.insert(previous.clone());
        }
        *next += 1;
    }
    ledger
}

/// A staged endpoint and what the campaign brings to it.
struct Campaign {
    service: Service,
    /// `churn@version` and its signed package directory, in install order.
    churn: Vec<(String, PathBuf)>,
}

impl Campaign {
    /// The endpoint, with `versions` signed versions of `churn` (a copy of
    /// echo) ready to install, vetted by a key the trust file adds.
    fn new(versions: usize) -> Campaign {
        let service = stage(&salve_binary());
        let vetter = KeyPair::generate().unwrap();
        let trust = service.dir.path().join("trust.toml");
        let mut text = std::fs::read_to_string(&trust).unwrap();
        text.push_str(&format!(
            "\n[[vetting-keys]]\nprincipal = \"campaign\"\nkey = \"{}\"\n",
            vetter.public()
        ));
        std::fs::write(&trust, text).unwrap();
        let source = std::fs::read_dir(service.dir.path().join("packages/echo"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>();
        let churn = (0..versions)
            .map(|i| {
                let version = format!("1.0.{i}");
                let dir = service.dir.path().join(format!("churn/{version}"));
                std::fs::create_dir_all(&dir).unwrap();
                for file in &source {
                    let name = file.file_name().unwrap();
                    if name == SIGNATURE_FILE {
                        continue;
                    }
                    std::fs::copy(file, dir.join(name)).unwrap();
                }
                let manifest = dir.join("action.toml");
                let text = std::fs::read_to_string(&manifest)
                    .unwrap()
                    .replace("id = \"echo\"", "id = \"churn\"")
                    .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
                std::fs::write(&manifest, text).unwrap();
                let package = Package::open(&dir).unwrap();
                Signatures::add(
                    &package,
                    &vetter,
                    Role::Vetting,
                    "campaign".parse().unwrap(),
                    "2026-12-07T10:00:00Z".into(),
                )
                .unwrap();
                (format!("churn@{version}"), dir)
            })
            .collect();
        Campaign { service, churn }
    }

    /// `salve` with `args`, on the endpoint's catalog and trust file.
    fn salve(&self, args: &[&str]) -> std::process::Output {
        let dir = self.service.dir.path();
        Command::new(salve_binary())
            .args(args)
            .env("SALVE_CACHE_DIR", dir.join("cli-cache"))
            .env("SALVE_CATALOG_DIR", dir.join("data/catalog"))
            .env("SALVE_TRUST", dir.join("trust.toml"))
            .env_remove("SALVE_LOG")
            .output()
            .unwrap()
    }

    fn kill(&mut self) {
        let child = self.service.child.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let mut child = child;
        child.wait().unwrap();
    }
}

/// What the log has said so far, by id: read once, then only what each
/// restart added (a long campaign's log holds a million records).
#[derive(Default)]
struct LogView {
    /// The last record read, whose hash the next read must chain from.
    last: Option<Record>,
    /// Ids by the kind of record that names them (its code).
    ids: BTreeMap<u32, BTreeSet<String>>,
    /// Uses of each approval (`invocation.started` naming it).
    uses: BTreeMap<String, usize>,
    /// Where each escalation was first voided.
    voided_at: BTreeMap<String, u64>,
    rounds: u64,
}

impl LogView {
    /// Reads the records appended since the last read, checking that they
    /// chain on from it, and checks the invariants the log alone must keep.
    fn catch_up(&mut self, service: &Service) {
        let dir = service.dir.path().join("data/audit");
        let after = self.last.as_ref().map_or(0, |r| r.seq);
        let new: Vec<Record> = read::records_after(&dir, after)
            .chained(self.last.as_ref())
            .map(Result::unwrap)
            .collect();
        for record in &new {
            let id = match record.kind {
                Kind::SessionRequested | Kind::SessionApproved | Kind::SessionClosed => {
                    &record.session
                }
                Kind::InvocationStarted | Kind::InvocationFinished => &record.invocation,
                Kind::InvocationEscalated | Kind::EscalationApproved | Kind::EscalationVoided => {
                    &record.escalation
                }
                _ => &None,
            };
            if let Some(id) = id {
                self.ids
                    .entry(record.kind.code())
                    .or_default()
                    .insert(id.clone());
            }
            // A voided escalation is neither used nor approved afterwards
            // (an approval voided unused, when its session closed, is as it
            // should be); no approval is used twice.
            let Some(escalation) = &record.escalation else {
                continue;
            };
            let voided = self.voided_at.get(escalation).copied();
            match record.kind {
                Kind::EscalationVoided => {
                    self.voided_at
                        .entry(escalation.clone())
                        .or_insert(record.seq);
                }
                Kind::EscalationApproved => assert!(
                    voided.is_none(),
                    "escalation {escalation} approved (record {}) after it was voided",
                    record.seq
                ),
                Kind::InvocationStarted => {
                    assert!(
                        voided.is_none(),
                        "escalation {escalation} used (record {}) after it was voided",
                        record.seq
                    );
                    let uses = self.uses.entry(escalation.clone()).or_default();
                    *uses += 1;
                    assert_eq!(*uses, 1, "approval {escalation} used twice");
                }
                _ => {}
            }
        }
        if let Some(last) = new.into_iter().last() {
            self.last = Some(last);
        }
        // Every invocation the log starts, it ends (those a kill cut short
        // as interrupted, at the restart).
        let open: Vec<_> = self
            .ids(Kind::InvocationStarted)
            .difference(self.ids(Kind::InvocationFinished))
            .cloned()
            .collect();
        assert!(open.is_empty(), "started and never finished: {open:?}");
    }

    fn ids(&self, kind: Kind) -> &BTreeSet<String> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        self.ids.get(&kind.code()).unwrap_or(&NONE)
    }
}

/// Everything a restart must keep: see the module's documentation. The
/// whole log is verified (chain and signed checkpoints) by the service
/// after the first restart, every tenth and the last (`full`); after the
/// others, what the restart added is read chained on from what was read
/// before.
fn check(service: &Service, view: &mut LogView, ledger: &Ledger, replays: &[Vec<u8>], full: bool) {
    let ask = |who: &str, operation: &Operation| {
        let body = signed(&service.keys[who], who, operation);
        http(&service.socket(), "POST", "/v1/requests", &body).unwrap()
    };
    view.rounds += 1;
    if full || view.rounds % 10 == 1 {
        let (status, answer) = ask("ann", &Operation::VerifyAudit {});
        assert_eq!(status, 200, "{answer}");
        assert!(
            matches!(answer.result(), AuditVerification::Verified(_)),
            "{answer}"
        );
    }
    view.catch_up(service);

    // Every answer given is in the log.
    let told: [(&str, &BTreeSet<String>, Kind); 6] = [
        ("requested", &ledger.requested, Kind::SessionRequested),
        ("approved", &ledger.approved, Kind::SessionApproved),
        ("closed", &ledger.closed, Kind::SessionClosed),
        ("ran", &ledger.ran, Kind::InvocationFinished),
        ("escalated", &ledger.escalated, Kind::InvocationEscalated),
        (
            "escalation approved",
            &ledger.escalations_approved,
            Kind::EscalationApproved,
        ),
    ];
    for (what, told, kind) in told {
        let missing: Vec<_> = told.difference(view.ids(kind)).collect();
        assert!(
            missing.is_empty(),
            "answered as {what} but not in the log: {missing:?}"
        );
    }

    // The state store agrees with the log, session by session (those still
    // open each time; all of them on a full check).
    let closed_in_log = view.ids(Kind::SessionClosed);
    let approved_in_log = view.ids(Kind::SessionApproved);
    let (status, answer) = ask("ann", &Operation::ListSessions { open_only: !full });
    assert_eq!(status, 200, "{answer}");
    let sessions: Vec<Session> = answer.result();
    for session in &sessions {
        let id = session.id.to_string();
        match session.state {
            SessionState::Closed => assert!(
                closed_in_log.contains(&id),
                "{id} is closed in the state store, not in the log"
            ),
            SessionState::Active => {
                assert!(
                    approved_in_log.contains(&id),
                    "{id} is active in the state store, not approved in the log"
                );
                assert!(
                    !closed_in_log.contains(&id),
                    "{id} is active in the state store, closed in the log"
                );
            }
            _ => {}
        }
    }

    // A request accepted before the kill is not accepted again.
    for body in replays {
        let (status, answer) = http(&service.socket(), "POST", "/v1/requests", body).unwrap();
        // Refused as seen before, or as signed before the restart's
        // watermark (which also covers requests the kill kept the log
        // from recording as seen).
        assert_eq!(
            status, 401,
            "a request accepted before the kill, replayed: {answer}"
        );
        assert!(
            ["replayed-request", "stale-request"].contains(&answer.code()),
            "a request accepted before the kill, replayed: {answer}"
        );
    }

    // The catalog holds what the catalog command reported.
    let store = CatalogStore::open(&service.dir.path().join("data/catalog")).unwrap();
    let installed: BTreeSet<String> = store
        .list()
        .unwrap()
        .iter()
        .map(|i| format!("{}@{}", i.id, i.version))
        .collect();
    let missing: Vec<_> = ledger.installed.difference(&installed).collect();
    assert!(
        missing.is_empty(),
        "installed but not in the catalog: {missing:?}"
    );
    let revoked: BTreeSet<String> = store
        .revocations()
        .unwrap()
        .iter()
        .map(|(revoked, ..)| revoked.to_string())
        .collect();
    let missing: Vec<_> = ledger.revoked.difference(&revoked).collect();
    assert!(
        missing.is_empty(),
        "revoked but not in the catalog: {missing:?}"
    );
}

#[test]
fn random_kills_under_mixed_load_lose_nothing_acknowledged() {
    let kills = env_number("SALVE_CRASH_KILLS", 6);
    let seed = env_number("SALVE_CRASH_SEED", {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_nanos() as u64
    });
    eprintln!("crash campaign: {kills} kills, SALVE_CRASH_SEED={seed}");
    let mut random = Random(seed);
    let mut campaign = Campaign::new(kills as usize * 2);
    campaign.service.log_level = "error";
    let long_session = Client {
        service: &campaign.service,
        ledger: Ledger::default(),
    }
    .session()
    .ok()
    .unwrap();
    let mut ledger = Ledger::default();
    let mut view = LogView::default();
    let mut next_churn = 0;
    let mut clean_stops = 0;
    let begun = Instant::now();
    let (mut round, mut killed) = (0u64, 0u64);
    while killed < kills {
        round += 1;
        let delay = Duration::from_millis(random.between(5, 1500));
        let churn_pause = Duration::from_millis(random.between(0, 1500));
        // One round in five ends in a clean stop instead: the next kill
        // then cuts short a run begun after a clean stop.
        let signal = if round % 5 == 0 {
            clean_stops += 1;
            nix::sys::signal::Signal::SIGTERM
        } else {
            killed += 1;
            nix::sys::signal::Signal::SIGKILL
        };
        let gone = AtomicBool::new(false);
        let told = std::thread::scope(|scope| {
            let service = &campaign.service;
            let invoker = scope.spawn(|| {
                let mut client = Client {
                    service,
                    ledger: Ledger::default(),
                };
                let _ = client.invoke_forever(&long_session);
                client.ledger
            });
            let lifecycles = scope.spawn(|| {
                let mut client = Client {
                    service,
                    ledger: Ledger::default(),
                };
                let _ = client.lifecycles_forever();
                client.ledger
            });
            let churn =
                scope.spawn(|| churn_catalog(&campaign, &gone, &mut next_churn, churn_pause));
            std::thread::sleep(delay);
            let child = service.child.as_ref().unwrap();
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
            gone.store(true, Ordering::Release);
            let mut told = invoker.join().unwrap();
            told.merge(lifecycles.join().unwrap());
            told.merge(churn.join().unwrap());
            told
        });
        campaign.service.child.take().unwrap().wait().unwrap();
        let replays = told.accepted.clone();
        ledger.merge(told);
        campaign.service.start();
        check(
            &campaign.service,
            &mut view,
            &ledger,
            &replays,
            killed == kills,
        );
        if round % 50 == 0 || killed == kills {
            eprintln!(
                "after {round} rounds ({killed} SIGKILL, {clean_stops} clean stops; {:.0} s): {} invocations ran, {} sessions closed, {} escalations approved, {} installs, {} revocations acknowledged; all in the log after each restart",
                begun.elapsed().as_secs_f64(),
                ledger.ran.len(),
                ledger.closed.len(),
                ledger.escalations_approved.len(),
                ledger.installed.len(),
                ledger.revoked.len(),
            );
        }
    }
    campaign.kill();
    // The load was real: work was acknowledged between kills.
    assert!(ledger.ran.len() as u64 >= kills, "{}", ledger.ran.len());
    assert!(!ledger.closed.is_empty());
    assert!(!ledger.installed.is_empty());
}

// ---------------------------------------------------------------------------
// Storage that fails under the service: a data directory that fills up, an
// audit directory that becomes read-only. Each needs root (to mount); run
// as another user, they say so and do nothing.

/// A mount made for a test, lazily unmounted when dropped.
struct Mounted(PathBuf);

impl Mounted {
    /// A tmpfs of `mib` MiB at `at`.
    fn tmpfs(at: &Path, mib: u64) -> Mounted {
        mount(&["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"], at);
        Mounted(at.to_path_buf())
    }

    /// `at` made read-only where it is, by a read-only bind mount over it.
    /// (A file the service holds open for writing keeps the filesystem
    /// beneath writable — the kernel refuses to remount under a writer —
    /// so what fails is the next file the log creates: its next segment.)
    fn read_only(at: &Path) -> Mounted {
        mount(&["--bind", at.to_str().unwrap()], at);
        let mounted = Mounted(at.to_path_buf());
        mount(&["-o", "remount,ro,bind"], at);
        mounted
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) {
    let out = Command::new("mount").args(args).arg(at).output().unwrap();
    assert!(
        out.status.success(),
        "mount {args:?} {}: {}",
        at.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: mounting a filesystem for this test needs root");
    }
    root
}

/// Invokes echo with `padding` bytes of input until the service refuses:
/// the invocations answered as run, and the refusal.
fn invoke_until_refused(
    service: &Service,
    session: &SessionId,
    padding: usize,
) -> (BTreeSet<String>, u16, Answer) {
    let mut ran = BTreeSet::new();
    let pad = "x".repeat(padding);
    for i in 0.. {
        let operation = Operation::Invoke {
            session: session.clone(),
            action: "echo".parse().unwrap(),
            input: json!({ "i": i, "pad": pad }),
        };
        let body = signed(&service.keys["tom"], "tom", &operation);
        let Ok((status, answer)) = http(&service.socket(), "POST", "/v1/requests", &body) else {
            panic!("the service went away without answering");
        };
        match (status, answer.reply::<InvokeAnswer>()) {
            (200, Reply::Result(InvokeAnswer::Ran { id, .. })) => {
                ran.insert(id.to_string());
            }
            _ => return (ran, status, answer),
        }
        assert!(i < 100_000, "the service never refused");
    }
    unreachable!()
}

/// After a restart: the log verifies, holds every invocation in `ran`,
/// and the service runs invocations again.
fn resumed_with(service: &Service, session: &SessionId, ran: &BTreeSet<String>) {
    service.healthy();
    let ledger = Ledger {
        ran: ran.clone(),
        ..Ledger::default()
    };
    check(service, &mut LogView::default(), &ledger, &[], true);
    let mut client = Client {
        service,
        ledger: Ledger::default(),
    };
    let answer = client.invoke(session, "echo", json!({})).ok().unwrap();
    assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
}

#[test]
fn a_full_data_directory_stops_the_service_which_resumes_once_space_is_back() {
    if !root() {
        return;
    }
    let mut service = stage(&salve_binary());
    let session = service.session();
    service.signal(nix::sys::signal::Signal::SIGTERM);
    // The data directory moves onto a 64 MiB tmpfs.
    let data = service.dir.path().join("data");
    let staged = service.dir.path().join("data.staged");
    std::fs::rename(&data, &staged).unwrap();
    std::fs::create_dir(&data).unwrap();
    let _tmpfs = Mounted::tmpfs(&data, 64);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(staged.join("."))
        .arg(&data)
        .status()
        .unwrap();
    assert!(copied.success());
    service.start();
    // Filled to all but 256 KiB.
    let stat = nix::sys::statvfs::statvfs(&data).unwrap();
    let free = stat.blocks_available() * stat.fragment_size();
    let filler = data.join("filler");
    std::fs::write(&filler, vec![0u8; (free - (256 << 10)) as usize]).unwrap();

    let (ran, status, refusal) = invoke_until_refused(&service, &session, 2048);
    assert!(!ran.is_empty());
    assert_eq!(
        (status, refusal.code()),
        (503, "audit-unavailable"),
        "{refusal}"
    );
    let exit = service.exited();
    assert_eq!(exit.code(), Some(1), "{exit:?}");
    eprintln!(
        "disk full: {} invocations acknowledged, then 503 audit-unavailable and exit {exit}",
        ran.len()
    );

    // Space is back: the service starts, and has lost nothing.
    std::fs::remove_file(&filler).unwrap();
    service.start();
    resumed_with(&service, &session, &ran);
    service.signal(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn an_audit_directory_made_read_only_stops_the_service_which_resumes_once_writable() {
    if !root() {
        return;
    }
    let mut service = stage(&salve_binary());
    let session = service.session();
    service.signal(nix::sys::signal::Signal::SIGTERM);
    // The log grows to within 512 KiB of its 64 MiB segment size, with
    // records signed by the endpoint's key: its next segment comes soon.
    let audit = service.dir.path().join("data/audit");
    let key = KeyPair::read(&service.dir.path().join("data/endpoint.key")).unwrap();
    let mut config = salve::audit::AuditConfig::new(&audit);
    config.checkpoint_key = Some(std::sync::Arc::new(key));
    let segment_bytes = config.max_segment_bytes;
    let log = salve::audit::AuditLog::open(config).unwrap();
    let size = || {
        let last = salve::audit::segment::list(&audit).unwrap().pop().unwrap();
        std::fs::metadata(&last.path).unwrap().len()
    };
    while size() + (1 << 20) + (512 << 10) < segment_bytes {
        let mut padding = Record::event(Kind::ServiceStarted);
        padding.reason = Some("padding ".repeat(1 << 17));
        log.append(padding).unwrap();
    }
    log.close();
    service.start();
    let (before, status, answer) = {
        let mut client = Client {
            service: &service,
            ledger: Ledger::default(),
        };
        let answer = client.invoke(&session, "echo", json!({})).ok().unwrap();
        assert!(matches!(answer, InvokeAnswer::Ran { .. }), "{answer:?}");
        // Read-only from here on.
        let read_only = Mounted::read_only(&audit);
        let (mut ran, status, refusal) = invoke_until_refused(&service, &session, 8192);
        ran.extend(client.ledger.ran);
        let exit = service.exited();
        assert_eq!(exit.code(), Some(1), "{exit:?}");
        eprintln!(
            "audit directory read-only: {} invocations acknowledged, then {status} {} and exit {exit}",
            ran.len(),
            refusal.code()
        );
        // While it is read-only the service does not start, and says why.
        let (exit, stderr) = service.start_failing();
        assert!(!exit.success());
        assert!(stderr.contains("Read-only file system"), "{stderr}");
        drop(read_only);
        (ran, status, refusal)
    };
    assert_eq!(
        (status, answer.code()),
        (503, "audit-unavailable"),
        "{answer}"
    );
    // Writable again: the service starts, and has lost nothing.
    service.start();
    resumed_with(&service, &session, &before);
    service.signal(nix::sys::signal::Signal::SIGTERM);
}
