//! Decision benchmark: the policy's answer to "may this principal invoke this
//! action?" with 100 principals and 100 rules, and an invocation's full allow
//! path (session lookup, decision, warm invocation) against the bare warm
//! invocation — all measured in this one run.
//!
//! Run: `cargo bench -p salve --bench decision` (`-- --quick` for fewer samples).

use salve::audit::{AuditConfig, AuditLog};
use salve::capability::CapabilityClass;
use salve::catalog::Catalog;
use salve::endpoint::{Authenticated, Endpoint, InvokeOutcome};
use salve::identity::{KeyPair, PrincipalId};
use salve::policy::{Access, Policy, SessionFacts};
use salve::session::{ActionRule, Scope, SessionRequest};
use salve::store::StateStore;
use salve::{Grant, Package, Runtime, RuntimeConfig};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use std::time::{Duration, Instant};

const PRINCIPALS: usize = 100;
const RULES: usize = 100;

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn measure(iterations: usize, mut f: impl FnMut(usize)) -> Stats {
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let started = Instant::now();
        f(i);
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// 100 principals in 5 roles, and 100 `forbid` rules about them.
fn policy_text() -> String {
    let mut text = String::from(
        r#"schema = 1
[categories]
incident = "A fault."
change = "A planned change."
[roles.tier1]
permissions = ["request-sessions", "invoke-standard"]
actions = ["echo", "system-report", "disk-usage", "collect-logs"]
[roles.tier2]
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]
[roles.approver]
permissions = ["approve-sessions", "approve-escalations"]
[roles.auditor]
permissions = ["read-audit"]
[roles.admin]
permissions = ["administer", "read-audit"]
"#,
    );
    let roles = ["tier1", "tier2", "approver", "auditor", "admin"];
    for n in 0..PRINCIPALS {
        let key = KeyPair::generate().expect("key").public();
        let role = roles[n % roles.len()];
        let _ = write!(
            text,
            "[[principals]]\nid = \"p{n}\"\nname = \"Person {n}\"\nroles = [\"{role}\"]\npublic-key = \"{key}\"\n"
        );
    }
    text.push_str("[rules]\ncedar = '''\n");
    for n in 0..RULES {
        let _ = write!(
            text,
            "@reason(\"rule {n}\")\nforbid (principal == Salve::Principal::\"p{n}\", action == Salve::Action::\"invoke\", resource == Salve::Package::\"action-{n}\")\nwhen {{ context.category == \"change\" }};\n"
        );
    }
    text.push_str("'''\n");
    text
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let policy = Policy::parse(&policy_text(), Path::new("bench-policy.toml")).expect("policy");

    // 1. The policy's decision alone.
    let principals: Vec<PrincipalId> = (0..PRINCIPALS)
        .map(|n| format!("p{n}").parse().expect("id"))
        .collect();
    let requester: PrincipalId = "p0".parse().expect("id");
    let echo_id = "echo".parse().expect("id");
    let version = semver::Version::new(1, 0, 0);
    let mut allowed = 0usize;
    let decision = measure(100_000 / scale, |i| {
        let principal = &principals[i % PRINCIPALS];
        let access = Access::Invoke {
            session: SessionFacts {
                id: "s-0123456789abcdef01234567",
                ticket: "INC1",
                category: if i % 2 == 0 { "incident" } else { "change" },
                endpoint: "pc-0421",
                requester: &requester,
                technician: principal,
                privileged: false,
            },
            action: &echo_id,
            version: &version,
            class: CapabilityClass::Standard,
        };
        allowed += usize::from(policy.authorize(principal, &access).is_ok());
    });
    assert!(allowed > 0, "some decisions allow");

    // 2. The allow path through the endpoint against the bare invocation.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let package = Package::open(salve_test_artifacts::ECHO).expect("echo");
    let bare_action = runtime.load(&package).expect("load");
    let grant = Grant::declared(&package.manifest().capabilities);
    let input = r#"{"ticket":"INC-1"}"#;
    for _ in 0..1000 {
        runtime
            .invoke(&bare_action, &grant, input)
            .expect("warm-up");
    }
    let bare = measure(20_000 / scale, |_| {
        let invocation = runtime
            .invoke(&bare_action, &grant, input)
            .expect("bare invocation");
        assert!(invocation.outcome.succeeded());
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = Catalog::load(&runtime, [package]).expect("catalog");
    let store = StateStore::open(&dir.path().join("state.db")).expect("store");
    let audit = AuditLog::open(AuditConfig::new(dir.path().join("audit"))).expect("audit log");
    let endpoint = Endpoint::new(
        "pc-0421",
        runtime.clone(),
        catalog,
        policy,
        store,
        Arc::new(audit),
    );
    let tech = Authenticated::trusted("p0".parse().expect("id")); // tier1
    let approver = Authenticated::trusted("p2".parse().expect("id")); // approver
    let session = endpoint
        .request_session(
            &tech,
            SessionRequest {
                ticket: "INC1".parse().expect("ticket"),
                problem: "Benchmark.".to_string(),
                category: "incident".to_string(),
                endpoint: "pc-0421".to_string(),
                technician: tech.principal().clone(),
                scope: Scope {
                    allowed: vec!["echo".parse::<ActionRule>().expect("rule")],
                    prohibited: Default::default(),
                    privileged: false,
                },
                attended: false,
                idle_minutes: 60,
                duration_minutes: 480,
            },
        )
        .expect("session");
    endpoint
        .approve_session(&approver, &session.id)
        .expect("approved");
    for _ in 0..1000 {
        endpoint
            .invoke(&tech, &session.id, &echo_id, input)
            .expect("warm-up");
    }
    let full = measure(20_000 / scale, |_| {
        match endpoint.invoke(&tech, &session.id, &echo_id, input) {
            Ok(InvokeOutcome::Ran { invocation, .. }) => assert!(invocation.outcome.succeeded()),
            other => panic!("expected a run: {other:?}"),
        }
    });

    // One `permit` per role permission (2 + 3 + 2 + 1 + 2), two built-in
    // separation-of-duties rules, and the file's rules.
    let role_rules = 10;
    let rules = RULES + role_rules + 2;
    println!(
        "## Decision (cargo bench -p salve --bench decision{})",
        if quick { " -- --quick" } else { "" }
    );
    println!();
    println!(
        "Policy: {PRINCIPALS} principals in 5 roles; {RULES} `forbid` rules plus {role_rules} role rules and 2 built-in separation-of-duties rules ({rules} in all); half the decisions in a category the rules name."
    );
    println!();
    println!("| measurement | p50 | p99 | target |");
    println!("|---|---|---|---|");
    println!(
        "| policy decision (`Policy::authorize`, Cedar) | {} | {} | p99 ≤ 50 µs |",
        us(decision.p50),
        us(decision.p99)
    );
    println!(
        "| bare warm invocation (`Runtime::invoke`) | {} | {} | |",
        us(bare.p50),
        us(bare.p99)
    );
    println!(
        "| full allow path (`Endpoint::invoke`: session, decision, invocation) | {} | {} | |",
        us(full.p50),
        us(full.p99)
    );
    println!();
    println!(
        "Full allow path / bare invocation: {:.2}× at p50, {:.2}× at p99. Decision target: p99 ≤ 50 µs ({}).",
        full.p50.as_secs_f64() / bare.p50.as_secs_f64(),
        full.p99.as_secs_f64() / bare.p99.as_secs_f64(),
        if decision.p99 <= Duration::from_micros(50) {
            "met"
        } else {
            "MISSED"
        },
    );
}
