//! Audit log benchmark: durable appends per second with 1, 8 and 64
//! concurrent writers, with group commit (one `fdatasync` for every record
//! gathered) against one `fdatasync` per record, in the same run on the same
//! disk; append latency; and how many records per second `verify` checks
//! on one core — on a log checkpointed as an endpoint's is (every 1000
//! records, signed by its key), each signature checked against that key —
//! against, in the same run, the floor beneath it: a SHA-256 chain over the
//! same lines, hashing just what verify must hash, and parsing each as JSON.
//!
//! Every log is configured as `salve serve` configures the endpoint's
//! (`build` in `cli/src/serve/mod.rs`): `AuditConfig::new`'s
//! defaults — a checkpoint after every 1000 records or 60 s, 64 MiB
//! segments — with checkpoints signed by an endpoint key and each also
//! appended (and synced) to a copy kept in another file, by the copy's own
//! thread. After each run of appends the log is verified with that key, and
//! the checkpoints found are reported, so that a run that signed none shows.
//!
//! Run: `cargo bench -p salve --bench audit` (`-- --quick` for a shorter
//! run; `-- appends` or `-- verify` for one part; numbers, such as `-- 64`,
//! for those rows of the appends table). The log is written under
//! `$SALVE_BENCH_DIR` (default: the system's temporary directory, `TMPDIR`
//! or `/tmp`) — point it at the disk the endpoint would use. The output
//! begins with that directory and its file system (from `statfs`): on a
//! tmpfs, `fdatasync` costs nothing and the figures are not a disk's.

mod common;

use salve::audit::{AuditConfig, AuditLog, Kind, Record, verify_dir};
use salve::identity::KeyPair;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn record(writer: usize, n: u64) -> Record {
    let mut record = Record::event(Kind::InvocationFinished);
    record.principal = Some(format!("tech-{writer}"));
    record.session = Some("s-0123456789abcdef01234567".to_string());
    record.ticket = Some("INC0012345".to_string());
    record.endpoint = Some("pc-0421".to_string());
    record.action = Some("clear-print-queue".to_string());
    record.version = Some("1.2.0".to_string());
    record.digest = Some("ab".repeat(32));
    record.input_digest = Some("cd".repeat(32));
    record.invocation = Some(format!("i-{writer:08}{n:016}"));
    record.decision = Some("allowed".to_string());
    record.outcome = Some("succeeded".to_string());
    record.duration_us = Some(1234);
    record
}

/// How long `record`'s sealed line is.
fn line_len(record: Record) -> usize {
    let (_, line) = record
        .seal(
            1,
            "2026-11-22T10:15:00.123456Z".into(),
            salve::audit::record::GENESIS,
        )
        .expect("seal");
    line.len()
}

/// Where the bench writes: `$SALVE_BENCH_DIR`, else the system's
/// temporary directory.
fn bench_dir() -> PathBuf {
    std::env::var_os("SALVE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(bench_dir()).expect("bench directory")
}

/// An audit log in `dir` configured as the service's is: `AuditConfig::new`
/// (a checkpoint every 1000 records or 60 s), checkpoints signed by `key`
/// and copied to `checkpoints.jsonl` beside the log (the service's default
/// `checkpoint-copy` is in its data directory, beside its `audit`).
fn service_config(dir: &std::path::Path, key: &Arc<KeyPair>) -> AuditConfig {
    let mut config = AuditConfig::new(dir.join("audit"));
    config.checkpoint_key = Some(key.clone());
    config.checkpoint_copy = Some(dir.join("checkpoints.jsonl"));
    config
}

/// What a run of appends did.
struct Appends {
    /// Records per second.
    rate: f64,
    latencies: Vec<Duration>,
    /// Records per `fdatasync`.
    per_sync: f64,
    /// The share of the run spent in `fdatasync`.
    syncing: f64,
    /// Signed checkpoints in the log afterwards (its final one included),
    /// each checked against the key.
    checkpoints: u64,
    /// Records appended by the writers.
    records: u64,
}

/// Records appended durably by `writers` threads for `duration`.
fn appends(writers: usize, group_commit: bool, duration: Duration) -> Appends {
    let dir = temp_dir();
    let key = Arc::new(KeyPair::generate().expect("endpoint key"));
    let mut config = service_config(dir.path(), &key);
    config.group_commit = group_commit;
    let log = Arc::new(AuditLog::open(config).expect("audit log"));
    let started = Instant::now();
    let results: Vec<(u64, Vec<Duration>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let log = log.clone();
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while started.elapsed() < duration {
                        let begun = Instant::now();
                        log.append(record(writer, n)).expect("append");
                        latencies.push(begun.elapsed());
                        n += 1;
                    }
                    (n, latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    let elapsed = started.elapsed();
    let syncs = log.sync_stats();
    log.close();
    let total: u64 = results.iter().map(|(n, _)| n).sum();
    let verified =
        verify_dir(&dir.path().join("audit"), Some(&key.public()), None).expect("the log verifies");
    assert!(verified.key_checked && verified.records >= total);
    // One at least every 1000 records (and one for a new log's first batch).
    assert!(
        verified.checkpoints >= total / 1000,
        "{} checkpoints for {total} records",
        verified.checkpoints
    );
    Appends {
        rate: total as f64 / elapsed.as_secs_f64(),
        latencies: results.into_iter().flat_map(|(_, l)| l).collect(),
        per_sync: syncs.records as f64 / syncs.syncs.max(1) as f64,
        syncing: syncs.time.as_secs_f64() / elapsed.as_secs_f64(),
        checkpoints: verified.checkpoints,
        records: total,
    }
}

/// Records per second of the floor beneath verify, over the same files:
/// each read whole into one buffer, each line found with `memchr`, and
/// only hashed into the chain as verify must hash it (`hash`: the previous
/// hash and the record's canonical encoding), or only checked to be JSON
/// (`!hash`).
fn floor(dir: &std::path::Path, hash: bool) -> f64 {
    use salve::audit::record::{chain_hash, split_line};
    use std::io::Read as _;
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let started = Instant::now();
    let mut lines = 0u64;
    let mut prev = salve::audit::record::GENESIS;
    let mut bytes = Vec::new();
    for path in paths {
        bytes.clear();
        std::fs::File::open(path)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .expect("segment");
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', &bytes) {
            let line = &bytes[start..newline];
            start = newline + 1;
            if hash {
                let split = split_line(line).expect("a sealed record");
                prev = chain_hash(&prev, split.canonical_without_brace);
            } else {
                serde_json::from_slice::<serde::de::IgnoredAny>(line).expect("JSON");
            }
            lines += 1;
        }
    }
    std::hint::black_box(prev);
    lines as f64 / started.elapsed().as_secs_f64()
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `appends` or `verify` runs that part alone.
    let only = |part: &str| {
        let parts = ["appends", "verify"];
        !args.iter().any(|a| parts.contains(&a.as_str())) || args.iter().any(|a| a == part)
    };
    // Numbers pick the rows of the appends table (default 1, 8 and 64).
    let mut rows: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if rows.is_empty() {
        rows = vec![1, 8, 64];
    }
    println!(
        "Audit log written under {}",
        common::file_system(&bench_dir())
    );
    println!();
    if only("appends") {
        appends_table(&rows, Duration::from_millis(if quick { 700 } else { 3000 }));
    }
    if only("verify") {
        verify_table(if quick { 100_000 } else { 500_000 });
    }
}

/// Durable appends with each of `rows` writers (1, 8 and 64 unless told), each with and without group
/// commit, for `duration` per row.
fn appends_table(rows: &[usize], duration: Duration) {
    println!(
        "Durable appends ({} s per row; each record ~{} bytes; configured as the service's log: a checkpoint signed every 1000 records, each also appended and synced to a copy by the copy's thread)",
        duration.as_secs_f64(),
        line_len(record(0, 0))
    );
    println!();
    println!(
        "| writers | group commit rec/s | p50 | p99 | records per sync | time in fdatasync | signed checkpoints / records | one fsync per record rec/s | p50 | p99 | signed checkpoints / records | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &writers in rows {
        let mut grouped = appends(writers, true, duration);
        let mut single = appends(writers, false, duration);
        println!(
            "| {writers} | {:.0} | {} | {} | {:.1} | {:.0} % | {} / {} | {:.0} | {} | {} | {} / {} | {:.1}× |",
            grouped.rate,
            us(percentile(&mut grouped.latencies, 0.5)),
            us(percentile(&mut grouped.latencies, 0.99)),
            grouped.per_sync,
            grouped.syncing * 100.0,
            grouped.checkpoints,
            grouped.records,
            single.rate,
            us(percentile(&mut single.latencies, 0.5)),
            us(percentile(&mut single.latencies, 0.99)),
            single.checkpoints,
            single.records,
            grouped.rate / single.rate
        );
    }
    // The disk beneath: with group commit every round of 64 writers rides
    // in one sync (the leader waits for them), so a round takes one sync of
    // 64 records plus the time to wake the 64 threads and seal their next
    // records. The sync alone bounds the rate.
    let line_len = line_len(record(0, 0));
    let sync = batch_sync(
        64 * line_len,
        if duration.as_secs() >= 3 { 300 } else { 100 },
    );
    println!();
    println!(
        "The disk's floor, same run: appending {} bytes (64 records) then fdatasync, p50 {} — so 64 writers, one sync per round, make at most 64 / {} = {:.0} records/s; the rest of each round is waking the writers and sealing their next records",
        64 * line_len,
        us(sync),
        us(sync),
        64.0 / sync.as_secs_f64()
    );
}

/// The median time to append `bytes` to a file and `fdatasync` it, over
/// `rounds` rounds, on the bench's disk.
fn batch_sync(bytes: usize, rounds: usize) -> Duration {
    use std::io::Write as _;
    let dir = temp_dir();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("sync-floor"))
        .expect("file");
    let batch = vec![b'x'; bytes];
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let begun = Instant::now();
            file.write_all(&batch).expect("write");
            file.sync_data().expect("fdatasync");
            begun.elapsed()
        })
        .collect();
    percentile(&mut times, 0.5)
}

/// Verify over a log of `verify_records` records, against its floor.
fn verify_table(verify_records: u64) {
    // Verify: a log of `verify_records` records written in batches of 1000,
    // checkpointed by the endpoint's key as the service's log is, then
    // checked end to end on one core against that key.
    let dir = temp_dir();
    let log_dir = dir.path().join("audit");
    let key = Arc::new(KeyPair::generate().expect("endpoint key"));
    {
        let log = AuditLog::open(service_config(dir.path(), &key)).expect("audit log");
        let mut n = 0;
        while n < verify_records {
            let batch: Vec<Record> = (0..1000.min(verify_records - n))
                .map(|i| record(0, n + i))
                .collect();
            n += batch.len() as u64;
            log.append_all(batch).expect("append");
        }
        log.close();
    }
    let bytes: u64 = std::fs::read_dir(&log_dir)
        .expect("log dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    let mut rates = Vec::new();
    let mut checkpoints = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let verified = verify_dir(&log_dir, Some(&key.public()), None).expect("the log verifies");
        let elapsed = started.elapsed();
        assert!(verified.records >= verify_records);
        assert!(verified.checkpoints > 0 && verified.key_checked);
        checkpoints = verified.checkpoints;
        rates.push((
            verified.records as f64 / elapsed.as_secs_f64(),
            bytes as f64 / elapsed.as_secs_f64() / 1e6,
        ));
    }
    rates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = |hash: bool| {
        (0..3)
            .map(|_| floor(&log_dir, hash))
            .fold(0.0_f64, f64::max)
    };
    let (hashed, parsed) = (best(true), best(false));
    println!();
    println!(
        "Verify: {verify_records} records and {checkpoints} signed checkpoints ({:.0} MB), best of 3 on one core: {:.0} records/s ({:.0} MB/s)",
        bytes as f64 / 1e6,
        rates[0].0,
        rates[0].1
    );
    println!(
        "Baselines, the same lines read the same way, best of 3: SHA-256 chain over each line {hashed:.0}/s (verify / this floor: {:.2}); each line parsed as JSON {parsed:.0}/s",
        rates[0].0 / hashed
    );
}
