//! `salve demo`: build the shipped actions and show the sandbox at work on
//! them — runs that succeed, a capability that was not granted, and a call
//! outside the grant. Exits 0 only if every step behaved as expected.

use crate::args::DemoArgs;
use crate::exit::{CliResult, Exit, ExitWith};
use crate::run::format_duration;
use crate::setup;
use anyhow::{Context, anyhow};
use salve::{Grant, Invocation, InvokeError, Package, Runtime};
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

    let runtime = setup::runtime(&args.cache)?;
    let mut failures = Vec::new();
    let mut check = |step: &str, ok: bool, detail: String| {
        println!("   {} {detail}", if ok { "ok:" } else { "UNEXPECTED:" });
        if !ok {
            failures.push(step.to_string());
        }
    };

    println!("\n== 2. Run system-report, granted `sysinfo`");
    let invocation = invoke(&runtime, &packages, "system-report", &["sysinfo"], "{}")?
        .exit_with(Exit::Refused)?;
    if let Some(report) = output_json(&invocation) {
        println!(
            "   host {} — {} {}, kernel {}, up {} s",
            report["hostname"],
            report["os"]["name"],
            report["os"]["version"],
            report["kernel"],
            report["uptime_seconds"]
        );
    }
    check(
        "system-report",
        invocation.outcome.succeeded(),
        summary(&invocation),
    );

    println!("\n== 3. Run disk-usage, granted `sysinfo`");
    let invocation = invoke(
        &runtime,
        &packages,
        "disk-usage",
        &["sysinfo"],
        r#"{"warn_percent": 90}"#,
    )?
    .exit_with(Exit::Refused)?;
    if let Some(usage) = output_json(&invocation) {
        println!(
            "   mounts {}, warnings {}",
            usage["mounts"].as_array().map_or(0, Vec::len),
            usage["warnings"]
        );
    }
    check(
        "disk-usage",
        invocation.outcome.succeeded(),
        summary(&invocation),
    );

    println!("\n== 4. Run restart-service granted only `service-status`: refused before it runs");
    let result = invoke(
        &runtime,
        &packages,
        "restart-service",
        &["service-status"],
        r#"{"service": "cups.service"}"#,
    )?;
    match result {
        Err(error @ InvokeError::NotGranted { .. }) => {
            check("not-granted", true, error.to_string())
        }
        other => check(
            "not-granted",
            false,
            format!("expected a refusal, got {other:?}"),
        ),
    }

    println!(
        "\n== 5. Run collect-logs granted only /var/log/apt, asking for syslog: the call is denied"
    );
    let invocation = invoke(
        &runtime,
        &packages,
        "collect-logs",
        &["files-read=/var/log/apt"],
        r#"{"files": ["syslog"], "tail_lines": 5}"#,
    )?
    .exit_with(Exit::Refused)?;
    match invocation.denied_calls.first() {
        Some(call) => check(
            "denied-call",
            true,
            format!(
                "{}.{} {} — {}",
                call.capability, call.function, call.target, call.reason
            ),
        ),
        None => check(
            "denied-call",
            false,
            format!("expected a denied call, got {}", summary(&invocation)),
        ),
    }
    if let Some(output) = invocation.outcome.output() {
        println!("   the action carried on and reported: {}", output.get());
    }

    if failures.is_empty() {
        println!("\nEvery step behaved as expected.");
        Ok(Exit::Success)
    } else {
        Err(anyhow!("unexpected results in: {}", failures.join(", "))).exit_with(Exit::Failed)
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

/// Loads the shipped action `id` and invokes it with `grants` on `input`.
fn invoke(
    runtime: &Runtime,
    packages: &BTreeMap<String, Package>,
    id: &str,
    grants: &[&str],
    input: &str,
) -> Result<Result<Invocation, InvokeError>, crate::exit::Failure> {
    let package = packages
        .get(id)
        .ok_or_else(|| anyhow!("the shipped action `{id}` was not built"))
        .exit_with(Exit::Failed)?;
    let action = runtime.load(package).exit_with(Exit::Refused)?;
    let grant =
        Grant::from_specs(grants, &package.manifest().capabilities).exit_with(Exit::Usage)?;
    Ok(runtime.invoke(&action, &grant, input))
}

fn output_json(invocation: &Invocation) -> Option<serde_json::Value> {
    serde_json::from_str(invocation.outcome.output()?.get()).ok()
}

fn summary(invocation: &Invocation) -> String {
    format!(
        "{} in {}",
        invocation.outcome.code(),
        format_duration(invocation.duration)
    )
}
