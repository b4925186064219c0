//! flush-dns: empties systemd-resolved's DNS cache with `resolvectl
//! flush-caches` — the fix when a name still resolves to an old address.
//!
//! Capabilities:
//! - `programs` (privileged): runs `/usr/bin/resolvectl flush-caches` — that
//!   program with that one argument, nothing else (the manifest grants no
//!   other); the cache lives in `systemd-resolved` and is only reachable
//!   through it.

use salve_sdk::{ActionError, programs};
use serde::{Deserialize, Serialize};

const RESOLVECTL: &str = "/usr/bin/resolvectl";
const TIMEOUT_MS: u32 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {}

#[derive(Serialize)]
struct Output {
    exit_code: i32,
    stderr: String,
    flushed: bool,
}

fn run(_input: Input) -> Result<Output, ActionError> {
    let output = programs::run(RESOLVECTL, &["flush-caches".to_string()], TIMEOUT_MS)?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match output.exit_code {
        Some(0) => Ok(Output {
            exit_code: 0,
            stderr,
            flushed: true,
        }),
        code => {
            let status = code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited with {c}")
            });
            Err(ActionError::new(
                "flush-failed",
                format!("resolvectl flush-caches {status}: {stderr}"),
            ))
        }
    }
}

salve_sdk::action!(run);
