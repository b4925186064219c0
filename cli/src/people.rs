//! The CLI for people, against the service: sessions, invocations,
//! escalations. Every request is signed with the user's key; `--json`
//! prints the service's answer as it is.

use crate::args::{ClientArgs, CloseArgs, RequestArgs};
use crate::client::{Client, Target};
use crate::exit::{CliResult, Exit, ExitWith, Failure};
use crate::identity::key_principal;
use crate::run::read_input;
use anyhow::{Context, anyhow};
use salve::endpoint::Operation;
use salve::identity::KeyPair;
use salve::manifest::ActionId;
use salve::session::{
    ActionRule, ClosureReport, EscalationId, InvocationId, Scope, SessionId, SessionRequest,
};
use salve::text::{escaped, escaped_lines};
use salve::vetting::installed::is_privileged;
use serde_json::Value;
use std::borrow::Cow;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn usage<T>(result: Result<T, String>) -> Result<T, Failure> {
    result.map_err(|e| anyhow!(e)).exit_with(Exit::Usage)
}

pub fn client(args: &ClientArgs, needs_key: bool) -> Result<Client, Failure> {
    let target = match (&args.url, &args.pin) {
        (Some(url), Some(pin)) => {
            let address = usage(tls_address(url))?;
            let pin = usage(
                pin.trim_start_matches("sha256:")
                    .parse()
                    .map_err(|e| format!("--pin: {e}")),
            )?;
            Target::Tls { address, pin }
        }
        (Some(_), None) => {
            return Err(anyhow!("--url needs --pin sha256:… (the fingerprint `salve serve` prints): the certificate is self-signed"))
                .exit_with(Exit::Usage);
        }
        (None, Some(_)) => {
            return Err(anyhow!(
                "--pin goes with --url HOST:PORT (the service over TLS); over the local socket there is no certificate to pin"
            ))
            .exit_with(Exit::Usage);
        }
        (None, None) => Target::Unix(args.socket.clone()),
    };
    let signer = match &args.key {
        Some(path) => {
            let key = KeyPair::read(path).exit_with(Exit::Usage)?;
            let principal = match &args.principal {
                Some(id) => usage(id.parse())?,
                None => key_principal(path).exit_with(Exit::Usage)?,
            };
            Some((key, principal))
        }
        None if needs_key => {
            return Err(anyhow!(
                "this needs your key: pass {} FILE or set SALVE_KEY",
                args.key_flag
            ))
            .exit_with(Exit::Usage);
        }
        None => None,
    };
    Ok(Client::new(target, signer))
}

/// `host:port` from `--url`, which may be written `https://host:port/`.
fn tls_address(url: &str) -> Result<String, String> {
    if url.starts_with("http://") {
        return Err(format!(
            "--url {url}: the service speaks only TLS: give HOST:PORT (or https://HOST:PORT)"
        ));
    }
    let address = url.trim_start_matches("https://").trim_end_matches('/');
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(address.to_string())
        }
        _ => Err(format!(
            "--url {url}: give the service's HOST:PORT, e.g. pc-0421.corp.example:8443"
        )),
    }
}

/// Runs `future` on a small runtime. Exit statuses: the service refused
/// (3), or found the request malformed (2); the service could not be
/// reached (6); anything else 1.
pub fn block<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    runtime.block_on(future).map_err(|error| {
        let exit = if let Some(api) = error.downcast_ref::<crate::client::ApiError>() {
            match (api.status, api.code.as_str()) {
                (_, "audit-corrupt") => Exit::Corrupt,
                (400 | 413, _) => Exit::Usage,
                (503, _) => Exit::Unavailable,
                (500.., _) => Exit::Failed,
                _ => Exit::Refused,
            }
        } else if error.downcast_ref::<crate::client::Unreachable>().is_some() {
            Exit::Unreachable
        } else {
            Exit::Failed
        };
        Failure { exit, error }
    })
}

fn print_json(value: &Value) -> Result<(), Failure> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).exit_with(Exit::Failed)?
    );
    Ok(())
}

/// The string at `pointer`, safe to print (see [`salve::text`]), or `—`.
fn text<'a>(value: &'a Value, pointer: &str) -> Cow<'a, str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map_or(Cow::Borrowed("—"), escaped)
}

/// The time in milliseconds at `pointer`, as UTC to the second.
fn when(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        // Past the year 9999, RFC 3339 has no way to write it (and
        // humantime would panic): not a time the service gives.
        .filter(|ms| *ms <= 253_402_300_799_999)
        .map_or("—".to_string(), |ms| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        })
}

/// JSON, pretty-printed and safe to print.
fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    escaped_lines(&text).into_owned()
}

/// The strings of the array at `pointer`, joined.
fn joined(value: &Value, pointer: &str) -> String {
    let items: Vec<Cow<'_, str>> = value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(escaped).collect())
        .unwrap_or_default();
    items.join(", ")
}

fn print_session(session: &Value) {
    println!(
        "session {}  {}",
        text(session, "/id"),
        text(session, "/state")
    );
    println!(
        "  ticket      {}  ({})",
        text(session, "/request/ticket"),
        text(session, "/request/category")
    );
    println!("  problem     {}", text(session, "/request/problem"));
    println!(
        "  requester   {}   technician {}",
        text(session, "/requester"),
        text(session, "/request/technician")
    );
    println!(
        "  requested   {}   expires {}",
        when(session, "/requested_ms"),
        when(session, "/expires_ms")
    );
    match session.pointer("/approved/0").and_then(Value::as_str) {
        Some(approver) => println!(
            "  approved    {} by {}",
            when(session, "/approved/1"),
            escaped(approver)
        ),
        None => println!("  approved    not yet"),
    }
    let attended = session.pointer("/request/attended") == Some(&Value::Bool(true));
    match session.pointer("/consent/0/name").and_then(Value::as_str) {
        Some(user) => println!(
            "  consent     {} by {} (uid {})",
            when(session, "/consent/1"),
            escaped(user),
            session
                .pointer("/consent/0/uid")
                .and_then(Value::as_u64)
                .map_or("?".to_string(), |uid| uid.to_string())
        ),
        None if attended => {
            println!("  consent     not yet: the end user gives it at the endpoint")
        }
        None => println!("  consent     not needed (unattended)"),
    }
    let prohibited = joined(session, "/request/scope/prohibited");
    println!(
        "  scope       {}{}{}",
        joined(session, "/request/scope/allowed"),
        if prohibited.is_empty() {
            String::new()
        } else {
            format!("; never {prohibited}")
        },
        if session.pointer("/request/scope/privileged") == Some(&Value::Bool(true)) {
            " (privileged actions with a second approval)"
        } else {
            ""
        }
    );
    if let Some(closure) = session.get("closure").filter(|c| !c.is_null()) {
        let by = match closure.pointer("/by/id").and_then(Value::as_str) {
            Some(who) => format!("by {}", escaped(who)),
            None => format!("by itself ({})", text(closure, "/by/kind")),
        };
        println!("  closed      {} {by}", when(closure, "/at_ms"));
        println!(
            "  resolved    {}",
            match closure.pointer("/report/resolved") {
                Some(Value::Bool(true)) => "yes",
                Some(Value::Bool(false)) => "no",
                _ => "not recorded yet: `salve session close --resolved | --unresolved`",
            }
        );
        println!("  summary     {}", text(closure, "/report/summary"));
        println!("  follow-up   {}", text(closure, "/report/follow_up"));
    }
}

/// What comes next for a session in the state `session` is in.
fn next_step(session: &Value) {
    let id = text(session, "/id");
    let attended = session.pointer("/request/attended") == Some(&Value::Bool(true));
    match session["state"].as_str() {
        Some("requested") => println!(
            "\nNext: an approver (neither requester nor technician) runs `salve session approve {id}`."
        ),
        Some("approved") if attended => {
            println!("\nNext: the end user, at the endpoint, runs `salve session consent {id}`.")
        }
        Some("active") => println!("\nNext: the technician runs `salve invoke {id} <action>`."),
        _ => {}
    }
}

pub fn request(args: &RequestArgs) -> CliResult {
    let client = client(&args.client, true)?;
    let allowed = args
        .allow
        .iter()
        .map(|a| a.parse::<ActionRule>())
        .collect::<Result<Vec<_>, _>>();
    let allowed = usage(allowed.map_err(|e| e.to_string()))?;
    let prohibited = usage(
        args.prohibit
            .iter()
            .map(|a| a.parse::<ActionId>().map_err(|e| e.to_string()))
            .collect(),
    )?;
    let ticket = usage(args.ticket.parse())?;
    let technician = match &args.technician {
        Some(t) => usage(t.parse())?,
        None => match client.principal() {
            Some(me) => me.clone(),
            None => usage(Err(
                "--technician: who will work in the session?".to_string()
            ))?,
        },
    };
    let session = block(async {
        let endpoint = match &args.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => client.health().await?["endpoint"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let request = SessionRequest {
            ticket,
            problem: args.problem.clone(),
            category: args.category.clone(),
            endpoint,
            technician,
            scope: Scope {
                allowed,
                prohibited,
                privileged: args.privileged,
            },
            attended: args.attended,
            idle_minutes: args.idle_minutes,
            duration_minutes: args.duration_minutes,
        };
        client
            .operation(&Operation::RequestSession { request })
            .await
    })?;
    if args.client.json {
        print_json(&session)?;
    } else {
        print_session(&session);
        next_step(&session);
    }
    Ok(Exit::Success)
}

fn session_id(id: &str) -> Result<SessionId, Failure> {
    usage(id.parse())
}

pub fn simple(args: &ClientArgs, operation: Operation) -> CliResult {
    let client = client(args, true)?;
    let answer = block(client.operation(&operation))?;
    if args.json {
        print_json(&answer)?;
        return Ok(Exit::Success);
    }
    let none = answer.as_array().is_some_and(Vec::is_empty);
    match operation {
        Operation::ApproveSession { .. } => {
            print_session(&answer);
            next_step(&answer);
        }
        Operation::CloseSession { .. } | Operation::ShowSession { .. } => print_session(&answer),
        Operation::ListSessions { open_only } if none => {
            println!(
                "no {}sessions you may see",
                if open_only { "open " } else { "" }
            )
        }
        Operation::ListEscalations if none => println!("no pending escalations for you"),
        Operation::ListSessions { .. } => {
            for s in answer.as_array().into_iter().flatten() {
                println!(
                    "{}  {:<10} {}  {}  {}",
                    text(s, "/id"),
                    text(s, "/state"),
                    text(s, "/request/ticket"),
                    text(s, "/request/technician"),
                    text(s, "/request/problem")
                );
            }
        }
        Operation::ListEscalations => {
            for e in answer.as_array().into_iter().flatten() {
                print_escalation(e);
            }
        }
        _ => print_escalation(&answer),
    }
    Ok(Exit::Success)
}

fn print_escalation(e: &Value) {
    println!(
        "escalation {}  {}@{} in session {} by {}",
        text(e, "/id"),
        text(e, "/key/action"),
        text(e, "/key/version"),
        text(e, "/key/session"),
        text(e, "/invoker")
    );
    println!("  status           {}", text(e, "/status"));
    println!("  raised           {}", when(e, "/raised_ms"));
    if e["status"] == "pending" {
        println!("  approvable until {}", when(e, "/expires_ms"));
    }
    println!("  component sha256 {}", text(e, "/key/digest"));
    println!("  input sha256     {}", text(e, "/key/input_digest"));
    match e["input"].as_str() {
        Some(input) => println!("  input            {}", escaped(input)),
        None => println!("  input            (not kept: raised before inputs were stored)"),
    }
    if let Some(approver) = e.pointer("/approval/by").and_then(Value::as_str) {
        println!(
            "  approved         {} by {}",
            when(e, "/approval/at_ms"),
            escaped(approver)
        );
    }
    if e.pointer("/state/state").and_then(Value::as_str) == Some("denied") {
        println!(
            "  denied           {} by {}: {}",
            when(e, "/state/at_ms"),
            text(e, "/state/by"),
            text(e, "/state/reason")
        );
    }
}

/// `salve actions`: the actions the service has installed, and the
/// capabilities each declares.
pub fn actions(args: &ClientArgs) -> CliResult {
    let client = client(args, true)?;
    let answer = block(client.operation(&Operation::ListCatalog))?;
    if args.json {
        print_json(&answer)?;
        return Ok(Exit::Success);
    }
    let actions = answer.as_array().map(Vec::as_slice).unwrap_or_default();
    if actions.is_empty() {
        println!("no actions are installed on the endpoint");
    }
    for action in actions {
        println!(
            "{}@{}  {}",
            text(action, "/id"),
            text(action, "/version"),
            text(action, "/description")
        );
        println!("  sha256 {}", text(action, "/digest"));
        for capability in action["capabilities"].as_array().into_iter().flatten() {
            let class = text(capability, "/class");
            let parameters = joined(capability, "/parameters");
            println!(
                "  {}{} ({class}){}",
                if is_privileged(&class) { "! " } else { "  " },
                text(capability, "/name"),
                if parameters.is_empty() {
                    String::new()
                } else {
                    format!(": {parameters}")
                }
            );
        }
    }
    Ok(Exit::Success)
}

pub fn approve_session(args: &ClientArgs, id: &str) -> CliResult {
    simple(
        args,
        Operation::ApproveSession {
            session: session_id(id)?,
        },
    )
}

pub fn show_session(args: &ClientArgs, id: &str) -> CliResult {
    simple(
        args,
        Operation::ShowSession {
            session: session_id(id)?,
        },
    )
}

pub fn list_sessions(args: &ClientArgs, open_only: bool) -> CliResult {
    simple(args, Operation::ListSessions { open_only })
}

pub fn close(args: &CloseArgs) -> CliResult {
    let resolved = match (args.resolved, args.unresolved) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let report = ClosureReport {
        resolved,
        summary: args.summary.clone(),
        follow_up: args.follow_up.clone(),
    };
    simple(
        &args.client,
        Operation::CloseSession {
            session: session_id(&args.id)?,
            report,
        },
    )
}

/// Shows the end user the session they are asked to consent to, asks them
/// (or takes `--yes`), then consents.
pub fn consent(args: &ClientArgs, id: &str, yes: bool) -> CliResult {
    let client = client(args, false)?;
    let session = session_id(id)?;
    if !yes && args.json {
        return Err(anyhow!(
            "with --json, consent with --yes: the session is shown, and you are asked, only without --json"
        ))
        .exit_with(Exit::Usage);
    }
    if !yes {
        let asked = block(client.consent(&session, true))?;
        println!("You are asked to let this remote work happen on this computer:\n");
        print_session(&asked);
        if !std::io::stdin().is_terminal() {
            return Err(anyhow!(
                "to consent, run this again with --yes (or at a terminal, to be asked)"
            ))
            .exit_with(Exit::Usage);
        }
        print!("\nDo you consent? [y/N] ");
        std::io::Write::flush(&mut std::io::stdout()).exit_with(Exit::Failed)?;
        let mut reply = String::new();
        std::io::stdin()
            .read_line(&mut reply)
            .exit_with(Exit::Failed)?;
        if !matches!(reply.trim(), "y" | "Y" | "yes" | "Yes") {
            println!("You did not consent: nothing runs in session {id}.");
            return Ok(Exit::Refused);
        }
    }
    let answer = block(client.consent(&session, false))?;
    if args.json {
        print_json(&answer)?;
    } else {
        println!(
            "You consented to session {}: it is {} now.\n",
            text(&answer, "/id"),
            text(&answer, "/state")
        );
        print_session(&answer);
    }
    Ok(Exit::Success)
}

pub fn escalation(args: &ClientArgs, operation: Operation) -> CliResult {
    simple(args, operation)
}

pub fn escalation_id(id: &str) -> Result<EscalationId, Failure> {
    usage(id.parse())
}

pub fn invoke(
    args: &ClientArgs,
    session: &str,
    action: &str,
    input: &str,
    wait: Option<u64>,
    follow: bool,
) -> CliResult {
    let client = client(args, true)?;
    let input: Value = serde_json::from_str(&read_input(input).exit_with(Exit::Usage)?)
        .context("--input is not JSON")
        .exit_with(Exit::Usage)?;
    let operation = Operation::Invoke {
        session: session_id(session)?,
        action: usage(action.parse())?,
        input,
    };
    let json = args.json;
    let answer = block(async {
        let answer = send_invoke(&client, &operation, follow, json).await?;
        let Some(seconds) = wait else {
            return Ok(answer);
        };
        if answer["decision"] != "escalated" {
            return Ok(answer);
        }
        let id: EscalationId = text(&answer, "/escalation/id")
            .parse()
            .map_err(|e: String| anyhow!(e))?;
        if !json {
            eprintln!(
                "escalation pending: {id} — waiting up to {seconds} s for a second approver…"
            );
        }
        let decided = wait_for_decision(&client, &id, Duration::from_secs(seconds)).await?;
        match decided["status"].as_str() {
            // Approved, it runs; denied, the service answers the same
            // invocation with the denial itself (`escalation-denied`).
            Some("approved" | "denied") => send_invoke(&client, &operation, follow, json).await,
            _ => Ok(serde_json::json!({ "decision": "escalated", "escalation": decided })),
        }
    })?;
    if args.json {
        print_json(&answer)?;
    }
    match answer["decision"].as_str() {
        Some("ran") => {
            let outcome = text(&answer, "/invocation/outcome/status");
            if !args.json {
                if !follow {
                    print_captured(&answer["invocation"]);
                }
                if let Some(output) = answer.pointer("/invocation/outcome/output") {
                    println!("{}", pretty(output));
                }
                let message = answer
                    .pointer("/invocation/outcome/message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {}", escaped(m)))
                    .unwrap_or_default();
                eprintln!(
                    "{} {outcome}{message} (invocation {})",
                    text(&answer, "/invocation/action"),
                    text(&answer, "/id")
                );
            }
            Ok(if outcome == "succeeded" {
                Exit::Success
            } else {
                Exit::Failed
            })
        }
        Some("escalated") => {
            if !args.json {
                let escalation = &answer["escalation"];
                let id = text(escalation, "/id");
                match escalation["status"].as_str() {
                    Some("denied") => println!(
                        "escalation {id} was denied by {}: {} — the action did not run",
                        text(escalation, "/state/by"),
                        text(escalation, "/state/reason")
                    ),
                    Some(status) if status != "pending" => println!(
                        "escalation {id} is {}: the action did not run",
                        escaped(status)
                    ),
                    _ => match wait {
                        Some(seconds) => println!(
                            "escalation {id} is still pending: no approver decided within {seconds} s. Once a second approver runs `salve escalation approve {id}`, invoke again"
                        ),
                        None => println!(
                            "escalation pending: {id} — a second approver runs `salve escalation approve {id}`; then invoke again (or use --wait)"
                        ),
                    },
                }
            }
            Ok(Exit::Refused)
        }
        _ => {
            if !args.json {
                eprintln!(
                    "denied ({}): {}",
                    text(&answer, "/denial/code"),
                    text(&answer, "/reason")
                );
            }
            Ok(Exit::Refused)
        }
    }
}

/// Sends the invocation: streamed (its output printed as it comes) with
/// `follow`, else in one answer.
async fn send_invoke(
    client: &Client,
    operation: &Operation,
    follow: bool,
    json: bool,
) -> anyhow::Result<Value> {
    if !follow {
        return client.operation(operation).await;
    }
    let last = client
        .stream(operation, |event| {
            if !json {
                print_event(event);
            }
        })
        .await?;
    Ok(last.get("result").cloned().unwrap_or(last))
}

/// Asks how the escalation stands every two seconds until it is no longer
/// pending or `patience` has passed; its last state.
async fn wait_for_decision(
    client: &Client,
    id: &EscalationId,
    patience: Duration,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let escalation = client
            .operation(&Operation::ShowEscalation {
                escalation: id.clone(),
            })
            .await?;
        if escalation["status"] != "pending" || started.elapsed() >= patience {
            return Ok(escalation);
        }
        tokio::time::sleep(Duration::from_secs(2).min(patience.saturating_sub(started.elapsed())))
            .await;
    }
}

/// One line of a followed invocation, as it happens: log messages and
/// stderr on stderr, stdout on stdout.
fn print_event(event: &Value) {
    match event["event"].as_str() {
        Some("started") => eprintln!(
            "invocation {} of {} started",
            text(event, "/invocation/id"),
            text(event, "/invocation/action")
        ),
        Some("log") => eprintln!("[{}] {}", text(event, "/level"), text(event, "/message")),
        Some("stdout") => print!("{}", lines(event, "/text")),
        Some("stderr") => eprint!("{}", lines(event, "/text")),
        Some("lagged") => eprintln!("{}", text(event, "/message")),
        _ => {}
    }
}

/// What an action wrote (at `pointer`), its lines kept, anything else that
/// could drive the terminal escaped.
fn lines<'a>(value: &'a Value, pointer: &str) -> Cow<'a, str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map_or(Cow::Borrowed(""), escaped_lines)
}

/// What a finished invocation logged and wrote, as `print_event` shows it live.
fn print_captured(invocation: &Value) {
    for entry in invocation["logs"].as_array().into_iter().flatten() {
        eprintln!("[{}] {}", text(entry, "/level"), text(entry, "/message"));
    }
    print!("{}", lines(invocation, "/stdout"));
    eprint!("{}", lines(invocation, "/stderr"));
}

/// How an invocation stands: its outcome once it has one, else its status.
fn outcome(record: &Value) -> Cow<'_, str> {
    match record.pointer("/invocation/outcome/status") {
        Some(Value::String(outcome)) => escaped(outcome),
        _ => text(record, "/status"),
    }
}

fn invocation_id(id: &str) -> Result<InvocationId, Failure> {
    usage(id.parse())
}

pub fn list_invocations(args: &ClientArgs, session: &str) -> CliResult {
    let client = client(args, true)?;
    let operation = Operation::ListInvocations {
        session: session_id(session)?,
    };
    let answer = block(client.operation(&operation))?;
    if args.json {
        print_json(&answer)?;
        return Ok(Exit::Success);
    }
    print_invocation_rows(&answer, session);
    Ok(Exit::Success)
}

/// One line for each invocation in `records` (a JSON array), or a line
/// saying `session` had none.
fn print_invocation_rows(records: &Value, session: &str) {
    let records = records.as_array().map(Vec::as_slice).unwrap_or_default();
    if records.is_empty() {
        println!("no invocations in session {session}");
    }
    for record in records {
        println!(
            "{}  {}  {:<24} {:<10} {:>10}  by {}",
            text(record, "/id"),
            when(record, "/started_ms"),
            text(record, "/action"),
            outcome(record),
            record
                .pointer("/invocation/duration_us")
                .and_then(Value::as_u64)
                .map_or("—".to_string(), |us| format!(
                    "{:.1} ms",
                    us as f64 / 1000.0
                )),
            text(record, "/principal"),
        );
    }
}

/// `salve session activity`: what ran in a session the end user consented
/// to, over the local socket.
pub fn activity(args: &ClientArgs, id: &str) -> CliResult {
    let client = client(args, false)?;
    let session = session_id(id)?;
    let answer = block(client.activity(&session))?;
    if args.json {
        print_json(&answer)?;
        return Ok(Exit::Success);
    }
    print_session(&answer["session"]);
    println!();
    print_invocation_rows(&answer["invocations"], id);
    Ok(Exit::Success)
}

pub fn show_invocation(args: &ClientArgs, id: &str) -> CliResult {
    let client = client(args, true)?;
    let operation = Operation::ShowInvocation {
        invocation: invocation_id(id)?,
    };
    let record = block(client.operation(&operation))?;
    if args.json {
        print_json(&record)?;
        return Ok(Exit::Success);
    }
    print_invocation(&record);
    Ok(Exit::Success)
}

fn print_invocation(record: &Value) {
    let invocation = &record["invocation"];
    println!(
        "invocation {}  {}  {}",
        text(record, "/id"),
        text(record, "/action"),
        outcome(record)
    );
    println!(
        "  session     {}   by {}",
        text(record, "/session"),
        text(record, "/principal")
    );
    println!("  input       {}", text(record, "/input_digest"));
    if let Some(approval) = record["approval"].as_str() {
        println!("  approved by escalation {approval}");
    }
    if let Some(us) = invocation["duration_us"].as_u64() {
        println!("  duration    {:.1} ms", us as f64 / 1000.0);
    }
    if let Some(reason) = record["reason"].as_str().or_else(|| {
        invocation
            .pointer("/outcome/message")
            .and_then(Value::as_str)
    }) {
        println!("  reason      {}", escaped(reason));
    }
    for call in invocation["denied_calls"].as_array().into_iter().flatten() {
        println!(
            "  refused     {} {} {}: {}",
            text(call, "/capability"),
            text(call, "/function"),
            text(call, "/target"),
            text(call, "/reason")
        );
    }
    print_captured(invocation);
    if let Some(output) = invocation.pointer("/outcome/output") {
        println!("{}", pretty(output));
    }
}

pub fn follow_invocation(args: &ClientArgs, id: &str) -> CliResult {
    let client = client(args, true)?;
    let operation = Operation::FollowInvocation {
        invocation: invocation_id(id)?,
    };
    let json = args.json;
    let last = block(client.stream(&operation, |event| {
        if json {
            println!("{event}");
        } else {
            print_event(event);
        }
    }))?;
    let record = last.get("result").cloned().unwrap_or(last);
    let outcome = outcome(&record);
    if !json {
        eprintln!("{} {outcome}", text(&record, "/action"));
    }
    // As `salve invoke` would have exited for it.
    Ok(if outcome == "succeeded" {
        Exit::Success
    } else {
        Exit::Failed
    })
}
