//! Every shipped action builds into a package, passes the import check, and
//! does its job for real when granted what it declares.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::{Grant, Outcome, Package};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Runs the package in `dir` with everything it declares granted.
fn run(dir: &std::path::Path, input: Value) -> salve::Invocation {
    let package = Package::open(dir).expect("package opens");
    let action = shared_runtime().load(&package).expect("package loads");
    let grant = Grant::declared(&package.manifest().capabilities);
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

#[test]
fn service_actions_reach_the_service_manager_or_say_there_is_none() {
    for (dir, input) in [
        (
            artifacts::SERVICE_STATUS,
            json!({"service": "cron.service"}),
        ),
        (
            artifacts::RESTART_SERVICE,
            json!({"service": "cron.service"}),
        ),
    ] {
        let invocation = run(dir.as_ref(), input);
        assert!(
            invocation.denied_calls.is_empty(),
            "{:?}",
            invocation.denied_calls
        );
        if let Outcome::Failed { code, message } = &invocation.outcome {
            let no_manager = code == "unavailable" && message.starts_with("no service manager");
            assert!(
                no_manager || code == "not-found" || code == "failed" || code == "not-running",
                "{code}: {message}"
            );
        }
    }
    // A service outside the manifest is denied, and the refusal recorded.
    let invocation = run(
        artifacts::RESTART_SERVICE.as_ref(),
        json!({"service": "ssh.service"}),
    );
    assert_eq!(failure(&invocation).0, "denied");
    assert_eq!(invocation.denied_calls.len(), 1);
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

#[test]
fn flush_dns_runs_its_one_program_or_says_it_is_missing() {
    let invocation = run(artifacts::FLUSH_DNS.as_ref(), json!({}));
    assert!(invocation.denied_calls.is_empty());
    match &invocation.outcome {
        Outcome::Succeeded { .. } => {}
        Outcome::Failed { code, .. } => {
            assert!(code == "not-found" || code == "flush-failed", "{code}");
        }
        other => panic!("{other:?}"),
    }
}
