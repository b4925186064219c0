//! Every shipped action builds into a package, passes the import check, and
//! does its job for real when granted what it declares.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]
// The shipped actions on Linux, with systemd units and Unix paths; on
// Windows, shipped_actions_windows.rs.
#![cfg(unix)]

use salve::{Capability, Grant, Outcome, Package, Runtime};
use salve_tests::stand_in_systemctl::{
    CLEARED_ENVIRONMENT, StandInSystemctl, UnitState, control_args, show_args,
};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Runs the package in `dir` with everything it declares granted.
fn run(dir: &std::path::Path, input: Value) -> salve::Invocation {
    let package = Package::open(dir).expect("package opens");
    let action = shared_runtime().load(&package).expect("package loads");
    let grant = Grant::declared(package.manifest().capabilities.here());
    shared_runtime()
        .invoke(&action, &grant, &input.to_string())
        .expect("action is invoked")
}

fn output(invocation: &salve::Invocation) -> Value {
    match &invocation.outcome {
        Outcome::Succeeded { output } => {
            serde_json::from_str(output.get()).expect("output is JSON")
        }
        other => panic!("{} did not succeed: {other:?}", invocation.action),
    }
}

fn failure(invocation: &salve::Invocation) -> (String, String) {
    match &invocation.outcome {
        Outcome::Failed { code, message } => (code.clone(), message.clone()),
        other => panic!("{} did not fail: {other:?}", invocation.action),
    }
}

#[test]
fn every_shipped_action_is_built_with_a_readme_and_loads() {
    let ids: Vec<&str> = artifacts::SHIPPED_ACTIONS
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        ids,
        [
            "check-connectivity",
            "clear-temp-files",
            "collect-logs",
            "disk-usage",
            "flush-dns",
            "restart-service",
            "service-status",
            "system-report"
        ]
    );
    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../actions");
    for (id, dir) in artifacts::SHIPPED_ACTIONS {
        let package = Package::open(dir).unwrap();
        assert_eq!(package.manifest().id.as_str(), *id);
        shared_runtime()
            .load(&package)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(
            sources.join(id).join("README.md").is_file(),
            "{id} has no README.md"
        );
    }
}

#[test]
fn system_report_and_disk_usage_describe_this_host() {
    let report = output(&run(artifacts::SYSTEM_REPORT.as_ref(), json!({})));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(report["hostname"], hostname.trim());
    assert!(report["memory"]["total_bytes"].as_u64().unwrap() > 0);

    let usage = output(&run(
        artifacts::DISK_USAGE.as_ref(),
        json!({"warn_percent": 100}),
    ));
    assert!(usage.to_string().contains("used_percent"), "{usage}");
    let (code, _) = failure(&run(
        artifacts::DISK_USAGE.as_ref(),
        json!({"warn_percent": 0}),
    ));
    assert_eq!(code, "invalid-input");
}

/// Runs the package in `dir` in `runtime` with everything it declares granted.
fn run_in(runtime: &Runtime, dir: &std::path::Path, input: Value) -> salve::Invocation {
    let package = Package::open(dir).expect("package opens");
    let action = runtime.load(&package).expect("package loads");
    let grant = Grant::declared(package.manifest().capabilities.here());
    runtime
        .invoke(&action, &grant, &input.to_string())
        .expect("action is invoked")
}

const CRON_DOWN: UnitState<'static> = UnitState {
    description: "Regular background program processing daemon",
    active_state: "failed",
    sub_state: "failed",
    main_pid: 0,
};

const CRON_UP: UnitState<'static> = UnitState {
    description: "Regular background program processing daemon",
    active_state: "active",
    sub_state: "running",
    main_pid: 612,
};

/// Each call's arguments, after checking that every call was given the
/// cleared environment and nothing of the test's own.
fn args_with_cleared_environment(systemctl: &StandInSystemctl) -> Vec<Vec<String>> {
    systemctl
        .calls()
        .into_iter()
        .map(|call| {
            assert_eq!(call.env, CLEARED_ENVIRONMENT, "{call:?}");
            call.args
        })
        .collect()
}

#[test]
fn service_status_reports_what_systemctl_shows() {
    let systemctl = StandInSystemctl::new();
    systemctl.unit("cron.service", CRON_UP);
    let runtime = systemctl.runtime();
    let invocation = run_in(
        &runtime,
        artifacts::SERVICE_STATUS.as_ref(),
        json!({"service": "cron.service"}),
    );
    assert_eq!(
        output(&invocation),
        json!({
            "name": "cron.service",
            "description": "Regular background program processing daemon",
            "load_state": "loaded",
            "active_state": "active",
            "sub_state": "running",
            "main_pid": 612,
            "healthy": true,
        })
    );
    // A unit systemd has no file for: systemctl show answers, not-found.
    let invocation = run_in(
        &runtime,
        artifacts::SERVICE_STATUS.as_ref(),
        json!({"service": "cups.service"}),
    );
    assert_eq!(
        output(&invocation),
        json!({
            "name": "cups.service",
            "description": "cups.service",
            "load_state": "not-found",
            "active_state": "inactive",
            "sub_state": "dead",
            "main_pid": null,
            "healthy": false,
        })
    );
    assert_eq!(
        args_with_cleared_environment(&systemctl),
        [show_args("cron.service"), show_args("cups.service")]
    );
}

#[test]
fn restart_service_restarts_the_unit_and_reports_before_and_after() {
    let systemctl = StandInSystemctl::new();
    systemctl.unit("cron.service", CRON_DOWN);
    let runtime = systemctl.runtime();
    let invocation = run_in(
        &runtime,
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "cron.service"}),
    );
    assert!(
        invocation.denied_calls.is_empty(),
        "{:?}",
        invocation.denied_calls
    );
    assert_eq!(
        output(&invocation),
        json!({
            "service": "cron.service",
            "before": {"active_state": "failed", "sub_state": "failed"},
            "after": {"active_state": "active", "sub_state": "running"},
            "running_after": true,
        })
    );
    assert_eq!(
        args_with_cleared_environment(&systemctl),
        [
            show_args("cron.service"),
            control_args("restart", "cron.service"),
            show_args("cron.service"),
        ]
    );
}

#[test]
fn restart_service_fails_when_the_unit_is_down_after_the_restart() {
    let systemctl = StandInSystemctl::new();
    systemctl.unit("cron.service", CRON_DOWN).after_start(
        "cron.service",
        UnitState {
            active_state: "activating",
            sub_state: "auto-restart",
            ..CRON_DOWN
        },
    );
    let invocation = run_in(
        &systemctl.runtime(),
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "cron.service"}),
    );
    assert_eq!(
        failure(&invocation),
        (
            "not-running".to_string(),
            "cron.service was restarted but is activating/auto-restart afterwards (before: failed/failed); check its logs".to_string()
        )
    );
    assert_eq!(systemctl.calls().len(), 3);
}

#[test]
fn restart_service_reports_systemctl_refusals_as_not_found_or_failed() {
    let systemctl = StandInSystemctl::new();
    // cups.service is granted but systemd has no such unit; restarting
    // cron.service fails.
    systemctl.unit("cron.service", CRON_UP).fail(
        "cron.service",
        "Job for cron.service failed because the control process exited with error code.\nSee \"systemctl status cron.service\" and \"journalctl -xeu cron.service\" for details.\n",
    );
    let runtime = systemctl.runtime();
    let invocation = run_in(
        &runtime,
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "cups.service"}),
    );
    assert_eq!(
        failure(&invocation),
        (
            "not-found".to_string(),
            "systemctl restart cups.service: Failed to restart cups.service: Unit cups.service not found.".to_string()
        )
    );
    let invocation = run_in(
        &runtime,
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "cron.service"}),
    );
    assert_eq!(
        failure(&invocation),
        (
            "failed".to_string(),
            "systemctl restart cron.service failed (exit status: 1): Job for cron.service failed because the control process exited with error code.\nSee \"systemctl status cron.service\" and \"journalctl -xeu cron.service\" for details.".to_string()
        )
    );
    // The action stops at the refusal: no status read after it.
    assert_eq!(
        args_with_cleared_environment(&systemctl),
        [
            show_args("cups.service"),
            control_args("restart", "cups.service"),
            show_args("cron.service"),
            control_args("restart", "cron.service"),
        ]
    );
}

#[test]
fn restart_service_is_denied_a_service_outside_its_manifest_before_systemctl_runs() {
    let systemctl = StandInSystemctl::new();
    systemctl.unit("ssh.service", CRON_UP);
    let invocation = run_in(
        &systemctl.runtime(),
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "ssh.service"}),
    );
    assert_eq!(failure(&invocation).0, "denied");
    assert_eq!(invocation.denied_calls.len(), 1);
    assert_eq!(systemctl.calls(), []);
}

#[test]
fn clear_temp_files_removes_only_old_files_and_never_follows_links() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("tmp");
    let outside = temp.path().join("outside");
    std::fs::create_dir_all(root.join("old-dir")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86_400);
    let old_file = |path: &std::path::Path, contents: &str| {
        std::fs::write(path, contents).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(ten_days_ago)
            .unwrap();
    };
    old_file(&root.join("old.log"), "0123456789");
    old_file(&root.join("old-dir/nested.tmp"), "abc");
    std::fs::write(root.join("fresh.tmp"), "new").unwrap();
    old_file(&outside.join("precious"), "keep me");
    std::os::unix::fs::symlink(&outside, root.join("link-to-outside")).unwrap();

    let root_text = root.to_str().unwrap();
    let package = PackageCopy::new(
        artifacts::CLEAR_TEMP_FILES,
        &[("\"/var/tmp\"", &format!("\"{root_text}\""))],
        "",
    );
    let dry = output(&run(
        &package.dir,
        json!({"directory": root_text, "older_than_days": 7}),
    ));
    assert_eq!(dry["would_remove"], 2, "{dry}");
    assert!(root.join("old.log").exists());

    let done = output(&run(
        &package.dir,
        json!({"directory": root_text, "older_than_days": 7, "dry_run": false}),
    ));
    assert_eq!(done["files_removed"], 2, "{done}");
    assert_eq!(done["directories_removed"], 1, "{done}");
    assert_eq!(done["bytes_freed"], 13, "{done}");
    assert!(!root.join("old.log").exists());
    assert!(!root.join("old-dir").exists());
    assert!(root.join("fresh.tmp").exists());
    assert!(outside.join("precious").exists(), "a link was followed");

    // Another directory than the one granted is refused by the runtime.
    let invocation = run(&package.dir, json!({"directory": "/etc", "dry_run": false}));
    assert_eq!(failure(&invocation).0, "denied");
}

#[test]
fn collect_logs_tails_files_and_reports_each_failure() {
    let temp = tempfile::tempdir().unwrap();
    let logs = temp.path().join("log");
    std::fs::create_dir_all(logs.join("apt")).unwrap();
    let syslog: String = (1..=500).map(|i| format!("line {i}\n")).collect();
    std::fs::write(logs.join("syslog"), syslog).unwrap();
    std::fs::write(logs.join("apt/history.log"), "one\ntwo\n").unwrap();
    let logs_text = logs.to_str().unwrap();
    let package = PackageCopy::new(
        artifacts::COLLECT_LOGS,
        &[("\"/var/log\"", &format!("\"{logs_text}\""))],
        "",
    );
    let collected = output(&run(
        &package.dir,
        json!({"directory": logs_text, "files": ["syslog", "apt/history.log", "missing.log"], "tail_lines": 3}),
    ));
    let files = collected["files"].as_array().unwrap();
    assert_eq!(
        files[0]["lines"],
        json!(["line 498", "line 499", "line 500"])
    );
    assert_eq!(files[0]["truncated"], true);
    assert_eq!(files[1]["lines"], json!(["one", "two"]));
    assert!(
        files[2]["error"].as_str().unwrap().starts_with("not-found"),
        "{}",
        files[2]
    );

    let invocation = run(
        &package.dir,
        json!({"directory": logs_text, "files": ["../passwd"]}),
    );
    assert_eq!(failure(&invocation).0, "invalid-input");
}

#[test]
fn check_connectivity_probes_granted_destinations() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let hosts = format!("hosts = [\"127.0.0.1:{open}\", \"127.0.0.1:{closed}\"]");
    // The declared list, however it is laid out over lines.
    let manifest =
        std::fs::read_to_string(format!("{}/action.toml", artifacts::CHECK_CONNECTIVITY)).unwrap();
    let start = manifest.find("hosts = [").unwrap();
    let end = start + manifest[start..].find(']').unwrap() + 1;
    let package = PackageCopy::new(
        artifacts::CHECK_CONNECTIVITY,
        &[(&manifest[start..end], &hosts)],
        "",
    );
    let result = output(&run(
        &package.dir,
        json!({"targets": [format!("127.0.0.1:{open}"), format!("127.0.0.1:{closed}")], "timeout_ms": 1000}),
    ));
    let results = result.to_string();
    assert_eq!(result["all_reachable"], false, "{results}");
    let targets = result["targets"].as_array().unwrap();
    assert_eq!(targets[0]["reachable"], true, "{results}");
    assert_eq!(targets[1]["reachable"], false, "{results}");
}

/// flush-dns names its program itself (`/usr/bin/resolvectl`, not a grant
/// parameter), so no stand-in can take its place: what it asks to run is
/// pinned by a grant that allows something else, and the real run by what
/// this host's `resolvectl` does.
#[test]
fn flush_dns_asks_to_run_resolvectl_flush_caches_and_nothing_else() {
    let package = PackageCopy::new(
        artifacts::FLUSH_DNS,
        &[(
            "\"/usr/bin/resolvectl flush-caches\"",
            "\"/usr/bin/resolvectl statistics\"",
        )],
        "",
    );
    let invocation = run(&package.dir, json!({}));
    assert_eq!(failure(&invocation).0, "denied");
    // What the guest asked for is in the refusal: that program, with that
    // one argument.
    let denied: Vec<_> = invocation
        .denied_calls
        .iter()
        .map(|d| (d.capability, d.function.as_str(), d.target.as_str()))
        .collect();
    assert_eq!(
        denied,
        [(Capability::Programs, "run", "/usr/bin/resolvectl")]
    );
    let reason = &invocation.denied_calls[0].reason;
    assert!(
        reason.starts_with(
            "program `/usr/bin/resolvectl` is not granted with the arguments [\"flush-caches\"]: granted only as `/usr/bin/resolvectl statistics`"
        ),
        "{reason}"
    );
}

#[test]
fn flush_dns_reports_exactly_what_resolvectl_did() {
    let invocation = run(artifacts::FLUSH_DNS.as_ref(), json!({}));
    assert!(
        invocation.denied_calls.is_empty(),
        "{:?}",
        invocation.denied_calls
    );
    let resolvectl = std::path::Path::new("/usr/bin/resolvectl");
    if !resolvectl.exists() {
        assert_eq!(
            failure(&invocation),
            (
                "not-found".to_string(),
                "program `/usr/bin/resolvectl` does not exist on this host".to_string()
            )
        );
        return;
    }
    // Run it as the runtime does: empty environment but PATH and LANG, no
    // input, from /.
    let expected = std::process::Command::new(resolvectl)
        .arg("flush-caches")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&expected.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&expected.stdout).trim().to_string();
    match expected.status.code() {
        Some(0) => assert_eq!(
            output(&invocation),
            json!({"exit_code": 0, "stderr": stderr, "flushed": true})
        ),
        Some(code) => assert_eq!(
            failure(&invocation),
            (
                "flush-failed".to_string(),
                format!(
                    "resolvectl flush-caches exited with {code}: {}",
                    if stderr.is_empty() { stdout } else { stderr }
                )
            )
        ),
        None => panic!("resolvectl flush-caches was killed: {:?}", expected.status),
    }
}
