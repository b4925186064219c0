//! A guest that attacks the sandbox, one way per `mode` of its input. Its
//! manifest declares every capability, with parameters the tests rewrite.

use salve_sdk::bindings::Guest;
use salve_sdk::{ActionError, HostError, files_read, files_write, log, network, programs};
use salve_sdk::{service_control, service_status, sysinfo};
use serde::Deserialize;
use std::hint::black_box;

#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
enum Attack {
    /// Spin forever.
    Loop,
    /// Allocate and keep memory until something gives.
    Alloc,
    /// Print to stdout forever.
    FloodStdout,
    /// Log forever.
    FloodLog,
    /// Log empty messages forever.
    FloodEmptyLog,
    /// Fail with an error message of `size` bytes.
    BigError { size: usize },
    /// Return `size` bytes of output.
    BigOutput { size: usize },
    /// Return text that is not JSON.
    NotJson,
    /// Recurse without end.
    Recurse,
    /// Panic.
    Panic,
    /// Call `exit` instead of returning.
    Exit,
    /// files-read.read
    Read { path: String },
    /// files-read.list-dir
    List { path: String },
    /// files-write.write
    Write { path: String, data: String },
    /// files-write.remove
    Remove { path: String },
    /// service-status.status
    Status { service: String },
    /// service-control.restart
    Restart { service: String },
    /// programs.run
    Program {
        program: String,
        args: Vec<String>,
        timeout_ms: u32,
    },
    /// network.probe
    Probe { host: String, port: u16 },
    /// sysinfo.hostname
    Hostname,
    /// files-read.read of `path` (outside the grant) `times` times over,
    /// carrying on past every refusal; returns how many were refused.
    DenyLoop { path: String, times: u32 },
    /// Writes the 32-byte `secret` (hex) over `mib` MiB of heap and a stack
    /// buffer, logs `filled` while they are live (a test may push the
    /// process's memory out to swap then), and returns.
    FillSecret { secret: String, mib: usize },
    /// Grows linear memory by `mib` MiB (`memory.grow` alone, as a reader of
    /// a previous tenant's pages would) and scans all of it for two copies
    /// of `secret` in a row; answers how many it found.
    ScanSecret { secret: String, mib: usize },
    /// Fills `mib` MiB of heap with `secret`, then scans as `scan-secret`
    /// does: the scanner must find what is there.
    FillThenScan { secret: String, mib: usize },
}

struct Hostile;

impl Guest for Hostile {
    fn run(input: String) -> Result<String, ActionError> {
        let attack: Attack =
            serde_json::from_str(&input).map_err(|e| ActionError::invalid_input(e.to_string()))?;
        let answer = |result: Result<String, HostError>| match result {
            Ok(text) => Ok(serde_json::json!({ "ok": text }).to_string()),
            Err(error) => Err(ActionError::from(error)),
        };
        match attack {
            Attack::Loop => loop {
                black_box(());
            },
            Attack::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            Attack::FloodStdout => loop {
                println!("{}", "flood ".repeat(100));
            },
            Attack::FloodLog => loop {
                log::info(&"flood ".repeat(100));
            },
            Attack::FloodEmptyLog => loop {
                log::info("");
            },
            Attack::BigError { size } => Err(ActionError::new("too-big", "x".repeat(size))),
            Attack::BigOutput { size } => {
                Ok(serde_json::to_string(&"x".repeat(size)).unwrap_or_default())
            }
            Attack::NotJson => Ok("this is not json".to_string()),
            Attack::Recurse => Ok(recurse(black_box(1)).to_string()),
            Attack::Panic => panic!("the hostile guest panics on purpose"),
            Attack::Exit => std::process::exit(3),
            Attack::Read { path } => answer(
                files_read::read(&path, 0, 1 << 20)
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
            ),
            Attack::List { path } => answer(files_read::list_dir(&path).map(|entries| {
                entries
                    .iter()
                    .map(|e| e.name.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })),
            Attack::Write { path, data } => {
                answer(files_write::write(&path, data.as_bytes()).map(|()| "written".to_string()))
            }
            Attack::Remove { path } => {
                answer(files_write::remove(&path).map(|()| "removed".to_string()))
            }
            Attack::Status { service } => {
                answer(service_status::status(&service).map(|s| s.active_state))
            }
            Attack::Restart { service } => {
                answer(service_control::restart(&service).map(|()| "restarted".to_string()))
            }
            Attack::Program {
                program,
                args,
                timeout_ms,
            } => answer(
                programs::run(&program, &args, timeout_ms)
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned()),
            ),
            Attack::Probe { host, port } => {
                answer(network::probe(&host, port, 1000).map(|us| us.to_string()))
            }
            Attack::Hostname => answer(sysinfo::hostname()),
            Attack::DenyLoop { path, times } => {
                let refused = (0..times)
                    .filter(|_| matches!(files_read::read(&path, 0, 16), Err(HostError::Denied(_))))
                    .count();
                Ok(serde_json::json!({ "refused": refused }).to_string())
            }
            Attack::FillSecret { secret, mib } => {
                let secret = decode_secret(&secret)?;
                let heap: Vec<u8> = secret.iter().copied().cycle().take(mib << 20).collect();
                let mut stack = [0u8; 32 << 10];
                for (byte, value) in stack.iter_mut().zip(secret.iter().cycle()) {
                    *byte = *value;
                }
                black_box(&heap);
                black_box(&mut stack);
                log::info("filled");
                black_box(&heap);
                black_box(&stack);
                Ok(serde_json::json!({ "filled": heap.len() }).to_string())
            }
            Attack::ScanSecret { secret, mib } => {
                let secret = decode_secret(&secret)?;
                Ok(scan_memory(&secret, mib).to_string())
            }
            Attack::FillThenScan { secret, mib } => {
                let secret = decode_secret(&secret)?;
                let heap: Vec<u8> = secret.iter().copied().cycle().take(mib << 20).collect();
                black_box(&heap);
                let found = scan_memory(&secret, 0);
                black_box(&heap);
                Ok(found.to_string())
            }
        }
    }
}

/// Recursion that cannot be turned into a loop: every frame keeps its own
/// value alive across the call.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let next = black_box(depth + 1);
    let below = recurse(next);
    black_box(below ^ depth).wrapping_add(1)
}

fn decode_secret(hex: &str) -> Result<[u8; 32], ActionError> {
    let mut secret = [0u8; 32];
    if hex.len() != 64 {
        return Err(ActionError::invalid_input("secret: 64 hex digits"));
    }
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| ActionError::invalid_input("secret: 64 hex digits"))?;
    }
    Ok(secret)
}

/// Grows memory by `mib` MiB, then reads every byte of linear memory (but
/// address 0) looking for `secret` twice in a row: this guest holds one copy
/// of it (on its stack), a previous tenant's fill holds thousands.
fn scan_memory(secret: &[u8; 32], mib: usize) -> serde_json::Value {
    use core::arch::wasm32::{memory_grow, memory_size};
    const PAGE: usize = 64 << 10;
    let grown = memory_grow(0, (mib << 20) / PAGE);
    let size = memory_size(0) * PAGE;
    let mut found = 0u64;
    let mut run = 0usize;
    let mut first = None;
    for address in 1..size {
        // SAFETY: every address below `memory_size` is inside this
        // instance's linear memory; volatile so that nothing is assumed of
        // bytes Rust never wrote.
        #[allow(unsafe_code)]
        let byte = unsafe { core::ptr::read_volatile(address as *const u8) };
        if byte == secret[run % 32] {
            run += 1;
            if run == 64 {
                found += 1;
                first.get_or_insert(address + 1 - 64);
                run = 0;
            }
        } else {
            run = usize::from(byte == secret[0]);
        }
    }
    serde_json::json!({
        "found": found,
        "first": first,
        "scanned_bytes": size - 1,
        "grown_pages": grown,
    })
}

salve_sdk::bindings::export_bindings!(Hostile);
