//! `salve demo`: the whole support lifecycle against a real service, on
//! embedded defaults. Builds the shipped actions (if not built yet), stages
//! an endpoint in a temporary directory (keys, a sample policy, the actions
//! signed by a generated vetting key and installed), starts `salve serve`,
//! and walks the lifecycle over its API: request, a refused self-approval,
//! approval, consent, a standard action, a privileged one escalated and
//! approved by a second person, an out-of-scope action refused, closure;
//! then verifies the audit log and prints the session report and metrics.
//! Exits 0 only if every step behaved as expected.

use crate::args::{CacheArgs, DemoArgs};
use crate::client::{ApiError, Client, Target};
use crate::exit::{CliResult, Exit, ExitWith};
use crate::setup;
use anyhow::{Context, anyhow};
use salve::api::v1::{AuditVerification, EscalationView, InvokeAnswer, Operation, StreamEvent};
use salve::audit::log::timestamp;
use salve::audit::report::{metrics as compute_metrics, session_report};
use salve::audit::{Checkpoint, Kind, Record, read, verify_dir};
use salve::identity::{KeyPair, PublicKey};
use salve::outcome::{InvocationRecord, InvocationStatus};
use salve::session::{ClosureReport, Scope, Session, SessionId, SessionRequest, SessionState};
use salve::vetting::{CatalogStore, Role, Signatures, TrustConfig};
use salve::{Package, Runtime, RuntimeConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checkout's `actions/`, when salve runs from where it was built.
const DEFAULT_ACTIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../actions");

pub fn demo(args: &DemoArgs) -> CliResult {
    let actions_dir = args
        .actions
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ACTIONS));
    let actions_dir = std::fs::canonicalize(&actions_dir)
        .with_context(|| {
            format!(
                "cannot find the shipped actions at {}: run from a salve checkout or pass --actions <DIR>",
                actions_dir.display()
            )
        })
        .exit_with(Exit::Usage)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| actions_dir.join("../target"));

    println!("== 1. Build the shipped actions into packages");
    let packages = build_all(&actions_dir, &target)?;
    for package in packages.values() {
        let manifest = package.manifest();
        let capabilities: Vec<String> = manifest
            .capabilities
            .here()
            .names()
            .iter()
            .filter(|c| *c != salve::Capability::Log)
            .map(|c| format!("{c} ({})", c.class()))
            .collect();
        println!(
            "   {:<24} sha256 {}  {}",
            manifest.label(),
            package.digest().short(),
            capabilities.join(", ")
        );
    }

    lifecycle(&packages, &args.cache)
}

/// The people of the demo: id, roles.
const PEOPLE: &[(&str, &str)] = &[
    ("tom", "technician"),
    ("ann", "approver"),
    ("carol", "approver"),
    ("dave", "auditor"),
];

const POLICY: &str = r#"schema = 1

[settings]
max-session-minutes = 240
max-idle-minutes = 60
escalation-minutes = 15
clock-skew-seconds = 120

[categories]
incident = "A reported fault that needs hands-on remediation."

[roles.technician]
description = "Second-line support"
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]

[roles.approver]
description = "Team lead on duty"
permissions = ["approve-sessions", "approve-escalations"]

[roles.auditor]
permissions = ["read-audit"]
"#;

/// Everything the demo's service runs on, in a temporary directory.
struct Stage {
    dir: tempfile::TempDir,
    keys: BTreeMap<String, KeyPair>,
}

impl Stage {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self, who: Option<&str>) -> Client {
        let signer = who.map(|id| {
            (
                self.keys[id].clone(),
                id.parse().unwrap_or_else(|_| unreachable_principal()),
            )
        });
        Client::new(Target::Unix(self.path("data/salve.sock")), signer)
    }
}

fn unreachable_principal() -> salve::identity::PrincipalId {
    // The demo's ids are constants that parse; this is never reached.
    "nobody".parse().unwrap_or_else(|_| std::process::abort())
}

/// Keys, policy, trust, the shipped actions signed and installed, and the
/// service's configuration.
fn stage(packages: &BTreeMap<String, Package>, cache: &CacheArgs) -> anyhow::Result<Stage> {
    let dir = tempfile::Builder::new().prefix("salve-demo-").tempdir()?;
    let mut keys = BTreeMap::new();
    // The demo's end user, who consents at the "endpoint", is whoever runs
    // it — under a real policy, system accounts and root may not consent.
    let uid = salve::session::ConsentingUser::current_process().uid;
    let mut policy = POLICY.replace(
        "clock-skew-seconds = 120\n",
        &format!("clock-skew-seconds = 120\nconsent-min-uid = {uid}\n"),
    );
    for (id, role) in PEOPLE {
        let key = KeyPair::generate()?;
        policy.push_str(&format!(
            "\n[[principals]]\nid = \"{id}\"\nname = \"{}\"\nroles = [\"{role}\"]\npublic-key = \"{}\"\n",
            id[..1].to_uppercase() + &id[1..],
            key.public()
        ));
        keys.insert(id.to_string(), key);
    }
    std::fs::write(dir.path().join("policy.toml"), &policy)?;
    let board = KeyPair::generate()?;
    std::fs::write(
        dir.path().join("trust.toml"),
        format!(
            "schema = 1\nrequired-signatures = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{}\"\n",
            board.public()
        ),
    )?;
    let trust = TrustConfig::read(&dir.path().join("trust.toml"))?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: setup::cache_dir(cache),
        ..RuntimeConfig::default()
    })?;
    let store = CatalogStore::open(&dir.path().join("data/catalog"))?;
    for package in packages.values() {
        // Sign a copy: the built package stays as it is.
        let copy = dir
            .path()
            .join("packages")
            .join(package.manifest().id.as_str());
        std::fs::create_dir_all(&copy)?;
        for name in ["action.toml", package.manifest().component.file.as_str()] {
            std::fs::copy(package.dir().join(name), copy.join(name))?;
        }
        let signed = Package::open(&copy)?;
        Signatures::add(
            &signed,
            &board,
            Role::Vetting,
            "vetting-board".parse().map_err(|e: String| anyhow!(e))?,
            timestamp(std::time::SystemTime::now()),
        )?;
        store.install(
            &runtime,
            &copy,
            &trust,
            &timestamp(std::time::SystemTime::now()),
        )?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        dir.path().join("salve.toml"),
        format!(
            "endpoint = \"demo-endpoint\"\ndata-dir = \"data\"\nsocket = \"data/salve.sock\"\nlisten = \"127.0.0.1:{port}\"\npolicy = \"policy.toml\"\ntrust = \"trust.toml\"\nsweep-seconds = 5\n"
        ),
    )?;
    Ok(Stage { dir, keys })
}

/// Tallies the steps.
struct Steps {
    failures: Vec<String>,
}

impl Steps {
    fn check(&mut self, step: &str, ok: bool, detail: impl std::fmt::Display) {
        println!("   {} {detail}", if ok { "ok:" } else { "UNEXPECTED:" });
        if !ok {
            self.failures.push(step.to_string());
        }
    }

    /// A refusal with `code` expected.
    fn refused<T: std::fmt::Debug>(&mut self, step: &str, code: &str, result: anyhow::Result<T>) {
        match result {
            Err(error) => match error.downcast_ref::<ApiError>() {
                Some(api) if api.code == code => {
                    self.check(step, true, format!("refused ({code}): {}", api.message))
                }
                _ => self.check(step, false, format!("expected `{code}`, got: {error:#}")),
            },
            Ok(value) => self.check(
                step,
                false,
                format!("expected `{code}`, but it went through: {value:?}"),
            ),
        }
    }
}

fn lifecycle(packages: &BTreeMap<String, Package>, cache: &CacheArgs) -> CliResult {
    println!(
        "\n== 2. Stage an endpoint: keys for tom (technician), ann and carol (approvers), dave (auditor);"
    );
    println!("      a policy; the shipped actions signed by a generated vetting key and installed");
    let stage = stage(packages, cache)
        .context("cannot stage the demo endpoint")
        .exit_with(Exit::Failed)?;
    println!("   in {}", stage.dir.path().display());

    println!("\n== 3. Start `salve serve`");
    let exe = std::env::current_exe()
        .context("cannot find the salve binary")
        .exit_with(Exit::Failed)?;
    let log_path = stage.path("service.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))
        .exit_with(Exit::Failed)?;
    println!("   its log: {}", log_path.display());
    let mut service = std::process::Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(stage.path("salve.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start the service")
        .exit_with(Exit::Failed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .exit_with(Exit::Failed)?;
    let result = runtime.block_on(walk(&stage, &mut service));
    // Stop the service the way systemd does, and wait for it to flush.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(service.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = service.wait();
    let mut steps = match result {
        Ok(steps) => steps,
        Err(error) => {
            let kept = stage.dir.keep();
            eprintln!(
                "The service's data is kept for a look in {} (its log: {}).",
                kept.display(),
                kept.join("service.log").display()
            );
            return Err(error).exit_with(Exit::Failed);
        }
    };
    steps.check(
        "service-stopped",
        status.as_ref().is_ok_and(|s| s.success()),
        "the service stopped on SIGTERM, the audit log flushed and closed",
    );

    println!(
        "\n== 13. The audit log, read from disk after the stop, verifies against the endpoint key and the checkpoints kept beside it"
    );
    let audit_dir = stage.path("data/audit");
    let key = std::fs::read_to_string(stage.path("data/endpoint.key"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("public-key"))
                .and_then(|l| l.split('"').nth(1))
                .map(str::to_string)
        })
        .and_then(|k| k.parse::<PublicKey>().ok());
    let checkpoint = Checkpoint::read(&stage.path("data/checkpoints.jsonl")).ok();
    match verify_dir(&audit_dir, key.as_ref(), checkpoint.as_ref()) {
        Ok(verified) => steps.check(
            "audit",
            key.is_some() && checkpoint.is_some(),
            format!(
                "{} records, chain intact, {} signed checkpoint(s)",
                verified.records, verified.checkpoints
            ),
        ),
        Err(error) => steps.check("audit", false, error),
    }

    let records: Vec<Record> = read::records(&audit_dir).filter_map(Result::ok).collect();
    let session = records
        .iter()
        .find(|r| r.kind == Kind::SessionRequested)
        .and_then(|r| r.session.clone())
        .unwrap_or_default();
    println!("\n== 14. The post-session report, from the audit log\n");
    match session_report(records.clone(), &session) {
        Some(report) => {
            for line in crate::report::render_session(&report).lines() {
                println!("   {line}");
            }
            steps.check(
                "report",
                report.flags.is_empty() && report.invocations.len() == 6,
                "the session's story, as logged",
            );
        }
        None => steps.check("report", false, "the log does not mention the session"),
    }
    println!("\n== 15. Workflow metrics\n");
    let metrics = compute_metrics(records, None);
    println!("   {}", crate::report::header());
    println!("   {}", crate::report::row("overall", &metrics.overall));
    steps.check(
        "metrics",
        metrics.overall.sessions == 1
            && metrics.overall.resolved == 1
            && metrics.overall.escalated == 1
            && metrics.overall.out_of_scope_attempts == 1,
        "one session, resolved, with one escalation and one out-of-scope attempt",
    );

    if steps.failures.is_empty() {
        println!(
            "\nThe service's data was in {} (removed now).",
            stage.dir.path().display()
        );
        println!("\nEvery step behaved as expected.");
        Ok(Exit::Success)
    } else {
        let kept = stage.dir.keep();
        println!(
            "\nThe service's data is kept for a look in {} (its log: {}).",
            kept.display(),
            kept.join("service.log").display()
        );
        Err(anyhow!(
            "unexpected results in: {}",
            steps.failures.join(", ")
        ))
        .exit_with(Exit::Failed)
    }
}

async fn walk(stage: &Stage, service: &mut std::process::Child) -> anyhow::Result<Steps> {
    let mut steps = Steps {
        failures: Vec::new(),
    };
    let anonymous = stage.client(None);
    let started = std::time::Instant::now();
    let health = loop {
        match anonymous.health().await {
            Ok(health) => break health,
            Err(error) => {
                if let Ok(Some(status)) = service.try_wait() {
                    return Err(anyhow!("the service exited ({status}) before answering"));
                }
                if started.elapsed() > std::time::Duration::from_secs(60) {
                    return Err(error.context("the service did not answer within 60 s"));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    println!(
        "   serving endpoint {:?} with {} actions; TLS certificate {}",
        health.endpoint,
        health.actions,
        health
            .tls_fingerprint
            .as_deref()
            .map_or("null".to_string(), |f| format!("{f:?}"))
    );
    let (tom, ann, carol) = (
        stage.client(Some("tom")),
        stage.client(Some("ann")),
        stage.client(Some("carol")),
    );

    println!(
        "\n== 4. tom requests an attended session for ticket INC0012345 (system-report, disk-usage, clear-temp-files)"
    );
    let request = SessionRequest {
        ticket: "INC0012345".parse().map_err(|e: String| anyhow!(e))?,
        problem: "The laptop is slow and the disk is nearly full.".to_string(),
        category: "incident".to_string(),
        endpoint: "demo-endpoint".to_string(),
        technician: "tom".parse().map_err(|e: String| anyhow!(e))?,
        scope: Scope {
            allowed: ["system-report", "disk-usage", "clear-temp-files"]
                .iter()
                .map(|a| a.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow!("{e}"))?,
            prohibited: Default::default(),
            privileged: true,
        },
        attended: true,
        idle_minutes: 30,
        duration_minutes: 120,
    };
    let session: Session = tom.ask(&Operation::RequestSession { request }).await?;
    let id = session.id.clone();
    steps.check(
        "request",
        session.state == SessionState::Requested,
        format!("session {id} requested"),
    );

    println!("\n== 5. tom tries to approve his own session");
    steps.refused(
        "self-approval",
        "separation-of-duties",
        tom.ask::<Session>(&Operation::ApproveSession {
            session: id.clone(),
            request_digest: session.request.digest(),
        })
        .await,
    );

    println!("\n== 6. ann approves; the end user consents at the endpoint (over the local socket)");
    let approved: Session = ann
        .ask(&Operation::ApproveSession {
            session: id.clone(),
            request_digest: session.request.digest(),
        })
        .await?;
    steps.check(
        "approve",
        approved.state == SessionState::Approved,
        "approved by ann; waiting for the end user",
    );
    let asked: Session = anonymous.consent(&id, true).await?.read()?;
    steps.check(
        "consent-preview",
        asked.state == SessionState::Approved && asked.request.ticket.to_string() == "INC0012345",
        format!(
            "the end user is first shown what they consent to: ticket {:?}, technician {:?}, actions {}",
            asked.request.ticket.to_string(),
            asked.request.technician.as_str(),
            serde_json::to_string(&asked.request.scope.allowed)?
        ),
    );
    let consented: Session = anonymous.consent(&id, false).await?.read()?;
    steps.check(
        "consent",
        consented.state == SessionState::Active,
        format!(
            "consent by {} (as the kernel names the socket's peer): active",
            consented
                .consent
                .as_ref()
                .map_or("null".to_string(), |(user, _)| format!("{:?}", user.name))
        ),
    );

    println!("\n== 7. tom runs system-report (standard)");
    let ran: InvokeAnswer = tom.ask(&invoke(&id, "system-report", json!({}))).await?;
    let (ok, status, output) = ran_with(&ran);
    steps.check(
        "standard",
        ok,
        format!("host {} — {status}", output["hostname"]),
    );

    println!("   tom runs disk-usage and follows it: its warnings stream in as it writes them");
    let mut streamed = 0;
    let followed: InvokeAnswer = tom
        .stream(
            &invoke(&id, "disk-usage", json!({"warn_percent": 1})),
            |event| {
                if let StreamEvent::Log(entry) = event {
                    streamed += 1;
                    println!("     [{}] {}", entry.level, entry.message);
                }
            },
        )
        .await?
        .read()?;
    let (followed_ok, followed_id) = match &followed {
        InvokeAnswer::Ran { id, invocation, .. } => {
            (invocation.outcome.succeeded(), Some(id.clone()))
        }
        _ => (false, None),
    };
    let invocation_id =
        followed_id.ok_or_else(|| anyhow!("disk-usage did not run: {followed:?}"))?;
    let shown: InvocationRecord = tom
        .ask(&Operation::ShowInvocation {
            invocation: invocation_id.clone(),
        })
        .await?;
    steps.check(
        "followed",
        followed_ok
            && shown.status == InvocationStatus::Finished
            && shown.invocation.as_ref().map(|i| i.logs.len()) == Some(streamed),
        format!(
            "invocation {invocation_id}: {streamed} warning(s) streamed live, the same kept for `salve invocation show`"
        ),
    );

    println!(
        "\n== 8. tom runs clear-temp-files (privileged: it writes /var/tmp) as a dry run: held for a second approver"
    );
    let cleanup = invoke(
        &id,
        "clear-temp-files",
        json!({"older_than_days": 30, "dry_run": true}),
    );
    let held: InvokeAnswer = tom.ask(&cleanup).await?;
    let InvokeAnswer::Escalated {
        escalation: held, ..
    } = held
    else {
        return Err(anyhow!(
            "clear-temp-files was not held for approval: {held:?}"
        ));
    };
    let escalation = held.id.clone();
    steps.check(
        "escalated",
        true,
        format!(
            "escalation {escalation} for input sha256 \"{}\"",
            held.key.input_digest
        ),
    );
    let shown: EscalationView = carol
        .ask(&Operation::ShowEscalation {
            escalation: escalation.clone(),
        })
        .await?;
    let input = shown.escalation.input.as_deref();
    steps.check(
        "approver-sees-input",
        input.and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
            == Some(json!({"older_than_days": 30, "dry_run": true})),
        format!(
            "carol sees exactly what would run: {}@{} with input {}",
            shown.escalation.key.action,
            shown.escalation.key.version,
            input.unwrap_or("—")
        ),
    );
    steps.refused(
        "own-escalation",
        "separation-of-duties",
        tom.ask::<EscalationView>(&Operation::ApproveEscalation {
            escalation: escalation.clone(),
            action_digest: shown.escalation.key.digest,
            input_digest: shown.escalation.key.input_digest,
        })
        .await,
    );

    println!("\n== 9. carol approves that exact invocation; tom runs it");
    let approved: EscalationView = carol
        .ask(&Operation::ApproveEscalation {
            escalation,
            action_digest: shown.escalation.key.digest,
            input_digest: shown.escalation.key.input_digest,
        })
        .await?;
    steps.check(
        "approve-escalation",
        approved
            .escalation
            .approval
            .is_some_and(|a| a.by.as_str() == "carol"),
        "approved by carol, for this action, this input, once",
    );
    let ran: InvokeAnswer = tom.ask(&cleanup).await?;
    let (ok, status, output) = ran_with(&ran);
    steps.check(
        "privileged",
        ok,
        format!(
            "\"{status}\" — would remove {} file(s)",
            output["would_remove"]
        ),
    );

    println!("\n== 10. tom tries restart-service, outside the scope");
    let denied: InvokeAnswer = tom
        .ask(&invoke(
            &id,
            "restart-service",
            json!({"service": "cups.service"}),
        ))
        .await?;
    let (out_of_scope, reason) = denied_with(&denied);
    steps.check(
        "out-of-scope",
        out_of_scope == Some("out-of-scope"),
        format!("denied: {reason}"),
    );

    println!("\n== 11. tom closes the session with a write-up");
    let report = ClosureReport {
        resolved: Some(true),
        summary: Some("Checked the system; cleared temporary files (dry run first).".to_string()),
        follow_up: None,
    };
    let closed: Session = tom
        .ask(&Operation::CloseSession {
            session: id.clone(),
            report,
        })
        .await?;
    steps.check(
        "close",
        closed.state == SessionState::Closed,
        "closed, resolved",
    );
    let after: InvokeAnswer = tom.ask(&invoke(&id, "system-report", json!({}))).await?;
    let (after_close, reason) = denied_with(&after);
    steps.check(
        "after-close",
        after_close.is_some(),
        format!("after closing: {reason}"),
    );

    println!("\n== 12. dave, the auditor, has the service verify its audit log; tom may not");
    let dave = stage.client(Some("dave"));
    let verified: AuditVerification = dave.ask(&Operation::VerifyAudit {}).await?;
    match &verified {
        AuditVerification::Verified(verified) => steps.check(
            "audit-through-service",
            true,
            format!(
                "{} records, {} signed checkpoint(s), chain intact",
                verified.records, verified.checkpoints
            ),
        ),
        other => steps.check(
            "audit-through-service",
            false,
            format!("the log does not verify: {other:?}"),
        ),
    }
    steps.refused(
        "audit-not-for-technicians",
        "role-not-permitted",
        tom.ask::<AuditVerification>(&Operation::VerifyAudit {})
            .await,
    );
    Ok(steps)
}

/// Whether `answer` ran and succeeded, its outcome, and its output (JSON
/// null when there is none).
fn ran_with(answer: &InvokeAnswer) -> (bool, &'static str, serde_json::Value) {
    match answer {
        InvokeAnswer::Ran { invocation, .. } => (
            invocation.outcome.succeeded(),
            invocation.outcome.code(),
            invocation
                .outcome
                .output()
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or_default(),
        ),
        _ => (false, "not run", serde_json::Value::Null),
    }
}

/// The denial's code and reason, if `answer` is a denial.
fn denied_with(answer: &InvokeAnswer) -> (Option<&str>, &str) {
    match answer {
        InvokeAnswer::Denied { denial, reason } => (Some(denial.code.as_str()), reason),
        _ => (None, "—"),
    }
}

fn invoke(session: &SessionId, action: &str, input: serde_json::Value) -> Operation {
    Operation::Invoke {
        session: session.clone(),
        action: action.parse().unwrap_or_else(|_| std::process::abort()),
        input,
    }
}

/// Builds every crate of the actions workspace and assembles its package
/// under `target/salve-demo/packages/`.
fn build_all(
    actions_dir: &Path,
    target: &Path,
) -> Result<BTreeMap<String, Package>, crate::exit::Failure> {
    let mut compile = salve_pack::Compile::new(actions_dir.join("Cargo.toml"));
    compile.target_dir = Some(target.join("wasm-guests"));
    let components = salve_pack::compile(&compile).exit_with(Exit::Failed)?;
    let mut packages = BTreeMap::new();
    for component in components {
        let out = target.join("salve-demo/packages").join(&component.package);
        let assembled = salve_pack::assemble(&component.crate_dir, &component.wasm, &out)
            .exit_with(Exit::Failed)?;
        let package = Package::open(&assembled.dir).exit_with(Exit::Refused)?;
        packages.insert(package.manifest().id.to_string(), package);
    }
    Ok(packages)
}
