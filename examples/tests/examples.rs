//! The embedding example builds and runs as its header comment says.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const EMBED: &str = env!("CARGO_BIN_EXE_embed-runtime");

#[test]
fn the_embedding_example_runs_a_standard_action() {
    let output = Command::new(EMBED)
        .args([salve_test_artifacts::SYSTEM_REPORT, "{}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("system-report@1.0.0 succeeded in ")
    );
    let report: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(report["kernel"].is_string());
}

#[test]
fn the_embedding_example_refuses_a_privileged_action_before_it_runs() {
    let output = Command::new(EMBED)
        .args([
            salve_test_artifacts::RESTART_SERVICE,
            r#"{"service": "cron.service"}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "needs the `service-control` capability, which this invocation was not granted"
        ),
        "{stderr}"
    );
}

#[test]
fn the_example_action_builds_and_runs() {
    let output = Command::new(EMBED)
        .args([
            salve_test_artifacts::UPTIME_CHECK,
            r#"{"max_days": 100000}"#,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(r#""reboot_overdue":false"#), "{stdout}");
}

const ENDPOINT: &str = env!("CARGO_BIN_EXE_embed-endpoint");

#[test]
fn the_endpoint_example_walks_a_session_with_a_standard_action() {
    let output = Command::new(ENDPOINT)
        .args([salve_test_artifacts::SYSTEM_REPORT, "{}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("system-report@1.0.0 succeeded in "),
        "{stdout}"
    );
    assert!(!stdout.contains("held:"), "a standard action is not held");
    assert!(stdout.contains("chain intact"), "{stdout}");
    assert!(
        stdout.contains("report: 1 action line(s), 0 escalation(s), resolved Some(true)"),
        "{stdout}"
    );
}

#[test]
fn the_endpoint_example_holds_a_privileged_action_for_a_second_approver() {
    let output = Command::new(ENDPOINT)
        .args([
            salve_test_artifacts::CLEAR_TEMP_FILES,
            r#"{"older_than_days": 30, "dry_run": true}"#,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("held: escalation e-"), "{stdout}");
    assert!(stdout.contains("approved by carol"), "{stdout}");
    assert!(
        stdout.contains("report: 2 action line(s), 1 escalation(s), resolved Some(true)"),
        "{stdout}"
    );
}
