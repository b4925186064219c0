//! `salve audit verify|export|tail`: the audit log for auditors. These read
//! the log's files; none of them writes to it.

use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::{Context, anyhow};
use salve::audit::export::{ocsf, record_time};
use salve::audit::{Checkpoint, Record, VerifyError, read, verify_dir_with, verify_live};
use salve::identity::PublicKey;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::args::{ExportFormat, LogArgs};
use crate::people;
use salve::api::v1::{AuditPage, AuditVerification, Operation};

/// Reads `--since`: an RFC 3339 time (`Z`, an offset such as `+01:00`, or
/// none for UTC), a date (midnight UTC), or an age counted back from now.
pub fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Some(time) = parse_time(text) {
        return Ok(time);
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        anyhow!(
            "`{text}` is neither a time (2026-11-01T00:00:00Z, 2026-11-01T01:00:00+01:00, 2026-11-01) nor an age (90m, 24h, 7d)"
        )
    })?;
    SystemTime::now()
        .checked_sub(age)
        .ok_or_else(|| anyhow!("`{text}` reaches back before the epoch"))
}

/// An RFC 3339 time, with `Z`, a `±HH:MM` offset or none (UTC); or a date.
fn parse_time(text: &str) -> Option<SystemTime> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Some(time);
    }
    if text.len() == 10 {
        return humantime::parse_rfc3339_weak(&format!("{text}T00:00:00Z")).ok();
    }
    // `…T01:00:00+01:00`: the local time, and how far it is ahead of UTC.
    let (local, offset) = text.split_at_checked(text.len().checked_sub(6)?)?;
    let (sign, hours, minutes) = (
        offset.get(..1)?,
        offset.get(1..3)?.parse::<u64>().ok()?,
        offset.get(4..)?.parse::<u64>().ok()?,
    );
    if offset.get(3..4)? != ":" || !local.contains('T') || hours > 23 || minutes > 59 {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    let ahead = Duration::from_secs(hours * 3600 + minutes * 60);
    match sign {
        "+" => local.checked_sub(ahead),
        "-" => local.checked_add(ahead),
        _ => None,
    }
}

fn parse_key(text: &str) -> anyhow::Result<PublicKey> {
    match text.strip_prefix('@') {
        Some(path) => public_key_in(Path::new(path)),
        None => text.trim().parse().map_err(|e: String| anyhow!(e)),
    }
}

/// The public key a file holds: the key alone (`ed25519:…`), or the
/// `public-key` line of a key file (what `salve keygen` writes, the
/// endpoint's own key file included). What the file holds is never echoed:
/// it may be a private key.
fn public_key_in(path: &Path) -> anyhow::Result<PublicKey> {
    #[derive(serde::Deserialize)]
    struct WithPublicKey {
        #[serde(rename = "public-key")]
        public_key: String,
    }
    let text = salve::file_error::read_text(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let text = text.trim();
    let key = match toml::from_str::<WithPublicKey>(text) {
        Ok(file) => file.public_key,
        Err(_) => text.to_string(),
    };
    key.parse().map_err(|_: String| {
        anyhow!(
            "{} holds neither an ed25519 public key (`ed25519:` and 32 bytes in base64) nor a key file with a `public-key` line (what `salve keygen` writes)",
            path.display()
        )
    })
}

/// Verifies the log in `dir` before anything is read from it for export or
/// a report: what does not verify is not passed on as if it were the
/// endpoint's record.
fn verified(dir: &Path, checkpoint_every: u64) -> Result<(), crate::exit::Failure> {
    check_dir(dir).exit_with(Exit::Usage)?;
    // Live: the endpoint may be appending (or have crashed mid-write); a
    // last line not yet complete is what the readers skip too.
    match verify_live(dir, None, checkpoint_every) {
        Ok(_) => Ok(()),
        Err(error @ VerifyError::Io { .. }) => Err(anyhow!(error)).exit_with(Exit::Failed),
        Err(error) => Err(anyhow!(
            "{error} — nothing is read from a log that does not verify (`salve audit verify` says more; the files themselves are left as they are)"
        ))
        .exit_with(Exit::Corrupt),
    }
}

fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Err(anyhow!(
            "{} is not a directory: name the audit log's directory with --log or SALVE_AUDIT_DIR",
            dir.display()
        ));
    }
    Ok(())
}

pub fn verify(
    log: &LogArgs,
    key: Option<&str>,
    from_checkpoint: Option<&Path>,
    checkpoint_every: u64,
    as_json: bool,
) -> CliResult {
    if log.service {
        if key.is_some() || from_checkpoint.is_some() {
            return Err(anyhow!(
                "--key and --from-checkpoint check a log you read yourself; with --service, the service verifies its log against its own key. To check it against a key or a checkpoint you hold, verify its directory with --log (a copy of it will do)"
            ))
            .exit_with(Exit::Usage);
        }
        let client = people::client(&log.client(), true)?;
        let answer = people::block(client.operation(&Operation::VerifyAudit {}))?;
        let verification: AuditVerification = answer.read().exit_with(Exit::Failed)?;
        crate::output::line(format_args!(
            "{}",
            match &verification {
                _ if as_json => answer.pretty().exit_with(Exit::Failed)?,
                AuditVerification::Verified(verified) => format!(
                    "the service's audit log verifies: {} records, {} checkpoint(s), chain intact",
                    verified.records, verified.checkpoints
                ),
                AuditVerification::Corrupt { error, .. } | AuditVerification::Failed { error } => {
                    format!("the service's audit log does NOT verify: {error}")
                }
            }
        ))?;
        return Ok(match verification {
            AuditVerification::Verified(_) => Exit::Success,
            _ => Exit::Corrupt,
        });
    }
    let dir = log.dir();
    let dir = dir.as_path();
    check_dir(dir).exit_with(Exit::Usage)?;
    let parsed = key.map(parse_key).transpose().exit_with(Exit::Usage)?;
    // A key read from a file is named by the file, never printed: a private
    // key has the same form as a public one, and a file holding one by
    // mistake would otherwise be echoed by "not signed by the key given".
    let named = |text: String| match (key.and_then(|k| k.strip_prefix('@')), &parsed) {
        (Some(file), Some(key)) => text.replace(&key.to_string(), &format!("the key in {file}")),
        _ => text,
    };
    let key = parsed;
    let checkpoint = from_checkpoint
        .map(Checkpoint::read)
        .transpose()
        .map_err(|e| anyhow!(e))
        .exit_with(Exit::Usage)?;
    match verify_dir_with(dir, key.as_ref(), checkpoint.as_ref(), checkpoint_every) {
        Ok(verified) => {
            if as_json {
                let text = serde_json::to_string_pretty(&serde_json::json!({
                    "ok": true,
                    "verified": verified,
                }))
                .exit_with(Exit::Failed)?;
                crate::output::line(format_args!("{text}"))?;
            } else {
                crate::output::line(format_args!(
                    "{}: verified — {} records in {} segment(s), chain intact",
                    dir.display(),
                    verified.records,
                    verified.segments
                ))?;
                crate::output::line(format_args!(
                    "  {} checkpoint(s), {}",
                    verified.checkpoints,
                    match (&verified.checkpoint_key, verified.key_checked) {
                        _ if verified.checkpoints == 0 => "so nothing in it is signed: whoever can write its files could have rewritten it whole".to_string(),
                        (Some(key), true) => named(format!("all signed by {key}, the key given")),
                        (Some(key), false) => format!(
                            "all signed by {key} (the key of {}; give --key to check it is the endpoint's)",
                            if verified.against_checkpoint.is_some() {
                                "the checkpoint kept elsewhere"
                            } else {
                                "the first"
                            }
                        ),
                        (None, _) => "none signed".to_string(),
                    }
                ))?;
                if verified.checkpoints > 0 && verified.unvouched > 0 {
                    crate::output::line(format_args!(
                        "  {} record(s) after the last checkpoint, chained but not yet signed (a running endpoint signs its tail within a minute, and when it stops)",
                        verified.unvouched
                    ))?;
                }
                if let Some(seq) = verified.against_checkpoint {
                    crate::output::line(format_args!(
                        "  reaches and contains the checkpoint of record {seq} kept elsewhere"
                    ))?;
                } else {
                    crate::output::line(format_args!(
                        "  (give --from-checkpoint to detect a tail cut off after the last checkpoint)"
                    ))?;
                }
                crate::output::line(format_args!(
                    "  last record {} hash {}",
                    verified.last_seq, verified.last_hash
                ))?;
            }
            Ok(Exit::Success)
        }
        Err(error @ VerifyError::Io { .. }) => Err(anyhow!(error)).exit_with(Exit::Failed),
        Err(error) => {
            if as_json {
                let (file, line, seq) = match &error {
                    VerifyError::Corrupt(c) => {
                        (Some(c.file.display().to_string()), Some(c.line), c.seq)
                    }
                    VerifyError::CheckpointMismatch {
                        file, line, seq, ..
                    } => (Some(file.display().to_string()), Some(*line), Some(*seq)),
                    VerifyError::Truncated {
                        last_file,
                        last_seq,
                        ..
                    } => (
                        last_file.as_ref().map(|f| f.display().to_string()),
                        None,
                        Some(*last_seq),
                    ),
                    _ => (None, None, None),
                };
                let text = serde_json::to_string_pretty(&serde_json::json!({
                    "ok": false,
                    "file": file,
                    "line": line,
                    "seq": seq,
                    "error": named(error.to_string()),
                }))
                .exit_with(Exit::Failed)?;
                crate::output::line(format_args!("{text}"))?;
                return Ok(Exit::Corrupt);
            }
            Err(anyhow!(named(error.to_string()))).exit_with(Exit::Corrupt)
        }
    }
}

/// Every record, from the service (paged) when `--service`, else from the
/// files.
pub fn load(log: &LogArgs, checkpoint_every: u64) -> Result<Vec<Record>, crate::exit::Failure> {
    if !log.service {
        let dir = log.dir();
        verified(&dir, checkpoint_every)?;
        // Chained as read: a record changed since it was verified is not
        // passed on.
        return read::records(&dir)
            .chained(None)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{e} (run `salve audit verify`)"))
            .exit_with(Exit::Corrupt);
    }
    let mut records = Vec::new();
    from_service(log, |record| {
        records.push(record);
        Ok(())
    })?;
    Ok(records)
}

/// Every record of the service's log, oldest first, handed to `each` page
/// by page as it comes. The service verifies its log first and checks each
/// page as it reads it; this checks that the pages join (each record
/// follows the one before), so that nothing is passed on from a log that
/// changed while it was read.
fn from_service(
    log: &LogArgs,
    mut each: impl FnMut(Record) -> anyhow::Result<()>,
) -> Result<(), crate::exit::Failure> {
    let client = people::client(&log.client(), true)?;
    let verification: AuditVerification = people::block(client.ask(&Operation::VerifyAudit {}))?;
    if let AuditVerification::Corrupt { error, .. } | AuditVerification::Failed { error } =
        &verification
    {
        return Err(anyhow!(
            "the service's audit log does not verify: {} — nothing is read from a log that does not verify (`salve audit verify --service` says the same)",
            salve::text::escaped(error)
        ))
        .exit_with(Exit::Corrupt);
    }
    let mut last: Option<(u64, salve::Sha256Digest)> = None;
    let mut broken = None;
    people::block(async {
        loop {
            let after = last.map_or(0, |(seq, _)| seq);
            let page: AuditPage = client
                .ask(&Operation::ExportAudit { after, limit: None })
                .await?;
            let more = page.more && !page.records.is_empty();
            for record in page.records {
                if let Some((seq, hash)) = last
                    && (record.seq != seq + 1 || record.prev != hash)
                {
                    broken = Some(format!(
                        "record {} from the service does not follow record {seq}: the log changed while it was read",
                        record.seq
                    ));
                    return Ok(());
                }
                last = Some((record.seq, record.hash));
                each(record)?;
            }
            if !more {
                return Ok(());
            }
        }
    })?;
    match broken {
        Some(broken) => Err(anyhow!(broken)).exit_with(Exit::Corrupt),
        None => Ok(()),
    }
}

pub fn export(
    log: &LogArgs,
    checkpoint_every: u64,
    format: ExportFormat,
    since: Option<&str>,
) -> CliResult {
    let since = since.map(parse_since).transpose().exit_with(Exit::Usage)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut count = 0u64;
    let mut write = |record: &Record| -> anyhow::Result<()> {
        if since.is_some_and(|s| record_time(record).is_none_or(|t| t < s)) {
            return Ok(());
        }
        let line = match format {
            ExportFormat::Jsonl => serde_json::to_string(record),
            ExportFormat::Ocsf => serde_json::to_string(&ocsf(record)),
        }?;
        writeln!(out, "{line}").map_err(crate::output::closed_quietly)?;
        count += 1;
        Ok(())
    };
    // Records are streamed, from the files or page by page from the
    // service: the log need not fit in memory.
    if log.service {
        from_service(log, |record| write(&record))?;
    } else {
        let dir = log.dir();
        verified(&dir, checkpoint_every)?;
        // Chained as read: a record changed since it was verified is not
        // passed on.
        for record in read::records(&dir).chained(None) {
            let record = record
                .map_err(|e| anyhow!("{e} (run `salve audit verify`)"))
                .exit_with(Exit::Corrupt)?;
            write(&record).exit_with(Exit::Failed)?;
        }
    }
    out.flush()
        .map_err(crate::output::closed_quietly)
        .exit_with(Exit::Failed)?;
    tracing::info!(records = count, "exported");
    Ok(Exit::Success)
}

/// One record on one line, for people.
pub fn describe(record: &Record) -> String {
    let mut line = format!(
        "{}  #{:<6} {:<20}",
        record.time,
        record.seq,
        record.kind.name()
    );
    let mut add = |label: &str, value: &Option<String>| {
        if let Some(value) = value {
            line.push_str(&format!(" {label}{value}"));
        }
    };
    add("", &record.principal);
    add("session=", &record.session);
    let action = match (&record.action, &record.version) {
        (Some(a), Some(v)) => Some(format!("{a}@{v}")),
        (a, _) => a.clone(),
    };
    add("action=", &action);
    add("", &record.decision);
    add("", &record.outcome);
    if let Some(us) = record.duration_us {
        line.push_str(&format!(" {:.1}ms", us as f64 / 1000.0));
    }
    if let Some(reason) = &record.reason {
        line.push_str(&format!(" — {reason}"));
    }
    salve::text::escaped(&line).into_owned()
}

fn print(record: &Record, as_json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let text = if as_json {
        serde_json::to_string(record)?
    } else {
        describe(record)
    };
    writeln!(out, "{text}").map_err(crate::output::closed_quietly)?;
    out.flush().map_err(crate::output::closed_quietly)?;
    Ok(())
}

/// Prints the last `lines` records; with `follow`, then every record
/// appended after them. Following goes by sequence number — each poll reads
/// the records after the last one printed — so that nothing appended in
/// between is skipped, across segment rotations and a reopened log's
/// repairs alike. Each record is checked as it is read: its hash is its
/// line's, and it follows the record before it (the one before the first
/// shown included); a record that does not stops the tail (exit 5).
pub fn tail(dir: &Path, lines: usize, follow: bool, as_json: bool) -> CliResult {
    check_dir(dir).exit_with(Exit::Usage)?;
    let unreadable = |e: read::ReadError| anyhow!("{e} (run `salve audit verify`)");
    let last = read::last_seq(dir)
        .map_err(unreadable)
        .exit_with(Exit::Corrupt)?;
    let first_shown = last
        .saturating_sub(u64::try_from(lines).unwrap_or(u64::MAX))
        .saturating_add(1);
    // Read from the record before the first shown, to check that it follows.
    let mut after = first_shown.saturating_sub(2);
    let mut link: Option<Record> = None;
    loop {
        for record in read::records_after(dir, after).chained(link.as_ref()) {
            let record = record.map_err(unreadable).exit_with(Exit::Corrupt)?;
            if record.seq >= first_shown {
                print(&record, as_json).exit_with(Exit::Failed)?;
            }
            after = record.seq;
            link = Some(record);
        }
        if !follow {
            return Ok(Exit::Success);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_times_with_offsets_dates_and_ages() {
        let utc = parse_since("2026-12-04T13:10:00Z").unwrap();
        assert_eq!(parse_since("2026-12-04T14:10:00+01:00").unwrap(), utc);
        assert_eq!(parse_since("2026-12-04T08:10:00-05:00").unwrap(), utc);
        assert_eq!(parse_since("2026-12-04T13:10:00").unwrap(), utc);
        assert_eq!(
            parse_since("2026-12-04").unwrap(),
            parse_since("2026-12-04T00:00:00Z").unwrap()
        );
        assert!(parse_since("24h").is_ok());
        for bad in [
            "2026-12-04T14:10:00+25:00",
            "yesterday",
            "2026-13-04",
            "+01:00",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
