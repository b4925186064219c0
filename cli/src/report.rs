//! `salve report session|metrics`: reviews and figures from the audit log.

use crate::args::LogArgs;
use crate::audit::{load, parse_since};
use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::anyhow;
use salve::audit::report::{Figures, SessionReport, metrics as compute_metrics, session_report};
use salve::text::escaped;
use std::borrow::Cow;

pub fn session(log: &LogArgs, checkpoint_every: u64, id: &str, as_json: bool) -> CliResult {
    let records = load(log, checkpoint_every)?;
    let report = session_report(records, id)
        .ok_or_else(|| anyhow!("the audit log never mentions session {id}"))
        .exit_with(Exit::Usage)?;
    if as_json {
        crate::output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(&report).exit_with(Exit::Failed)?
        ))?;
    } else {
        crate::output::line(render_session(&report).trim_end())?;
    }
    Ok(Exit::Success)
}

/// The text, safe to print (see [`salve::text`]), or `—`.
fn or_dash(value: Option<&str>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed("—"), escaped)
}

/// A session's scope as people read it.
fn scope_text(scope: &serde_json::Value) -> String {
    let list = |key: &str| -> String {
        let items: Vec<String> = scope[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| match item.as_str() {
                Some(text) => escaped(text).into_owned(),
                None => escaped(&item.to_string()).into_owned(),
            })
            .collect();
        items.join(", ")
    };
    let mut text = list("allowed");
    let prohibited = list("prohibited");
    if !prohibited.is_empty() {
        text.push_str(&format!("; never {prohibited}"));
    }
    if scope["privileged"] == true {
        text.push_str(" (privileged actions with a second approval)");
    }
    text
}

/// The review as text.
pub fn render_session(report: &SessionReport) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "Session {}  (ticket {})",
        report.session,
        or_dash(report.ticket.as_deref())
    ));
    line(format!(
        "  endpoint     {}",
        or_dash(report.endpoint.as_deref())
    ));
    line(format!(
        "  requested    {} by {}, for technician {}",
        or_dash(report.requested.as_deref()),
        or_dash(report.requester.as_deref()),
        or_dash(report.technician.as_deref())
    ));
    if let Some(request) = &report.request {
        if let Some(problem) = request.get("problem").and_then(|p| p.as_str()) {
            line(format!("  problem      {}", escaped(problem)));
        }
        if let Some(scope) = request.get("scope") {
            line(format!("  scope        {}", scope_text(scope)));
        }
    }
    match &report.approved {
        Some((who, when)) => line(format!("  approved     {when} by {who}")),
        None => line("  approved     never".to_string()),
    }
    if let Some((user, when)) = &report.consented {
        line(format!("  consented    {when} by end user {user}"));
    }
    line(String::new());
    line(format!("Actions ({})", report.invocations.len()));
    for i in &report.invocations {
        let ran = match (&i.outcome, i.duration_us) {
            (Some(outcome), Some(us)) => format!("{outcome} in {:.1} ms", us as f64 / 1000.0),
            (Some(outcome), None) => outcome.clone(),
            _ => String::new(),
        };
        line(format!(
            "  {}  {:<28} {:<9} {ran}{}",
            i.time,
            i.action,
            i.decision,
            if i.covered {
                ""
            } else {
                "  [no signed checkpoint yet]"
            }
        ));
        line(format!(
            "      by {}, input sha256 {}",
            i.principal,
            or_dash(i.input_digest.as_deref())
        ));
        if let Some(reason) = &i.reason {
            line(format!("      {}", escaped(reason)));
        }
    }
    if !report.escalations.is_empty() {
        line(String::new());
        line("Escalations".to_string());
        for e in &report.escalations {
            // An approval later voided or expired is still told.
            let approved = match (&e.approved_by, e.status.as_str()) {
                (Some(by), status) if status != "approved" => {
                    format!(" (approved by {})", escaped(by))
                }
                _ => String::new(),
            };
            line(format!(
                "  {}  {} invoked by {} at {}: {}{}{}{approved}",
                escaped(&e.id),
                escaped(&e.action),
                escaped(&e.invoker),
                escaped(&e.raised),
                escaped(&e.status),
                e.decided_by
                    .as_ref()
                    .map(|b| format!(" by {}", escaped(b)))
                    .unwrap_or_default(),
                e.decided
                    .as_ref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default()
            ));
            if let Some(reason) = &e.reason {
                line(format!("      {}", escaped(reason)));
            }
        }
    }
    if !report.host_call_denials.is_empty() || !report.refusals.is_empty() {
        line(String::new());
        line("Refused".to_string());
        for (time, action, what, reason) in &report.host_call_denials {
            line(format!(
                "  {time}  host call {} by {action}: {}",
                escaped(what),
                escaped(reason)
            ));
        }
        for (time, who, reason) in &report.refusals {
            line(format!("  {time}  {}: {}", escaped(who), escaped(reason)));
        }
    }
    line(String::new());
    match &report.closed {
        Some(closed) => {
            line(format!(
                "Closed {} {}",
                closed.time,
                match &closed.by {
                    Some(by) => format!("by {}", escaped(by)),
                    None => format!("by itself ({})", escaped(&closed.how)),
                }
            ));
            line(format!(
                "  resolved     {}",
                match closed.resolved {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "not recorded",
                }
            ));
            line(format!(
                "  summary      {}",
                or_dash(closed.summary.as_deref())
            ));
            line(format!(
                "  follow-up    {}",
                or_dash(closed.follow_up.as_deref())
            ));
        }
        None => line("Not closed.".to_string()),
    }
    for flag in &report.flags {
        line(format!("! {flag}"));
    }
    if report.uncovered > 0 {
        line(format!(
            "! {} of its records come after the log's last signed checkpoint ({}): only the hash chain vouches for them (marked above) until the endpoint signs the next one",
            report.uncovered,
            match report.last_checkpoint {
                0 => "the log holds none".to_string(),
                seq => format!("record {seq}"),
            }
        ));
    }
    // Whatever else a record holds is shown, not obeyed, by the terminal.
    salve::text::escaped_lines(&out).into_owned()
}

pub fn metrics(
    log: &LogArgs,
    checkpoint_every: u64,
    since: Option<&str>,
    as_json: bool,
) -> CliResult {
    let since = since.map(parse_since).transpose().exit_with(Exit::Usage)?;
    let metrics = compute_metrics(load(log, checkpoint_every)?, since);
    if as_json {
        crate::output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(&metrics).exit_with(Exit::Failed)?
        ))?;
        return Ok(Exit::Success);
    }
    crate::output::line(format_args!("{}", header()))?;
    crate::output::line(format_args!("{}", row("overall", &metrics.overall)))?;
    for (technician, figures) in &metrics.per_technician {
        crate::output::line(format_args!("{}", row(&escaped(technician), figures)))?;
    }
    crate::output::line(format_args!(
        "\nrequests refused before reaching a session: {}",
        metrics.refused_requests
    ))?;
    Ok(Exit::Success)
}

pub fn header() -> String {
    format!(
        "{:<16} {:>8} {:>7} {:>9} {:>10} {:>10} {:>12} {:>7} {:>13} {:>11} {:>8}",
        "technician",
        "sessions",
        "closed",
        "resolved",
        "MTTR min",
        "escalated",
        "documented",
        "denied",
        "out of scope",
        "host calls",
        "refused"
    )
}

fn percent(share: Option<f64>) -> String {
    share.map_or("—".to_string(), |s| format!("{:.0}%", s * 100.0))
}

pub fn row(name: &str, f: &Figures) -> String {
    format!(
        "{:<16} {:>8} {:>7} {:>9} {:>10} {:>10} {:>12} {:>7} {:>13} {:>11} {:>8}",
        name,
        f.sessions,
        f.closed,
        f.resolved,
        f.mean_time_to_resolution_minutes
            .map_or("—".to_string(), |m| format!("{m:.1}")),
        percent(f.escalation_share),
        percent(f.documentation_completeness),
        f.denied_invocations,
        f.out_of_scope_attempts,
        f.host_call_denials,
        f.refused
    )
}
