//! The `salve` command line: exit statuses, messages, and the output users
//! read or parse (snapshot-tested, digests and paths redacted).

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve_test_artifacts as artifacts;
use std::path::Path;
use std::process::{Command, Output};

/// `salve` with a private, temporary compiled-component cache.
struct Salve {
    cache: tempfile::TempDir,
}

impl Salve {
    fn new() -> Salve {
        Salve {
            cache: tempfile::tempdir().expect("temporary cache directory"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_salve"))
            .args(args)
            .env("SALVE_CACHE_DIR", self.cache.path().join("cache"))
            .env_remove("SALVE_LOG")
            .output()
            .expect("salve runs")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Redacts what changes from build to build and machine to machine.
fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"[0-9a-f]{64}", "[sha256]");
    settings.add_filter(r"\(\d+ KiB,", "([size] KiB,");
    settings.add_filter(r"/[^\s]*/packages/", "[packages]/");
    settings.add_filter(r"@0\.2\.\d+", "@0.2.x");
    settings
}

#[test]
fn run_prints_the_output_on_stdout_and_the_outcome_on_stderr() {
    let out = Salve::new().run(&["run", artifacts::SYSTEM_REPORT, "--grant", "sysinfo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["hostname"].is_string());
    assert!(text(&out.stderr).starts_with("system-report@1.0.0 succeeded in "));
}

#[test]
fn run_json_prints_the_whole_invocation() {
    let out = Salve::new().run(&[
        "run",
        artifacts::ECHO,
        "--input",
        r#"{"ticket": "INC-7"}"#,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let invocation: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(invocation["outcome"]["status"], "succeeded");
    assert_eq!(invocation["outcome"]["output"]["ticket"], "INC-7");
    assert_eq!(invocation["action"], "echo@0.1.0");
    assert!(invocation["duration_us"].is_u64());
}

#[test]
fn run_without_the_needed_grant_is_refused_with_a_hint() {
    let out = Salve::new().run(&["run", artifacts::SYSTEM_REPORT]);
    assert_eq!(out.status.code(), Some(3));
    insta::assert_snapshot!(text(&out.stderr), @r"
    error: system-report@1.0.0 needs the `sysinfo` capability, which this invocation was not granted; nothing was run
    hint: grant it with `--grant sysinfo` (or narrower, e.g. `--grant sysinfo=<parameter>`)
    ");
}

#[test]
fn bad_input_and_bad_grants_exit_2() {
    let salve = Salve::new();
    let out = salve.run(&["run", artifacts::ECHO, "--input", "{bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: the input is not valid JSON"));

    let out = salve.run(&["run", artifacts::ECHO, "--grant", "shell"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(text(&out.stderr), @"error: `shell` is not a capability: use one of sysinfo, service-status, service-control, files-read, files-write, programs, network");

    let out = salve.run(&["run", artifacts::SYSTEM_REPORT, "--grant", "network"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(text(&out.stderr), @"error: capability `network` is not declared by the action's manifest");

    let out = salve.run(&[
        "run",
        artifacts::ECHO,
        "--input",
        "@/nonexistent/input.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the input file /nonexistent/input.json"));
}

#[test]
fn an_action_error_exits_1_and_a_sandbox_stop_exits_4() {
    let salve = Salve::new();
    let out = salve.run(&[
        "run",
        artifacts::DISK_USAGE,
        "--grant",
        "sysinfo",
        "--input",
        r#"{"warn_percent": 0}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("failed in"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("invalid-input"),
        "{}",
        text(&out.stderr)
    );

    let out = salve.run(&[
        "run",
        artifacts::HOSTILE,
        "--grant-declared",
        "--deadline-ms",
        "200",
        "--input",
        r#"{"mode": "loop"}"#,
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr)
            .contains("(deadline-exceeded): the action ran past its deadline of 200 ms"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_or_tampered_package_is_refused() {
    let salve = Salve::new();
    let out = salve.run(&["run", "/nonexistent/package"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("is not a package"));

    let temp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(artifacts::ECHO).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), temp.path().join(entry.file_name())).unwrap();
    }
    let component = temp.path().join("echo.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    bytes.push(0);
    std::fs::write(&component, bytes).unwrap();
    let out = salve.run(&["run", temp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("does not match its manifest"));
}

#[test]
fn inspect_shows_capabilities_imports_and_verdict() {
    let out = Salve::new().run(&["action", "inspect", artifacts::RESTART_SERVICE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    redactions().bind(|| insta::assert_snapshot!("inspect_restart_service", text(&out.stdout)));
}

#[test]
fn inspect_json_is_stable_for_scripts() {
    let out = Salve::new().run(&["action", "inspect", artifacts::SYSTEM_REPORT, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let capabilities: Vec<_> = report["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["class"].as_str().unwrap()))
        .collect();
    assert_eq!(capabilities, [("log", "standard"), ("sysinfo", "standard")]);
    assert_eq!(report["problems"], serde_json::json!([]));
    // The set of keys scripts rely on (their order is not part of it).
    let mut keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    keys.sort();
    insta::assert_json_snapshot!("inspect_json_keys", keys);
}

#[test]
fn inspect_names_an_undeclared_import_and_exits_3() {
    let out = Salve::new().run(&["action", "inspect", artifacts::UNDECLARED_IMPORT]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("capability service-control — NOT DECLARED"),
        "{stdout}"
    );
    assert!(stdout.contains("problem: the component imports `salve:action/service-control@0.1.0` but the manifest does not declare the `service-control` capability"));
    assert!(stdout.ends_with("REFUSED: the runtime would not run this package.\n"));
}

#[test]
fn build_makes_a_package_with_its_digest() {
    let out_dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/uptime-check");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests");
    let out = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args([
            "action",
            "build",
            example.to_str().unwrap(),
            "--out",
            out_dir.path().to_str().unwrap(),
        ])
        .env("CARGO_TARGET_DIR", target)
        .env("SALVE_CACHE_DIR", out_dir.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Packaged"));
    let package = salve::Package::open(out_dir.path()).unwrap();
    assert_eq!(package.manifest().label(), "uptime-check@1.0.0");
    assert!(
        text(&out.stdout).contains("OK: the component imports only what its manifest declares.")
    );
    // The source manifest is untouched when the package goes elsewhere.
    let source = std::fs::read_to_string(example.join("action.toml")).unwrap();
    assert!(!source.contains("sha256"));
}

#[test]
fn build_refuses_a_directory_that_is_not_an_action_crate() {
    let dir = tempfile::tempdir().unwrap();
    let out = Salve::new().run(&["action", "build", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("is not an action crate: it needs a Cargo.toml and an action.toml")
    );
}

#[test]
fn the_cache_directory_must_be_private() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared-cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args([
            "run",
            artifacts::ECHO,
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("must be private (chmod 700)"),
        "{}",
        text(&out.stderr)
    );
}
