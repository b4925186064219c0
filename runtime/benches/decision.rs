//! Decision benchmark: the policy's answer to "may this principal invoke this
//! action?" with 100 principals and 100 `forbid` rules that every measured
//! decision is evaluated against, and an invocation's full allow path
//! (session lookup, decision, warm invocation) against the bare warm
//! invocation — all measured in this one run.
//!
//! What "evaluated against" means here: `Policy::authorize` does not give
//! Cedar the whole rule set. At load time the set is indexed by principal,
//! action and resource (`Rules::compile`, `may_apply` and `ByResource` in
//! `runtime/src/policy/rules.rs`), and a request is evaluated against only
//! the rules whose *scope* (the `principal`, `action`, `resource` head of a
//! rule, never its `when`) can match it. So the 100 rules here are written
//! with a scope every measured decision matches — `forbid (principal, action
//! == Salve::Action::"invoke", resource)` — and conditions that name one
//! principal and the `change` category: each decision evaluates all 100, and
//! the one naming its principal refuses it in a `change` session. The same
//! 100 rules written with the principal in their scope (which the index
//! leaves out for every other principal), and no rules at all, are measured
//! in the same run: the difference is what evaluating the rules costs.
//!
//! Run: `cargo bench -p salve --bench decision` (`-- --quick` for fewer
//! samples). The full allow path's state and audit log are written under
//! the system's temporary directory (`TMPDIR`); its file system is printed.

mod common;

use salve::audit::{AuditConfig, AuditLog};
use salve::capability::CapabilityClass;
use salve::catalog::Catalog;
use salve::endpoint::{Authenticated, Endpoint, InvokeOutcome};
use salve::identity::{KeyPair, PrincipalId};
use salve::policy::{Access, Policy, PolicyRefusal, SessionFacts};
use salve::session::{ActionRule, Scope, SessionRequest};
use salve::store::StateStore;
use salve::{Grant, Package, Runtime, RuntimeConfig};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use std::time::{Duration, Instant};

const PRINCIPALS: usize = 100;
const RULES: usize = 100;
/// Principal `p<n>` has role `ROLES[n % 5]`.
const ROLES: [&str; 5] = ["tier1", "tier2", "approver", "auditor", "admin"];

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

/// How the policy's 100 `forbid` rules are written. `Applying` and
/// `Scoped` mean the same (`p<n>` may invoke nothing in a `change`
/// session) and give the same answers, which the bench checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// `forbid (principal, action == invoke, resource) when { category ==
    /// "change" && principal == p<n> }`: the scope matches every invoke
    /// decision, so the index keeps all 100 for each.
    Applying,
    /// `forbid (principal == p<n>, action == invoke, resource) when {
    /// category == "change" }`: the index keeps rule n for `p<n>` alone.
    Scoped,
    /// No `forbid` rules: the role rules alone.
    None,
}

impl Rules {
    /// How many of the file's rules the index keeps for one invoke decision.
    fn evaluated(self) -> usize {
        match self {
            Rules::Applying => RULES,
            Rules::Scoped => 1,
            Rules::None => 0,
        }
    }
}

/// The role rules an invoke decision by a member of `role` is evaluated
/// against: one `permit` per invoke permission of the role, whose scope is
/// `(principal in Salve::Role::"<role>", action == invoke, resource)`
/// (`role_rule` in `runtime/src/policy/rules.rs`). The built-in
/// separation-of-duties rules are scoped to the approve actions: left out.
fn role_rules_evaluated(role: &str) -> usize {
    match role {
        "tier1" => 1, // invoke-standard
        "tier2" => 2, // invoke-standard, invoke-privileged
        _ => 0,
    }
}

/// 100 principals in 5 roles, and 100 `forbid` rules about them, written
/// as `rules` says; `keys` are the principals' public keys.
fn policy_text(rules: Rules, keys: &[String]) -> String {
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
    for (n, key) in keys.iter().enumerate() {
        let role = ROLES[n % ROLES.len()];
        let _ = write!(
            text,
            "[[principals]]\nid = \"p{n}\"\nname = \"Person {n}\"\nroles = [\"{role}\"]\npublic-key = \"{key}\"\n"
        );
    }
    if rules == Rules::None {
        return text;
    }
    text.push_str("[rules]\ncedar = '''\n");
    for n in 0..RULES {
        let _ = match rules {
            Rules::Applying => write!(
                text,
                "@reason(\"rule {n}\")\nforbid (principal, action == Salve::Action::\"invoke\", resource)\nwhen {{ context.category == \"change\" && principal == Salve::Principal::\"p{n}\" }};\n"
            ),
            Rules::Scoped => write!(
                text,
                "@reason(\"rule {n}\")\nforbid (principal == Salve::Principal::\"p{n}\", action == Salve::Action::\"invoke\", resource)\nwhen {{ context.category == \"change\" }};\n"
            ),
            Rules::None => Ok(()),
        };
    }
    text.push_str("'''\n");
    text
}

/// The category of the `i`th decision: each principal in turn, all of them
/// in an `incident` session, then all of them in a `change` one, and so on.
fn category(i: usize) -> &'static str {
    if (i / PRINCIPALS).is_multiple_of(2) {
        "incident"
    } else {
        "change"
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let keys: Vec<String> = (0..PRINCIPALS)
        .map(|_| KeyPair::generate().expect("key").public().to_string())
        .collect();
    let parse = |rules| {
        Policy::parse(&policy_text(rules, &keys), Path::new("bench-policy.toml")).expect("policy")
    };
    let variants = [Rules::Applying, Rules::Scoped, Rules::None];
    let policies: Vec<Policy> = variants.iter().map(|&rules| parse(rules)).collect();

    // 1. The policy's decision alone.
    let principals: Vec<PrincipalId> = (0..PRINCIPALS)
        .map(|n| format!("p{n}").parse().expect("id"))
        .collect();
    let requester: PrincipalId = "p0".parse().expect("id");
    let echo_id = "echo".parse().expect("id");
    let version = semver::Version::new(1, 0, 0);
    let decide = |policy: &Policy, i: usize| {
        let principal = &principals[i % PRINCIPALS];
        let access = Access::Invoke {
            session: SessionFacts {
                id: "s-0123456789abcdef01234567",
                ticket: "INC1",
                category: category(i),
                endpoint: "pc-0421",
                requester: &requester,
                technician: principal,
                privileged: false,
            },
            action: &echo_id,
            version: &version,
            class: CapabilityClass::Standard,
        };
        policy.authorize(principal, &access)
    };

    // The rules do apply: every distinct decision of the loop (each
    // principal in each category), asked of each policy. The two ways of
    // writing the rules answer alike; each `change` decision is refused by
    // the rule naming that decision's principal — which the index would
    // have left out, were it dropping rules by what their conditions name —
    // and is allowed, or not permitted by the role, without the rules.
    let (mut allowed, mut forbidden, mut not_permitted) = (0, 0, 0);
    for i in 0..2 * PRINCIPALS {
        let n = i % PRINCIPALS;
        let [applying, scoped, none] = [0, 1, 2].map(|v| decide(&policies[v], i));
        assert_eq!(
            applying, scoped,
            "decision {i}: both ways of writing the rules agree"
        );
        match &applying {
            Ok(()) => allowed += 1,
            Err(PolicyRefusal::Rule { rule, .. }) => {
                assert_eq!(rule, &format!("rule:{}", n + 1), "decision {i}");
                assert_eq!(category(i), "change");
                // Without the rules: allowed, or not permitted by the role.
                assert!(
                    none.as_ref()
                        .map_or_else(|r| r.code() == "role-not-permitted", |()| true),
                    "decision {i}: {none:?} without the rules"
                );
                forbidden += 1;
            }
            Err(refusal) => {
                assert_eq!(refusal.code(), "role-not-permitted", "decision {i}");
                assert_eq!(&none, &applying, "decision {i}");
                not_permitted += 1;
            }
        }
    }
    assert!(allowed > 0 && forbidden > 0 && not_permitted > 0);

    let iterations = 50_000 / scale;
    let mut decisions = Vec::new();
    for policy in &policies {
        for i in 0..1000 {
            let _ = decide(policy, i);
        }
        decisions.push(measure(iterations, |i| {
            std::hint::black_box(decide(policy, i).is_ok());
        }));
    }

    // 2. The allow path through the endpoint against the bare invocation.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let package = Package::open(salve_test_artifacts::ECHO).expect("echo");
    let bare_action = runtime.load(&package).expect("load");
    let grant = Grant::declared(package.manifest().capabilities.here());
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
    // The endpoint decides with the rules that apply to every decision.
    let policy = policies.into_iter().next().expect("the applying rules");
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
    let permits: Vec<usize> = ROLES.iter().map(|r| role_rules_evaluated(r)).collect();
    let (fewest, most) = (
        permits.iter().copied().min().unwrap_or(0),
        permits.iter().copied().max().unwrap_or(0),
    );
    let mean = permits.iter().sum::<usize>() as f64 / permits.len() as f64;
    let evaluated = |rules: Rules| {
        let n = rules.evaluated();
        format!("{}–{} (mean {:.1})", n + fewest, n + most, n as f64 + mean)
    };
    let total = (2 * PRINCIPALS) as f64 / 100.0;
    println!(
        "## Decision (cargo bench -p salve --bench decision{})",
        if quick { " -- --quick" } else { "" }
    );
    println!();
    println!(
        "Policy: {PRINCIPALS} principals in 5 roles ({}); {RULES} `forbid` rules, {role_rules} role rules and 2 built-in separation-of-duties rules ({rules} in all). Decisions: `invoke` of `echo` by each principal in turn, in an `incident` then a `change` session: {:.0} % allowed, {:.0} % refused by a `forbid` rule (the one naming the principal: every `change` decision), {:.0} % not permitted by the principal's role (checked before the run; the first two policies below answer every decision alike).",
        ROLES.join(", "),
        allowed as f64 / total,
        forbidden as f64 / total,
        not_permitted as f64 / total,
    );
    println!();
    println!(
        "Rules each decision is evaluated against: what the load-time index (runtime/src/policy/rules.rs) keeps for the request — every rule whose principal, action and resource scope can match it; its `when` is not looked at. Of the role rules, {fewest}–{most} (tier1 1, tier2 2, the other roles none); the separation-of-duties rules are scoped to the approve actions."
    );
    println!();
    println!(
        "| policy decision (`Policy::authorize`, Cedar), {iterations} samples | rules evaluated per decision | p50 | p99 | target |"
    );
    println!("|---|---|---|---|---|");
    let labels = [
        "100 rules `forbid (principal, action == invoke, resource) when { context.category == \"change\" && principal == p<n> }`",
        "the same 100 rules with the principal in their scope: `forbid (principal == p<n>, action == invoke, resource) when { … }`",
        "no `forbid` rules (the role rules alone)",
    ];
    for ((label, rules), stats) in labels.iter().zip(variants).zip(&decisions) {
        println!(
            "| {label} | {} | {} | {} | {} |",
            evaluated(rules),
            us(stats.p50),
            us(stats.p99),
            if rules == Rules::Applying {
                "p99 ≤ 50 µs"
            } else {
                ""
            }
        );
    }
    let per_rule =
        (decisions[0].p50.as_secs_f64() - decisions[2].p50.as_secs_f64()) * 1e6 / RULES as f64;
    println!();
    println!(
        "Each `forbid` rule evaluated costs ~{per_rule:.2} µs at p50 ((first row − last row) / {RULES}). Decision target, 100 rules evaluated: p99 ≤ 50 µs ({}).",
        if decisions[0].p99 <= Duration::from_micros(50) {
            "met"
        } else {
            "MISSED"
        },
    );
    println!();
    println!(
        "Full allow path: state and audit log in {}",
        common::file_system(dir.path())
    );
    println!();
    println!("| measurement | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| bare warm invocation (`Runtime::invoke`) | {} | {} |",
        us(bare.p50),
        us(bare.p99)
    );
    println!(
        "| full allow path (`Endpoint::invoke`: session, decision with the 100 rules evaluated, two durable audit records, invocation) | {} | {} |",
        us(full.p50),
        us(full.p99)
    );
    println!();
    println!(
        "Full allow path / bare invocation: {:.2}× at p50, {:.2}× at p99.",
        full.p50.as_secs_f64() / bare.p50.as_secs_f64(),
        full.p99.as_secs_f64() / bare.p99.as_secs_f64(),
    );
}
