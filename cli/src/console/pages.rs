//! The console's pages, rendered on the server with maud (every value
//! escaped unless marked otherwise, templates checked when the program is
//! built, nothing to ship beside the binary). A page holds the places its
//! script fills from the answers it signs for and checks; the queue's rows
//! are rendered here from answers the console checked.

use super::charts;
use super::records;
use maud::{DOCTYPE, Markup, html};
use salve::api::v1::EscalationView;
use salve::audit::Record;
use salve::audit::report::{Figures, Metrics, SessionReport};
use salve::session::{Session, SessionState};

/// Which page is shown, for the navigation and the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Approvals,
    Audit,
    Report,
    Sessions,
    NewSession,
    Workspace,
    Key,
    Session,
    Escalation,
    Missing,
}

impl Page {
    fn name(self) -> &'static str {
        match self {
            Page::Approvals => "approvals",
            Page::Audit => "audit",
            Page::Report => "report",
            Page::Sessions => "sessions",
            Page::NewSession => "new-session",
            Page::Workspace => "workspace",
            Page::Key => "key",
            Page::Session => "session",
            Page::Escalation => "escalation",
            Page::Missing => "missing",
        }
    }
}

/// Every page's frame: the header, the navigation, the place for the
/// person's identity, and the script.
fn layout(page: Page, title: &str, body: Markup) -> Markup {
    let current = |p: Page| (p == page).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — salve console" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body data-page=(page.name()) {
                a.skip href="#main" { "Skip to the content" }
                header {
                    a.brand href="/approvals" { "salve" }
                    nav aria-label="Main" {
                        a href="/approvals" aria-current=[current(Page::Approvals)] { "Approvals" }
                        a href="/sessions" aria-current=[current(Page::Sessions)] { "Sessions" }
                        a href="/audit" aria-current=[current(Page::Audit)] { "Audit" }
                        a href="/key" aria-current=[current(Page::Key)] { "Your key" }
                    }
                    p #who role="status" { "No key loaded" }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The page where a person loads their key.
pub fn key_page() -> Markup {
    layout(
        Page::Key,
        "Your key",
        html! {
            h1 { "Your key" }
            p {
                "Every request you make here is signed in this browser with your own key, "
                "from the file " code { "salve keygen" } " wrote. The key is kept in this browser "
                "only, where no page can read it back, and the console never sees it."
            }
            form #key-form {
                label for="key-file" { "Your key file" }
                input #key-upload type="file" aria-describedby="key-file-help";
                p #key-file-help .help {
                    "Choose the file, or paste what it holds below (the lines "
                    code { "principal" } ", " code { "private-key" } " and " code { "public-key" } ")."
                }
                textarea #key-file name="key-file" rows="5" spellcheck="false" autocomplete="off" {}
                label for="admin-key" { "The fleet admin's public key" }
                input #admin-key name="admin-key" type="text" spellcheck="false" autocomplete="off"
                    placeholder="ed25519:…" aria-describedby="admin-key-help";
                p #admin-key-help .help {
                    "The pages check every endpoint's answer against the fleet inventory this key signed: "
                    "ask your fleet admin for it, and do not take it from this console."
                }
                button #key-save type="submit" { "Keep this key in this browser" }
            }
            p #key-status role="status" {}
            button #key-forget type="button" .secondary { "Forget the key" }
        },
    )
}

/// A section per endpoint, headed by its name, with `before` at its top
/// and the place the script fills (`.queue`).
fn sections<'a>(endpoints: impl Iterator<Item = &'a str>, before: Markup) -> Markup {
    html! {
        @for endpoint in endpoints {
            section .endpoint data-endpoint=(endpoint) aria-labelledby={"ep-" (endpoint)} {
                h2 id={"ep-" (endpoint)} { "Endpoint " (endpoint) }
                (before)
                div .queue aria-live="polite" { p .muted { "Asking…" } }
            }
        }
    }
}

/// The approval queue: one section per endpoint, filled by the script.
pub fn approvals_page<'a>(endpoints: impl Iterator<Item = &'a str>) -> Markup {
    layout(
        Page::Approvals,
        "Approvals",
        html! {
            h1 { "Waiting for approval" }
            p #queue-status role="status" {}
            (sections(endpoints, html! {}))
        },
    )
}

/// The sessions the person may see, one section per endpoint, filled by
/// the script.
pub fn sessions_page<'a>(endpoints: impl Iterator<Item = &'a str>) -> Markup {
    layout(
        Page::Sessions,
        "Sessions",
        html! {
            h1 { "Sessions" }
            p { a href="/sessions/new" { "Request a session" } }
            p #queue-status role="status" {}
            (sections(endpoints, html! {}))
        },
    )
}

/// The form to request a session: the endpoint, the ticket, the problem,
/// the category, the technician and the scope (chosen by the script from
/// the endpoint's signed catalog).
pub fn new_session_page<'a>(endpoints: impl Iterator<Item = &'a str>) -> Markup {
    layout(
        Page::NewSession,
        "Request a session",
        html! {
            h1 { "Request a session" }
            form #request-form {
                label for="endpoint" { "Endpoint" }
                select #endpoint name="endpoint" {
                    @for endpoint in endpoints { option value=(endpoint) { (endpoint) } }
                }
                label for="ticket" { "Ticket" }
                input #ticket name="ticket" type="text" required autocomplete="off";
                label for="problem" { "Problem" }
                textarea #problem name="problem" rows="3" required {}
                label for="category" { "Category" }
                select #category name="category" required aria-describedby="category-help" {}
                p #category-help .help { "The categories the endpoint's policy says justify remote access." }
                label for="technician" { "Technician" }
                input #technician name="technician" type="text" required autocomplete="off" aria-describedby="technician-help";
                p #technician-help .help { "Who will work in the session (you, by default)." }
                fieldset #scope {
                    legend { "What may run" }
                    p .muted { "Asking the endpoint for its actions…" }
                }
                label .inline { input #privileged type="checkbox"; " Privileged actions may be asked for (each still needs its own approval)" }
                label .inline { input #attended type="checkbox" checked; " Attended: the end user consents at the endpoint first" }
                label for="idle" { "Closes after this many idle minutes" }
                input #idle name="idle" type="number" min="1" value="30" required;
                label for="duration" { "Closes after this many minutes in all" }
                input #duration name="duration" type="number" min="1" value="240" required;
                button #request type="submit" { "Request the session" }
            }
            p #result role="status" {}
        },
    )
}

/// A technician's workspace for one session: the session, the invoke form,
/// what ran, and the closure — all filled and signed by the script.
pub fn workspace_page(endpoint: &str, session: &str) -> Markup {
    layout(
        Page::Workspace,
        "Session",
        html! {
            h1 { "Session" }
            article #detail data-endpoint=(endpoint) data-session=(session) {
                p #verified .verified role="status" { "Checking the endpoint's answer…" }
                dl {
                    (field("id", "Session"))
                    (field("ticket", "Ticket"))
                    (field("problem", "Problem"))
                    (field("technician", "Technician"))
                    (field("state", "State"))
                    (field("approved", "Approved by"))
                    (field("expires", "Closes by itself at the latest"))
                }
                section aria-labelledby="invoke-title" {
                    h2 #invoke-title { "Invoke an action" }
                    form #invoke-form .actions-form {
                        label for="action" { "Action" }
                        select #action name="action" {}
                        label for="input" { "Input (JSON)" }
                        p #input-help .help {}
                        textarea #input name="input" rows="4" spellcheck="false" aria-describedby="input-help" { "{}" }
                        button #invoke type="submit" disabled { "Run it" }
                    }
                    p #invoke-result role="status" {}
                    pre #live .live hidden aria-live="polite" aria-label="Output as it comes" {}
                    div #run hidden {
                        h3 { "What it did" }
                        dl {
                            (field("run-outcome", "Outcome"))
                            (field("run-output", "Output"))
                            (field("run-logs", "Log"))
                            (field("run-stdout", "Standard output"))
                            (field("run-denied", "Calls refused"))
                        }
                    }
                }
                section aria-labelledby="ran-title" {
                    h2 #ran-title { "What ran in this session" }
                    ol #invocations {}
                }
                section aria-labelledby="close-title" {
                    h2 #close-title { "Close the session" }
                    form #close-form {
                        label .inline { input #resolved type="checkbox" checked; " The problem is resolved" }
                        label for="summary" { "What was done" }
                        textarea #summary name="summary" rows="3" {}
                        label for="follow-up" { "What remains to be done" }
                        textarea #follow-up name="follow-up" rows="2" {}
                        button #close type="submit" .secondary disabled { "Close the session" }
                    }
                    p #close-result role="status" {}
                }
            }
        },
    )
}

/// The auditor's page: each endpoint's audit log as the endpoint verified
/// it, and its workflow figures, filled by the script.
pub fn audit_page<'a>(endpoints: impl Iterator<Item = &'a str>) -> Markup {
    layout(
        Page::Audit,
        "Audit",
        html! {
            h1 { "Audit" }
            p #queue-status role="status" {}
            (sections(endpoints, html! {
                dl .verification {
                    dt { "Audit log" } dd data-field="verified" { "Asking the endpoint to verify it…" }
                }
            }))
        },
    )
}

/// A session's report, filled by the script.
pub fn report_page(endpoint: &str, session: &str) -> Markup {
    layout(
        Page::Report,
        "Session report",
        html! {
            h1 { "Session report" }
            article #detail data-endpoint=(endpoint) data-session=(session) {
                p #verified .verified role="status" { "Reading the endpoint's audit log…" }
                div .queue aria-live="polite" {}
            }
        },
    )
}

/// One entry of a detail list, filled by the script (`data-field`).
fn field(name: &str, label: &str) -> Markup {
    html! {
        dt { (label) }
        dd data-field=(name) {}
    }
}

/// A session request, shown from the endpoint's signed answer, with its
/// approval.
pub fn session_page(endpoint: &str, session: &str) -> Markup {
    layout(
        Page::Session,
        "Session request",
        html! {
            h1 { "Session request" }
            article #detail data-endpoint=(endpoint) data-session=(session) {
                p #verified .verified role="status" { "Checking the endpoint's answer…" }
                dl {
                    (field("id", "Session"))
                    (field("endpoint", "Endpoint"))
                    (field("ticket", "Ticket"))
                    (field("category", "Category"))
                    (field("problem", "Problem"))
                    (field("requester", "Requested by"))
                    (field("technician", "Technician"))
                    (field("scope", "May run"))
                    (field("attended", "Attended"))
                    (field("limits", "Closes by itself"))
                    (field("state", "State"))
                    (field("request-digest", "Request sha256"))
                }
                div .actions {
                    button #approve type="button" disabled { "Approve this session" }
                }
                p #result role="status" {}
            }
        },
    )
}

/// An escalation, shown from the endpoint's signed answers (the
/// escalation, the action's capabilities, the session's earlier
/// invocations), with its approval and denial.
pub fn escalation_page(endpoint: &str, escalation: &str) -> Markup {
    layout(
        Page::Escalation,
        "Escalation",
        html! {
            h1 { "Privileged invocation" }
            article #detail data-endpoint=(endpoint) data-escalation=(escalation) {
                p #verified .verified role="status" { "Checking the endpoint's answer…" }
                dl {
                    (field("id", "Escalation"))
                    (field("action", "Action"))
                    (field("digest", "Component sha256"))
                    (field("capabilities", "What it may touch"))
                    (field("input", "Exact input"))
                    (field("input-digest", "Input sha256"))
                    (field("invoker", "Raised by"))
                    (field("session", "In session"))
                    (field("raised", "Raised"))
                    (field("expires", "Approvable until"))
                    (field("status", "Status"))
                    (field("earlier", "Earlier in the session"))
                }
                div .actions {
                    button #approve type="button" disabled { "Approve exactly this" }
                    label for="deny-reason" { "Reason to deny" }
                    input #deny-reason type="text" autocomplete="off";
                    button #deny type="button" .secondary disabled { "Deny" }
                }
                p #result role="status" {}
            }
        },
    )
}

/// A page the console does not have.
pub fn missing_page() -> Markup {
    layout(
        Page::Missing,
        "Not found",
        html! {
            h1 { "No such page" }
            p { a href="/approvals" { "The approval queue" } }
        },
    )
}

/// Text from a record or an answer as it is safe to show: maud escapes
/// markup, and this writes control and bidirectional characters as
/// `\u{…}`, as the CLI shows them (older records, text an action wrote and
/// the directional marks allowed in free text could otherwise reorder what
/// a reader sees).
fn shown(text: impl AsRef<str>) -> String {
    salve::text::escaped(text.as_ref()).into_owned()
}

/// How long ago, or how long from now, `at_ms` is, in words.
fn relative(at_ms: i64, now_ms: i64) -> String {
    let seconds = (at_ms - now_ms) / 1000;
    let (amount, future) = (seconds.unsigned_abs(), seconds > 0);
    let text = match amount {
        0..60 => format!("{amount} s"),
        60..3600 => format!("{} min", amount / 60),
        3600..172_800 => format!("{} h {} min", amount / 3600, amount % 3600 / 60),
        _ => format!("{} days", amount / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// One endpoint's part of the queue: its sessions waiting for approval or
/// for the end user's consent, and its pending escalations.
pub fn queue(
    endpoint: &str,
    sessions: &[Session],
    escalations: &[EscalationView],
    now_ms: i64,
) -> Markup {
    let waiting: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.state == SessionState::Requested || awaits_consent(s))
        .collect();
    let pending: Vec<&EscalationView> = escalations
        .iter()
        .filter(|e| e.status == salve::escalation::EscalationStatus::Pending)
        .collect();
    html! {
        @if waiting.is_empty() && pending.is_empty() {
            p .muted { "Nothing waits here." }
        }
        @if !waiting.is_empty() {
            table {
                caption { "Session requests" }
                thead { tr {
                    th scope="col" { "Ticket" } th scope="col" { "Requested by" }
                    th scope="col" { "Technician" } th scope="col" { "Asked" }
                    th scope="col" { "Time left" } th scope="col" { "Waits for" }
                } }
                tbody {
                    @for session in waiting {
                        tr {
                            td data-label="Ticket" { a href={"/approvals/session/" (endpoint) "/" (session.id)} { (shown(session.request.ticket.to_string())) } }
                            td data-label="Requested by" { (session.requester) }
                            td data-label="Technician" { (session.request.technician) }
                            td data-label="Asked" { (relative(session.requested_ms, now_ms)) }
                            td data-label="Time left" { (relative(session.expires_ms, now_ms)) }
                            td data-label="Waits for" {
                                @if awaits_consent(session) { "the end user's consent, at the endpoint" }
                                @else { "an approver" }
                            }
                        }
                    }
                }
            }
        }
        @if !pending.is_empty() {
            table {
                caption { "Privileged invocations" }
                thead { tr {
                    th scope="col" { "Action" } th scope="col" { "Raised by" }
                    th scope="col" { "Session" } th scope="col" { "Raised" }
                    th scope="col" { "Time left" }
                } }
                tbody {
                    @for view in pending {
                        @let escalation = &view.escalation;
                        tr {
                            td data-label="Action" { a href={"/approvals/escalation/" (endpoint) "/" (escalation.id)} {
                                (escalation.key.action) " " (escalation.key.version)
                            } }
                            td data-label="Raised by" { (escalation.invoker) }
                            td data-label="Session" { (escalation.key.session) }
                            td data-label="Raised" { (relative(escalation.raised_ms, now_ms)) }
                            td data-label="Time left" { (relative(escalation.expires_ms, now_ms)) }
                        }
                    }
                }
            }
        }
    }
}

/// An approved attended session the end user has not consented to yet.
fn awaits_consent(session: &Session) -> bool {
    session.state == SessionState::Approved && session.request.attended && session.consent.is_none()
}

/// One endpoint's sessions, newest first, each a link to its workspace.
pub fn sessions(endpoint: &str, sessions: &[Session], now_ms: i64) -> Markup {
    let mut sessions: Vec<&Session> = sessions.iter().collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.requested_ms));
    html! {
        @if sessions.is_empty() {
            p .muted { "No session you may see." }
        } @else {
            table {
                caption { "Sessions" }
                thead { tr {
                    th scope="col" { "Ticket" } th scope="col" { "State" }
                    th scope="col" { "Technician" } th scope="col" { "Requested" }
                    th scope="col" { "Closes" }
                } }
                tbody {
                    @for session in sessions {
                        tr {
                            td data-label="Ticket" { a href={"/sessions/" (endpoint) "/" (session.id)} { (shown(session.request.ticket.to_string())) } }
                            td data-label="State" { (session.state.name()) }
                            td data-label="Technician" { (session.request.technician) }
                            td data-label="Requested" { (relative(session.requested_ms, now_ms)) }
                            td data-label="Closes" {
                                @if session.state == SessionState::Closed { "closed" }
                                @else { (relative(session.expires_ms, now_ms)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The figures of one row of the metrics tables.
fn figures_row(who: &str, f: &Figures) -> Markup {
    let share = |v: Option<f64>| v.map_or("—".to_string(), charts::percent);
    html! {
        tr {
            th scope="row" { (shown(who)) }
            td { (f.sessions) } td { (f.closed) } td { (f.resolved) }
            td { (f.mean_time_to_resolution_minutes.map_or("—".to_string(), charts::minutes)) }
            td { (share(f.escalation_share)) }
            td { (share(f.documentation_completeness)) }
            td { (f.denied_invocations) } td { (f.out_of_scope_attempts) }
            td { (f.host_call_denials) } td { (f.refused) }
        }
    }
}

/// What a technician did that was denied or refused, in one figure.
fn deviations(f: &Figures) -> u64 {
    f.denied_invocations + f.host_call_denials + f.refused
}

/// One endpoint's workflow figures (as `salve report metrics`): overall
/// and per technician as a table and as charts, the figures day by day,
/// and its sessions with their reports.
pub fn metrics(endpoint: &str, metrics: &Metrics, records: &[Record], more: bool) -> Markup {
    let technicians: Vec<(&String, &Figures)> = metrics.per_technician.iter().collect();
    let per = |value: &dyn Fn(&Figures) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        technicians
            .iter()
            .map(|(who, f)| ((*who).clone(), value(f)))
            .collect()
    };
    let days = records::by_day(records, 14);
    let daily = |value: &dyn Fn(&Figures) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        days.iter()
            .map(|(day, f)| (records::date(*day), value(f)))
            .collect()
    };
    let sessions = records::sessions(records);
    html! {
        @if more {
            p .error { "Only the first " (records.len()) " records are counted: the log holds more than a view reads." }
        }
        div .scroll { table .figures {
            caption { "Workflow figures, from " (records.len()) " records" }
            thead { tr {
                th scope="col" { "Who" } th scope="col" { "Sessions" } th scope="col" { "Closed" }
                th scope="col" { "Resolved" } th scope="col" { "Time to resolution" }
                th scope="col" { "Escalated" } th scope="col" { "Documented" }
                th scope="col" { "Denied" } th scope="col" { "Out of scope" }
                th scope="col" { "Calls refused" } th scope="col" { "Refused" }
            } }
            tbody {
                (figures_row("everyone", &metrics.overall))
                @for (who, f) in &technicians { (figures_row(who, f)) }
            }
        } }
        @if !technicians.is_empty() {
            div .charts {
                (charts::bars("Mean time to resolution", &per(&|f| f.mean_time_to_resolution_minutes), charts::minutes))
                (charts::bars("Share of sessions escalated", &per(&|f| f.escalation_share), charts::percent))
                (charts::bars("Documentation completeness", &per(&|f| f.documentation_completeness), charts::percent))
                (charts::bars("Deviations (denied, refused, calls refused)", &per(&|f| Some(deviations(f) as f64)), charts::count))
            }
        }
        @if !days.is_empty() {
            h3 { "Day by day (sessions requested that day)" }
            div .charts {
                (charts::bars("Sessions", &daily(&|f| Some(f.sessions as f64)), charts::count))
                (charts::bars("Mean time to resolution", &daily(&|f| f.mean_time_to_resolution_minutes), charts::minutes))
                (charts::bars("Share escalated", &daily(&|f| f.escalation_share), charts::percent))
                (charts::bars("Deviations", &daily(&|f| Some(deviations(f) as f64)), charts::count))
            }
        }
        @if !sessions.is_empty() {
            table {
                caption { "Sessions, newest first" }
                thead { tr { th scope="col" { "Ticket" } th scope="col" { "Technician" } th scope="col" { "Requested" } th scope="col" { "Report" } } }
                tbody {
                    @for (id, ticket, technician, time) in sessions.iter().take(50) {
                        tr {
                            td { (shown(ticket)) } td { (shown(technician)) } td { (shown(time)) }
                            td { a href={"/audit/session/" (endpoint) "/" (id)} { (id) } }
                        }
                    }
                }
            }
        }
    }
}

/// A session's report (as `salve report session`).
pub fn session_report(report: &SessionReport) -> Markup {
    let or_dash = |v: &Option<String>| v.as_deref().map_or("—".to_string(), shown);
    html! {
        @if !report.flags.is_empty() {
            ul .flags { @for flag in &report.flags { li .error { (shown(flag)) } } }
        }
        @if report.uncovered > 0 {
            p .muted { (report.uncovered) " of this session's records come after the log's last signed checkpoint (record " (report.last_checkpoint) "): vouched for by the hash chain alone until the endpoint signs the next one." }
        }
        dl {
            dt { "Session" } dd { (shown(&report.session)) }
            dt { "Ticket" } dd { (or_dash(&report.ticket)) }
            dt { "Endpoint" } dd { (or_dash(&report.endpoint)) }
            dt { "Requested by" } dd { (or_dash(&report.requester)) ", " (or_dash(&report.requested)) }
            dt { "Technician" } dd { (or_dash(&report.technician)) }
            dt { "Request" } dd { (report.request.as_ref().map_or("—".to_string(), |r| shown(r.to_string()))) }
            dt { "Approved" } dd { (report.approved.as_ref().map_or("no".to_string(), |(who, when)| shown(format!("by {who}, {when}")))) }
            dt { "Consent" } dd { (report.consented.as_ref().map_or("—".to_string(), |(who, when)| shown(format!("{who}, {when}")))) }
            dt { "Closed" } dd {
                @match &report.closed {
                    None => "not yet",
                    Some(c) => {
                        (shown(&c.time)) " (" (shown(&c.how)) (c.by.as_ref().map(|b| shown(format!(", by {b}"))).unwrap_or_default()) "); resolved: "
                        (c.resolved.map_or("not said", |r| if r { "yes" } else { "no" }))
                        "; done: " (or_dash(&c.summary)) "; remains: " (or_dash(&c.follow_up))
                    }
                }
            }
        }
        table {
            caption { "What ran, or was asked for" }
            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Decision" } th scope="col" { "Outcome" } th scope="col" { "Escalation" } th scope="col" { "Why" } } }
            tbody {
                @for line in &report.invocations {
                    tr {
                        td { (shown(&line.time)) } td { (shown(&line.principal)) } td { (shown(&line.action)) }
                        td { (shown(&line.decision)) } td { (or_dash(&line.outcome)) }
                        td { (or_dash(&line.escalation)) } td { (or_dash(&line.reason)) }
                    }
                }
            }
        }
        @if !report.escalations.is_empty() {
            table {
                caption { "Escalations" }
                thead { tr { th scope="col" { "Id" } th scope="col" { "Action" } th scope="col" { "Raised by" } th scope="col" { "Status" } th scope="col" { "Decided by" } th scope="col" { "Why" } } }
                tbody {
                    @for e in &report.escalations {
                        tr {
                            td { (shown(&e.id)) } td { (shown(&e.action)) } td { (shown(&e.invoker)) } td { (shown(&e.status)) }
                            td { (or_dash(&e.decided_by)) } td { (or_dash(&e.reason)) }
                        }
                    }
                }
            }
        }
        @if !report.host_call_denials.is_empty() {
            table {
                caption { "Calls the sandbox refused" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "What" } th scope="col" { "Why" } } }
                tbody { @for (time, action, what, why) in &report.host_call_denials { tr { td { (shown(time)) } td { (shown(action)) } td { (shown(what)) } td { (shown(why)) } } } }
            }
        }
        @if !report.refusals.is_empty() {
            table {
                caption { "Refused" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Why" } } }
                tbody { @for (time, who, why) in &report.refusals { tr { td { (shown(time)) } td { (shown(who)) } td { (shown(why)) } } } }
            }
        }
    }
}

/// A refusal shown in place of an endpoint's part of the queue.
pub fn refused(code: &str, message: &str) -> Markup {
    html! {
        p .error { (shown(message)) " (" code { (shown(code)) } ")" }
    }
}
