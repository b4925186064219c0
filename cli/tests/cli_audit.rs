//! `salve audit …` and `salve report …` on a real log: verify reports the
//! damage with file, line and reason and exits 5 without touching the log;
//! export speaks JSON lines and OCSF; tail and the reports read the log.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::audit::record::GENESIS;
use salve::audit::{AuditConfig, AuditLog, Kind, Record, segment};
use salve::identity::KeyPair;
use serde_json::json;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn salve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(args)
        .env_remove("SALVE_LOG")
        .env_remove("SALVE_AUDIT_DIR")
        .output()
        .expect("salve runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn about(kind: Kind, who: Option<&str>) -> Record {
    let mut record = Record::event(kind);
    record.session = Some("s-0123456789abcdef01234567".to_string());
    record.ticket = Some("INC0012345".to_string());
    record.endpoint = Some("pc-0421".to_string());
    record.principal = who.map(str::to_string);
    record
}

/// A log holding one whole session, checkpointed by `key`; returns its
/// directory and the checkpoint copy.
fn session_log(dir: &Path, key: &Arc<KeyPair>) -> (PathBuf, PathBuf) {
    let log_dir = dir.join("audit");
    let copy = dir.join("checkpoints.jsonl");
    let mut config = AuditConfig::new(&log_dir);
    config.checkpoint_every = 4;
    config.checkpoint_key = Some(key.clone());
    config.checkpoint_copy = Some(copy.clone());
    let log = AuditLog::open(config).unwrap();
    let mut requested = about(Kind::SessionRequested, Some("alice"));
    requested.other = Some("tom".to_string());
    requested.details =
        Some(json!({"problem": "The printer queue is stuck.", "scope": {"allowed": ["echo"]}}));
    let mut approved = about(Kind::SessionApproved, Some("bob"));
    approved.other = Some("alice".to_string());
    let mut started = about(Kind::InvocationStarted, Some("tom"));
    started.action = Some("echo".to_string());
    started.version = Some("1.0.0".to_string());
    started.invocation = Some("i-1".to_string());
    started.decision = Some("allowed".to_string());
    started.input_digest = Some("ab".repeat(32));
    let mut finished = started.clone();
    finished.kind = Kind::InvocationFinished;
    finished.outcome = Some("succeeded".to_string());
    finished.duration_us = Some(1234);
    let mut denied = about(Kind::InvocationDenied, Some("tom"));
    denied.action = Some("restart-service".to_string());
    denied.decision = Some("denied".to_string());
    denied.reason_code = Some("out-of-scope".to_string());
    denied.reason = Some("restart-service is outside the session's scope".to_string());
    let mut closed = about(Kind::SessionClosed, Some("tom"));
    closed.details =
        Some(json!({"how": "principal", "resolved": true, "summary": null, "follow_up": null}));
    log.append_all(vec![requested, approved, started, finished, denied, closed])
        .unwrap();
    log.close();
    (log_dir, copy)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_passes_a_good_log_and_names_the_bad_line_of_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let (log, copy) = session_log(dir.path(), &key);
    let key_text = key.public().to_string();

    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&log),
        "--key",
        &key_text,
        "--from-checkpoint",
        path(&copy),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("verified — 8 records in 1 segment(s), chain intact"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reaches and contains the checkpoint of record 7 kept elsewhere"),
        "{stdout}"
    );

    // The endpoint's key file itself will do: its public half is used.
    let key_file = dir.path().join("endpoint.key");
    key.write(&key_file, None).unwrap();
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&log),
        "--key",
        &format!("@{}", path(&key_file)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A file that holds no public key: named, and what it holds (here a
    // private key) never echoed.
    let private_only = dir.path().join("private-only.key");
    let secret = std::fs::read_to_string(&key_file).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("private-key"))
        .unwrap();
    std::fs::write(&private_only, secret).unwrap();
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&log),
        "--key",
        &format!("@{}", path(&private_only)),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("private-only.key holds neither"),
        "{stderr}"
    );
    let seed = secret.split('"').nth(1).unwrap();
    assert!(
        !stderr.contains(seed),
        "the private key was echoed: {stderr}"
    );
    // A private key alone in a file has the form of a public key, and about
    // half of all seeds are valid as one: such a file is read as the key
    // given, and the refusal names the file, not the key.
    let seed = std::iter::repeat_with(|| {
        let other = dir.path().join("other.key");
        let _ = std::fs::remove_file(&other);
        KeyPair::generate().unwrap().write(&other, None).unwrap();
        let text = std::fs::read_to_string(&other).unwrap();
        let line = text.lines().find(|l| l.starts_with("private-key")).unwrap();
        line.split('"').nth(1).unwrap().to_string()
    })
    .take(200)
    .find(|seed| seed.parse::<salve::identity::PublicKey>().is_ok())
    .unwrap();
    let seed_file = dir.path().join("seed.txt");
    std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
    for json in [false, true] {
        let key_arg = format!("@{}", path(&seed_file));
        let mut args = vec!["audit", "verify", "--log", path(&log), "--key", &key_arg];
        if json {
            args.push("--json");
        }
        let out = salve(&args);
        assert_eq!(out.status.code(), Some(5));
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(said.contains("not by the endpoint's key"), "{said}");
        assert!(said.contains("the key in "), "{said}");
        assert!(!said.contains(&seed), "the private key was echoed: {said}");
    }

    // Another key: refused.
    let other = KeyPair::generate().unwrap().public().to_string();
    let out = salve(&["audit", "verify", "--log", path(&log), "--key", &other]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("not by the endpoint's key"),
        "{}",
        text(&out.stderr)
    );

    // One character changed on line 3: named, exit 5, the file untouched.
    let segment = std::fs::read_dir(&log)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read_to_string(&segment).unwrap();
    let tampered = original.replacen("\"tom\"", "\"eve\"", 1);
    std::fs::write(&segment, &tampered).unwrap();
    let out = salve(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:1: its hash does not match its content: the record was changed",
            segment.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&segment).unwrap(),
        tampered,
        "verify only reads"
    );
    assert_eq!(
        stderr.matches("does not match its content").count(),
        1,
        "said once: {stderr}"
    );
    // What does not verify is not exported or reported as the endpoint's.
    for args in [
        &["audit", "export", "--log", path(&log)][..],
        &["audit", "export", "--format", "ocsf", "--log", path(&log)][..],
        &["report", "metrics", "--log", path(&log)][..],
        &[
            "report",
            "session",
            "s-0123456789abcdef01234567",
            "--log",
            path(&log),
        ][..],
    ] {
        let out = salve(args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("nothing is read from a log that does not verify"),
            "{}",
            text(&out.stderr)
        );
    }

    let out = salve(&["audit", "verify", "--log", path(&log), "--json"]);
    assert_eq!(out.status.code(), Some(5));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["line"], 1);
    assert_eq!(report["seq"], 1);

    // The tail cut off: the checkpoint kept elsewhere catches it.
    std::fs::write(&segment, &original).unwrap();
    let cut: String = original.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&segment, cut).unwrap();
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&log),
        "--from-checkpoint",
        path(&copy),
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("the audit log was truncated: it ends at record 5"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&segment, &original).unwrap();

    // An empty segment slipped in among the others would make readers skip
    // the records its name claims: refused.
    let decoy = log.join(segment::name(3));
    std::fs::write(&decoy, "").unwrap();
    let out = salve(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("an empty segment named for record 3"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(&decoy).unwrap();

    // A directory without a log is not a verified empty log.
    let out = salve(&["audit", "verify", "--log", path(dir.path())]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("no audit log in"),
        "{}",
        text(&out.stderr)
    );

    // A log without any checkpoint is vouched for by nobody: with the
    // endpoint's key given, refused; without, said plainly.
    let unsigned = dir.path().join("unsigned");
    let plain = AuditLog::open(AuditConfig::new(&unsigned)).unwrap();
    plain
        .append_all(vec![about(Kind::SessionRequested, Some("alice"))])
        .unwrap();
    plain.close();
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&unsigned),
        "--key",
        &key_text,
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("none of the 1 records is vouched for by a checkpoint"),
        "{}",
        text(&out.stderr)
    );
    let out = salve(&["audit", "verify", "--log", path(&unsigned)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 checkpoint(s), so nothing in it is signed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(&dir.path().join("nowhere")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a directory: name the audit log's directory with --log")
    );
    let out = salve(&[
        "audit",
        "verify",
        "--log",
        path(dir.path()),
        "--key",
        "not-a-key",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not an ed25519 public key"));
    let out = salve(&[
        "audit",
        "export",
        "--log",
        path(dir.path()),
        "--since",
        "last tuesday",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is neither a time"));
}

#[test]
fn export_writes_json_lines_or_ocsf() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let (log, _) = session_log(dir.path(), &key);

    let out = salve(&["audit", "export", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Six records, a checkpoint after the fourth (one every 4), and one
    // when the log closed.
    assert_eq!(lines.len(), 8);

    // Held to the endpoint's checkpoint interval, as verify is: told one
    // every record, the two records after the first checkpoint without
    // one mean checkpoints were removed.
    for command in [
        &["audit", "export"][..],
        &["report", "session", "s-1"][..],
        &["report", "metrics"][..],
    ] {
        let mut args = command.to_vec();
        args.extend(["--log", path(&log), "--checkpoint-every", "1"]);
        let out = salve(&args);
        assert_eq!(out.status.code(), Some(5), "{command:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("nothing is read from a log that does not verify"),
            "{command:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{command:?}");
    }
    let out = salve(&["audit", "export", "--service", "--checkpoint-every", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(lines[4]["kind"], "log.checkpoint");
    assert_eq!(lines[0]["kind"], "session.requested");
    assert!(lines[0]["hash"].is_string());

    let out = salve(&["audit", "export", "--log", path(&log), "--format", "ocsf"]);
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 8);
    let denied = &events[5];
    assert_eq!(denied["class_uid"], 6003);
    assert_eq!(denied["type_uid"], 600399);
    assert_eq!(denied["status"], "Failure");
    assert_eq!(denied["metadata"]["version"], "1.1.0");
    assert!(denied["time"].as_u64().unwrap() > 1_700_000_000_000);

    let out = salve(&[
        "audit",
        "export",
        "--log",
        path(&log),
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let out = salve(&["audit", "export", "--log", path(&log), "--since", "1h"]);
    assert_eq!(text(&out.stdout).lines().count(), 8);
}

#[test]
fn export_as_ocsf_refuses_a_record_whose_time_does_not_read() {
    // The chain holds whatever time a record was sealed with: verify
    // passes, and OCSF, which requires a time, gets none made up (no 1970).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit");
    log_at_times(
        &log,
        vec![
            (
                "2026-11-20T10:00:00.000000Z",
                about(Kind::SessionRequested, Some("alice")),
            ),
            (
                "20 November 2026, 10:05",
                about(Kind::SessionApproved, Some("bob")),
            ),
            (
                "2026-11-20T10:10:00.000000Z",
                about(Kind::SessionClosed, Some("tom")),
            ),
        ],
    );
    let out = salve(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // As JSON lines the record is passed on as it is.
    let out = salve(&["audit", "export", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 3);

    let out = salve(&["audit", "export", "--log", path(&log), "--format", "ocsf"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "record 2 (session.approved) cannot be exported as OCSF: its time `20 November 2026, 10:05` is not an RFC 3339 UTC time from 1970 on, and every OCSF event needs one"
        ),
        "{stderr}"
    );
    // The records before it are out; none after it, none dated 1970.
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["metadata"]["sequence"], 1);
    assert!(events.iter().all(|e| e["time"] != 0), "{events:?}");
}

#[test]
fn tail_and_reports_read_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let (log, _) = session_log(dir.path(), &key);

    let out = salve(&["audit", "tail", "--log", path(&log), "-n", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("session.closed"), "{stdout}");
    assert!(stdout.contains("log.checkpoint"), "{stdout}");

    let out = salve(&[
        "report",
        "session",
        "s-0123456789abcdef01234567",
        "--log",
        path(&log),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for expected in [
        "Session s-0123456789abcdef01234567  (ticket INC0012345)",
        "by alice, for technician tom",
        "problem      The printer queue is stuck.",
        "by bob",
        "echo@1.0.0",
        "succeeded in 1.2 ms",
        &format!("input sha256 {}", "ab".repeat(32)),
        "restart-service is outside the session's scope",
        "resolved     yes",
        "! closed without a summary of what was done",
    ] {
        assert!(
            report.contains(expected),
            "`{expected}` missing from:\n{report}"
        );
    }
    let out = salve(&["report", "session", "s-nope", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("never mentions session s-nope"));

    let out = salve(&["report", "metrics", "--log", path(&log), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["overall"]["sessions"], 1);
    assert_eq!(metrics["overall"]["resolved"], 1);
    assert_eq!(metrics["overall"]["documentation_completeness"], 0.0);
    assert_eq!(metrics["overall"]["out_of_scope_attempts"], 1);
    assert_eq!(metrics["per_technician"]["tom"]["sessions"], 1);
    let out = salve(&["report", "metrics", "--log", path(&log)]);
    let table = text(&out.stdout);
    assert!(
        table.lines().next().unwrap().starts_with("technician"),
        "{table}"
    );
    assert!(table.contains("overall"), "{table}");
}

#[test]
fn tail_stops_at_a_record_that_was_changed_or_does_not_follow() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let (log, _) = session_log(dir.path(), &key);
    let segment = segment::list(&log).unwrap()[0].path.clone();
    let original = std::fs::read_to_string(&segment).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let closed = lines
        .iter()
        .position(|l| l.contains("\"session.closed\""))
        .unwrap();
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();

    // The closure rewritten to say the problem was not resolved: the hash
    // no longer matches, whether the record is shown or only the one
    // before those shown.
    let edited = original.replace("\"resolved\":true", "\"resolved\":false");
    assert_ne!(edited, original);
    std::fs::write(&segment, &edited).unwrap();
    for shown in ["3", &(lines.len() - closed - 1).to_string()] {
        let out = salve(&["audit", "tail", "--log", path(&log), "-n", shown]);
        assert_eq!(out.status.code(), Some(5), "-n {shown}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("{name}:{}", closed + 1)) && stderr.contains("does not hash"),
            "-n {shown}: {stderr}"
        );
        assert!(!text(&out.stdout).contains("session.closed"));
    }

    // A record taken out: the next one does not follow.
    let mut removed = lines.clone();
    removed.remove(closed);
    std::fs::write(&segment, removed.join("\n") + "\n").unwrap();
    let out = salve(&["audit", "tail", "--log", path(&log), "-n", "100"]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("records are missing or out of order"),
        "{stderr}"
    );

    // Put back, the log tails cleanly again.
    std::fs::write(&segment, &original).unwrap();
    let out = salve(&["audit", "tail", "--log", path(&log), "-n", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), lines.len());
}

#[test]
fn verify_holds_every_checkpoint_to_one_key_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let (log, _) = session_log(dir.path(), &key);
    let out = salve(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "2 checkpoint(s), all signed by {} (the key of the first; give --key to check it is the endpoint's)",
            key.public()
        )),
        "{stdout}"
    );
    let out = salve(&["audit", "verify", "--log", path(&log), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["verified"]["checkpoint_key"],
        key.public().to_string()
    );
    assert_eq!(report["verified"]["key_checked"], false);

    // More records, checkpointed by another key: refused without --key.
    let other = Arc::new(KeyPair::generate().unwrap());
    let mut config = AuditConfig::new(&log);
    config.checkpoint_every = 4;
    config.checkpoint_key = Some(other.clone());
    let appender = AuditLog::open(config).unwrap();
    for _ in 0..8 {
        appender
            .append(about(Kind::SessionConsented, None))
            .unwrap();
    }
    appender.close();
    let out = salve(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            ":13: checkpoint of record 12 is signed by {}, but the log's first checkpoint (record 5) is signed by {}: the log from here on was rewritten and re-signed by another key",
            other.public(),
            key.public()
        )),
        "{stderr}"
    );
}

/// Writes `records` (each with its time) as a sealed log in `dir`.
fn log_at_times(dir: &Path, records: Vec<(&str, Record)>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut prev = GENESIS;
    let mut lines = Vec::new();
    for (seq, (time, record)) in (1..).zip(records) {
        let (sealed, line) = record.seal(seq, time.to_string(), prev).unwrap();
        prev = sealed.hash;
        lines.extend(line);
    }
    std::fs::write(dir.join(segment::name(1)), lines).unwrap();
}

fn session(kind: Kind, id: &str, who: Option<&str>) -> Record {
    let mut record = about(kind, who);
    record.session = Some(id.to_string());
    record
}

#[test]
fn report_metrics_since_counts_only_sessions_requested_since() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit");
    let requested = |id: &str, technician: &str| {
        let mut record = session(Kind::SessionRequested, id, Some("alice"));
        record.other = Some(technician.to_string());
        record
    };
    let closed = |id: &str| {
        let mut record = session(Kind::SessionClosed, id, Some("tom"));
        record.details = Some(
            json!({"how": "principal", "resolved": true, "summary": "Done.", "follow_up": null}),
        );
        record
    };
    let denied = |id: &str, code: &str| {
        let mut record = session(Kind::InvocationDenied, id, Some("tom"));
        record.reason_code = Some(code.to_string());
        record
    };
    log_at_times(
        &log,
        vec![
            ("2026-11-20T10:00:00.000000Z", requested("s-old", "tom")),
            (
                "2026-11-20T10:10:00.000000Z",
                denied("s-old", "out-of-scope"),
            ),
            ("2026-11-20T10:30:00.000000Z", closed("s-old")),
            ("2026-11-23T09:00:00.000000Z", requested("s-new", "ann")),
            (
                "2026-11-23T09:05:00.000000Z",
                denied("s-new", "privileged-not-in-scope"),
            ),
            (
                "2026-11-23T09:06:00.000000Z",
                denied("s-new", "role-not-permitted"),
            ),
            ("2026-11-23T09:45:00.000000Z", closed("s-new")),
        ],
    );
    let metrics = |since: Option<&str>| {
        let mut args = vec!["report", "metrics", "--log", path(&log), "--json"];
        if let Some(since) = since {
            args.extend(["--since", since]);
        }
        let out = salve(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let all = metrics(None);
    assert_eq!(all["overall"]["sessions"], 2);
    assert_eq!(all["overall"]["mean_time_to_resolution_minutes"], 37.5);
    assert_eq!(all["overall"]["denied_invocations"], 3);
    assert_eq!(all["overall"]["out_of_scope_attempts"], 2);

    let recent = metrics(Some("2026-11-22T00:00:00Z"));
    assert_eq!(recent["overall"]["sessions"], 1);
    assert_eq!(recent["overall"]["mean_time_to_resolution_minutes"], 45.0);
    assert_eq!(recent["overall"]["denied_invocations"], 2);
    assert_eq!(recent["overall"]["out_of_scope_attempts"], 1);
    let technicians: Vec<&String> = recent["per_technician"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(technicians, ["ann"]);

    let none = metrics(Some("2999-01-01T00:00:00Z"));
    assert_eq!(none["overall"]["sessions"], 0);
    assert_eq!(
        none["overall"]["mean_time_to_resolution_minutes"],
        serde_json::Value::Null
    );

    let out = salve(&[
        "report",
        "metrics",
        "--log",
        path(&log),
        "--since",
        "2026-11-22T00:00:00Z",
    ]);
    let table = text(&out.stdout);
    assert!(table.lines().any(|l| l.starts_with("ann ")), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("tom ")), "{table}");
    let out = salve(&[
        "report",
        "metrics",
        "--log",
        path(&log),
        "--since",
        "yesterday-ish",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`yesterday-ish` is neither a time"));
}

/// Kills the child when dropped, so that a failed assertion leaves no
/// `tail --follow` running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tail_follow_prints_every_record_appended_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let mut config = AuditConfig::new(&log_dir);
    config.max_segment_bytes = 2048;
    let log = Arc::new(AuditLog::open(config).unwrap());
    for _ in 0..5 {
        log.append(about(Kind::SessionConsented, Some("tom")))
            .unwrap();
    }
    // Appending goes on while `tail` starts, reads and begins to follow.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appender = std::thread::spawn({
        let (log, stop) = (log.clone(), stop.clone());
        move || {
            let mut last = 5;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                last = log
                    .append(about(Kind::SessionConsented, Some("tom")))
                    .unwrap()
                    .seq;
                std::thread::sleep(Duration::from_millis(2));
            }
            last
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args([
            "audit",
            "tail",
            "--log",
            path(&log_dir),
            "-n",
            "2",
            "--follow",
            "--json",
        ])
        .env_remove("SALVE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _child = Killed(child);
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let seq_of = |line: String| {
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let mut seqs = vec![seq_of(
        received
            .recv_timeout(Duration::from_secs(30))
            .expect("tail prints the last records"),
    )];
    // Appends go on for a while after `tail` has begun.
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = appender.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seqs.last() != Some(&last) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("tail stopped at {:?} of {last}", seqs.last()));
        seqs.push(seq_of(line));
    }
    assert!(segment::list(&log_dir).unwrap().len() > 10, "rotated");
    // From where it started, every record once, in order: none skipped.
    let first = seqs[0];
    assert!(first >= 4 && last > first + 50, "{first}..{last}");
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>());
    // Idle: nothing more is printed.
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err());
    log.close();
}
