//! The `salve` command-line program: build, inspect and run action packages.

mod action;
mod args;
mod audit;
mod catalog;
mod client;
mod console;
mod demo;
mod exit;
mod fleet;
mod identity;
mod output;
mod parts;
mod people;
mod pin;
mod policy;
mod report;
mod run;
mod serve;
mod setup;

use args::{
    ActionCommand, AuditCommand, CatalogCommand, Cli, Command, EscalationCommand, FleetCommand,
    InvocationCommand, PolicyCommand, ReportCommand, SessionCommand, SignRole,
};
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let json = wants_json(&matches);
    if !matches!(cli.command, Command::Serve { .. } | Command::Console(_)) {
        output::end_quietly_when_stdout_closes();
    }
    // The service says what it does (`info`); the commands people run speak
    // up only when something is wrong. SALVE_LOG overrides either.
    let default_filter = if matches!(cli.command, Command::Serve { .. } | Command::Console(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SALVE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Action(ActionCommand::Build { dir, out, output }) => {
            action::build(&dir, out.as_deref(), output.json)
        }
        Command::Action(ActionCommand::Inspect {
            package,
            output,
            cache,
        }) => action::inspect(&package, output.json, &cache),
        Command::Action(ActionCommand::Sign {
            package,
            key,
            role,
            principal,
        }) => catalog::sign(
            &package,
            &key,
            match role {
                SignRole::Vetting => salve::vetting::Role::Vetting,
                SignRole::Author => salve::vetting::Role::Author,
            },
            principal.as_deref(),
        ),
        Command::Catalog(CatalogCommand::Install {
            package,
            catalog,
            cache,
            output,
        }) => catalog::install(&package, &catalog, cache.as_deref(), output.json),
        Command::Catalog(CatalogCommand::List { catalog, output }) => {
            catalog::list(&catalog, output.json)
        }
        Command::Catalog(CatalogCommand::Revoke {
            target,
            reason,
            catalog,
        }) => catalog::revoke(&target, &reason, &catalog),
        Command::Catalog(CatalogCommand::ImportRevocations { file, catalog }) => {
            catalog::import_revocations(&file, &catalog)
        }
        Command::Catalog(CatalogCommand::SignRevocations {
            key,
            principal,
            targets,
            reason,
        }) => catalog::sign_revocations(&key, principal.as_deref(), &targets, &reason),
        Command::Run(args) => run::run(&args),
        Command::Serve { config } => serve::serve(config.as_deref()),
        Command::Console(args) => console::run(&args),
        Command::Actions { client } => people::actions(&client),
        Command::Session(SessionCommand::Request(args)) => people::request(&args),
        Command::Session(SessionCommand::Approve { id, client }) => {
            people::approve_session(&client, &id)
        }
        Command::Session(SessionCommand::Activity { id, client }) => people::activity(&client, &id),
        Command::Session(SessionCommand::Consent { id, yes, client }) => {
            people::consent(&client, &id, yes)
        }
        Command::Session(SessionCommand::Show { id, client }) => people::show_session(&client, &id),
        Command::Session(SessionCommand::List { open, client }) => {
            people::list_sessions(&client, open)
        }
        Command::Session(SessionCommand::Close(args)) => people::close(&args),
        Command::Invoke {
            session,
            action,
            input,
            wait,
            follow,
            client,
        } => people::invoke(&client, &session, &action, &input, wait, follow),
        Command::Invocation(InvocationCommand::List { session, client }) => {
            people::list_invocations(&client, &session)
        }
        Command::Invocation(InvocationCommand::Show { id, client }) => {
            people::show_invocation(&client, &id)
        }
        Command::Invocation(InvocationCommand::Follow { id, client }) => {
            people::follow_invocation(&client, &id)
        }
        Command::Escalation(EscalationCommand::List { client }) => {
            people::escalation(&client, salve::api::v1::Operation::ListEscalations {})
        }
        Command::Escalation(EscalationCommand::Show { id, client }) => {
            match people::escalation_id(&id) {
                Ok(escalation) => people::escalation(
                    &client,
                    salve::api::v1::Operation::ShowEscalation { escalation },
                ),
                Err(failure) => Err(failure),
            }
        }
        Command::Escalation(EscalationCommand::Approve { id, client }) => {
            people::approve_escalation(&client, &id)
        }
        Command::Escalation(EscalationCommand::Deny { id, reason, client }) => {
            match people::escalation_id(&id) {
                Ok(escalation) => people::escalation(
                    &client,
                    salve::api::v1::Operation::DenyEscalation { escalation, reason },
                ),
                Err(failure) => Err(failure),
            }
        }
        Command::Completions { shell } => {
            use std::io::Write as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "salve", &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(&script);
            Ok(exit::Exit::Success)
        }
        Command::Demo(args) => demo::demo(&args),
        Command::Fleet(FleetCommand::Inventory(command)) => fleet::inventory(command),
        Command::Fleet(FleetCommand::NatsConfig { inventory, out }) => {
            fleet::nats_config(&inventory, &out)
        }
        Command::Fleet(FleetCommand::Setup { client }) => fleet::setup(&client),
        Command::Fleet(FleetCommand::Pending {
            ticket,
            newer_than,
            only,
            client,
        }) => fleet::pending(
            &client,
            ticket.as_deref(),
            newer_than.map(Into::into),
            only.as_deref(),
        ),
        Command::Fleet(FleetCommand::Endpoints { client }) => fleet::endpoints(&client),
        Command::Fleet(FleetCommand::Simulate {
            config,
            endpoints,
            prefix,
            keys_out,
        }) => serve::simulate(config.as_deref(), endpoints, &prefix, &keys_out),
        Command::Keygen { out, principal } => identity::keygen(&out, principal.as_deref()),
        Command::Sign {
            key,
            endpoint,
            principal,
            operation,
        } => identity::sign(&key, principal.as_deref(), &endpoint, &operation),
        Command::Policy(PolicyCommand::Check { file, output }) => policy::check(&file, output.json),
        Command::Audit(AuditCommand::Verify {
            log,
            key,
            from_checkpoint,
            checkpoints,
            output,
        }) => audit::verify(
            &log,
            key.as_deref(),
            from_checkpoint.as_deref(),
            checkpoints.checkpoint_every,
            output.json,
        ),
        Command::Audit(AuditCommand::Export {
            log,
            format,
            since,
            checkpoints,
        }) => audit::export(&log, checkpoints.checkpoint_every, format, since.as_deref()),
        Command::Audit(AuditCommand::Tail { log, .. }) if log.service => Err(exit::Failure {
            exit: exit::Exit::Usage,
            error: anyhow::anyhow!(
                "`audit tail` follows the log's files on the endpoint; from elsewhere, use `salve audit export --service`"
            ),
        }),
        Command::Audit(AuditCommand::Tail {
            log,
            lines,
            follow,
            json,
        }) => audit::tail(&log.dir(), lines, follow, json),
        Command::Report(ReportCommand::Session {
            id,
            log,
            checkpoints,
            output,
        }) => report::session(&log, checkpoints.checkpoint_every, &id, output.json),
        Command::Report(ReportCommand::Metrics {
            since,
            log,
            checkpoints,
            output,
        }) => report::metrics(
            &log,
            checkpoints.checkpoint_every,
            since.as_deref(),
            output.json,
        ),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(failure) => {
            report(&failure, json);
            failure.exit.into()
        }
    }
}

/// Whether `--json` was given, to whichever subcommand takes it.
fn wants_json(matches: &ArgMatches) -> bool {
    let here = matches!(matches.try_get_one::<bool>("json"), Ok(Some(true)));
    here || matches.subcommand().is_some_and(|(_, sub)| wants_json(sub))
}

/// Says what failed: on stderr, every control character escaped (an error
/// may quote what a client or an action sent); with `--json`, as a JSON
/// error on stdout.
fn report(failure: &exit::Failure, json: bool) {
    if json {
        let api = failure.error.downcast_ref::<client::ApiError>();
        let error = serde_json::json!({ "error": {
            "code": api.map_or(failure.exit.code(), |api| api.code.as_str()),
            "message": api.map_or_else(|| format!("{:#}", failure.error), |api| api.message.clone()),
            "status": api.map(|api| api.status),
        }});
        println!("{error}");
    } else {
        let message = format!("{:#}", failure.error);
        eprintln!("error: {}", salve::text::escaped_lines(&message));
    }
}
