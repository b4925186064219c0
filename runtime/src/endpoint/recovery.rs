//! Starting a run, and what a crash left behind.
//!
//! The state store records where each run of the endpoint began in the audit
//! log and whether it stopped cleanly. When a run did not — the process was
//! killed, the machine lost power — the next one reads the log from where
//! that run began and settles what it left open:
//!
//! - an invocation logged as started and never as finished gets its
//!   `invocation.finished` record, outcome `interrupted`, and is kept for
//!   `show` as such: the log never leaves a run without its end;
//! - an invocation logged as finished whose record for `show` had not yet
//!   reached the state store (they are stored in batches, off the
//!   invocation's path) is kept from what the log says of it: who ran what,
//!   and how it ended — its output, which the log holds only as a digest, is
//!   gone;
//! - a change the log holds and the state store does not (each change is
//!   logged before its transaction commits, so a kill between the two
//!   leaves the log ahead) is applied to the store, so that the store never
//!   grants what the log has taken away: a session the log closed is closed
//!   (its unused escalations voided, and logged as such if the log does not
//!   say so yet), an escalation the log approved, denied or voided is so,
//!   and an approval the log shows used is used. A session approval the
//!   store lacks is not restored: the session waits for its approver again
//!   (the safe side), and the log will show the approval twice.

use super::{Endpoint, Refusal, events};
use crate::audit::read::records_after;
use crate::audit::{AuditError, Kind, Record};
use crate::escalation::{Approval, EscalationState};
use crate::outcome::{InvocationRecord, InvocationStatus};
use crate::session::{ClosedBy, Closure, ClosureReport, InvocationId, SessionState, UnixMillis};
use crate::store::StoreError;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// What starting a run found and settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Whether the previous run stopped without [`Endpoint::stop`].
    pub previous_run_crashed: bool,
    /// Invocations that were running when it stopped, now logged as
    /// `interrupted`.
    pub interrupted: Vec<String>,
    /// Finished invocations whose record for `show` was rebuilt from the log.
    pub restored: Vec<String>,
    /// Changes the log held and the state store did not, now applied to
    /// the store (e.g. `session s-… closed`).
    pub reconciled: Vec<String>,
}

/// The reason an interrupted invocation carries.
const INTERRUPTED: &str =
    "the endpoint stopped while it ran (it was killed or crashed): how it ended is not known";

/// The reason a record rebuilt from the log carries.
const RESTORED: &str = "the endpoint stopped before storing what it did: its outcome comes from the audit log, its output was not kept";

impl Endpoint {
    /// Begins a run of this endpoint: if the previous run did not stop
    /// cleanly, settles what it left open (see the module's documentation),
    /// then records that this run begins after the log's last record. Call
    /// it once, before serving requests; [`Endpoint::stop`] ends the run.
    pub fn begin_run(&self) -> Result<Recovery, Refusal> {
        let mut recovery = Recovery::default();
        if let Some(last) = self.store.last_run()?
            && !last.stopped_cleanly
        {
            recovery.previous_run_crashed = true;
            self.settle_crashed_run(last.after_seq, &mut recovery)?;
        }
        let last_seq = crate::audit::read::last_seq(self.audit.dir()).map_err(|e| {
            Refusal::Audit(AuditError::Stopped(format!(
                "the audit log cannot be read: {e}"
            )))
        })?;
        self.store.begin_run(last_seq)?;
        if recovery.previous_run_crashed {
            tracing::warn!(
                interrupted = recovery.interrupted.len(),
                restored = recovery.restored.len(),
                "the previous run did not stop cleanly: its open invocations are settled"
            );
        }
        Ok(recovery)
    }

    /// Ends the run: stops accepting signed requests, records the replay
    /// watermark of the latest request accepted (so that the next run
    /// refuses none signed after it), and records that the run stopped
    /// cleanly — unless invocations still run (stuck in a host call past
    /// their cancellation), or the audit log has stopped: some invocation
    /// may then never log how it ended, so the run is left as a crashed
    /// one, and the next start logs those as interrupted. Returns whether
    /// the stop was clean. Call it once nothing more will be authenticated
    /// or run.
    pub fn stop(&self) -> Result<bool, StoreError> {
        self.stop_accepting()?;
        if self.running() > 0 || self.audit.stopped().is_some() {
            return Ok(false);
        }
        self.store.end_run()?;
        Ok(true)
    }

    fn settle_crashed_run(&self, after_seq: u64, recovery: &mut Recovery) -> Result<(), Refusal> {
        let unreadable = |e: crate::audit::read::ReadError| {
            Refusal::Audit(AuditError::Stopped(format!(
                "the audit log cannot be read: {e}"
            )))
        };
        // Invocations started in that run, by id, until they finish.
        let mut open: BTreeMap<String, Record> = BTreeMap::new();
        let mut finished: Vec<Record> = Vec::new();
        // Changes to sessions and escalations, in log order.
        let mut changes: Vec<Record> = Vec::new();
        for record in records_after(self.audit.dir(), after_seq) {
            let record = record.map_err(unreadable)?;
            if matches!(
                record.kind,
                Kind::SessionClosed
                    | Kind::EscalationApproved
                    | Kind::EscalationDenied
                    | Kind::EscalationVoided
            ) || (record.kind == Kind::InvocationStarted && record.escalation.is_some())
            {
                changes.push(record.clone());
            }
            let Some(id) = record.invocation.clone() else {
                continue;
            };
            match record.kind {
                Kind::InvocationStarted => {
                    open.insert(id, record);
                }
                Kind::InvocationFinished => {
                    open.remove(&id);
                    finished.push(record);
                }
                _ => {}
            }
        }
        let now = self.now();
        // Finished, but not stored for `show`.
        let stored: HashSet<InvocationId> = self.store.read(|tx| {
            finished
                .iter()
                .filter_map(|r| r.invocation.as_deref()?.parse::<InvocationId>().ok())
                .filter_map(|id| match tx.invocation(&id) {
                    Ok(Some(_)) => Some(Ok(id)),
                    Ok(None) => None,
                    Err(error) => Some(Err(error)),
                })
                .collect::<Result<HashSet<_>, StoreError>>()
        })?;
        let mut records = Vec::new();
        for record in &finished {
            if let Some(kept) = invocation_record(record, None, now)
                && !stored.contains(&kept.id)
            {
                recovery.restored.push(kept.id.to_string());
                records.push(Arc::new(kept));
            }
        }
        // Started, never finished: finished now, in the log first.
        let mut ends = Vec::new();
        for started in open.values() {
            let mut end = started.clone();
            end.kind = Kind::InvocationFinished;
            end.decision = Some("allowed".to_string());
            end.outcome = Some("interrupted".to_string());
            end.reason = Some(INTERRUPTED.to_string());
            end.details = None;
            end.duration_us = None;
            end.output_digest = None;
            ends.push(end);
            if let Some(kept) = invocation_record(started, Some(INTERRUPTED), now) {
                recovery.interrupted.push(kept.id.to_string());
                records.push(Arc::new(kept));
            }
        }
        if !ends.is_empty() {
            self.audit.append_all(ends)?;
        }
        if !records.is_empty() {
            self.store.record_invocations(&records)?;
        }
        self.reconcile(&changes, now, recovery)
    }

    /// Applies to the state store what `logged` (changes of the crashed run,
    /// in log order) says and the store does not have yet; see the module's
    /// documentation.
    fn reconcile(
        &self,
        logged: &[Record],
        now: UnixMillis,
        recovery: &mut Recovery,
    ) -> Result<(), Refusal> {
        if logged.is_empty() {
            return Ok(());
        }
        let voided_in_log: HashSet<&str> = logged
            .iter()
            .filter(|r| r.kind == Kind::EscalationVoided)
            .filter_map(|r| r.escalation.as_deref())
            .collect();
        let lifetime = crate::escalation::lifetime_ms(&self.policy);
        let reconciled = self.store.write(|tx| -> Result<Vec<String>, Refusal> {
            let mut reconciled = Vec::new();
            let mut voided = Vec::new();
            for record in logged {
                let at = logged_ms(record, now);
                if record.kind == Kind::SessionClosed {
                    let Some(id) = record.session.as_deref().and_then(|s| s.parse().ok()) else {
                        continue;
                    };
                    let Some(mut session) = tx.session(&id)? else {
                        continue;
                    };
                    if session.state == SessionState::Closed {
                        continue;
                    }
                    session.state = SessionState::Closed;
                    session.closure = Some(closure_of(record, at));
                    tx.put_session(&session)?;
                    reconciled.push(format!("session {id} closed"));
                    for mut escalation in tx.escalations_of(&id)? {
                        if escalation.void(at) {
                            tx.put_escalation(&escalation)?;
                            if !voided_in_log.contains(escalation.id.as_str()) {
                                voided.push(events::escalation_decided(
                                    Kind::EscalationVoided,
                                    &session,
                                    &escalation,
                                    None,
                                    Some("its session closed".to_string()),
                                ));
                            }
                        }
                    }
                    continue;
                }
                let Some(id) = record.escalation.as_deref().and_then(|e| e.parse().ok()) else {
                    continue;
                };
                let Some(mut escalation) = tx.escalation(&id)? else {
                    continue;
                };
                let pending = escalation.state == EscalationState::Pending;
                let by = || record.principal.as_deref().and_then(|p| p.parse().ok());
                let changed = match record.kind {
                    Kind::EscalationApproved if pending => by().map(|by| {
                        escalation.state = EscalationState::Approved;
                        escalation.approval = Some(Approval {
                            by,
                            at_ms: at,
                            expires_ms: at.saturating_add(lifetime),
                            consumed_ms: None,
                        });
                        "approved"
                    }),
                    Kind::EscalationDenied if pending => by().map(|by| {
                        escalation.state = EscalationState::Denied {
                            by,
                            at_ms: at,
                            reason: record.reason.clone().unwrap_or_default(),
                        };
                        "denied"
                    }),
                    Kind::EscalationVoided if escalation.void(at) => Some("voided"),
                    Kind::InvocationStarted
                        if escalation
                            .approval
                            .as_ref()
                            .is_some_and(|a| a.consumed_ms.is_none()) =>
                    {
                        escalation.consume(at);
                        Some("used")
                    }
                    _ => None,
                };
                if let Some(what) = changed {
                    tx.put_escalation(&escalation)?;
                    reconciled.push(format!("escalation {id} {what}"));
                }
            }
            // Logged before the transaction commits, as every change is.
            if !voided.is_empty() {
                self.audit.append_all(voided)?;
            }
            Ok(reconciled)
        })?;
        if !reconciled.is_empty() {
            tracing::warn!(
                changes = ?reconciled,
                "the previous run logged changes its state store had not stored: applied now"
            );
        }
        recovery.reconciled = reconciled;
        Ok(())
    }
}

/// When `record` was logged, in milliseconds (`now` if unreadable).
fn logged_ms(record: &Record, now: UnixMillis) -> UnixMillis {
    humantime::parse_rfc3339(&record.time)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(now)
}

/// A session's closure as its `session.closed` record tells it.
fn closure_of(record: &Record, at: UnixMillis) -> Closure {
    let details = record.details.as_ref();
    let text = |key: &str| {
        details
            .and_then(|d| d.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let by = match (text("how").as_deref(), record.principal.as_deref()) {
        (Some("idle-timeout"), _) => ClosedBy::IdleTimeout,
        (Some("expiry"), _) => ClosedBy::Expiry,
        (_, Some(principal)) => match principal.parse() {
            Ok(id) => ClosedBy::Principal { id },
            Err(_) => ClosedBy::Expiry,
        },
        _ => ClosedBy::Expiry,
    };
    Closure {
        at_ms: at,
        by,
        report: ClosureReport {
            resolved: details
                .and_then(|d| d.get("resolved"))
                .and_then(serde_json::Value::as_bool),
            summary: text("summary"),
            follow_up: text("follow_up"),
        },
    }
}

/// What the log says of an invocation, as kept for `show`: from its
/// `invocation.finished` record (`interrupted` = `None`), or from its
/// `invocation.started` record when it never finished.
fn invocation_record(
    record: &Record,
    interrupted: Option<&str>,
    now: UnixMillis,
) -> Option<InvocationRecord> {
    let id = record.invocation.as_deref()?.parse().ok()?;
    let session = record.session.as_deref()?.parse().ok()?;
    let logged_ms = logged_ms(record, now);
    let (started_ms, finished_ms, status, reason) = match interrupted {
        Some(reason) => (
            logged_ms,
            now,
            InvocationStatus::Interrupted,
            reason.to_string(),
        ),
        None => {
            let took_ms = record
                .duration_us
                .map_or(0, |us| i64::try_from(us / 1000).unwrap_or(0));
            let outcome = record.outcome.as_deref().unwrap_or("unknown");
            let status = if outcome == "not-run" {
                InvocationStatus::NotRun
            } else {
                InvocationStatus::Finished
            };
            (
                logged_ms - took_ms,
                logged_ms,
                status,
                format!("{RESTORED} (outcome `{outcome}`)"),
            )
        }
    };
    Some(InvocationRecord {
        id,
        session,
        principal: record.principal.clone().unwrap_or_default(),
        action: format!(
            "{}@{}",
            record.action.as_deref().unwrap_or("?"),
            record.version.as_deref().unwrap_or("?")
        ),
        input_digest: record.input_digest.clone().unwrap_or_default(),
        approval: record.escalation.as_deref().and_then(|e| e.parse().ok()),
        started_ms,
        finished_ms: Some(finished_ms),
        status,
        invocation: None,
        reason: Some(reason),
    })
}
