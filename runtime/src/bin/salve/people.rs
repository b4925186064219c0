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
use salve::session::{ActionRule, ClosureReport, EscalationId, Scope, SessionId, SessionRequest};
use serde_json::Value;
use std::time::{Duration, Instant};

fn usage<T>(result: Result<T, String>) -> Result<T, Failure> {
    result.map_err(|e| anyhow!(e)).exit_with(Exit::Usage)
}

pub fn client(args: &ClientArgs, needs_key: bool) -> Result<Client, Failure> {
    let target = match (&args.url, &args.pin) {
        (Some(url), Some(pin)) => {
            let address = url
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string();
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
        _ => Target::Unix(args.socket.clone()),
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
                "this needs your key: pass --key FILE or set SALVE_KEY"
            ))
            .exit_with(Exit::Usage);
        }
        None => None,
    };
    Ok(Client::new(target, signer))
}

/// Runs `future` on a small runtime; a refusal exits 3, anything else 1.
pub fn block<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    runtime.block_on(future).map_err(|error| {
        let exit = if error.downcast_ref::<crate::client::ApiError>().is_some() {
            Exit::Refused
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

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("—")
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
    if let Some(approver) = session.pointer("/approved/0").and_then(Value::as_str) {
        println!("  approved by {approver}");
    }
    let allowed: Vec<&str> = session
        .pointer("/request/scope/allowed")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "  scope       {}{}",
        allowed.join(", "),
        if session.pointer("/request/scope/privileged") == Some(&Value::Bool(true)) {
            " (privileged actions with a second approval)"
        } else {
            ""
        }
    );
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
    let session = block(async {
        let endpoint = match &args.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => client.health().await?["endpoint"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let technician = match &args.technician {
            Some(t) => t.parse().map_err(|e: String| anyhow!(e))?,
            None => key_principal(
                args.client
                    .key
                    .as_deref()
                    .unwrap_or(std::path::Path::new("")),
            )?,
        };
        let request = SessionRequest {
            ticket: args.ticket.parse().map_err(|e: String| anyhow!(e))?,
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
        println!(
            "\nNext: an approver runs `salve session approve {}`.",
            text(&session, "/id")
        );
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
    match operation {
        Operation::ApproveSession { .. }
        | Operation::CloseSession { .. }
        | Operation::ShowSession { .. } => print_session(&answer),
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
    println!("  component sha256 {}", text(e, "/key/digest"));
    println!("  input sha256     {}", text(e, "/key/input_digest"));
    if let Some(approver) = e.pointer("/approval/by").and_then(Value::as_str) {
        println!("  approved by {approver}");
    }
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

pub fn consent(args: &ClientArgs, id: &str) -> CliResult {
    let client = client(args, false)?;
    let session = session_id(id)?;
    let answer = block(client.consent(&session))?;
    if args.json {
        print_json(&answer)?;
    } else {
        println!(
            "You consented: session {} is {}.",
            text(&answer, "/id"),
            text(&answer, "/state")
        );
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
    let started = Instant::now();
    let answer = loop {
        let answer = block(client.operation(&operation))?;
        let waiting = answer["decision"] == "escalated"
            && wait.is_some_and(|w| started.elapsed() < Duration::from_secs(w));
        if !waiting {
            break answer;
        }
        if !args.json {
            eprintln!(
                "escalation pending: {} — waiting for a second approver…",
                text(&answer, "/escalation/id")
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    if args.json {
        print_json(&answer)?;
    }
    match answer["decision"].as_str() {
        Some("ran") => {
            let outcome = text(&answer, "/invocation/outcome/status");
            if !args.json {
                if let Some(output) = answer.pointer("/invocation/outcome/output") {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(output).unwrap_or_default()
                    );
                }
                eprintln!("{} {outcome}", text(&answer, "/invocation/action"));
            }
            Ok(if outcome == "succeeded" {
                Exit::Success
            } else {
                Exit::Failed
            })
        }
        Some("escalated") => {
            if !args.json {
                println!(
                    "escalation pending: {} — a second approver runs `salve escalation approve {}`; then invoke again (or use --wait)",
                    text(&answer, "/escalation/id"),
                    text(&answer, "/escalation/id")
                );
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
