//! Post-session reviews and workflow metrics, built from the audit log alone
//! — what was recorded, not what anyone remembers.

use super::export::record_time;
use super::record::{Kind, Record};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One action run (or attempted) in a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationLine {
    /// When it was decided.
    pub time: String,
    /// Who invoked.
    pub principal: String,
    /// `id@version`.
    pub action: String,
    /// The sha256 of its input.
    pub input_digest: Option<String>,
    /// `allowed`, `denied` or `escalated`.
    pub decision: String,
    /// How it ended, when it ran.
    pub outcome: Option<String>,
    /// How long it ran, in microseconds.
    pub duration_us: Option<u64>,
    /// The escalation it was held for or ran under.
    pub escalation: Option<String>,
    /// Why it was denied, or how it failed.
    pub reason: Option<String>,
    /// Whether a signed checkpoint covers its records: false for those
    /// after the log's last checkpoint, vouched for by the chain alone
    /// until the endpoint signs the next one.
    pub covered: bool,
}

/// What became of an escalation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationLine {
    /// Its id.
    pub id: String,
    /// `id@version` of the action held.
    pub action: String,
    /// Who invoked.
    pub invoker: String,
    /// `pending`, `approved`, `denied` or `voided`.
    pub status: String,
    /// When it was raised.
    pub raised: String,
    /// Who approved or denied it (none when it was voided or expired by
    /// itself).
    pub decided_by: Option<String>,
    /// Who approved it, kept when it was then voided (its session closed
    /// before it was used) or expired.
    pub approved_by: Option<String>,
    /// When it was decided (approved, denied, voided, expired).
    pub decided: Option<String>,
    /// Why it was denied or voided.
    pub reason: Option<String>,
}

/// How a session ended and what was recorded about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosureLine {
    /// When.
    pub time: String,
    /// `principal`, `idle-timeout` or `expiry`.
    pub how: String,
    /// Who closed it, when a person did.
    pub by: Option<String>,
    /// Whether the problem was resolved.
    pub resolved: Option<bool>,
    /// What was done.
    pub summary: Option<String>,
    /// What remains.
    pub follow_up: Option<String>,
}

/// The post-session review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    /// The session.
    pub session: String,
    /// Its ticket.
    pub ticket: Option<String>,
    /// The endpoint.
    pub endpoint: Option<String>,
    /// Who requested it.
    pub requester: Option<String>,
    /// Who worked in it.
    pub technician: Option<String>,
    /// When it was requested.
    pub requested: Option<String>,
    /// The request: problem, category, scope, attended, timeouts.
    pub request: Option<serde_json::Value>,
    /// Who approved it, and when.
    pub approved: Option<(String, String)>,
    /// The end user's consent, and when.
    pub consented: Option<(String, String)>,
    /// Every invocation, in order.
    pub invocations: Vec<InvocationLine>,
    /// Every escalation.
    pub escalations: Vec<EscalationLine>,
    /// Host calls refused inside the sandbox: (time, action, what, reason).
    pub host_call_denials: Vec<(String, String, String, String)>,
    /// Refused approvals or changes: (time, principal, reason).
    pub refusals: Vec<(String, String, String)>,
    /// Its closure.
    pub closed: Option<ClosureLine>,
    /// What a reviewer should look at: a closure without a summary, an open
    /// session, an unrecorded resolution.
    pub flags: Vec<String>,
    /// How many of the session's records come after the log's last signed
    /// checkpoint: vouched for by the hash chain alone until the endpoint
    /// signs the next one (a running endpoint does within its checkpoint
    /// interval; a log without a checkpoint key never does).
    pub uncovered: u64,
    /// The log's last checkpoint record (0 when it holds none).
    pub last_checkpoint: u64,
}

fn label(record: &Record) -> String {
    match (&record.action, &record.version) {
        (Some(action), Some(version)) => format!("{action}@{version}"),
        (Some(action), None) => action.clone(),
        _ => String::new(),
    }
}

fn detail_text(record: &Record, key: &str) -> Option<String> {
    record
        .details
        .as_ref()?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

fn detail_bool(record: &Record, key: &str) -> Option<bool> {
    record.details.as_ref()?.get(key)?.as_bool()
}

/// The review of `session` from `records`, or `None` when the log never
/// mentions it.
pub fn session_report(
    records: impl IntoIterator<Item = Record>,
    session: &str,
) -> Option<SessionReport> {
    let mut report = SessionReport {
        session: session.to_string(),
        ticket: None,
        endpoint: None,
        requester: None,
        technician: None,
        requested: None,
        request: None,
        approved: None,
        consented: None,
        invocations: Vec::new(),
        escalations: Vec::new(),
        host_call_denials: Vec::new(),
        refusals: Vec::new(),
        closed: None,
        flags: Vec::new(),
        uncovered: 0,
        last_checkpoint: 0,
    };
    let mut seen = false;
    // Started invocations by id, to find their line when they finish.
    let mut started: BTreeMap<String, usize> = BTreeMap::new();
    // The last checkpoint's record, and the session's records after it
    // (with the invocation line each touched): no signature covers those.
    let mut last_checkpoint = 0;
    let mut after_checkpoint: Vec<(u64, Option<usize>)> = Vec::new();
    for record in records {
        if record.kind == Kind::Checkpoint {
            last_checkpoint = record.seq;
            after_checkpoint.clear();
        }
        if record.session.as_deref() != Some(session) {
            continue;
        }
        seen = true;
        let line = record
            .invocation
            .as_ref()
            .and_then(|id| started.get(id).copied())
            .or(match record.kind {
                Kind::InvocationDenied | Kind::InvocationEscalated | Kind::InvocationStarted => {
                    Some(report.invocations.len())
                }
                _ => None,
            });
        after_checkpoint.push((record.seq, line));
        let time = record.time.clone();
        let principal = record.principal.clone().unwrap_or_default();
        match record.kind {
            Kind::SessionRequested => {
                report.ticket = record.ticket.clone();
                report.endpoint = record.endpoint.clone();
                report.requester = record.principal.clone();
                report.technician = record.other.clone();
                report.requested = Some(time);
                report.request = record.details.clone();
            }
            Kind::SessionApproved => report.approved = Some((principal, time)),
            Kind::SessionConsented => {
                let user = detail_text(&record, "user").unwrap_or_default();
                report.consented = Some((user, time));
            }
            Kind::InvocationDenied | Kind::InvocationEscalated | Kind::InvocationStarted => {
                let decision = match record.kind {
                    Kind::InvocationDenied => "denied",
                    Kind::InvocationEscalated => "escalated",
                    _ => "allowed",
                };
                if record.kind == Kind::InvocationEscalated
                    && let Some(id) = &record.escalation
                    && !report.escalations.iter().any(|e| &e.id == id)
                {
                    report.escalations.push(EscalationLine {
                        id: id.clone(),
                        action: label(&record),
                        invoker: principal.clone(),
                        status: "pending".to_string(),
                        raised: time.clone(),
                        decided_by: None,
                        approved_by: None,
                        decided: None,
                        reason: None,
                    });
                }
                if let Some(id) = &record.invocation {
                    started.insert(id.clone(), report.invocations.len());
                }
                report.invocations.push(InvocationLine {
                    time,
                    principal,
                    action: label(&record),
                    input_digest: record.input_digest.clone(),
                    decision: decision.to_string(),
                    outcome: None,
                    duration_us: None,
                    escalation: record.escalation.clone(),
                    reason: record.reason.clone(),
                    covered: true,
                });
            }
            Kind::InvocationFinished => {
                let index = record.invocation.as_ref().and_then(|id| started.get(id));
                if let Some(line) = index.and_then(|i| report.invocations.get_mut(*i)) {
                    line.outcome = record.outcome.clone();
                    line.duration_us = record.duration_us;
                    line.reason = record.reason.clone();
                }
            }
            Kind::HostCallDenied => {
                let what = format!(
                    "{}.{} {}",
                    detail_text(&record, "capability").unwrap_or_default(),
                    detail_text(&record, "function").unwrap_or_default(),
                    detail_text(&record, "target").unwrap_or_default()
                );
                report.host_call_denials.push((
                    time,
                    label(&record),
                    what,
                    record.reason.clone().unwrap_or_default(),
                ));
            }
            Kind::EscalationApproved
            | Kind::EscalationDenied
            | Kind::EscalationVoided
            | Kind::EscalationExpired => {
                let status = match record.kind {
                    Kind::EscalationApproved => "approved",
                    Kind::EscalationDenied => "denied",
                    Kind::EscalationExpired => "expired",
                    _ => "voided",
                };
                if let Some(line) = report
                    .escalations
                    .iter_mut()
                    .find(|e| Some(&e.id) == record.escalation.as_ref())
                {
                    line.status = status.to_string();
                    line.decided_by = record.principal.clone();
                    if record.kind == Kind::EscalationApproved {
                        line.approved_by = record.principal.clone();
                    }
                    line.decided = Some(time);
                    line.reason = record.reason.clone();
                }
            }
            Kind::ChangeRefused | Kind::RequestRefused => {
                report
                    .refusals
                    .push((time, principal, record.reason.clone().unwrap_or_default()))
            }
            Kind::SessionClosed => {
                report.closed = Some(ClosureLine {
                    time,
                    how: detail_text(&record, "how").unwrap_or_else(|| "principal".to_string()),
                    by: record.principal.clone(),
                    resolved: detail_bool(&record, "resolved"),
                    summary: detail_text(&record, "summary"),
                    follow_up: detail_text(&record, "follow_up"),
                });
            }
            Kind::SessionReported => {
                if let Some(closed) = &mut report.closed {
                    closed.resolved = detail_bool(&record, "resolved");
                    closed.summary = detail_text(&record, "summary");
                    closed.follow_up = detail_text(&record, "follow_up");
                }
            }
            _ => {}
        }
    }
    if !seen {
        return None;
    }
    for (_, line) in &after_checkpoint {
        if let Some(line) = line.and_then(|i| report.invocations.get_mut(i)) {
            line.covered = false;
        }
    }
    report.uncovered = after_checkpoint.len() as u64;
    report.last_checkpoint = last_checkpoint;
    match &report.closed {
        None => report.flags.push("the session is not closed".to_string()),
        Some(closed) => {
            if closed
                .summary
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
            {
                report
                    .flags
                    .push("closed without a summary of what was done".to_string());
            }
            if closed.resolved == Some(false)
                && closed
                    .follow_up
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty())
            {
                report
                    .flags
                    .push("closed unresolved without a follow-up".to_string());
            }
            if closed.resolved.is_none() {
                report
                    .flags
                    .push("closed without saying whether the problem was resolved".to_string());
            }
        }
    }
    Some(report)
}

/// Workflow figures for a set of sessions.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Figures {
    /// Sessions requested.
    pub sessions: u64,
    /// Sessions closed.
    pub closed: u64,
    /// Sessions closed as resolved.
    pub resolved: u64,
    /// Mean minutes from request to a resolved closure.
    pub mean_time_to_resolution_minutes: Option<f64>,
    /// Sessions with at least one escalation.
    pub escalated: u64,
    /// `escalated / sessions`.
    pub escalation_share: Option<f64>,
    /// Closed sessions whose write-up says what was done, whether it
    /// resolved the problem and, when it did not, the follow-up.
    pub documented: u64,
    /// `documented / closed`.
    pub documentation_completeness: Option<f64>,
    /// Invocations denied, for any reason.
    pub denied_invocations: u64,
    /// Of those, attempts outside the scope: an action the scope does not
    /// allow (`out-of-scope`), prohibits (`prohibited`), or a privileged
    /// action in a scope that allows none (`privileged-not-in-scope`).
    pub out_of_scope_attempts: u64,
    /// Host calls refused inside the sandbox.
    pub host_call_denials: u64,
    /// Requests and changes refused in its sessions, signed by a principal:
    /// a self-approval, an action the endpoint does not have, input it does
    /// not take, what the principal may not see.
    ///
    /// Denials and refusals count in a technician's row only when the
    /// technician signed them; overall counts them whoever did (a
    /// requester's refused self-approval is not the technician's).
    pub refused: u64,
}

/// Figures overall and per technician.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Metrics {
    /// Every session.
    pub overall: Figures,
    /// By technician.
    pub per_technician: BTreeMap<String, Figures>,
    /// Requests refused that name no session counted here (bad signatures,
    /// replays, refused session requests), and those nobody signed (an end
    /// user's consent or look at a session, from the endpoint): they belong
    /// to no technician.
    pub refused_requests: u64,
}

#[derive(Default)]
struct SessionFacts {
    technician: String,
    requested: Option<SystemTime>,
    closed: Option<SystemTime>,
    resolved: Option<bool>,
    summary: bool,
    follow_up: bool,
    escalated: bool,
    /// What the technician did that was denied or refused.
    technicians: Deviations,
    /// What others did in the session (a requester's self-approval, an
    /// approver's refused change): counted overall, not in the technician's
    /// row.
    others: Deviations,
    host_denials: u64,
}

/// Denied and refused attempts in one session, by one side.
#[derive(Default)]
struct Deviations {
    denied: u64,
    out_of_scope: u64,
    refused: u64,
}

impl SessionFacts {
    /// The deviations of whoever signed `record`.
    fn by(&mut self, record: &Record) -> &mut Deviations {
        if record.principal.as_deref() == Some(self.technician.as_str()) {
            &mut self.technicians
        } else {
            &mut self.others
        }
    }
}

/// Metrics over the sessions requested at or after `since` (all when
/// `None`).
pub fn metrics(records: impl IntoIterator<Item = Record>, since: Option<SystemTime>) -> Metrics {
    let mut sessions: BTreeMap<String, SessionFacts> = BTreeMap::new();
    let mut refused_requests = 0;
    for record in records {
        let time = record_time(&record);
        if matches!(record.kind, Kind::RequestRefused | Kind::SessionRefused) {
            // One that names a session counted here is that session's —
            // if someone signed it: an end user's, asked with no key, is
            // not the technician's deviation.
            let signed = record.principal.is_some();
            if let Some(facts) = record
                .session
                .as_ref()
                .filter(|_| signed)
                .and_then(|s| sessions.get_mut(s))
            {
                facts.by(&record).refused += 1;
            } else if since.is_none_or(|s| time.is_some_and(|t| t >= s)) {
                refused_requests += 1;
            }
            continue;
        }
        let Some(session) = record.session.clone() else {
            continue;
        };
        if record.kind == Kind::SessionRequested {
            if since.is_some_and(|s| time.is_none_or(|t| t < s)) {
                continue;
            }
            sessions.insert(
                session,
                SessionFacts {
                    technician: record.other.clone().unwrap_or_default(),
                    requested: time,
                    ..SessionFacts::default()
                },
            );
            continue;
        }
        let Some(facts) = sessions.get_mut(&session) else {
            continue;
        };
        match record.kind {
            Kind::InvocationEscalated => facts.escalated = true,
            Kind::InvocationDenied => {
                let out_of_scope = matches!(
                    record.reason_code.as_deref(),
                    Some("out-of-scope" | "prohibited" | "privileged-not-in-scope")
                );
                let deviations = facts.by(&record);
                deviations.denied += 1;
                deviations.out_of_scope += u64::from(out_of_scope);
            }
            Kind::HostCallDenied => facts.host_denials += 1,
            Kind::ChangeRefused if record.principal.is_some() => facts.by(&record).refused += 1,
            Kind::ChangeRefused => refused_requests += 1,
            Kind::SessionClosed | Kind::SessionReported => {
                if record.kind == Kind::SessionClosed {
                    facts.closed = time;
                }
                facts.resolved = detail_bool(&record, "resolved").or(facts.resolved);
                facts.summary |=
                    detail_text(&record, "summary").is_some_and(|s| !s.trim().is_empty());
                facts.follow_up |=
                    detail_text(&record, "follow_up").is_some_and(|s| !s.trim().is_empty());
            }
            _ => {}
        }
    }
    let mut metrics = Metrics {
        refused_requests,
        ..Metrics::default()
    };
    let mut resolution: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut all_resolution = Vec::new();
    for facts in sessions.values() {
        let others = &facts.others;
        metrics.overall.denied_invocations += others.denied;
        metrics.overall.out_of_scope_attempts += others.out_of_scope;
        metrics.overall.refused += others.refused;
        for figures in [
            &mut metrics.overall,
            metrics
                .per_technician
                .entry(facts.technician.clone())
                .or_default(),
        ] {
            let own = &facts.technicians;
            figures.sessions += 1;
            figures.escalated += u64::from(facts.escalated);
            figures.denied_invocations += own.denied;
            figures.out_of_scope_attempts += own.out_of_scope;
            figures.host_call_denials += facts.host_denials;
            figures.refused += own.refused;
            if facts.closed.is_some() {
                figures.closed += 1;
                // Resolved: what was done. Unresolved: what was done and
                // what remains to be done.
                figures.documented += u64::from(
                    facts.summary
                        && match facts.resolved {
                            Some(true) => true,
                            Some(false) => facts.follow_up,
                            None => false,
                        },
                );
            }
            figures.resolved += u64::from(facts.closed.is_some() && facts.resolved == Some(true));
        }
        if let (Some(requested), Some(closed), Some(true)) =
            (facts.requested, facts.closed, facts.resolved)
        {
            let minutes = closed
                .duration_since(requested)
                .map_or(0.0, |d| d.as_secs_f64() / 60.0);
            resolution
                .entry(facts.technician.clone())
                .or_default()
                .push(minutes);
            all_resolution.push(minutes);
        }
    }
    let finish = |figures: &mut Figures, times: &[f64]| {
        figures.mean_time_to_resolution_minutes =
            (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64);
        figures.escalation_share =
            (figures.sessions > 0).then(|| figures.escalated as f64 / figures.sessions as f64);
        figures.documentation_completeness =
            (figures.closed > 0).then(|| figures.documented as f64 / figures.closed as f64);
    };
    finish(&mut metrics.overall, &all_resolution);
    for (technician, figures) in &mut metrics.per_technician {
        finish(
            figures,
            resolution.get(technician).map_or(&[], Vec::as_slice),
        );
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(kind: Kind, session: &str) -> Record {
        let mut record = Record::event(kind);
        record.session = Some(session.to_string());
        record.time = "2026-11-22T10:00:00.000000Z".to_string();
        record
    }

    #[test]
    fn every_denial_outside_the_scope_is_a_deviation_and_others_are_not() {
        let mut requested = about(Kind::SessionRequested, "s-1");
        requested.other = Some("tom".to_string());
        let mut records = vec![requested];
        for code in [
            "out-of-scope",
            "prohibited",
            "privileged-not-in-scope",
            "role-not-permitted",
            "session-not-active",
        ] {
            let mut denied = about(Kind::InvocationDenied, "s-1");
            denied.principal = Some("tom".to_string());
            denied.reason_code = Some(code.to_string());
            records.push(denied);
        }
        let figures = metrics(records, None);
        assert_eq!(figures.overall.denied_invocations, 5);
        assert_eq!(figures.overall.out_of_scope_attempts, 3);
        assert_eq!(figures.per_technician["tom"].out_of_scope_attempts, 3);
    }

    #[test]
    fn documentation_is_complete_with_a_summary_and_when_unresolved_a_follow_up() {
        let closed = |session: &str, resolved: bool, summary: &str, follow_up: &str| {
            let mut requested = about(Kind::SessionRequested, session);
            requested.other = Some("tom".to_string());
            let mut closed = about(Kind::SessionClosed, session);
            closed.details = Some(serde_json::json!({
                "how": "principal",
                "resolved": resolved,
                "summary": summary,
                "follow_up": follow_up,
            }));
            [requested, closed]
        };
        let mut records = Vec::new();
        records.extend(closed("s-1", true, "Restarted cups.", ""));
        records.extend(closed("s-2", false, "Spooler crashes.", "Vendor case 42."));
        records.extend(closed("s-3", false, "Spooler crashes.", " "));
        records.extend(closed("s-4", true, "", ""));
        let figures = metrics(records.clone(), None);
        assert_eq!(figures.overall.closed, 4);
        assert_eq!(figures.overall.documented, 2);
        assert_eq!(figures.overall.documentation_completeness, Some(0.5));
        let flags = |id: &str| session_report(records.clone(), id).unwrap().flags;
        assert!(flags("s-1").is_empty(), "{:?}", flags("s-1"));
        assert!(flags("s-2").is_empty(), "{:?}", flags("s-2"));
        assert_eq!(flags("s-3"), ["closed unresolved without a follow-up"]);
        assert_eq!(flags("s-4"), ["closed without a summary of what was done"]);
    }

    #[test]
    fn refusals_in_a_session_are_its_technicians_and_the_rest_stand_apart() {
        let mut requested = about(Kind::SessionRequested, "s-1");
        requested.other = Some("tom".to_string());
        let signed = |kind: Kind| {
            let mut record = about(kind, "s-1");
            record.principal = Some("tom".to_string());
            record
        };
        let mut records = vec![
            requested,
            signed(Kind::RequestRefused),
            signed(Kind::ChangeRefused),
        ];
        // The end user's, asked at the endpoint with no key: not tom's.
        let mut consent = about(Kind::ChangeRefused, "s-1");
        consent.source = Some("local:uid=1000(eve)".to_string());
        let mut look = about(Kind::RequestRefused, "s-1");
        look.source = Some("local:uid=1000(eve)".to_string());
        records.extend([consent, look]);
        // A refused request naming an unknown session, and one naming none.
        records.push(about(Kind::RequestRefused, "s-unknown"));
        records.push(Record::event(Kind::RequestRefused));
        // Alice, who asked for tom's session, approving it herself, and an
        // invocation she was denied: hers, counted overall, not tom's.
        let by_alice = |kind: Kind| {
            let mut record = about(kind, "s-1");
            record.principal = Some("alice".to_string());
            record.reason_code = Some("out-of-scope".to_string());
            record
        };
        records.extend([
            by_alice(Kind::ChangeRefused),
            by_alice(Kind::InvocationDenied),
        ]);
        let mut denied = signed(Kind::InvocationDenied);
        denied.reason_code = Some("out-of-scope".to_string());
        records.push(denied);
        let figures = metrics(records, None);
        assert_eq!(figures.overall.refused, 3);
        assert_eq!(figures.overall.denied_invocations, 2);
        assert_eq!(figures.overall.out_of_scope_attempts, 2);
        let tom = &figures.per_technician["tom"];
        assert_eq!(tom.refused, 2);
        assert_eq!(tom.denied_invocations, 1);
        assert_eq!(tom.out_of_scope_attempts, 1);
        assert!(!figures.per_technician.contains_key("alice"));
        assert_eq!(figures.refused_requests, 4);
    }

    #[test]
    fn an_escalation_shows_when_it_was_raised_and_decided_and_why() {
        let mut requested = about(Kind::SessionRequested, "s-1");
        requested.other = Some("tom".to_string());
        let mut escalated = about(Kind::InvocationEscalated, "s-1");
        escalated.principal = Some("tom".to_string());
        escalated.action = Some("restart-service".to_string());
        escalated.escalation = Some("e-1".to_string());
        let mut denied = about(Kind::EscalationDenied, "s-1");
        denied.time = "2026-11-22T10:05:00.000000Z".to_string();
        denied.principal = Some("ann".to_string());
        denied.escalation = Some("e-1".to_string());
        denied.reason = Some("not on a weekday".to_string());
        let report = session_report(vec![requested, escalated, denied], "s-1").unwrap();
        let line = &report.escalations[0];
        assert_eq!(line.status, "denied");
        assert_eq!(line.raised, "2026-11-22T10:00:00.000000Z");
        assert_eq!(line.decided_by.as_deref(), Some("ann"));
        assert_eq!(line.decided.as_deref(), Some("2026-11-22T10:05:00.000000Z"));
        assert_eq!(line.reason.as_deref(), Some("not on a weekday"));
        assert_eq!(line.approved_by, None);
    }

    #[test]
    fn an_approved_escalation_voided_by_the_closure_keeps_its_approver() {
        let mut requested = about(Kind::SessionRequested, "s-1");
        requested.other = Some("tom".to_string());
        let mut escalated = about(Kind::InvocationEscalated, "s-1");
        escalated.principal = Some("tom".to_string());
        escalated.action = Some("restart-service".to_string());
        escalated.escalation = Some("e-1".to_string());
        let mut approved = about(Kind::EscalationApproved, "s-1");
        approved.principal = Some("ann".to_string());
        approved.escalation = Some("e-1".to_string());
        // Voided by the session's closure: no principal of its own.
        let mut voided = about(Kind::EscalationVoided, "s-1");
        voided.time = "2026-11-22T10:09:00.000000Z".to_string();
        voided.escalation = Some("e-1".to_string());
        voided.reason = Some("the session closed".to_string());
        let report = session_report(vec![requested, escalated, approved, voided], "s-1").unwrap();
        let line = &report.escalations[0];
        assert_eq!(line.status, "voided");
        assert_eq!(line.decided_by, None);
        assert_eq!(line.approved_by.as_deref(), Some("ann"));
        assert_eq!(line.decided.as_deref(), Some("2026-11-22T10:09:00.000000Z"));
    }
}
