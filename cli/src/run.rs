//! `salve run`: one local invocation with explicit grants.

use crate::args::RunArgs;
use crate::exit::{CliResult, Exit, ExitWith};
use crate::setup;
use anyhow::{Context, anyhow};
use salve::{Grant, Invocation, InvokeError, Limits, Outcome, Package};
use std::io::Read;
use std::time::Duration;

pub fn run(args: &RunArgs) -> CliResult {
    let input = read_input(&args.input).exit_with(Exit::Usage)?;
    let package = Package::open(&args.package).exit_with(Exit::Refused)?;
    let declared = package.manifest().capabilities.here();
    let grant = if args.grant_declared {
        Grant::declared(declared)
    } else {
        Grant::from_specs(&args.grants, declared).exit_with(Exit::Usage)?
    };
    let runtime = setup::runtime(&args.cache)?;
    let action = runtime.load(&package).exit_with(Exit::Refused)?;
    let action = action.tightened(overrides(args, action.limits()));
    let invocation = runtime.invoke(&action, &grant, &input).map_err(|error| {
        let (exit, error) = match error {
            InvokeError::InvalidInput { .. } | InvokeError::InputTooLarge { .. } => {
                (Exit::Usage, anyhow::Error::from(error))
            }
            InvokeError::NotGranted { capability, .. } => (
                Exit::Refused,
                anyhow!("{error}\nhint: grant it with `--grant {capability}` (or narrower, e.g. `--grant {capability}=<parameter>`)"),
            ),
            _ => (Exit::Refused, error.into()),
        };
        crate::exit::Failure { exit, error }
    })?;
    if args.output.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&invocation)
                .context("cannot encode the result")
                .exit_with(Exit::Failed)?
        );
    } else {
        print_human(&invocation);
    }
    Ok(outcome_exit(&invocation.outcome))
}

/// The exit status an outcome maps to.
pub fn outcome_exit(outcome: &Outcome) -> Exit {
    match outcome {
        Outcome::Succeeded { .. } => Exit::Success,
        Outcome::Failed { .. } => Exit::Failed,
        Outcome::Stopped { .. } => Exit::Stopped,
    }
}

fn overrides(args: &RunArgs, current: Limits) -> Limits {
    Limits {
        deadline: args
            .deadline_ms
            .map_or(current.deadline, Duration::from_millis),
        memory_bytes: args
            .memory_mib
            .map_or(current.memory_bytes, |m| m.saturating_mul(1 << 20)),
        output_bytes: args
            .output_kib
            .map_or(current.output_bytes, |k| k.saturating_mul(1 << 10)),
    }
}

/// The input text: literal JSON, `@FILE`, or `-` for stdin.
pub fn read_input(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the input from stdin")?;
        return Ok(text);
    }
    if let Some(path) = arg.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the input file {path}"));
    }
    if arg.trim().is_empty() {
        return Err(anyhow!(
            "the input is empty: pass a JSON document, e.g. --input '{{}}'"
        ));
    }
    Ok(arg.to_string())
}

/// The output on stdout (so that it can be redirected), everything else on
/// stderr.
pub fn print_human(invocation: &Invocation) {
    let took = format_duration(invocation.duration);
    match &invocation.outcome {
        Outcome::Succeeded { output } => {
            eprintln!("{} succeeded in {took}", invocation.action);
            let pretty = serde_json::from_str::<serde_json::Value>(output.get())
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| output.get().to_string());
            println!("{pretty}");
        }
        Outcome::Failed { code, message } => {
            eprintln!("{} failed in {took}: {code}: {message}", invocation.action);
        }
        Outcome::Stopped { reason, message } => {
            eprintln!(
                "{} stopped after {took} ({}): {message}",
                invocation.action,
                reason.code()
            );
        }
    }
    for entry in &invocation.logs {
        eprintln!(
            "  log {:>5} +{}ms  {}",
            entry.level, entry.at_ms, entry.message
        );
    }
    for call in &invocation.denied_calls {
        eprintln!(
            "  denied {}.{} {}: {}",
            call.capability, call.function, call.target, call.reason
        );
    }
    for (name, text) in [
        ("stdout", &invocation.stdout),
        ("stderr", &invocation.stderr),
    ] {
        if !text.trim().is_empty() {
            eprintln!("  {name}:");
            for line in text.lines() {
                eprintln!("    {line}");
            }
        }
    }
}

/// `412 µs`, `4.1 ms`, `1.20 s`.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros < 1000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}
