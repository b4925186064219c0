//! An endpoint's audit records for the auditor's pages: read through the
//! `export-audit` pages the person's browser signed, each answer checked
//! against the endpoint's key, the pages in order with no record missing
//! between them. The figures come from the library's reports, as the CLI's.

use super::error::ConsoleError;
use super::relay::Relay;
use salve::api::v1::{AuditPage, ErrorBody};
use salve::audit::report::{Figures, metrics};
use salve::audit::{Kind, Record};
use salve::identity::SignedRequest;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

/// The most pages one view reads (5 000 records each, so 200 000 records):
/// what the console holds in memory for one view stays bounded (some
/// hundred megabytes at worst), whoever asks.
pub const MAX_PAGES: usize = 40;

/// The records the signed `export-audit` requests read, in order: the
/// records, and whether more follow the last page. The endpoint's refusal
/// of one (`Err(Ok(…))`), or why the console cannot give them.
pub async fn read(
    relay: &Relay,
    endpoint: &str,
    exports: &[SignedRequest],
) -> Result<Result<(Vec<Record>, bool), ErrorBody>, ConsoleError> {
    if exports.len() > MAX_PAGES {
        return Err(ConsoleError::bad_request(format!(
            "{} pages asked: a view reads at most {MAX_PAGES}",
            exports.len()
        )));
    }
    let _view = relay.audit_view().await;
    let mut records: Vec<Record> = Vec::new();
    let mut more = false;
    for export in exports {
        let body =
            serde_json::to_vec(export).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
        let page = match relay.ask::<AuditPage>(endpoint, body).await? {
            Ok(page) => page,
            Err((_, error)) => return Ok(Err(error)),
        };
        let expected = records.last().map_or(1, |r| r.seq + 1);
        if let Some(first) = page.records.first()
            && first.seq != expected
        {
            return Err(ConsoleError::bad_request(format!(
                "the pages do not follow each other: record {expected} was due, record {} came (sign each page after the last record of the one before)",
                first.seq
            )));
        }
        more = page.more;
        let empty = page.records.is_empty();
        records.extend(page.records);
        if !more || empty {
            break;
        }
    }
    Ok(Ok((records, more)))
}

/// The day (UTC, days since 1970) a record's time falls on.
fn day_of(record: &Record) -> Option<u64> {
    let time = salve::audit::export::record_time(record)?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs() / 86_400)
}

/// The date of a day since 1970, as `YYYY-MM-DD`.
pub fn date(day: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(day * 86_400);
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_string()
}

/// The figures of the sessions requested each day, for the last `days`
/// days that have any: (day, figures), oldest first.
pub fn by_day(records: &[Record], days: usize) -> Vec<(u64, Figures)> {
    let mut requested: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for record in records {
        if record.kind == Kind::SessionRequested
            && let (Some(session), Some(day)) = (&record.session, day_of(record))
        {
            requested.entry(day).or_default().insert(session.clone());
        }
    }
    let recent: Vec<(u64, BTreeSet<String>)> = requested
        .into_iter()
        .rev()
        .take(days)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    recent
        .into_iter()
        .map(|(day, sessions)| {
            let of_day = records
                .iter()
                .filter(|r| r.session.as_ref().is_some_and(|s| sessions.contains(s)));
            (day, metrics(of_day.cloned(), None).overall)
        })
        .collect()
}

/// The sessions the records mention, newest request first: (session,
/// ticket, technician, when requested).
pub fn sessions(records: &[Record]) -> Vec<(String, String, String, String)> {
    let mut found: Vec<(String, String, String, String)> = records
        .iter()
        .filter(|r| r.kind == Kind::SessionRequested)
        .filter_map(|r| {
            Some((
                r.session.clone()?,
                r.ticket.clone().unwrap_or_default(),
                r.other.clone().unwrap_or_default(),
                r.time.clone(),
            ))
        })
        .collect();
    found.reverse();
    found
}
