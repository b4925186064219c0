//! check-connectivity: can this machine open TCP connections to the package
//! mirrors and to public DNS resolvers? Tells "the network is down" apart from
//! "DNS is broken" and "a firewall blocks HTTPS".
//!
//! Each target is probed in turn: connect, then close, without sending data.
//!
//! Capabilities:
//! - `network` (privileged): the probes, to the `host:port` pairs listed in
//!   `action.toml` only; any other target is denied and reported as such.

use salve_sdk::{ActionError, network};
use serde::{Deserialize, Serialize};

const DEFAULT_TARGETS: [&str; 4] = [
    "deb.debian.org:443",
    "security.debian.org:443",
    "1.1.1.1:53",
    "9.9.9.9:53",
];
const MAX_TARGETS: usize = 8;
const MAX_TIMEOUT_MS: u32 = 10_000;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Input {
    /// `host:port` pairs; an IPv6 address goes in brackets, `[::1]:53`.
    targets: Vec<String>,
    /// Per probe, name resolution included.
    timeout_ms: u32,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            targets: DEFAULT_TARGETS.map(String::from).to_vec(),
            timeout_ms: 3000,
        }
    }
}

#[derive(Serialize)]
struct Probe {
    target: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    connect_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Output {
    targets: Vec<Probe>,
    all_reachable: bool,
}

/// Splits `host:port` or `[v6]:port` into the host and a non-zero port. An
/// IPv6 host keeps its brackets, the way the runtime names destinations.
fn parse_target(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || ((host.contains(':') || host.starts_with('[')) && !bracketed) {
        return None;
    }
    let port = port.parse().ok().filter(|&p| p != 0)?;
    Some((host, port))
}

fn probe(target: &str, host: &str, port: u16, timeout_ms: u32) -> Probe {
    let target = target.to_string();
    match network::probe(host, port, timeout_ms) {
        Ok(us) => Probe {
            target,
            reachable: true,
            connect_us: Some(us),
            error: None,
        },
        Err(error) => Probe {
            target,
            reachable: false,
            connect_us: None,
            error: Some(format!("{}: {}", error.code(), error.message())),
        },
    }
}

fn run(input: Input) -> Result<Output, ActionError> {
    if input.targets.is_empty() || input.targets.len() > MAX_TARGETS {
        return Err(ActionError::invalid_input(format!(
            "name between 1 and {MAX_TARGETS} targets"
        )));
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&input.timeout_ms) {
        return Err(ActionError::invalid_input(format!(
            "timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"
        )));
    }
    // Check every target before probing any.
    let mut parsed = Vec::with_capacity(input.targets.len());
    for target in &input.targets {
        let (host, port) = parse_target(target).ok_or_else(|| {
            ActionError::invalid_input(format!(
                "`{target}` is not `host:port` (an IPv6 address in brackets: `[2001:db8::1]:53`)"
            ))
        })?;
        parsed.push((target, host, port));
    }
    let targets: Vec<Probe> = parsed
        .into_iter()
        .map(|(target, host, port)| probe(target, host, port, input.timeout_ms))
        .collect();
    let all_reachable = targets.iter().all(|p| p.reachable);
    Ok(Output {
        targets,
        all_reachable,
    })
}

salve_sdk::action!(run);
