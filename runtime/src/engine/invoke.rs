//! One invocation: a fresh instance, `run` under the sandbox's limits, and
//! what it came to.

use super::cancel::{Cancellation, Cancelled};
use super::sandbox::{MemoryLimitExceeded, Sandbox};
use super::{InvokeError, LoadedAction, Runtime};
use crate::grant::Grant;
use crate::host::output::{Captured, OutputLimitExceeded, OutputObserver};
use crate::outcome::{Invocation, Outcome, StopReason};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::Trap;

pub(super) fn run(
    runtime: &Runtime,
    action: &LoadedAction,
    grant: &Grant,
    input: &str,
    observer: Option<Arc<dyn OutputObserver>>,
    cancellation: Option<Cancellation>,
) -> Result<Invocation, InvokeError> {
    let config = &runtime.inner.config;
    if input.len() > config.max_input_bytes {
        return Err(InvokeError::InputTooLarge {
            size: input.len(),
            limit: config.max_input_bytes,
        });
    }
    serde_json::from_str::<serde::de::IgnoredAny>(input).map_err(|e| {
        InvokeError::InvalidInput {
            reason: e.to_string(),
        }
    })?;
    let granted = grant.names();
    if let Some(capability) = action
        .imported_capabilities()
        .iter()
        .find(|c| !granted.contains(*c))
    {
        if !action
            .manifest()
            .capabilities
            .here()
            .names()
            .contains(capability)
        {
            return Err(InvokeError::NotOnThisSystem {
                action: action.label().to_string(),
                capability,
                os: crate::Os::CURRENT,
            });
        }
        return Err(InvokeError::NotGranted {
            action: action.label().to_string(),
            capability,
        });
    }

    let sandbox = Sandbox::new(grant, action.limits());
    let engine = &runtime.inner.engine;
    let pre = action
        .prepared(engine, sandbox.linked)
        .map_err(|e| InvokeError::Sandbox {
            action: action.label().to_string(),
            reason: format!("{e:#}"),
        })?;

    // The epoch advances while this is held: from before the store sets
    // the deadline until the store is gone.
    let ticking = runtime.inner.ticker.hold();
    let started = Instant::now();
    let (mut store, output) = sandbox.store(
        engine,
        action.inner.label.clone(),
        Arc::clone(&runtime.inner.services),
        started,
        observer,
        cancellation,
    );
    let result = pre
        .instantiate(&mut store)
        .and_then(|instance| instance.call_run(&mut store, input));
    let duration = started.elapsed();
    let denied_calls = store.data_mut().host.take_denied();
    drop(store);
    drop(ticking);

    // The returned output — or error — counts against the same budget as
    // stdout, stderr and log messages.
    let result_budget = match &result {
        Ok(Ok(text)) => output.spend_on_result(text.len()),
        Ok(Err(error)) => output.spend_on_result(error.code.len() + error.message.len()),
        _ => Ok(()),
    };
    let Captured {
        stdout,
        stderr,
        logs,
        ..
    } = output.take();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let outcome = match (result, result_budget) {
        (Ok(_), Err(exceeded)) => stopped(StopReason::OutputLimitExceeded, exceeded.to_string()),
        (Ok(Ok(text)), Ok(())) => match RawValue::from_string(text) {
            Ok(output) => Outcome::Succeeded { output },
            Err(error) => stopped(
                StopReason::InvalidOutput,
                format!("the action returned output that is not JSON: {error}"),
            ),
        },
        (Ok(Err(error)), _) => Outcome::Failed {
            code: error.code,
            message: error.message,
        },
        (Err(error), _) => classify_trap(&error, &stderr, &sandbox),
    };
    // The deadline is hard, host calls included: whatever the action did
    // after it (a host call that ran to the deadline, then a quick return)
    // does not count.
    let outcome = if duration >= sandbox.limits.deadline {
        deadline_exceeded(&sandbox)
    } else {
        outcome
    };
    tracing::debug!(action = %action.label(), outcome = outcome.code(), ?duration, "invocation finished");
    Ok(Invocation {
        action: action.label().to_string(),
        digest: action.digest(),
        outcome,
        duration,
        limits: sandbox.limits,
        logs,
        stdout,
        stderr,
        denied_calls,
    })
}

/// The input must be a JSON document within the size limit.
pub(super) fn check_input(config: &super::RuntimeConfig, input: &str) -> Result<(), InvokeError> {
    if input.len() > config.max_input_bytes {
        return Err(InvokeError::InputTooLarge {
            size: input.len(),
            limit: config.max_input_bytes,
        });
    }
    serde_json::from_str::<serde::de::IgnoredAny>(input).map_err(|e| {
        InvokeError::InvalidInput {
            reason: e.to_string(),
        }
    })?;
    Ok(())
}

fn stopped(reason: StopReason, message: String) -> Outcome {
    Outcome::Stopped { reason, message }
}

fn deadline_exceeded(sandbox: &Sandbox) -> Outcome {
    stopped(
        StopReason::DeadlineExceeded,
        format!(
            "the action ran past its deadline of {} ms and was stopped",
            sandbox.limits.deadline.as_millis()
        ),
    )
}

/// Names why the sandbox ended the invocation.
fn classify_trap(error: &wasmtime::Error, stderr: &str, sandbox: &Sandbox) -> Outcome {
    if let Some(exceeded) = error.downcast_ref::<OutputLimitExceeded>() {
        return stopped(StopReason::OutputLimitExceeded, exceeded.to_string());
    }
    if let Some(cancelled) = error.downcast_ref::<Cancelled>() {
        return stopped(StopReason::Cancelled, cancelled.to_string());
    }
    if let Some(exceeded) = error.downcast_ref::<MemoryLimitExceeded>() {
        return stopped(StopReason::MemoryLimitExceeded, exceeded.to_string());
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return stopped(
            StopReason::Exited,
            format!(
                "the action exited with status {} instead of returning",
                exit.0
            ),
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => deadline_exceeded(sandbox),
        Some(Trap::StackOverflow) => stopped(
            StopReason::StackOverflow,
            "the action exhausted its stack (unbounded recursion?) and was stopped".to_string(),
        ),
        Some(Trap::UnreachableCodeReached) if stderr.contains("panicked at") => stopped(
            StopReason::Panicked,
            format!("the action panicked: {}", panic_message(stderr)),
        ),
        Some(trap) => stopped(
            StopReason::Trapped,
            format!("the action trapped: {trap}{}", stderr_hint(stderr)),
        ),
        None => stopped(
            StopReason::Trapped,
            format!(
                "the action failed: {}{}",
                error.root_cause(),
                stderr_hint(stderr)
            ),
        ),
    }
}

/// The panic message a Rust guest prints to stderr, without the location
/// line's noise.
fn panic_message(stderr: &str) -> String {
    let start = stderr.find("panicked at").unwrap_or(0);
    let text = &stderr[start..];
    let mut lines = text.lines();
    let location = lines.next().unwrap_or_default().trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    format!("{} ({location})", message.join(" ").trim())
}

fn stderr_hint(stderr: &str) -> String {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    last.map(|l| format!(" (stderr: {})", l.trim()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nboom: 42\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr),
            "boom: 42 (panicked at src/lib.rs:10:5)"
        );
    }
}
