//! The CLI for people, against the service: sessions, invocations,
//! escalations. Every request is signed with the user's key; `--json`
//! prints the service's answer as it is.

use crate::args::{ClientArgs, CloseArgs, FleetArgs, RequestArgs};
use crate::client::Answered;
use crate::client::{Broker, Client, FleetTarget, Target};
use crate::exit::{CliResult, Exit, ExitWith, Failure};
use crate::identity::key_principal;
use crate::run::read_input;
use anyhow::{Context, anyhow};
use salve::api::v1::{
    Activity, CatalogEntry, EscalationView, InvokeAnswer, Operation, StreamEvent,
};
use salve::capability::CapabilityClass;
use salve::escalation::{EscalationState, EscalationStatus};
use salve::identity::KeyPair;
use salve::manifest::ActionId;
use salve::outcome::{Invocation, InvocationRecord};
use salve::session::{
    ActionRule, ClosedBy, ClosureReport, EscalationId, InvocationId, Scope, Session, SessionId,
    SessionRequest, SessionState, UnixMillis,
};
use salve::text::{escaped, escaped_lines};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn usage<T>(result: Result<T, String>) -> Result<T, Failure> {
    result.map_err(|e| anyhow!(e)).exit_with(Exit::Usage)
}

pub fn client(args: &ClientArgs, needs_key: bool) -> Result<Client, Failure> {
    let target = match (&args.url, &args.pin) {
        _ if args.fleet.fleet.is_some() => {
            if args.url.is_some() || args.pin.is_some() {
                return Err(anyhow!(
                    "--fleet reaches the endpoint through the broker; --url and --pin reach it directly: give one or the other"
                ))
                .exit_with(Exit::Usage);
            }
            Target::Fleet(Box::new(fleet_target(&args.fleet)?))
        }
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
    if let (Target::Fleet(fleet), Some(name)) = (&target, &args.endpoint) {
        // An endpoint whose answers cannot be checked is not asked.
        fleet.inventory.key_of(name).exit_with(Exit::Usage)?;
    }
    let fleet = matches!(target, Target::Fleet(_));
    let client = Client::new(target, signer);
    Ok(match &args.endpoint {
        Some(name) => client.for_endpoint(name.clone()),
        None if fleet => {
            return Err(anyhow!(
                "--fleet needs --endpoint NAME (or SALVE_ENDPOINT): which endpoint of the fleet to ask"
            ))
            .exit_with(Exit::Usage);
        }
        None => client,
    })
}

/// The broker to connect to and the inventory to check answers against,
/// from `--fleet` and the options beside it.
pub fn fleet_target(args: &FleetArgs) -> Result<FleetTarget, Failure> {
    let broker = broker(args)?;
    let inventory = inventory(
        args,
        "--fleet needs --inventory FILE and --fleet-admin-key ed25519:… (or SALVE_INVENTORY, SALVE_FLEET_ADMIN_KEY): answers through the broker are checked against the endpoints' keys the fleet admin signed",
    )?;
    Ok(FleetTarget::new(broker, inventory))
}

/// The fleet inventory `--inventory` names, checked against
/// `--fleet-admin-key`; `missing` says why both are needed when one is not
/// given.
pub fn inventory(args: &FleetArgs, missing: &str) -> Result<salve::fleet::Inventory, Failure> {
    let (Some(inventory), Some(admin)) = (&args.inventory, &args.fleet_admin_key) else {
        return Err(anyhow!("{missing}")).exit_with(Exit::Usage);
    };
    let admin: salve::identity::PublicKey =
        usage(admin.parse().map_err(|e| format!("--fleet-admin-key: {e}")))?;
    salve::fleet::Inventory::load(inventory, &[admin]).exit_with(Exit::Usage)
}

/// How to reach the broker, from `--fleet` and the login beside it.
pub fn broker(args: &FleetArgs) -> Result<Broker, Failure> {
    let servers = args.fleet.clone().unwrap_or_default();
    let login = match (&args.fleet_user, &args.fleet_password_file) {
        (Some(user), Some(file)) => {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("--fleet-password-file {}", file.display()))
                .exit_with(Exit::Usage)?;
            Some((
                user.clone(),
                password.trim_end_matches(['\n', '\r']).to_string(),
            ))
        }
        (None, None) => None,
        _ => {
            return Err(anyhow!(
                "--fleet-user and --fleet-password-file go together: the broker user and the file holding its password"
            ))
            .exit_with(Exit::Usage);
        }
    };
    Ok(Broker {
        servers,
        login,
        ca: args.fleet_ca.clone(),
    })
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

/// The command's async runtime: one for the whole process, so that what a
/// call leaves open for the next (the connection to the fleet's broker)
/// stays alive between them.
fn runtime() -> Result<&'static tokio::runtime::Runtime, Failure> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let made = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .exit_with(Exit::Failed)?;
    Ok(RUNTIME.get_or_init(|| made))
}

/// Runs `future` on the command's runtime. Exit statuses: the service refused
/// (3), or found the request malformed (2); the service could not be
/// reached (6); anything else 1.
pub fn block<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    runtime()?.block_on(future).map_err(|error| {
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

fn print_json(answer: &Answered) -> Result<(), Failure> {
    println!("{}", answer.pretty().exit_with(Exit::Failed)?);
    Ok(())
}

/// `answer` read as its type in the contract.
fn read<T: serde::de::DeserializeOwned>(answer: &Answered) -> Result<T, Failure> {
    answer.read().exit_with(Exit::Failed)
}

/// Optional text, safe to print (see [`salve::text`]), or `—`.
fn text(value: Option<&str>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed("—"), escaped)
}

/// A time in milliseconds, as UTC to the second.
pub fn when(ms: UnixMillis) -> String {
    match u64::try_from(ms) {
        // Past the year 9999, RFC 3339 has no way to write it (and
        // humantime would panic): not a time the service gives.
        Ok(ms) if ms <= 253_402_300_799_999 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        _ => "—".to_string(),
    }
}

/// JSON, pretty-printed and safe to print.
fn pretty(value: &RawValue) -> String {
    let text = serde_json::from_str::<serde_json::Value>(value.get())
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default();
    escaped_lines(&text).into_owned()
}

/// Items, each escaped, joined.
fn joined<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|item| escaped(&item.to_string()).into_owned())
        .collect();
    items.join(", ")
}

fn print_session(session: &Session) {
    let request = &session.request;
    println!("session {}  {}", session.id, session.state);
    println!(
        "  ticket      {}  ({})",
        escaped(&request.ticket.to_string()),
        escaped(&request.category)
    );
    println!("  problem     {}", escaped(&request.problem));
    println!(
        "  requester   {}   technician {}",
        escaped(session.requester.as_str()),
        escaped(request.technician.as_str())
    );
    println!(
        "  requested   {}   expires {}",
        when(session.requested_ms),
        when(session.expires_ms)
    );
    match &session.approved {
        Some((approver, at)) => println!(
            "  approved    {} by {}",
            when(*at),
            escaped(approver.as_str())
        ),
        None => println!("  approved    not yet"),
    }
    match &session.consent {
        Some((user, at)) => println!(
            "  consent     {} by {} (uid {})",
            when(*at),
            escaped(&user.name),
            user.uid
        ),
        None if request.attended => {
            println!("  consent     not yet: the end user gives it at the endpoint")
        }
        None => println!("  consent     not needed (unattended)"),
    }
    let prohibited = joined(&request.scope.prohibited);
    println!(
        "  scope       {}{}{}",
        joined(&request.scope.allowed),
        if prohibited.is_empty() {
            String::new()
        } else {
            format!("; never {prohibited}")
        },
        if request.scope.privileged {
            " (privileged actions with a second approval)"
        } else {
            ""
        }
    );
    if let Some(closure) = &session.closure {
        let by = match &closure.by {
            ClosedBy::Principal { id } => format!("by {}", escaped(id.as_str())),
            ClosedBy::IdleTimeout => "by itself (idle-timeout)".to_string(),
            ClosedBy::Expiry => "by itself (expiry)".to_string(),
        };
        println!("  closed      {} {by}", when(closure.at_ms));
        println!(
            "  resolved    {}",
            match closure.report.resolved {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not recorded yet: `salve session close --resolved | --unresolved`",
            }
        );
        println!("  summary     {}", text(closure.report.summary.as_deref()));
        println!(
            "  follow-up   {}",
            text(closure.report.follow_up.as_deref())
        );
    }
}

/// What comes next for a session in the state `session` is in.
fn next_step(session: &Session) {
    let id = &session.id;
    match session.state {
        SessionState::Requested => println!(
            "\nNext: an approver (neither requester nor technician) runs `salve session approve {id}`."
        ),
        SessionState::Approved if session.request.attended => {
            println!("\nNext: the end user, at the endpoint, runs `salve session consent {id}`.")
        }
        SessionState::Active => {
            println!("\nNext: the technician runs `salve invoke {id} <action>`.")
        }
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
        let endpoint = match &args.client.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => client.health().await?.endpoint,
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
        let session = read(&session)?;
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
    match operation {
        Operation::ApproveSession { .. } => {
            let session = read(&answer)?;
            print_session(&session);
            next_step(&session);
        }
        Operation::CloseSession { .. } | Operation::ShowSession { .. } => {
            print_session(&read(&answer)?)
        }
        Operation::ListSessions { open_only } => {
            let sessions: Vec<Session> = read(&answer)?;
            if sessions.is_empty() {
                println!(
                    "no {}sessions you may see",
                    if open_only { "open " } else { "" }
                )
            }
            for s in &sessions {
                println!(
                    "{}  {:<10} {}  {}  {}",
                    s.id,
                    s.state.name(),
                    escaped(&s.request.ticket.to_string()),
                    escaped(s.request.technician.as_str()),
                    escaped(&s.request.problem)
                );
            }
        }
        Operation::ListEscalations {} => {
            let escalations: Vec<EscalationView> = read(&answer)?;
            if escalations.is_empty() {
                println!("no pending escalations for you");
            }
            for e in &escalations {
                print_escalation(e);
            }
        }
        _ => print_escalation(&read(&answer)?),
    }
    Ok(Exit::Success)
}

fn print_escalation(view: &EscalationView) {
    let e = &view.escalation;
    println!(
        "escalation {}  {}@{} in session {} by {}",
        e.id,
        e.key.action,
        e.key.version,
        e.key.session,
        escaped(e.invoker.as_str())
    );
    println!("  status           {}", view.status);
    println!("  raised           {}", when(e.raised_ms));
    if view.status == EscalationStatus::Pending {
        println!("  approvable until {}", when(e.expires_ms));
    }
    println!("  component sha256 {}", e.key.digest);
    println!("  input sha256     {}", e.key.input_digest);
    match &e.input {
        Some(input) => println!("  input            {}", escaped(input)),
        None => println!("  input            (not kept: raised before inputs were stored)"),
    }
    if let Some(approval) = &e.approval {
        println!(
            "  approved         {} by {}",
            when(approval.at_ms),
            escaped(approval.by.as_str())
        );
    }
    if let EscalationState::Denied { by, at_ms, reason } = &e.state {
        println!(
            "  denied           {} by {}: {}",
            when(*at_ms),
            escaped(by.as_str()),
            escaped(reason)
        );
    }
}

/// `salve actions`: the actions the service has installed, and the
/// capabilities each declares.
pub fn actions(args: &ClientArgs) -> CliResult {
    let client = client(args, true)?;
    let answer = block(client.operation(&Operation::ListCatalog {}))?;
    if args.json {
        print_json(&answer)?;
        return Ok(Exit::Success);
    }
    let actions: Vec<CatalogEntry> = read(&answer)?;
    if actions.is_empty() {
        println!("no actions are installed on the endpoint");
    }
    for action in &actions {
        println!(
            "{}@{}  {}",
            action.id,
            action.version,
            escaped(&action.description)
        );
        println!("  sha256 {}", action.digest);
        for capability in &action.capabilities {
            let class = capability.class;
            let parameters = joined(&capability.parameters);
            println!(
                "  {}{} ({class}){}",
                if class == CapabilityClass::Privileged {
                    "! "
                } else {
                    "  "
                },
                capability.name.name(),
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

/// Approves a session as this command shows it: the session is read first
/// (over the fleet, from an answer the endpoint signed), and the approval
/// carries the digest of the request read, so that the endpoint approves
/// that request or nothing (`approval-mismatch`).
pub fn approve_session(args: &ClientArgs, id: &str) -> CliResult {
    let session = session_id(id)?;
    let client = client(args, true)?;
    let shown: Session = block(client.ask(&Operation::ShowSession {
        session: session.clone(),
    }))?;
    let operation = Operation::ApproveSession {
        session,
        request_digest: shown.request.digest(),
    };
    simple(args, operation)
}

/// Approves an escalation as this command shows it: the exact component
/// and input read first, their digests carried by the approval.
pub fn approve_escalation(args: &ClientArgs, id: &str) -> CliResult {
    let escalation = escalation_id(id)?;
    let client = client(args, true)?;
    let shown: EscalationView = block(client.ask(&Operation::ShowEscalation {
        escalation: escalation.clone(),
    }))?;
    let operation = Operation::ApproveEscalation {
        escalation,
        action_digest: shown.escalation.key.digest,
        input_digest: shown.escalation.key.input_digest,
    };
    simple(args, operation)
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
        print_session(&read(&asked)?);
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
        let session: Session = read(&answer)?;
        println!(
            "You consented to session {}: it is {} now.\n",
            session.id, session.state
        );
        print_session(&session);
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
    let input: serde_json::Value = serde_json::from_str(&read_input(input).exit_with(Exit::Usage)?)
        .context("--input is not JSON")
        .exit_with(Exit::Usage)?;
    let operation = Operation::Invoke {
        session: session_id(session)?,
        action: usage(action.parse())?,
        input,
    };
    let json = args.json;
    let invoked = block(async {
        let answered = send_invoke(&client, &operation, follow, json).await?;
        let answer: InvokeAnswer = answered.read()?;
        let Some(seconds) = wait else {
            return Ok(Invoked::Answered(answered, answer));
        };
        let InvokeAnswer::Escalated { escalation, .. } = &answer else {
            return Ok(Invoked::Answered(answered, answer));
        };
        let id = escalation.id.clone();
        if !json {
            eprintln!(
                "escalation pending: {id} — waiting up to {seconds} s for a second approver…"
            );
        }
        let decided = wait_for_decision(&client, &id, Duration::from_secs(seconds)).await?;
        match decided.status {
            // Approved, it runs; denied, the service answers the same
            // invocation with the denial itself (`escalation-denied`).
            EscalationStatus::Approved | EscalationStatus::Denied => {
                let answered = send_invoke(&client, &operation, follow, json).await?;
                let answer = answered.read()?;
                Ok(Invoked::Answered(answered, answer))
            }
            _ => Ok(Invoked::StillHeld(decided)),
        }
    })?;
    if args.json {
        match &invoked {
            Invoked::Answered(answered, _) => print_json(answered)?,
            Invoked::StillHeld(escalation) => {
                let held = StillHeld {
                    decision: "escalated",
                    escalation,
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&held).exit_with(Exit::Failed)?
                );
            }
        }
        return Ok(exit_of(&invoked));
    }
    match &invoked {
        Invoked::Answered(_, InvokeAnswer::Ran { id, invocation, .. }) => {
            if !follow {
                print_captured(invocation);
            }
            if let Some(output) = invocation.outcome.output() {
                println!("{}", pretty(output));
            }
            let message = match &invocation.outcome {
                salve::Outcome::Failed { message, .. }
                | salve::Outcome::Stopped { message, .. } => {
                    format!(": {}", escaped(message))
                }
                salve::Outcome::Succeeded { .. } => String::new(),
            };
            eprintln!(
                "{} {}{message} (invocation {id})",
                escaped(&invocation.action),
                invocation.outcome.code(),
            );
        }
        Invoked::Answered(_, InvokeAnswer::Escalated { escalation, .. }) => {
            let id = &escalation.id;
            match wait {
                Some(seconds) => println!(
                    "escalation {id} is still pending: no approver decided within {seconds} s. Once a second approver runs `salve escalation approve {id}`, invoke again"
                ),
                None => println!(
                    "escalation pending: {id} — a second approver runs `salve escalation approve {id}`; then invoke again (or use --wait)"
                ),
            }
        }
        Invoked::StillHeld(view) => {
            let id = &view.escalation.id;
            match (&view.escalation.state, view.status) {
                (EscalationState::Denied { by, reason, .. }, _) => println!(
                    "escalation {id} was denied by {}: {} — the action did not run",
                    escaped(by.as_str()),
                    escaped(reason)
                ),
                (_, EscalationStatus::Pending) => println!(
                    "escalation {id} is still pending: no approver decided within {} s. Once a second approver runs `salve escalation approve {id}`, invoke again",
                    wait.unwrap_or_default()
                ),
                (_, status) => println!("escalation {id} is {status}: the action did not run"),
            }
        }
        Invoked::Answered(_, InvokeAnswer::Denied { denial, reason }) => {
            eprintln!("denied ({}): {}", escaped(&denial.code), escaped(reason));
        }
    }
    Ok(exit_of(&invoked))
}

/// What `salve invoke` came to: the service's answer, or an escalation
/// still held when `--wait` ran out (or ended otherwise than approved or
/// denied).
enum Invoked {
    Answered(Answered, InvokeAnswer),
    StillHeld(EscalationView),
}

/// How `--json` prints an escalation still held after `--wait`: as the
/// service answers a held invocation, with where the escalation stands.
#[derive(Serialize)]
struct StillHeld<'a> {
    decision: &'static str,
    escalation: &'a EscalationView,
}

/// The exit status of an invocation: 0 only when it ran and succeeded.
fn exit_of(invoked: &Invoked) -> Exit {
    match invoked {
        Invoked::Answered(_, InvokeAnswer::Ran { invocation, .. }) => {
            if invocation.outcome.succeeded() {
                Exit::Success
            } else {
                Exit::Failed
            }
        }
        _ => Exit::Refused,
    }
}

/// Sends the invocation: streamed (its output printed as it comes) with
/// `follow`, else in one answer.
async fn send_invoke(
    client: &Client,
    operation: &Operation,
    follow: bool,
    json: bool,
) -> anyhow::Result<Answered> {
    if !follow {
        return client.operation(operation).await;
    }
    client
        .stream(operation, |event| {
            if !json {
                print_event(event);
            }
        })
        .await
}

/// Asks how the escalation stands every two seconds until it is no longer
/// pending or `patience` has passed; its last state.
async fn wait_for_decision(
    client: &Client,
    id: &EscalationId,
    patience: Duration,
) -> anyhow::Result<EscalationView> {
    let started = Instant::now();
    loop {
        let escalation: EscalationView = client
            .ask(&Operation::ShowEscalation {
                escalation: id.clone(),
            })
            .await?;
        if escalation.status != EscalationStatus::Pending || started.elapsed() >= patience {
            return Ok(escalation);
        }
        tokio::time::sleep(Duration::from_secs(2).min(patience.saturating_sub(started.elapsed())))
            .await;
    }
}

/// One line of a followed invocation, as it happens: log messages and
/// stderr on stderr, stdout on stdout.
fn print_event(event: &StreamEvent) {
    match event {
        StreamEvent::Started { invocation } => eprintln!(
            "invocation {} of {} started",
            invocation.id,
            escaped(&invocation.action)
        ),
        StreamEvent::Log(entry) => {
            eprintln!("[{}] {}", escaped(&entry.level), escaped(&entry.message))
        }
        StreamEvent::Stdout { text } => print!("{}", escaped_lines(text)),
        StreamEvent::Stderr { text } => eprint!("{}", escaped_lines(text)),
        StreamEvent::Lagged { message } => eprintln!("{}", escaped(message)),
    }
}

/// What a finished invocation logged and wrote, as `print_event` shows it live.
fn print_captured(invocation: &Invocation) {
    for entry in &invocation.logs {
        eprintln!("[{}] {}", escaped(&entry.level), escaped(&entry.message));
    }
    print!("{}", escaped_lines(&invocation.stdout));
    eprint!("{}", escaped_lines(&invocation.stderr));
}

/// How an invocation stands: its outcome once it has one, else its status.
fn outcome(record: &InvocationRecord) -> Cow<'static, str> {
    match &record.invocation {
        Some(invocation) => Cow::Borrowed(invocation.outcome.code()),
        None => Cow::Owned(
            serde_json::to_value(record.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
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
    print_invocation_rows(&read::<Vec<InvocationRecord>>(&answer)?, session);
    Ok(Exit::Success)
}

/// One line for each invocation in `records`, or a line saying `session`
/// had none.
fn print_invocation_rows(records: &[InvocationRecord], session: &str) {
    if records.is_empty() {
        println!("no invocations in session {session}");
    }
    for record in records {
        println!(
            "{}  {}  {:<24} {:<10} {:>10}  by {}",
            record.id,
            when(record.started_ms),
            escaped(&record.action),
            outcome(record),
            record
                .invocation
                .as_ref()
                .map_or("—".to_string(), |i| format!(
                    "{:.1} ms",
                    i.duration.as_micros() as f64 / 1000.0
                )),
            escaped(&record.principal),
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
    let activity: Activity = read(&answer)?;
    print_session(&activity.session);
    println!();
    print_invocation_rows(&activity.invocations, id);
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
    print_invocation(&read(&record)?);
    Ok(Exit::Success)
}

fn print_invocation(record: &InvocationRecord) {
    println!(
        "invocation {}  {}  {}",
        record.id,
        escaped(&record.action),
        outcome(record)
    );
    println!(
        "  session     {}   by {}",
        record.session,
        escaped(&record.principal)
    );
    println!("  input       {}", escaped(&record.input_digest));
    if let Some(approval) = &record.approval {
        println!("  approved by escalation {approval}");
    }
    let invocation = record.invocation.as_ref();
    if let Some(invocation) = invocation {
        println!(
            "  duration    {:.1} ms",
            invocation.duration.as_micros() as f64 / 1000.0
        );
    }
    let outcome_message = invocation.and_then(|i| match &i.outcome {
        salve::Outcome::Failed { message, .. } | salve::Outcome::Stopped { message, .. } => {
            Some(message.as_str())
        }
        salve::Outcome::Succeeded { .. } => None,
    });
    if let Some(reason) = record.reason.as_deref().or(outcome_message) {
        println!("  reason      {}", escaped(reason));
    }
    let Some(invocation) = invocation else {
        return;
    };
    for call in &invocation.denied_calls {
        println!(
            "  refused     {} {} {}: {}",
            call.capability.name(),
            escaped(&call.function),
            escaped(&call.target),
            escaped(&call.reason)
        );
    }
    print_captured(invocation);
    if let Some(output) = invocation.outcome.output() {
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
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        } else {
            print_event(event);
        }
    }))?;
    if json {
        println!("{{\"result\":{}}}", last.compact().exit_with(Exit::Failed)?);
    }
    let record: InvocationRecord = read(&last)?;
    let outcome = outcome(&record);
    if !json {
        eprintln!("{} {outcome}", escaped(&record.action));
    }
    // As `salve invoke` would have exited for it.
    Ok(if outcome == "succeeded" {
        Exit::Success
    } else {
        Exit::Failed
    })
}
