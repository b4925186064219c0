//! The audit log under attack and under crashes: every mutation of a log is
//! detected, a process killed mid-append loses no acknowledged record, a
//! failing disk stops the log instead of losing records silently, rotation
//! keeps one chain, and the endpoint logs a whole session — from which the
//! post-session report and the metrics are built.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use salve::audit::report::{metrics, session_report};
use salve::audit::{
    AuditConfig, AuditLog, Checkpoint, Kind, Record, VerifyError, read, segment, verify_dir,
};
use salve::catalog::Catalog;
use salve::clock::ManualClock;
use salve::endpoint::{Authenticated, Endpoint, InvokeOutcome};
use salve::identity::KeyPair;
use salve::policy::Policy;
use salve::session::ClosureReport;
#[cfg(unix)]
use salve::session::SessionState;
use salve::store::StateStore;
use salve::{Outcome, Package};
use salve_tests::fixture::{ENDPOINT, Fixture, PEOPLE, policy_text, request};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A log of `records` events with checkpoints every 10 records, rotated
/// every ~4 KiB, and the checkpoint copy kept "elsewhere".
struct Sample {
    _dir: tempfile::TempDir,
    log_dir: PathBuf,
    checkpoint_copy: PathBuf,
    key: Arc<KeyPair>,
}

fn config(log_dir: &Path, key: &Arc<KeyPair>, copy: &Path) -> AuditConfig {
    let mut config = AuditConfig::new(log_dir);
    config.max_segment_bytes = 4096;
    config.checkpoint_every = 10;
    config.checkpoint_key = Some(key.clone());
    config.checkpoint_copy = Some(copy.to_path_buf());
    config
}

fn event(n: usize) -> Record {
    let kinds = [
        Kind::SessionRequested,
        Kind::InvocationStarted,
        Kind::InvocationFinished,
        Kind::InvocationDenied,
    ];
    let mut record = Record::event(kinds[n % kinds.len()]);
    record.principal = Some(format!("tech-{}", n % 3));
    record.session = Some(format!("s-{}", n / 10));
    record.action = Some("clear-print-queue".to_string());
    record.input_digest = Some(format!("{:064x}", n * 7919));
    record.reason = Some(format!("event number {n} — with ünïcode and \"quotes\""));
    record
}

impl Sample {
    fn new(records: usize) -> Sample {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("audit");
        let checkpoint_copy = dir.path().join("checkpoints.jsonl");
        let key = Arc::new(KeyPair::generate().unwrap());
        let log = AuditLog::open(config(&log_dir, &key, &checkpoint_copy)).unwrap();
        for n in 0..records {
            log.append(event(n)).unwrap();
        }
        log.close();
        Sample {
            _dir: dir,
            log_dir,
            checkpoint_copy,
            key,
        }
    }

    fn verify(&self) -> Result<salve::audit::Verified, VerifyError> {
        let checkpoint = Checkpoint::read(&self.checkpoint_copy).unwrap();
        verify_dir(&self.log_dir, Some(&self.key.public()), Some(&checkpoint))
    }

    /// Every segment's lines, in order.
    fn lines(&self) -> Vec<(PathBuf, Vec<Vec<u8>>)> {
        segment::list(&self.log_dir)
            .unwrap()
            .into_iter()
            .map(|s| {
                let bytes = std::fs::read(&s.path).unwrap();
                let lines = bytes
                    .split_inclusive(|b| *b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect();
                (s.path, lines)
            })
            .collect()
    }

    fn write(&self, segments: &[(PathBuf, Vec<Vec<u8>>)]) {
        for (path, lines) in segments {
            std::fs::write(path, lines.concat()).unwrap();
        }
    }
}

/// One sample log, built once; each case mutates a copy.
fn pristine() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| Sample::new(120))
}

fn copy_of(sample: &Sample) -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    std::fs::create_dir(&log_dir).unwrap();
    for entry in std::fs::read_dir(&sample.log_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), log_dir.join(entry.file_name())).unwrap();
    }
    let checkpoint_copy = dir.path().join("checkpoints.jsonl");
    std::fs::copy(&sample.checkpoint_copy, &checkpoint_copy).unwrap();
    Sample {
        _dir: dir,
        log_dir,
        checkpoint_copy,
        key: sample.key.clone(),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte (anywhere, newlines included) with a non-zero mask.
    FlipByte { at: usize, mask: u8 },
    /// Remove one whole line.
    DeleteLine { at: usize },
    /// Insert a copy of line `from` before line `at`.
    InsertLine { from: usize, at: usize },
    /// Swap two different lines.
    SwapLines { a: usize, b: usize },
    /// Cut the log at a byte offset, dropping the rest of the log.
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::FlipByte { at, mask }),
        any::<usize>().prop_map(|at| Mutation::DeleteLine { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, at)| Mutation::InsertLine { from, at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Applies `mutation` to the log as one stream of lines across segments.
/// Returns false when it would change nothing (swapping identical lines).
fn apply(sample: &Sample, mutation: &Mutation) -> bool {
    let mut segments = sample.lines();
    // (segment, line) of every line, in log order.
    let index: Vec<(usize, usize)> = segments
        .iter()
        .enumerate()
        .flat_map(|(s, (_, lines))| (0..lines.len()).map(move |l| (s, l)))
        .collect();
    let total_bytes: usize = segments
        .iter()
        .map(|(_, l)| l.iter().map(Vec::len).sum::<usize>())
        .sum();
    match *mutation {
        Mutation::FlipByte { at, mask } => {
            let mut at = at % total_bytes;
            'find: for (_, lines) in &mut segments {
                for line in lines.iter_mut() {
                    if at < line.len() {
                        line[at] ^= mask;
                        break 'find;
                    }
                    at -= line.len();
                }
            }
        }
        Mutation::DeleteLine { at } => {
            let (s, l) = index[at % index.len()];
            segments[s].1.remove(l);
        }
        Mutation::InsertLine { from, at } => {
            let (fs, fl) = index[from % index.len()];
            let line = segments[fs].1[fl].clone();
            let (s, l) = index[at % index.len()];
            segments[s].1.insert(l, line);
        }
        Mutation::SwapLines { a, b } => {
            let (sa, la) = index[a % index.len()];
            let (sb, lb) = index[b % index.len()];
            let (line_a, line_b) = (segments[sa].1[la].clone(), segments[sb].1[lb].clone());
            if line_a == line_b {
                return false;
            }
            segments[sa].1[la] = line_b;
            segments[sb].1[lb] = line_a;
        }
        Mutation::Truncate { at } => {
            // Keep at most `at` bytes of the whole log; later segments go.
            let mut keep = at % total_bytes;
            for (path, lines) in &mut segments {
                let bytes = lines.concat();
                let kept = keep.min(bytes.len());
                keep -= kept;
                std::fs::write(&*path, &bytes[..kept]).unwrap();
                if kept == 0 {
                    std::fs::remove_file(&*path).unwrap();
                }
            }
            return true;
        }
    }
    sample.write(&segments);
    true
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn an_untouched_log_verifies_across_segments_and_checkpoints() {
    let sample = pristine();
    let verified = sample.verify().unwrap();
    assert!(verified.segments > 3, "{verified:?}");
    // 120 events: a checkpoint after the first (a new log is signed from
    // its start), after every 10 more, and at the close.
    assert_eq!(verified.checkpoints, 13);
    assert_eq!(verified.records, 133);
    assert!(verified.key_checked);
    assert_eq!(verified.checkpoint_key, Some(sample.key.public()));
    // Without the key, every checkpoint is held to the first one's key.
    let alone = verify_dir(&sample.log_dir, None, None).unwrap();
    assert!(!alone.key_checked);
    assert_eq!(alone.checkpoint_key, Some(sample.key.public()));
}

// A FIFO: Unix only.
#[cfg(unix)]
#[test]
fn a_special_file_named_like_a_segment_is_refused_not_read() {
    let sample = copy_of(pristine());
    let last = segment::list(&sample.log_dir)
        .unwrap()
        .last()
        .unwrap()
        .first_seq;
    let fifo = sample.log_dir.join(segment::name(last + 1000));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Each reader, in a thread: a hang fails the test instead of blocking it.
    let (done, finished) = std::sync::mpsc::channel();
    let dir = sample.log_dir.clone();
    let key = sample.key.clone();
    std::thread::spawn(move || {
        let verified = verify_dir(&dir, None, None)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let opened = AuditLog::open(config(&dir, &key, &dir.join("../copy.jsonl")))
            .map(|log| log.close())
            .map_err(|e| e.to_string());
        let _ = done.send((verified, opened));
    });
    let (verified, opened) = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a FIFO named like a segment made the log's readers hang");
    for result in [verified, opened] {
        let error = result.unwrap_err();
        assert!(
            error.contains("not a regular file") && error.contains("FIFO"),
            "{error}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every flipped byte, deleted, inserted or reordered line and every
    /// truncation is detected — and verifying never changes the files.
    #[test]
    fn every_mutation_is_detected(mutation in mutation()) {
        let sample = copy_of(pristine());
        prop_assume!(apply(&sample, &mutation));
        let before = snapshot(&sample.log_dir);
        let result = sample.verify();
        prop_assert!(result.is_err(), "{mutation:?} went unnoticed: {result:?}");
        prop_assert_eq!(before, snapshot(&sample.log_dir), "verify changed the log");
    }
}

#[test]
fn the_report_names_the_file_line_and_reason() {
    let sample = copy_of(pristine());
    let mut segments = sample.lines();
    // The second event of the second segment.
    let at = segments[1]
        .1
        .iter()
        .enumerate()
        .filter(|(_, line)| line.windows(5).any(|w| w == b"tech-"))
        .nth(1)
        .unwrap()
        .0;
    let line = String::from_utf8(segments[1].1[at].clone()).unwrap();
    segments[1].1[at] = line.replace("tech-", "tekk-").into_bytes();
    sample.write(&segments);
    let error = sample.verify().unwrap_err();
    let VerifyError::Corrupt(corruption) = &error else {
        panic!("{error}")
    };
    assert_eq!(corruption.file, segments[1].0);
    assert_eq!(corruption.line, at as u64 + 1);
    assert!(
        error.to_string().ends_with(&format!(
            ":{}: its hash does not match its content: the record was changed",
            at + 1
        )),
        "{error}"
    );
}

#[test]
fn a_truncated_tail_is_caught_only_by_a_checkpoint_kept_elsewhere() {
    let sample = copy_of(pristine());
    let mut segments = sample.lines();
    // The last record goes, and with it any empty segment after it, whose
    // name would tell how far the log went.
    while segments.last().is_some_and(|s| s.1.is_empty()) {
        let (path, _) = segments.pop().unwrap();
        std::fs::remove_file(path).unwrap();
    }
    let last = segments.last_mut().unwrap();
    last.1.truncate(last.1.len() - 1);
    sample.write(&segments);
    // The chain alone still holds: it just ends earlier…
    let alone = verify_dir(&sample.log_dir, Some(&sample.key.public()), None).unwrap();
    assert_eq!(alone.records, 132);
    // …but the checkpoint kept elsewhere shows it went further.
    let error = sample.verify().unwrap_err();
    let last_segment = segment::list(&sample.log_dir).unwrap().pop().unwrap().path;
    assert_eq!(
        error.to_string(),
        format!(
            "the audit log was truncated: it ends at record 132 ({}), but a checkpoint kept elsewhere shows it reached record 133",
            last_segment.display()
        )
    );
}

#[test]
fn a_tail_rewritten_with_the_endpoints_own_key_is_caught_by_a_checkpoint_kept_elsewhere() {
    let sample = copy_of(pristine());
    // Someone holding the endpoint's key rewrites everything after record
    // 100 and signs new checkpoints: the log alone verifies…
    cut_after(&sample, 100);
    let log = AuditLog::open(config(
        &sample.log_dir,
        &sample.key,
        &sample._dir.path().join("their-copy.jsonl"),
    ))
    .unwrap();
    for n in 0..40 {
        log.append(event(1000 + n)).unwrap();
    }
    log.close();
    verify_dir(&sample.log_dir, Some(&sample.key.public()), None).unwrap();
    // …but not against the checkpoint kept elsewhere, which names the
    // record it vouched for, where it now lies, and both hashes.
    let checkpoint = Checkpoint::read(&sample.checkpoint_copy).unwrap();
    let error = sample.verify().unwrap_err();
    let VerifyError::CheckpointMismatch {
        file, line, seq, ..
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(*seq, checkpoint.seq);
    let text = std::fs::read_to_string(file).unwrap();
    let named = text
        .lines()
        .nth(usize::try_from(*line).unwrap() - 1)
        .unwrap();
    assert_eq!(serde_json::from_str::<Record>(named).unwrap().seq, *seq);
    assert!(
        error.to_string().starts_with(&format!(
            "{}:{line}: record {seq} does not match the checkpoint kept elsewhere",
            file.display()
        )),
        "{error}"
    );
}

#[test]
fn a_checkpoint_by_another_key_is_refused() {
    let sample = copy_of(pristine());
    let stranger = KeyPair::generate().unwrap();
    let error = verify_dir(&sample.log_dir, Some(&stranger.public()), None).unwrap_err();
    assert!(error.to_string().contains("is signed by"), "{error}");
    assert!(
        error.to_string().contains("not by the endpoint's key"),
        "{error}"
    );
}

#[test]
fn a_write_in_flight_is_not_a_torn_line_to_the_log_being_written() {
    let sample = copy_of(pristine());
    let before = sample.verify().unwrap();
    let last = segment::list(&sample.log_dir).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&last.path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":134,\"time\":\"2026-");
    std::fs::write(&last.path, bytes).unwrap();
    // Read as a log at rest: torn.
    let error = verify_dir(&sample.log_dir, Some(&sample.key.public()), None).unwrap_err();
    assert!(
        error.to_string().contains("the last line is incomplete"),
        "{error}"
    );
    // Read by the service that is writing it: verified up to the write.
    let live = salve::audit::verify_live(&sample.log_dir, Some(&sample.key.public()), 10).unwrap();
    assert_eq!(
        (live.records, live.last_hash),
        (before.records, before.last_hash)
    );
    // Only at the very end: an incomplete line in an earlier segment is not
    // a write in flight.
    let first = &segment::list(&sample.log_dir).unwrap()[0];
    let bytes = std::fs::read(&first.path).unwrap();
    std::fs::write(&first.path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(salve::audit::verify_live(&sample.log_dir, Some(&sample.key.public()), 10).is_err());
}

#[test]
fn the_last_signer_of_a_log_is_found_from_its_tail() {
    let sample = copy_of(pristine());
    assert_eq!(
        salve::audit::last_signer(&sample.log_dir, 10),
        Ok(Some(sample.key.public()))
    );
    // A tail re-signed by another key: that key signed last.
    let other = Arc::new(KeyPair::generate().unwrap());
    let log = AuditLog::open(config(&sample.log_dir, &other, &sample.checkpoint_copy)).unwrap();
    log.append(event(0)).unwrap();
    log.close();
    assert_eq!(
        salve::audit::last_signer(&sample.log_dir, 10),
        Ok(Some(other.public()))
    );
    // A log without checkpoints has no signer.
    let (_dir, plain) = plain_log(5);
    assert_eq!(salve::audit::last_signer(&plain, 10), Ok(None));
}

#[test]
fn rotation_keeps_one_chain_across_reopens() {
    let sample = copy_of(pristine());
    let copy = sample.checkpoint_copy.clone();
    let log = AuditLog::open(config(&sample.log_dir, &sample.key, &copy)).unwrap();
    for n in 0..50 {
        log.append(event(n)).unwrap();
    }
    log.close();
    let verified = sample.verify().unwrap();
    assert_eq!(verified.records, 133 + 50 + 5);
    let segments = segment::list(&sample.log_dir).unwrap();
    for pair in segments.windows(2) {
        assert!(pair[0].first_seq < pair[1].first_seq);
    }
    // A whole segment missing from the middle breaks the chain.
    std::fs::remove_file(&segments[2].path).unwrap();
    let error = verify_dir(&sample.log_dir, None, None).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("segments are missing or misnamed"),
        "{error}"
    );
}

#[test]
fn a_log_whose_last_record_is_broken_is_not_appended_to() {
    let sample = copy_of(pristine());
    let mut segments = sample.lines();
    let last = segments
        .iter_mut()
        .rfind(|s| !s.1.is_empty())
        .unwrap()
        .1
        .last_mut()
        .unwrap();
    last[10] ^= 1;
    sample.write(&segments);
    let before = snapshot(&sample.log_dir);
    let error = AuditLog::open(config(
        &sample.log_dir,
        &sample.key,
        &sample.checkpoint_copy,
    ))
    .err()
    .unwrap();
    assert!(
        error
            .to_string()
            .contains("nothing is appended to a broken chain"),
        "{error}"
    );
    assert_eq!(before, snapshot(&sample.log_dir));
}

fn writer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_audit-writer"))
}

/// Acknowledged `(seq, hash)` pairs the writer printed.
fn acknowledged(output: &str) -> Vec<(u64, String)> {
    output
        .lines()
        .filter_map(|line| {
            let (seq, hash) = line.split_once(' ')?;
            Some((seq.parse().ok()?, hash.to_string()))
        })
        .collect()
}

#[test]
fn a_process_killed_mid_burst_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for round in 0..12 {
        let writers = [1usize, 8, 64][round % 3];
        let kill_after = (10u64..3000).new_tree(&mut runner).unwrap().current();
        let mut child = writer()
            .arg(&log_dir)
            .arg(writers.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            acked.extend(acknowledged(&line));
            seen += 1;
            if seen >= kill_after {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        // Whatever it printed before dying was acknowledged too.
        for line in lines.map_while(Result::ok) {
            acked.extend(acknowledged(&line));
        }
        child.wait().unwrap();

        // Reopening removes a torn last line, if any; then the chain verifies
        // and holds every acknowledged record, with its hash.
        AuditLog::open(AuditConfig::new(&log_dir)).unwrap().close();
        let verified = verify_dir(&log_dir, None, None).unwrap();
        let records: BTreeMap<u64, String> = read::records(&log_dir)
            .map(|r| r.unwrap())
            .map(|r| (r.seq, r.hash.to_string()))
            .collect();
        assert_eq!(verified.records as usize, records.len());
        for (seq, hash) in &acked {
            assert_eq!(
                records.get(seq),
                Some(hash),
                "acknowledged record {seq} lost in round {round}"
            );
        }
    }
    assert!(
        acked.len() > 1000,
        "only {} records acknowledged",
        acked.len()
    );
}

// The failing write is a file-size limit (RLIMIT_FSIZE): Unix only.
#[cfg(unix)]
#[test]
fn a_failing_write_stops_the_log_and_takes_back_the_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    // Files may not grow past 16 KiB: a write fails part way.
    let output = writer()
        .arg(&log_dir)
        .arg("8")
        .arg("16384")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let acked = acknowledged(&stdout);
    assert!(!acked.is_empty());
    let stopped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("stopped "))
        .collect();
    assert!(!stopped.is_empty(), "{stdout}");
    assert!(
        stopped[0].contains(
            "the audit log has stopped after a failed write (write failed: File too large"
        ),
        "{stdout}"
    );
    // Every later append fails too: no retrying into silent loss.
    let after: Vec<&str> = stdout.lines().filter(|l| l.starts_with("after ")).collect();
    assert!(!after.is_empty());
    assert!(
        after
            .iter()
            .all(|l| l.contains("the audit log has stopped")),
        "{stdout}"
    );
    // And the log says why it stopped (the service's health reports it).
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("log stopped: write failed: File too large")),
        "{stdout}"
    );

    // On disk: exactly the acknowledged records, nothing half-written.
    let verified = verify_dir(&log_dir, None, None).unwrap();
    assert_eq!(verified.records as usize, acked.len());
    let records: Vec<Record> = read::records(&log_dir).map(|r| r.unwrap()).collect();
    let on_disk: BTreeMap<u64, String> = records
        .iter()
        .map(|r| (r.seq, r.hash.to_string()))
        .collect();
    assert_eq!(on_disk, acked.into_iter().collect());
}

fn ran(outcome: InvokeOutcome) -> salve::Invocation {
    match outcome {
        InvokeOutcome::Ran { invocation, .. } => invocation,
        other => panic!("expected a run, got {other:?}"),
    }
}

// Runs clear-temp-files on a directory granted by its Unix path.
#[cfg(unix)]
#[test]
fn a_session_is_logged_from_request_to_closure_and_reported() {
    let f = Fixture::new();
    let session = f
        .endpoint
        .request_session(
            &f.who("alice"),
            request("tom", &["echo", "clear-temp-files"], true),
        )
        .unwrap();
    // A self-approval is refused, and logged.
    f.endpoint
        .approve_session(&f.who("alice"), &session.id)
        .unwrap_err();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Active);
    let echo = ran(f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"echo".parse().unwrap(),
            r#"{"hello":"world"}"#,
        )
        .unwrap());
    assert!(echo.outcome.succeeded());
    let input = serde_json::json!({"directory": f.temp_dir, "older_than_days": 1, "dry_run": true})
        .to_string();
    let InvokeOutcome::Escalated { escalation, .. } = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"clear-temp-files".parse().unwrap(),
            &input,
        )
        .unwrap()
    else {
        panic!("a privileged action is escalated")
    };
    f.endpoint
        .approve_escalation(&f.who("carol"), &escalation.id)
        .unwrap();
    ran(f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"clear-temp-files".parse().unwrap(),
            &input,
        )
        .unwrap());
    let InvokeOutcome::Denied { .. } = f
        .endpoint
        .invoke(
            &f.who("tom"),
            &session.id,
            &"system-report".parse().unwrap(),
            "{}",
        )
        .unwrap()
    else {
        panic!("out of scope")
    };
    f.endpoint
        .close_session(
            &f.who("tom"),
            &session.id,
            ClosureReport {
                resolved: Some(true),
                summary: Some("Cleared the spool.".into()),
                follow_up: None,
            },
        )
        .unwrap();

    let records = f.audit_records();
    let kinds: Vec<Kind> = records
        .iter()
        .filter(|r| r.session.as_deref() == Some(session.id.as_str()))
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            Kind::SessionRequested,
            Kind::ChangeRefused,
            Kind::SessionApproved,
            Kind::InvocationStarted,
            Kind::InvocationFinished,
            Kind::InvocationEscalated,
            Kind::EscalationApproved,
            Kind::InvocationStarted,
            Kind::InvocationFinished,
            Kind::InvocationDenied,
            Kind::SessionClosed,
        ]
    );
    // The raw input is never logged, only its digest.
    let log_text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert!(!log_text.contains("world"));
    let started = records
        .iter()
        .find(|r| r.kind == Kind::InvocationStarted)
        .unwrap();
    assert_eq!(
        started.input_digest.as_deref(),
        Some(
            salve::Sha256Digest::of(br#"{"hello":"world"}"#)
                .to_string()
                .as_str()
        )
    );

    let report = session_report(records.clone(), session.id.as_str()).unwrap();
    assert_eq!(report.ticket.as_deref(), Some("INC0012345"));
    assert_eq!(report.requester.as_deref(), Some("alice"));
    assert_eq!(report.technician.as_deref(), Some("tom"));
    assert_eq!(report.approved.as_ref().map(|a| a.0.as_str()), Some("bob"));
    let decisions: Vec<&str> = report
        .invocations
        .iter()
        .map(|i| i.decision.as_str())
        .collect();
    assert_eq!(decisions, ["allowed", "escalated", "allowed", "denied"]);
    assert_eq!(report.invocations[0].outcome.as_deref(), Some("succeeded"));
    assert!(report.invocations[0].duration_us.is_some());
    assert_eq!(report.escalations.len(), 1);
    assert_eq!(report.escalations[0].status, "approved");
    assert_eq!(report.escalations[0].decided_by.as_deref(), Some("carol"));
    assert_eq!(report.refusals.len(), 1);
    assert_eq!(
        report.closed.as_ref().unwrap().summary.as_deref(),
        Some("Cleared the spool.")
    );
    assert!(report.flags.is_empty(), "{:?}", report.flags);

    let figures = metrics(records, None);
    assert_eq!(figures.overall.sessions, 1);
    assert_eq!(figures.overall.resolved, 1);
    assert_eq!(figures.overall.escalation_share, Some(1.0));
    assert_eq!(figures.overall.documentation_completeness, Some(1.0));
    assert_eq!(figures.overall.denied_invocations, 1);
    assert_eq!(figures.overall.out_of_scope_attempts, 1);
    assert_eq!(figures.per_technician["tom"].sessions, 1);
}

#[test]
fn a_closure_without_a_summary_is_flagged() {
    let f = Fixture::new();
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("tom", &["echo"], false))
        .unwrap();
    f.endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    f.endpoint
        .close_session(
            &f.who("tom"),
            &session.id,
            ClosureReport {
                resolved: Some(false),
                summary: None,
                follow_up: None,
            },
        )
        .unwrap();
    let records = f.audit_records();
    let report = session_report(records.clone(), session.id.as_str()).unwrap();
    assert_eq!(
        report.flags,
        [
            "closed without a summary of what was done",
            "closed unresolved without a follow-up"
        ]
    );
    let figures = metrics(records, None);
    assert_eq!(figures.overall.documentation_completeness, Some(0.0));
    assert_eq!(figures.overall.mean_time_to_resolution_minutes, None);
}

#[test]
fn nothing_runs_when_the_started_record_cannot_be_logged() {
    let f = Fixture::new();
    let path = f.temp_dir.join("old.tmp");
    std::fs::write(&path, "old").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("tom", &["clear-temp-files"], true))
        .unwrap();
    f.endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    let input =
        serde_json::json!({"directory": f.temp_dir, "older_than_days": 1, "dry_run": false})
            .to_string();
    let action = "clear-temp-files".parse().unwrap();
    let InvokeOutcome::Escalated { escalation, .. } = f
        .endpoint
        .invoke(&f.who("tom"), &session.id, &action, &input)
        .unwrap()
    else {
        panic!("escalated")
    };
    f.endpoint
        .approve_escalation(&f.who("carol"), &escalation.id)
        .unwrap();
    // The log goes away (as after a failed sync): the approved run is refused.
    f.endpoint.audit().close();
    let error = f
        .endpoint
        .invoke(&f.who("tom"), &session.id, &action, &input)
        .unwrap_err();
    assert_eq!(error.code(), "audit-unavailable");
    assert!(path.exists(), "nothing may run without its started record");
}

/// Keeps the records up to `last` (whole segments after it removed) — a
/// log cut back to that record.
fn cut_after(sample: &Sample, last: u64) {
    for (path, lines) in sample.lines() {
        let kept: Vec<Vec<u8>> = lines
            .into_iter()
            .filter(|line| serde_json::from_slice::<Record>(line).unwrap().seq <= last)
            .collect();
        let first = segment::list(&sample.log_dir)
            .unwrap()
            .into_iter()
            .find(|s| s.path == path)
            .unwrap()
            .first_seq;
        if first > last + 1 {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::write(&path, kept.concat()).unwrap();
        }
    }
}

#[test]
fn a_tail_rewritten_and_re_signed_by_another_key_is_refused_even_without_the_key() {
    let sample = copy_of(pristine());
    // Records 1–68 (the 7th checkpoint is record 68) stay; the rest is
    // rewritten by someone holding another key, checkpoints and all.
    cut_after(&sample, 68);
    let forger = Arc::new(KeyPair::generate().unwrap());
    let elsewhere = sample._dir.path().join("forger-checkpoints.jsonl");
    let log = AuditLog::open(config(&sample.log_dir, &forger, &elsewhere)).unwrap();
    for n in 0..40 {
        log.append(event(n)).unwrap();
    }
    log.close();
    // Each checkpoint's signature verifies on its own; the chain is intact.
    let error = verify_dir(&sample.log_dir, None, None).unwrap_err();
    let VerifyError::Corrupt(corruption) = &error else {
        panic!("{error}")
    };
    assert_eq!(corruption.seq, Some(79));
    assert_eq!(
        corruption.reason,
        format!(
            "checkpoint of record 78 is signed by {}, but the log's first checkpoint (record 2) is signed by {}: the log from here on was rewritten and re-signed by another key — give --key with the endpoint's key to tell which is genuine",
            forger.public(),
            sample.key.public()
        )
    );
    // With the endpoint's key the same record is named.
    let error = verify_dir(&sample.log_dir, Some(&sample.key.public()), None).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("checkpoint of record 78 is signed by"),
        "{error}"
    );
    // The forger's own checkpoint, kept "elsewhere", does not help either.
    let forged = Checkpoint::read(&elsewhere).unwrap();
    let error = verify_dir(&sample.log_dir, None, Some(&forged)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("but the checkpoint kept elsewhere is signed by"),
        "{error}"
    );
}

#[test]
fn records_rewritten_with_the_checkpoints_after_them_removed_are_caught() {
    let sample = copy_of(pristine());
    // Everything after record 25 is rewritten by someone without the
    // endpoint's key: the chain is rebuilt, but no checkpoint can be, so
    // there are none after record 24.
    cut_after(&sample, 25);
    let mut rewriter = config(
        &sample.log_dir,
        &sample.key,
        &sample._dir.path().join("elsewhere.jsonl"),
    );
    rewriter.checkpoint_key = None;
    let log = AuditLog::open(rewriter).unwrap();
    for n in 0..40 {
        log.append(event(n)).unwrap();
    }
    log.close();
    for key in [Some(sample.key.public()), None] {
        let error =
            salve::audit::verify_dir_with(&sample.log_dir, key.as_ref(), None, 10).unwrap_err();
        let VerifyError::Corrupt(corruption) = &error else {
            panic!("{error}")
        };
        assert_eq!(corruption.seq, Some(35), "{error}");
        assert!(
            corruption.reason.starts_with(
                "11 records without a checkpoint, where the endpoint signs one every 10 records: checkpoints were removed"
            ),
            "{error}"
        );
    }
    // The untouched log, checked with the same interval, verifies.
    let untouched = pristine();
    salve::audit::verify_dir_with(&untouched.log_dir, Some(&untouched.key.public()), None, 10)
        .unwrap();
}

/// Rewrites the log in `dir` from record `forged` on, re-hashing the chain
/// as someone without the endpoint's key can: record `forged` loses the
/// quotes around its action (its line is no longer JSON), and the link of
/// record `broken`, if given, is left pointing at the old chain.
fn forge_not_json(dir: &Path, forged: u64, broken: Option<u64>) {
    use salve::audit::record::{chain_hash, read_head, split_line};
    let mut prev: Option<salve::digest::Sha256Digest> = None;
    for s in segment::list(dir).unwrap() {
        let bytes = std::fs::read(&s.path).unwrap();
        let mut out = Vec::new();
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let body = &line[..line.len() - 1];
            let split = split_line(body).unwrap();
            let head = read_head(split.canonical_without_brace).unwrap();
            let claimed: salve::digest::Sha256Digest =
                std::str::from_utf8(split.claimed).unwrap().parse().unwrap();
            let Some(link) = prev.filter(|_| head.seq >= forged) else {
                out.extend_from_slice(line);
                prev = Some(claimed);
                continue;
            };
            let mut canonical = String::from_utf8(split.canonical_without_brace.to_vec()).unwrap();
            if head.seq == forged {
                canonical = canonical.replace(
                    "\"action\":\"clear-print-queue\"",
                    "\"action\":clear-print-queue",
                );
            }
            if broken != Some(head.seq) {
                let old = std::str::from_utf8(head.prev).unwrap().to_string();
                canonical = canonical.replace(&old, &link.to_string());
            }
            let hash = chain_hash(&link, canonical.as_bytes());
            out.extend_from_slice(format!("{canonical},\"hash\":\"{hash}\"}}\n").as_bytes());
            prev = Some(hash);
        }
        std::fs::write(&s.path, out).unwrap();
    }
}

/// The first bad record `verify` names in `dir`: its sequence number and
/// whether it is named for not being JSON.
fn first_bad(dir: &Path, key: Option<&salve::identity::PublicKey>) -> (Option<u64>, bool) {
    match verify_dir(dir, key, None) {
        Err(VerifyError::Corrupt(corruption)) => (
            corruption.seq,
            corruption.reason.starts_with("not a valid record: "),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_line_that_is_not_json_is_caught_even_with_its_chain_rebuilt() {
    // After the last checkpoint (record 123), where no signature vouches
    // for the records, each is parsed: record 124 is named.
    let sample = copy_of(pristine());
    let key = sample.key.public();
    cut_after(&sample, 127);
    forge_not_json(&sample.log_dir, 124, None);
    assert_eq!(first_bad(&sample.log_dir, Some(&key)), (Some(124), true));
    // A later break in the chain does not hide it: the first bad record is
    // the one reported.
    let sample = copy_of(pristine());
    cut_after(&sample, 127);
    forge_not_json(&sample.log_dir, 124, Some(126));
    assert_eq!(first_bad(&sample.log_dir, Some(&key)), (Some(124), true));
    // Before a checkpoint, the checkpoint (record 35) no longer matches the
    // chain; the record before it that is not JSON is the first bad one.
    let sample = copy_of(pristine());
    forge_not_json(&sample.log_dir, 30, None);
    assert_eq!(first_bad(&sample.log_dir, Some(&key)), (Some(30), true));
    // In a log without checkpoints, every record is parsed.
    let (_dir, log_dir) = plain_log(20);
    forge_not_json(&log_dir, 7, None);
    assert_eq!(first_bad(&log_dir, None), (Some(7), true));
}

#[test]
fn a_line_that_is_not_json_is_named_from_megabytes_and_segments_back() {
    // A checkpoint every 100 000 records: after the first batch (a new log
    // is signed from its start), the next, written on close, comes after
    // megabytes of records over several segments, all kept unchecked until
    // it. Forging record 510 breaks that checkpoint; record 510, read two
    // segments and more than one read buffer earlier, is the first bad
    // record, named in its own file and line.
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let key = Arc::new(KeyPair::generate().unwrap());
    let mut config = AuditConfig::new(&log_dir);
    config.max_segment_bytes = 1 << 20;
    config.checkpoint_every = 100_000;
    config.checkpoint_key = Some(key.clone());
    let log = AuditLog::open(config).unwrap();
    for batch in 0..16 {
        log.append_all((batch * 500..(batch + 1) * 500).map(event).collect())
            .unwrap();
    }
    log.close();
    let segments = segment::list(&log_dir).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    let verified = salve::audit::verify_dir_with(&log_dir, Some(&key.public()), None, 100_000)
        .expect("the log verifies");
    assert_eq!((verified.records, verified.checkpoints), (8002, 2));
    forge_not_json(&log_dir, 510, None);
    match salve::audit::verify_dir_with(&log_dir, Some(&key.public()), None, 100_000) {
        Err(VerifyError::Corrupt(corruption)) => {
            assert_eq!(corruption.seq, Some(510), "{corruption}");
            assert_eq!(
                (&corruption.file, corruption.line),
                (&segments[0].path, 510)
            );
            assert!(
                corruption.reason.starts_with("not a valid record: "),
                "{corruption}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_line_too_long_to_be_a_record_is_refused_without_reading_it_all() {
    let (_dir, log_dir) = plain_log(3);
    let path = &segment::list(&log_dir).unwrap()[0].path;
    let mut bytes = std::fs::read(path).unwrap();
    bytes.resize(bytes.len() + (65 << 20), b'x');
    std::fs::write(path, bytes).unwrap();
    match verify_dir(&log_dir, None, None) {
        Err(VerifyError::Corrupt(corruption)) => {
            assert_eq!((corruption.line, corruption.seq), (4, None));
            assert_eq!(corruption.reason, "a line longer than 64 MiB: not a record");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sync_stats_count_every_record_made_durable_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(AuditConfig::new(dir.path().join("audit"))).unwrap());
    assert_eq!(log.sync_stats(), salve::audit::SyncStats::default());
    for n in 0..10 {
        log.append(event(n)).unwrap();
    }
    let alone = log.sync_stats();
    assert_eq!((alone.syncs, alone.records), (10, 10), "{alone:?}");
    assert!(alone.time > Duration::ZERO);
    std::thread::scope(|scope| {
        for writer in 0..8 {
            let log = log.clone();
            scope.spawn(move || {
                for n in 0..50 {
                    log.append(event(writer * 50 + n)).unwrap();
                }
            });
        }
    });
    let after = log.sync_stats();
    assert_eq!(after.records, 410, "{after:?}");
    assert!(after.syncs > 10 && after.syncs <= 410, "{after:?}");
    // Concurrent appenders share their syncs (group commit): eight of them
    // average well over two records a sync.
    assert!(
        (after.syncs - 10) * 2 < 400,
        "8 concurrent appenders got {} syncs for 400 records",
        after.syncs - 10
    );
}

/// A checkpoint copy whose destination hangs — here a pipe that nobody
/// reads, its buffer full — holds up only the copy: appends go on, their
/// checkpoints are signed into the log, and closing gives up waiting for
/// the copy after its patience (10 s) instead of never returning.
// A FIFO: Unix only.
#[cfg(unix)]
#[test]
fn a_hung_checkpoint_copy_holds_up_neither_appends_nor_closing() {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("checkpoints.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&fifo)
        .unwrap();
    for chunk in [4096, 1] {
        while pipe.write(&vec![b'.'; chunk]).is_ok() {}
    }
    let key = Arc::new(KeyPair::generate().unwrap());
    let log_dir = dir.path().join("audit");
    let log = Arc::new(AuditLog::open(config(&log_dir, &key, &fifo)).unwrap());

    let (done, finished) = std::sync::mpsc::channel();
    let appending = {
        let log = log.clone();
        std::thread::spawn(move || {
            for n in 0..200 {
                log.append(event(n)).unwrap();
            }
            log.close();
            done.send(()).unwrap();
        })
    };
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the appends and the close are held up by the copy's destination");
    appending.join().unwrap();
    let verified = verify_dir(&log_dir, Some(&key.public()), None).unwrap();
    assert_eq!(verified.records, 200 + verified.checkpoints);
    assert!(verified.checkpoints >= 20, "{verified:?}");
    drop(pipe);
}

/// A log of `records` events in one segment, without checkpoints; returns
/// its directory's parent (kept alive) and the directory.
fn plain_log(records: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let log = AuditLog::open(AuditConfig::new(&log_dir)).unwrap();
    for n in 0..records {
        log.append(event(n)).unwrap();
    }
    log.close();
    (dir, log_dir)
}

fn kinds(dir: &Path) -> Vec<(u64, Kind)> {
    read::records(dir)
        .map(|r| r.unwrap())
        .map(|r| (r.seq, r.kind))
        .collect()
}

#[test]
fn a_torn_last_line_is_removed_on_reopen_and_the_log_says_so() {
    let (_dir, log_dir) = plain_log(20);
    let path = segment::list(&log_dir).unwrap()[0].path.clone();
    let text = std::fs::read(&path).unwrap();
    let whole = text.len();
    // Record 20 half written, as a crash mid-write leaves it.
    let last_line = text[..whole - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let torn = (whole - last_line) / 2;
    std::fs::write(&path, &text[..last_line + torn]).unwrap();
    // Verify names it, and does not touch it.
    let error = verify_dir(&log_dir, None, None).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(":20: the last line is incomplete"),
        "{error}"
    );

    let log = AuditLog::open(AuditConfig::new(&log_dir)).unwrap();
    log.append(event(99)).unwrap();
    log.close();
    let verified = verify_dir(&log_dir, None, None).unwrap();
    assert_eq!(verified.records, 21);
    let records: Vec<Record> = read::records(&log_dir).map(|r| r.unwrap()).collect();
    let recovered = &records[19];
    assert_eq!((recovered.seq, recovered.kind), (20, Kind::Recovered));
    assert_eq!(
        recovered.reason.as_deref(),
        Some(
            format!(
                "removed {torn} bytes of a final line torn by a crash (never acknowledged) from {}",
                path.display()
            )
            .as_str()
        )
    );
    assert_eq!(
        recovered.details.as_ref().unwrap()["repairs"][0]["removed_bytes"],
        torn as u64
    );
    assert_eq!(records[20].reason, event(99).reason);
    // Nothing left to repair the next time.
    AuditLog::open(AuditConfig::new(&log_dir)).unwrap().close();
    assert_eq!(verify_dir(&log_dir, None, None).unwrap().records, 21);
}

#[test]
fn a_crash_right_after_a_rotation_is_repaired_on_reopen() {
    // Before the fix the new segment could reach the disk before the last
    // records of the old one: the old segment ends torn (or early), and an
    // empty segment is named for a record the log never reached. Built by
    // hand: records 1–30 in the first segment, the 30th torn, and an empty
    // segment named for record 31.
    let (_dir, log_dir) = plain_log(30);
    let first = segment::list(&log_dir).unwrap()[0].path.clone();
    let text = std::fs::read(&first).unwrap();
    std::fs::write(&first, &text[..text.len() - 40]).unwrap();
    let misnamed = log_dir.join(segment::name(31));
    std::fs::write(&misnamed, b"").unwrap();

    let log = AuditLog::open(AuditConfig::new(&log_dir)).unwrap();
    log.append(event(99)).unwrap();
    log.close();
    assert!(!misnamed.exists(), "the empty misnamed segment is removed");
    let verified = verify_dir(&log_dir, None, None).unwrap();
    assert_eq!(verified.records, 31);
    let records: Vec<Record> = read::records(&log_dir).map(|r| r.unwrap()).collect();
    let recovered = &records[29];
    assert_eq!((recovered.seq, recovered.kind), (30, Kind::Recovered));
    let reason = recovered.reason.clone().unwrap();
    assert!(
        reason.contains("bytes of a final line torn by a crash"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "removed {}, a segment without records named for record 31 where record 30 comes next",
            misnamed.display()
        )),
        "{reason}"
    );

    // The old segment whole but its last batch never written, the new one
    // named past it: the segment goes, nothing is cut.
    let (_dir, log_dir) = plain_log(30);
    let misnamed = log_dir.join(segment::name(35));
    std::fs::write(&misnamed, b"").unwrap();
    AuditLog::open(AuditConfig::new(&log_dir)).unwrap().close();
    assert!(!misnamed.exists());
    assert_eq!(verify_dir(&log_dir, None, None).unwrap().records, 31);
    assert_eq!(kinds(&log_dir)[30], (31, Kind::Recovered));

    // A crash inside the new segment's first line: cut, the segment stays.
    let (_dir, log_dir) = plain_log(30);
    let next = log_dir.join(segment::name(31));
    std::fs::write(&next, b"{\"seq\":31,\"time\":\"20").unwrap();
    AuditLog::open(AuditConfig::new(&log_dir)).unwrap().close();
    assert_eq!(std::fs::read(&next).unwrap()[..10], *b"{\"seq\":31,");
    assert_eq!(verify_dir(&log_dir, None, None).unwrap().segments, 2);
    assert_eq!(kinds(&log_dir)[30], (31, Kind::Recovered));

    // A rotation that completed (an empty segment named for the next
    // record) is no damage: nothing is repaired or recorded.
    let (_dir, log_dir) = plain_log(30);
    let next = log_dir.join(segment::name(31));
    std::fs::write(&next, b"").unwrap();
    let log = AuditLog::open(AuditConfig::new(&log_dir)).unwrap();
    log.append(event(99)).unwrap();
    log.close();
    assert!(std::fs::read(&next).unwrap().starts_with(b"{\"seq\":31,"));
    assert_eq!(kinds(&log_dir).len(), 31);
    assert!(kinds(&log_dir).iter().all(|(_, k)| *k != Kind::Recovered));

    // No crash leaves a log without its first segment: refused, untouched.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(segment::name(7)), b"").unwrap();
    let error = AuditLog::open(AuditConfig::new(dir.path())).err().unwrap();
    assert!(
        error
            .to_string()
            .contains("should start at record 1 but is named for record 7"),
        "{error}"
    );
    assert!(dir.path().join(segment::name(7)).exists());

    // Nor one whose first segment, with records, was removed: refused,
    // nothing appended after the gap.
    let sample = copy_of(pristine());
    let segments = segment::list(&sample.log_dir).unwrap();
    assert_eq!(segments[0].first_seq, 1);
    std::fs::remove_file(&segments[0].path).unwrap();
    let before = snapshot(&sample.log_dir);
    let error = AuditLog::open(config(
        &sample.log_dir,
        &sample.key,
        &sample.checkpoint_copy,
    ))
    .err()
    .unwrap();
    assert!(
        error.to_string().contains("no segment starts at record 1"),
        "{error}"
    );
    assert_eq!(before, snapshot(&sample.log_dir), "the log was changed");
}

/// A rotation that fails after a sync stops the log, but the records that
/// sync made durable are acknowledged, and only they: among concurrent
/// appenders, exactly those told `Ok` are in the log, and the others are
/// told the log stopped.
#[test]
fn a_failed_rotation_acknowledges_exactly_the_records_already_durable() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let mut config = AuditConfig::new(&log_dir);
    // Rotate after every sync, into a segment that cannot be created: a
    // file of its name is there already.
    config.max_segment_bytes = 1;
    let log = AuditLog::open(config).unwrap();
    for seq in 2..=64 {
        std::fs::write(log_dir.join(segment::name(seq)), b"").unwrap();
    }
    let start = std::sync::Barrier::new(16);
    let answers: Vec<(usize, Result<_, _>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|n| {
                let (log, start) = (&log, &start);
                scope.spawn(move || {
                    start.wait();
                    (n, log.append(event(n)))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stopped = log.stopped().expect("the failed rotation stops the log");
    assert!(stopped.contains("cannot start a new segment"), "{stopped}");
    let acknowledged: Vec<String> = answers
        .iter()
        .filter_map(|(n, answer)| match answer {
            Ok(_) => Some(event(*n).input_digest.unwrap()),
            Err(salve::audit::AuditError::Stopped(_)) => None,
            Err(other) => panic!("append {n}: {other}"),
        })
        .collect();
    assert!(!acknowledged.is_empty());
    // Every later append is refused, and not logged.
    assert!(matches!(
        log.append(event(99)),
        Err(salve::audit::AuditError::Stopped(_))
    ));
    drop(log);
    let mut logged: Vec<String> = read::records(&log_dir)
        .map(|r| r.unwrap())
        .filter_map(|r| r.input_digest)
        .collect();
    let mut acknowledged = acknowledged;
    acknowledged.sort();
    logged.sort();
    assert_eq!(logged, acknowledged);
}

#[test]
fn rotation_under_concurrent_appends_leaves_a_log_that_reopens_cleanly() {
    // Many rotations while the syncer has batches in flight: every new
    // segment is named for the record after the old one's last.
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let mut config = AuditConfig::new(&log_dir);
    config.max_segment_bytes = 2048;
    let log = Arc::new(AuditLog::open(config.clone()).unwrap());
    std::thread::scope(|scope| {
        for writer in 0..8 {
            let log = log.clone();
            scope.spawn(move || {
                for n in 0..100 {
                    log.append(event(writer * 1000 + n)).unwrap();
                }
            });
        }
    });
    log.close();
    let segments = segment::list(&log_dir).unwrap();
    assert!(segments.len() > 20, "{} segments", segments.len());
    let verified = verify_dir(&log_dir, None, None).unwrap();
    assert_eq!(verified.records, 800);
    AuditLog::open(config).unwrap().close();
    assert_eq!(verify_dir(&log_dir, None, None).unwrap().records, 800);
    assert!(kinds(&log_dir).iter().all(|(_, k)| *k != Kind::Recovered));
}

#[test]
fn an_idle_log_checkpoints_its_tail_on_a_timer() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let copy = dir.path().join("elsewhere").join("checkpoints.jsonl");
    std::fs::create_dir(copy.parent().unwrap()).unwrap();
    let mut config = config(&dir.path().join("audit"), &key, &copy);
    config.checkpoint_every = 1000;
    config.checkpoint_interval = Duration::from_millis(300);
    let log = AuditLog::open(config.clone()).unwrap();
    for n in 0..3 {
        log.append(event(n)).unwrap();
    }
    // The first record is checkpointed at once (record 2), the next two
    // (records 3 and 4) are not, by count; no record arrives after them:
    // their checkpoint comes on its own.
    assert_eq!(kinds(&config.dir)[1], (2, Kind::Checkpoint));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Checkpoint::read(&copy).map_or(true, |c| c.seq < 4)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let checkpoint = Checkpoint::read(&copy).unwrap();
    assert_eq!(checkpoint.seq, 4);
    assert_eq!(kinds(&config.dir)[4], (5, Kind::Checkpoint));
    verify_dir(&config.dir, Some(&key.public()), Some(&checkpoint)).unwrap();
    // Idle with nothing new: no more checkpoints.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(kinds(&config.dir).len(), 5);
    // One more record: checkpointed in turn, within the interval.
    log.append(event(3)).unwrap();
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(Checkpoint::read(&copy).unwrap().seq, 6);
    log.close();
    assert_eq!(
        kinds(&config.dir).len(),
        7,
        "the close has nothing left to checkpoint"
    );
}

/// An endpoint serving `packages`, with the fixture's people and policy.
struct Serving {
    endpoint: Endpoint,
    audit_dir: PathBuf,
    key: Arc<KeyPair>,
    _copies: Vec<PackageCopy>,
    _dir: tempfile::TempDir,
}

/// The fixture's people, for an endpoint built here.
struct People {
    keys: BTreeMap<String, KeyPair>,
}

impl People {
    fn who(&self, id: &str) -> Authenticated {
        assert!(self.keys.contains_key(id), "{id} is not in the policy");
        Authenticated::trusted(id.parse().unwrap())
    }
}

fn serving(copies: Vec<PackageCopy>) -> (Serving, People) {
    let people = People {
        keys: PEOPLE
            .iter()
            .map(|(id, _)| (id.to_string(), KeyPair::generate().unwrap()))
            .collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().join("audit");
    let key = Arc::new(KeyPair::generate().unwrap());
    let packages: Vec<Package> = copies.iter().map(PackageCopy::open).collect();
    let policy = Policy::parse(&policy_text(&people.keys, ""), Path::new("policy.toml")).unwrap();
    let catalog = Catalog::load(shared_runtime(), packages).unwrap();
    let store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let audit = Arc::new(AuditLog::open(Fixture::audit_config(&audit_dir, &key)).unwrap());
    let endpoint = Endpoint::new(
        ENDPOINT,
        shared_runtime().clone(),
        catalog,
        policy,
        store,
        audit,
    )
    .with_clock(Arc::new(ManualClock::at(1_000_000_000_000)));
    (
        Serving {
            endpoint,
            audit_dir,
            key,
            _copies: copies,
            _dir: dir,
        },
        people,
    )
}

impl Serving {
    fn records(&self) -> Vec<Record> {
        verify_dir(&self.audit_dir, Some(&self.key.public()), None).unwrap();
        read::records(&self.audit_dir).map(|r| r.unwrap()).collect()
    }
}

#[test]
fn host_calls_refused_in_a_loop_are_logged_the_first_64_and_a_count() {
    let hostile = PackageCopy::new(artifacts::HOSTILE, &[], "\n[limits]\ndeadline-ms = 20000\n");
    let (s, people) = serving(vec![hostile]);
    let session = s
        .endpoint
        .request_session(&people.who("alice"), request("tom", &["hostile"], true))
        .unwrap();
    s.endpoint
        .approve_session(&people.who("bob"), &session.id)
        .unwrap();
    let action = "hostile".parse().unwrap();
    let input = serde_json::json!({"mode": "deny-loop", "path": "/etc/hostname", "times": 5000})
        .to_string();
    // It declares privileged capabilities: a second approval first.
    let InvokeOutcome::Escalated { escalation, .. } = s
        .endpoint
        .invoke(&people.who("tom"), &session.id, &action, &input)
        .unwrap()
    else {
        panic!("a privileged action is escalated")
    };
    s.endpoint
        .approve_escalation(&people.who("carol"), &escalation.id)
        .unwrap();
    let invocation = ran(s
        .endpoint
        .invoke(&people.who("tom"), &session.id, &action, &input)
        .unwrap());
    let Outcome::Succeeded { output } = &invocation.outcome else {
        panic!("{:?}", invocation.outcome)
    };
    assert_eq!(output.get(), r#"{"refused":5000}"#);
    assert_eq!(invocation.denied_calls.len(), 64);

    let records = s.records();
    let denied: Vec<&Record> = records
        .iter()
        .filter(|r| r.kind == Kind::HostCallDenied)
        .collect();
    assert_eq!(denied.len(), 64);
    let finished = records
        .iter()
        .find(|r| r.kind == Kind::InvocationFinished)
        .unwrap();
    for record in &denied {
        assert_eq!(record.invocation, finished.invocation);
        assert_eq!(record.action.as_deref(), Some("hostile"));
        assert_eq!(record.decision.as_deref(), Some("denied"));
        assert_eq!(record.session.as_deref(), Some(session.id.as_str()));
        let details = record.details.as_ref().unwrap();
        assert_eq!(details["capability"], "files-read");
        assert_eq!(details["function"], "read");
        assert_eq!(details["target"], "/etc/hostname");
        assert!(
            record.reason.as_deref().unwrap().contains("/etc/hostname"),
            "{record:?}"
        );
    }
    assert!(
        denied[63].reason.as_deref().unwrap().ends_with(
            "; 4936 more host calls were refused after this one and only counted (an invocation keeps the first 64)"
        ),
        "{:?}",
        denied[63].reason
    );
    assert!(
        !denied[62]
            .reason
            .as_deref()
            .unwrap()
            .contains("more host calls")
    );
    assert_eq!(denied[63].details.as_ref().unwrap()["more_not_kept"], 4936);
    assert!(
        denied[62]
            .details
            .as_ref()
            .unwrap()
            .get("more_not_kept")
            .is_none()
    );
    // They are deviations in the metrics and listed in the session report.
    let figures = metrics(records.clone(), None);
    assert_eq!(figures.overall.host_call_denials, 64);
    let report = session_report(records, session.id.as_str()).unwrap();
    assert_eq!(report.host_call_denials.len(), 64);
}

/// What an action names in a refused call (a path of 600 000 bytes here)
/// is kept and logged cut short: no action can make its records as long
/// as it likes (nor, past what `verify` reads, make the log unverifiable).
#[test]
fn a_refused_call_with_a_huge_target_is_logged_cut_short() {
    let hostile = PackageCopy::new(artifacts::HOSTILE, &[], "\n[limits]\ndeadline-ms = 20000\n");
    let (s, people) = serving(vec![hostile]);
    let session = s
        .endpoint
        .request_session(&people.who("alice"), request("tom", &["hostile"], true))
        .unwrap();
    s.endpoint
        .approve_session(&people.who("bob"), &session.id)
        .unwrap();
    let action = "hostile".parse().unwrap();
    let path = format!("/{}", "a".repeat(600_000));
    let input = serde_json::json!({"mode": "deny-loop", "path": path, "times": 100}).to_string();
    let InvokeOutcome::Escalated { escalation, .. } = s
        .endpoint
        .invoke(&people.who("tom"), &session.id, &action, &input)
        .unwrap()
    else {
        panic!("a privileged action is escalated")
    };
    s.endpoint
        .approve_escalation(&people.who("carol"), &escalation.id)
        .unwrap();
    let invocation = ran(s
        .endpoint
        .invoke(&people.who("tom"), &session.id, &action, &input)
        .unwrap());
    assert!(invocation.outcome.succeeded(), "{:?}", invocation.outcome);
    let records = s.records();
    let denied: Vec<&Record> = records
        .iter()
        .filter(|r| r.kind == Kind::HostCallDenied)
        .collect();
    assert_eq!(denied.len(), 64);
    for record in denied {
        let target = record.details.as_ref().unwrap()["target"].as_str().unwrap();
        assert!(target.len() < 600, "{} bytes", target.len());
        assert!(target.ends_with("(cut: 600001 bytes in all)"), "{target}");
        let reason = record.reason.as_deref().unwrap();
        assert!(reason.len() < 1200, "{} bytes", reason.len());
    }
    let log_bytes: u64 = segment::list(&s.audit_dir)
        .unwrap()
        .iter()
        .map(|segment| std::fs::metadata(&segment.path).unwrap().len())
        .sum();
    assert!(log_bytes < 1 << 20, "the log holds {log_bytes} bytes");
}

/// A record too large to be logged is refused alone: nothing of it (or of
/// the records appended with it) is written, and the log goes on.
#[test]
fn a_record_too_large_is_refused_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(KeyPair::generate().unwrap());
    let copy = dir.path().join("checkpoints.jsonl");
    let log_dir = dir.path().join("audit");
    let log = AuditLog::open(config(&log_dir, &key, &copy)).unwrap();
    log.append_all((0..5).map(event).collect()).unwrap();
    let mut huge = event(5);
    huge.reason = Some("x".repeat(salve::audit::MAX_RECORD_BYTES));
    let refused = log.append_all(vec![event(6), huge.clone(), event(7)]);
    assert!(
        matches!(refused, Err(salve::audit::AuditError::TooLarge { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        log.append(huge),
        Err(salve::audit::AuditError::TooLarge { .. })
    ));
    let appended = log.append_all((8..20).map(event).collect()).unwrap();
    log.close();
    let verified = verify_dir(&log_dir, Some(&key.public()), None).unwrap();
    assert_eq!(verified.records, appended.last().unwrap().seq + 1);
    let reasons: Vec<String> = read::records(&log_dir)
        .map(|r| r.unwrap())
        .filter_map(|r| r.reason)
        .collect();
    assert_eq!(reasons.len(), 5 + 12);
}

#[test]
fn the_raw_input_is_logged_only_when_the_manifest_allows_it() {
    let input = r#"{"password":"hunter2"}"#;
    let mut logged = Vec::new();
    for (extra, allowed) in [("", false), ("audit-raw = true\n", true)] {
        let echo = PackageCopy::new(
            artifacts::ECHO,
            &[("[input]\n", &format!("[input]\n{extra}"))],
            "",
        );
        let (s, people) = serving(vec![echo]);
        let session = s
            .endpoint
            .request_session(&people.who("alice"), request("tom", &["echo"], false))
            .unwrap();
        s.endpoint
            .approve_session(&people.who("bob"), &session.id)
            .unwrap();
        ran(s
            .endpoint
            .invoke(
                &people.who("tom"),
                &session.id,
                &"echo".parse().unwrap(),
                input,
            )
            .unwrap());
        let records = s.records();
        let started = records
            .iter()
            .find(|r| r.kind == Kind::InvocationStarted)
            .unwrap();
        // The digest is always there.
        assert_eq!(
            started.input_digest.as_deref(),
            Some(
                salve::Sha256Digest::of(input.as_bytes())
                    .to_string()
                    .as_str()
            )
        );
        let text: String = std::fs::read_dir(&s.audit_dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        logged.push((allowed, started.details.clone(), text.contains("hunter2")));
    }
    assert_eq!(logged[0], (false, None, false));
    assert_eq!(
        logged[1],
        (
            true,
            Some(serde_json::json!({"input": {"password": "hunter2"}})),
            true
        )
    );
}

/// Makes every `fdatasync` of the calling thread — and of the threads it
/// starts afterwards — fail with EIO, as on a disk that lost the write: a
/// seccomp filter on the real system call, no test double in the log.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(unsafe_code)]
fn fail_fdatasync_from_this_thread_on() {
    use nix::libc;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let statement = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut filter = [
        // seccomp_data.arch: other architectures' calls pass.
        statement(load, 4),
        jump(AUDIT_ARCH_X86_64, 1, 0),
        statement(ret, libc::SECCOMP_RET_ALLOW),
        // seccomp_data.nr
        statement(load, 0),
        jump(libc::SYS_fdatasync as u32, 0, 1),
        statement(ret, libc::SECCOMP_RET_ERRNO | libc::EIO as u32),
        statement(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; the filter outlives the second (the kernel
    // copies it), and it only makes one system call fail.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_failed_fsync_stops_the_log_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    // A log with history, then opened where every fdatasync fails.
    let log = AuditLog::open(AuditConfig::new(&log_dir)).unwrap();
    let acknowledged: Vec<(u64, String)> = (0..5)
        .map(|n| {
            let appended = log.append(event(n)).unwrap();
            (appended.seq, appended.hash.to_string())
        })
        .collect();
    log.close();
    let answers = std::thread::spawn({
        let log_dir = log_dir.clone();
        move || {
            fail_fdatasync_from_this_thread_on();
            let log = Arc::new(AuditLog::open(AuditConfig::new(&log_dir)).unwrap());
            // A lone append (synced by the sealer itself), then appends
            // from many threads at once (synced by the syncer).
            let mut answers = vec![log.append(event(100)).map(|a| a.seq)];
            let barrier = Arc::new(std::sync::Barrier::new(16));
            let threads: Vec<_> = (0..16)
                .map(|n| {
                    let (log, barrier) = (log.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        log.append(event(200 + n)).map(|a| a.seq)
                    })
                })
                .collect();
            answers.extend(threads.into_iter().map(|t| t.join().unwrap()));
            log.close();
            answers
        }
    })
    .join()
    .unwrap();
    assert_eq!(answers.len(), 17);
    let first = answers[0].as_ref().unwrap_err().to_string();
    assert!(
        first.starts_with(
            "the audit log has stopped after a failed write (fdatasync failed: Input/output error"
        ),
        "{first}"
    );
    // Every later append fails too, with the first failure's reason: no
    // retry that the kernel might answer with a false success.
    for answer in &answers[1..] {
        let error = answer.as_ref().unwrap_err().to_string();
        assert!(
            error.contains("fdatasync failed: Input/output error"),
            "{error}"
        );
    }
    // Reopened on a healthy disk: the chain holds, and every acknowledged
    // record is there (what was written but never acknowledged may be too).
    AuditLog::open(AuditConfig::new(&log_dir)).unwrap().close();
    verify_dir(&log_dir, None, None).unwrap();
    let on_disk: Vec<(u64, String)> = read::records(&log_dir)
        .map(|r| r.unwrap())
        .map(|r| (r.seq, r.hash.to_string()))
        .collect();
    assert_eq!(on_disk[..5], acknowledged[..]);
}

/// A log an endpoint wrote and stopped cleanly: started, three records of
/// session `s-0`, stopped, and the final checkpoint signed by `key`.
fn cleanly_stopped_log(key: &Arc<KeyPair>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("audit");
    let mut config = AuditConfig::new(&log_dir);
    config.checkpoint_key = Some(key.clone());
    let log = AuditLog::open(config).unwrap();
    log.append(Record::event(Kind::ServiceStarted)).unwrap();
    for n in 0..3 {
        log.append(event(n)).unwrap();
    }
    log.append(Record::event(Kind::ServiceStopped)).unwrap();
    log.close();
    (dir, log_dir)
}

/// Appends `records` to the log in `dir` as something other than the
/// endpoint can: opened without the endpoint's key, chained, unsigned.
fn append_without_the_key(dir: &Path, records: Vec<Record>) {
    let log = AuditLog::open(AuditConfig::new(dir)).unwrap();
    for record in records {
        log.append(record).unwrap();
    }
    log.close();
}

#[test]
fn records_appended_after_a_clean_stop_are_refused_by_verify_open_and_named_in_reports() {
    let key = Arc::new(KeyPair::generate().unwrap());
    let (_dir, log_dir) = cleanly_stopped_log(&key);
    let stopped = verify_dir(&log_dir, Some(&key.public()), None).unwrap();
    assert_eq!(stopped.unvouched, 0, "the stop's checkpoint covers it all");

    // A forged invocation in session s-0, after the stop, with no start.
    let mut forged = event(1);
    forged.session = Some("s-0".to_string());
    forged.reason = Some("forged".to_string());
    append_without_the_key(&log_dir, vec![forged]);

    let error = verify_dir(&log_dir, Some(&key.public()), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("of kind `invocation.started` after the service stopped (record 6)")
            && error.contains("appended by something else"),
        "{error}"
    );
    // The endpoint refuses to open it: its next checkpoint would vouch for
    // the forged record.
    let before = snapshot(&log_dir);
    let mut config = AuditConfig::new(&log_dir);
    config.checkpoint_key = Some(key.clone());
    let error = AuditLog::open(config).err().unwrap().to_string();
    assert!(
        error.contains(
            "record 8 (`invocation.started`) follows the service's clean stop (record 6)"
        ),
        "{error}"
    );
    assert_eq!(snapshot(&log_dir), before, "the log is left as evidence");

    // The report of the session marks what no checkpoint covers.
    let records: Vec<Record> = read::records(&log_dir).map(|r| r.unwrap()).collect();
    let report = session_report(records, "s-0").unwrap();
    let last = report.invocations.last().unwrap();
    assert_eq!(last.reason.as_deref(), Some("forged"));
    assert!(!last.covered);
    assert!(report.invocations[0].covered);
    assert_eq!((report.uncovered, report.last_checkpoint), (1, 7));
}

/// Found by the crash campaign (cli/tests/crash_campaign.rs): the run
/// after a clean stop begins with `service.started`; if it then dies before
/// its first checkpoint (a crash, a full disk), what it wrote follows the
/// stop's checkpoint — and is its own, not a forged tail. The endpoint
/// opens such a log, and verify takes it.
#[test]
fn a_run_that_crashed_before_its_first_checkpoint_after_a_clean_stop_opens() {
    let key = Arc::new(KeyPair::generate().unwrap());
    let (_dir, log_dir) = cleanly_stopped_log(&key);
    let mut config = AuditConfig::new(&log_dir);
    config.checkpoint_key = Some(key.clone());
    let log = AuditLog::open(config.clone()).unwrap();
    log.append(Record::event(Kind::ServiceStarted)).unwrap();
    for n in 0..3 {
        log.append(event(n)).unwrap();
    }
    // Killed: no final checkpoint (every append above is durable already).
    std::mem::forget(log);
    verify_dir(&log_dir, Some(&key.public()), None).unwrap();
    let log = AuditLog::open(config).unwrap();
    log.append(Record::event(Kind::ServiceStarted)).unwrap();
    log.close();
    verify_dir(&log_dir, Some(&key.public()), None).unwrap();
}

#[test]
fn how_invocations_end_after_a_stop_is_what_a_stopping_endpoint_may_still_write() {
    let key = Arc::new(KeyPair::generate().unwrap());
    let (_dir, log_dir) = cleanly_stopped_log(&key);
    // An invocation stuck in a host call past the stop's grace period ends
    // after `service.stopped`, with the calls it was refused; or the next
    // start settles it before it logs itself. Both verify, and the
    // endpoint opens such a log (a start that crashed there).
    let mut config = AuditConfig::new(&log_dir);
    config.checkpoint_key = Some(key.clone());
    let log = AuditLog::open(config.clone()).unwrap();
    log.append(Record::event(Kind::InvocationFinished)).unwrap();
    log.append(Record::event(Kind::HostCallDenied)).unwrap();
    drop(log);
    verify_dir(&log_dir, Some(&key.public()), None).unwrap();
    let log = AuditLog::open(config).unwrap();
    log.append(Record::event(Kind::ServiceStarted)).unwrap();
    log.append(event(0)).unwrap();
    log.close();
    verify_dir(&log_dir, Some(&key.public()), None).unwrap();
}
