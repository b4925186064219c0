//! `programs`: running the exact programs the grant names, as real child
//! processes with an empty environment, no input, their own deadline (never
//! past the invocation's) and an output cap.

use super::HostCtx;
use super::process::{self, RunError};
use crate::bindings::salve::action::programs::{Host, ProgramOutput};
use crate::bindings::salve::action::types::HostError;
use crate::capability::Capability;
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};
use std::process::Command;

/// What `programs` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "programs",
    class: CapabilityClass::Privileged,
    summary: "run the named programs, with bounded time and output",
    link: |linker| {
        crate::bindings::salve::action::programs::add_to_linker::<_, HostData>(linker, host_of)
    },
};

/// Most bytes kept of each of a program's stdout and stderr; the rest is
/// discarded and the output marked truncated.
pub const PROGRAM_OUTPUT_CAP: usize = 1 << 20;

/// Most arguments, and longest argument, a program may be given.
const MAX_ARGS: usize = 256;
const MAX_ARG_BYTES: usize = 4096;

const CAPABILITY: Capability = Capability::Programs;

impl Host for HostCtx {
    fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<ProgramOutput, HostError> {
        let rules: Vec<_> = self
            .grant
            .programs
            .as_ref()
            .map(|g| {
                g.programs
                    .iter()
                    .filter(|p| p.path() == program)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if rules.is_empty() {
            return Err(self.refuse_outside_grant(
                CAPABILITY,
                "run",
                &program,
                format!("program `{program}` is not granted to this action"),
            ));
        }
        if !rules.iter().any(|rule| rule.allows(&program, &args)) {
            let granted: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
            return Err(self.refuse_outside_grant(
                CAPABILITY,
                "run",
                &program,
                format!(
                    "program `{program}` is not granted with the arguments {args:?}: granted only as `{}`",
                    granted.join("`, `")
                ),
            ));
        }
        if args.len() > MAX_ARGS
            || args
                .iter()
                .any(|a| a.len() > MAX_ARG_BYTES || a.contains('\0'))
        {
            return Err(HostError::Failed(format!(
                "arguments refused: at most {MAX_ARGS}, each at most {MAX_ARG_BYTES} bytes, without NUL"
            )));
        }
        let timeout = self.timeout(timeout_ms)?;
        tracing::info!(action = %self.action, %program, ?args, "program run");
        let mut command = Command::new(&program);
        command
            .args(&args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C")
            .current_dir("/");
        match process::run(command, timeout, PROGRAM_OUTPUT_CAP) {
            Ok(finished) => Ok(ProgramOutput {
                exit_code: finished.status.code(),
                stdout: finished.stdout,
                stderr: finished.stderr,
                truncated: finished.truncated,
                duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(error @ RunError::TimedOut { .. }) => Err(HostError::TimedOut(error.to_string())),
            Err(RunError::Spawn { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(HostError::NotFound(format!(
                    "program `{program}` does not exist on this host"
                )))
            }
            Err(error) => Err(HostError::Failed(error.to_string())),
        }
    }
}
