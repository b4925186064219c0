//! flush-dns: empties the DNS cache — the fix when a name still resolves to
//! an old address after a DNS change. On Linux it runs `resolvectl
//! flush-caches` (the cache lives in `systemd-resolved`); on Windows
//! `ipconfig /flushdns` (the DNS Client service's cache).
//!
//! Capabilities:
//! - `sysinfo` (standard): tells Linux from Windows.
//! - `programs` (privileged): runs `/usr/bin/resolvectl flush-caches` on
//!   Linux and `C:\Windows\System32\ipconfig.exe /flushdns` on Windows —
//!   that program with that one argument, nothing else (the manifest grants
//!   no other).

use salve_sdk::{ActionError, programs, sysinfo};
use serde::{Deserialize, Serialize};

/// The program and argument that flush the cache on one system.
struct Flush {
    program: &'static str,
    argument: &'static str,
    /// How the report names it.
    name: &'static str,
}

const LINUX: Flush = Flush {
    program: "/usr/bin/resolvectl",
    argument: "flush-caches",
    name: "resolvectl flush-caches",
};

const WINDOWS: Flush = Flush {
    program: r"C:\Windows\System32\ipconfig.exe",
    argument: "/flushdns",
    name: "ipconfig /flushdns",
};

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
    let flush = if sysinfo::is_windows()? {
        WINDOWS
    } else {
        LINUX
    };
    let output = programs::run(flush.program, &[flush.argument.to_string()], TIMEOUT_MS)?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match output.exit_code {
        Some(0) => Ok(Output {
            exit_code: 0,
            stderr,
            flushed: true,
        }),
        code => {
            let status = code.map_or("was killed".to_string(), |c| format!("exited with {c}"));
            // ipconfig reports its errors on stdout.
            let said = if stderr.is_empty() {
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            } else {
                stderr
            };
            Err(ActionError::new(
                "flush-failed",
                format!("{} {status}: {said}", flush.name),
            ))
        }
    }
}

salve_sdk::action!(run);
