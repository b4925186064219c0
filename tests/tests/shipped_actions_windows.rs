//! The shipped actions on Windows (run under Wine here): those whose job
//! makes sense there declare Windows parameters and do it through the
//! Windows host (the Service Control Manager, `ipconfig.exe`, the system's
//! APIs, `C:\Windows\Temp`); the one not yet written for Windows is
//! refused before running, with the reason. docs/guides/windows.md says which is which.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]
#![cfg(windows)]

use salve::{Capability, Grant, InvokeError, Outcome, Package};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use serde_json::{Value, json};

/// Runs the package in `dir` with everything it declares here granted.
fn invoke(dir: &std::path::Path, input: Value) -> Result<salve::Invocation, InvokeError> {
    let package = Package::open(dir).expect("package opens");
    let action = shared_runtime().load(&package).expect("package loads");
    let grant = Grant::declared(package.manifest().capabilities.here());
    shared_runtime().invoke(&action, &grant, &input.to_string())
}

fn output(invocation: &salve::Invocation) -> Value {
    match &invocation.outcome {
        Outcome::Succeeded { output } => serde_json::from_str(output.get()).unwrap(),
        other => panic!("{} did not succeed: {other:?}", invocation.action),
    }
}

#[test]
fn the_system_report_disk_usage_and_connectivity_run_on_windows() {
    let report = output(&invoke(artifacts::SYSTEM_REPORT.as_ref(), json!({})).unwrap());
    assert_eq!(report["os"]["name"], "Windows", "{report}");
    assert!(report["memory"]["total_bytes"].as_u64().unwrap() > 0);
    let usage =
        output(&invoke(artifacts::DISK_USAGE.as_ref(), json!({"warn_percent": 100})).unwrap());
    assert!(usage.to_string().contains(r"C:\\"), "{usage}");
    // The destinations under `network` hold on every system.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let manifest =
        std::fs::read_to_string(format!("{}/action.toml", artifacts::CHECK_CONNECTIVITY)).unwrap();
    let start = manifest.find("hosts = [").unwrap();
    let end = start + manifest[start..].find(']').unwrap() + 1;
    let hosts = format!("hosts = [\"127.0.0.1:{port}\"]");
    let package = PackageCopy::new(
        artifacts::CHECK_CONNECTIVITY,
        &[(&manifest[start..end], &hosts)],
        "",
    );
    let probe = output(
        &invoke(
            &package.dir,
            json!({"targets": [format!("127.0.0.1:{port}")]}),
        )
        .unwrap(),
    );
    assert_eq!(probe["all_reachable"], true, "{probe}");
}

#[test]
fn service_status_and_restart_service_drive_the_print_spooler() {
    let restarted = output(
        &invoke(
            artifacts::RESTART_SERVICE.as_ref(),
            json!({"service": "Spooler"}),
        )
        .unwrap(),
    );
    assert_eq!(restarted["after"]["active_state"], "active", "{restarted}");
    assert_eq!(restarted["running_after"], true);
    let status = output(
        &invoke(
            artifacts::SERVICE_STATUS.as_ref(),
            json!({"service": "Spooler"}),
        )
        .unwrap(),
    );
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["sub_state"], "running", "{status}");
    // A Linux unit is not a Windows grant.
    let denied = invoke(
        artifacts::SERVICE_STATUS.as_ref(),
        json!({"service": "cups.service"}),
    )
    .unwrap();
    assert_eq!(denied.denied_calls.len(), 1, "{:?}", denied.outcome);
    assert_eq!(denied.denied_calls[0].capability, Capability::ServiceStatus);
}

/// flush-dns runs `ipconfig.exe /flushdns` and nothing else. Wine's
/// `ipconfig` knows only `/all`, so here it fails, and the action reports
/// exactly what `ipconfig` said.
#[test]
fn flush_dns_runs_ipconfig_flushdns() {
    let invocation = invoke(artifacts::FLUSH_DNS.as_ref(), json!({})).unwrap();
    assert!(
        invocation.denied_calls.is_empty(),
        "{:?}",
        invocation.denied_calls
    );
    match &invocation.outcome {
        Outcome::Succeeded { .. } => {}
        Outcome::Failed { code, message } => {
            assert_eq!(code, "flush-failed");
            assert!(
                message.starts_with("ipconfig /flushdns exited with 1: "),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// clear-temp-files cleans a Windows directory, with `\\` between names.
#[test]
fn clear_temp_files_removes_old_files_under_a_windows_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("temp");
    std::fs::create_dir_all(root.join("old-dir")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400);
    for (name, modified) in [
        (r"old-dir\stale.log", Some(old)),
        ("stale.tmp", Some(old)),
        ("fresh.tmp", None),
    ] {
        let path = root.join(name);
        std::fs::write(&path, "x").unwrap();
        if let Some(modified) = modified {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(modified).unwrap();
        }
    }
    let granted = format!("'{}'", root.display());
    let package = PackageCopy::new(
        artifacts::CLEAR_TEMP_FILES,
        &[(r"'C:\Windows\Temp'", &granted)],
        "",
    );
    let swept = output(
        &invoke(
            &package.dir,
            json!({"directory": root, "older_than_days": 7, "dry_run": false}),
        )
        .unwrap(),
    );
    assert_eq!(swept["files_removed"], 2, "{swept}");
    assert_eq!(swept["directories_removed"], 1, "{swept}");
    assert!(!root.join("stale.tmp").exists() && !root.join("old-dir").exists());
    assert!(root.join("fresh.tmp").exists());
}

/// collect-logs reads files under `/var/log`; Windows keeps its logs in the
/// event log, so the action declares no Windows paths and does not run.
#[test]
fn collect_logs_is_refused_before_running_on_windows() {
    let error = invoke(
        artifacts::COLLECT_LOGS.as_ref(),
        json!({"files": ["syslog"]}),
    )
    .unwrap_err();
    assert!(
        matches!(error, InvokeError::NotOnThisSystem { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "needs the `files-read` capability, which its manifest does not declare on windows"
        ),
        "{error}"
    );
}
