//! Example of embedding the whole endpoint in a host program: a policy, a
//! session tied to a ticket, approved by someone else, an action invoked in
//! it — held for a second approver when it is privileged — the session
//! closed with its write-up, and the audit log verified and turned into the
//! session's report. Everything through the library's public API; the host
//! vouches for who its people are (`Authenticated::trusted`), as a program
//! with its own login would.
//!
//! Build a package, then run this host on it (in a temporary directory):
//!
//! ```text
//! rustup target add wasm32-wasip2
//! cargo run --release -- action build actions/system-report --out /tmp/system-report
//! cargo run --release -p salve-examples --bin embed-endpoint -- /tmp/system-report '{}'
//! ```
//!
//! With a privileged action (say `clear-temp-files`, input
//! `{"older_than_days": 30, "dry_run": true}`) the first invocation is held,
//! a second person approves exactly that invocation, and it runs.

use salve::audit::report::session_report;
use salve::audit::{AuditConfig, AuditLog, read, verify_dir};
use salve::catalog::Catalog;
use salve::endpoint::{Authenticated, Endpoint, InvokeOutcome};
use salve::identity::KeyPair;
use salve::policy::Policy;
use salve::session::{ClosureReport, Scope, SessionRequest};
use salve::store::StateStore;
use salve::{Package, Runtime, RuntimeConfig};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(package_dir), input) = (args.next(), args.next()) else {
        eprintln!("usage: embed-endpoint <package-dir> [input-json]");
        return ExitCode::from(2);
    };
    match run(Path::new(&package_dir), input.as_deref().unwrap_or("{}")) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(3)
        }
    }
}

/// The people: a first-line technician who requests sessions and works in
/// them, and two approvers. Their keys matter only for signed requests; this
/// host vouches for them itself.
fn policy() -> Result<Policy, Error> {
    let mut text = String::from(
        r#"schema = 1
[categories]
incident = "A reported fault."
[roles.technician]
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]
[roles.approver]
permissions = ["approve-sessions", "approve-escalations", "read-audit"]
"#,
    );
    for (id, role) in [
        ("tom", "technician"),
        ("ann", "approver"),
        ("carol", "approver"),
    ] {
        let key = KeyPair::generate()?.public();
        text.push_str(&format!(
            "[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{role}\"]\npublic-key = \"{key}\"\n"
        ));
    }
    Ok(Policy::parse(&text, Path::new("policy.toml"))?)
}

fn run(package_dir: &Path, input: &str) -> Result<bool, Error> {
    let data = std::env::temp_dir().join(format!("salve-embed-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;

    // The runtime, the actions it may run, and the endpoint around them:
    // state in SQLite, every event in the audit log, checkpoints signed with
    // the endpoint's own key.
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let package = Package::open(package_dir)?;
    let action = package.manifest().id.clone();
    let catalog = Catalog::load(&runtime, [package])?;
    let endpoint_key = Arc::new(KeyPair::generate()?);
    let mut audit = AuditConfig::new(data.join("audit"));
    audit.checkpoint_key = Some(endpoint_key.clone());
    let endpoint = Endpoint::new(
        "pc-0421",
        runtime,
        catalog,
        policy()?,
        StateStore::open(&data.join("state.db"))?,
        Arc::new(AuditLog::open(audit)?),
    );
    endpoint.begin_run()?;
    let who =
        |id: &str| -> Result<Authenticated, Error> { Ok(Authenticated::trusted(id.parse()?)) };

    // A session for a ticket, scoped to this one action, approved by ann.
    let session = endpoint.request_session(
        &who("tom")?,
        SessionRequest {
            ticket: "INC0012345".parse()?,
            problem: "The user's laptop misbehaves.".to_string(),
            category: "incident".to_string(),
            endpoint: "pc-0421".to_string(),
            technician: "tom".parse()?,
            scope: Scope {
                allowed: vec![action.as_str().parse()?],
                prohibited: Default::default(),
                privileged: true,
            },
            attended: false,
            idle_minutes: 30,
            duration_minutes: 60,
        },
    )?;
    endpoint.approve_session(&who("ann")?, &session.id)?;
    println!(
        "session {} ({:?})",
        session.id,
        endpoint.session(&who("tom")?, &session.id)?.state
    );

    // Invoke; a privileged action is held until carol approves exactly this
    // invocation, then invoked again and run.
    let mut outcome = endpoint.invoke(&who("tom")?, &session.id, &action, input)?;
    if let InvokeOutcome::Escalated { escalation, .. } = &outcome {
        println!(
            "held: escalation {} waits for a second approver",
            escalation.id
        );
        endpoint.approve_escalation(&who("carol")?, &escalation.id)?;
        println!("approved by carol");
        outcome = endpoint.invoke(&who("tom")?, &session.id, &action, input)?;
    }
    let succeeded = match &outcome {
        InvokeOutcome::Ran { invocation, .. } => {
            println!(
                "{} {} in {:?}",
                invocation.action,
                invocation.outcome.code(),
                invocation.duration
            );
            invocation.outcome.succeeded()
        }
        InvokeOutcome::Denied { denial } => {
            println!("denied ({}): {denial}", denial.code());
            false
        }
        InvokeOutcome::Escalated { .. } => false,
    };

    // Closed with its write-up; the run ends cleanly.
    endpoint.close_session(
        &who("tom")?,
        &session.id,
        ClosureReport {
            resolved: Some(succeeded),
            summary: Some(format!("Ran {action}.")),
            follow_up: None,
        },
    )?;
    endpoint.stop()?;
    endpoint.audit().close();

    // The auditor's side: the log verifies against the endpoint's key, and
    // the session's report is built from it.
    let dir = data.join("audit");
    let verified = verify_dir(&dir, Some(&endpoint_key.public()), None)?;
    println!(
        "audit log: {} records, {} signed checkpoint(s), chain intact",
        verified.records, verified.checkpoints
    );
    let records = read::records(&dir).collect::<Result<Vec<_>, _>>()?;
    if let Some(report) = session_report(records, session.id.as_str()) {
        println!(
            "report: {} action line(s), {} escalation(s), resolved {:?}",
            report.invocations.len(),
            report.escalations.len(),
            report.closed.and_then(|c| c.resolved)
        );
    }
    std::fs::remove_dir_all(&data)?;
    Ok(succeeded)
}
