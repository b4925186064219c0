//! One invocation never sees another's memory: a guest fills the memory it
//! grows with a random secret, and later invocations in the same pool slot —
//! of the same guest and of other guests — read all of their linear memory
//! (grown with `memory.grow` alone) and must find no trace of it. The same
//! again with the first guest's pages pushed out to swap while it runs, the
//! case wasmtime's dirty-page scan missed (pages swapped out are not
//! "present", so they were neither reset nor decommitted).

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::host::output::{OutputEvent, OutputObserver};
use salve::{Grant, LoadedAction, Outcome, Package, Runtime, RuntimeConfig, Sha256Digest};
use salve_tests::{PackageCopy, artifacts};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// MiB of heap the filling guest writes the secret over.
const FILL_MIB: usize = 8;

/// One invocation at a time, so the pool holds 4 linear-memory slots and
/// small pools are not sharded: a slot freed by one component is taken by
/// the same component again (affinity), and once the never-used slots are
/// gone, by another component (the least recently used slot first).
fn small_pool_runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent: 1,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// The hostile guest with room to fill and scan.
fn hostile_package() -> PackageCopy {
    PackageCopy::new(
        artifacts::HOSTILE,
        &[],
        "\n[limits]\ndeadline-ms = 20000\nmemory-mib = 64\n",
    )
}

/// The hostile guest's component under another identity: the same code with
/// a custom section appended, so wasmtime treats it as another component
/// (and the pool as another tenant).
fn variant(n: usize) -> PackageCopy {
    let original = hostile_package();
    let manifest = std::fs::read_to_string(original.dir.join("action.toml")).unwrap();
    let old_digest = manifest
        .lines()
        .find_map(|line| line.strip_prefix("sha256 = \""))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .expect("the built manifest names its component's sha256");
    let wasm_path = original.dir.join("hostile.wasm");
    let mut wasm = std::fs::read(&wasm_path).unwrap();
    let name = format!("salve-test-variant-{n}");
    let payload_len = 1 + name.len();
    wasm.push(0); // custom section
    wasm.push(u8::try_from(payload_len).unwrap());
    wasm.push(u8::try_from(name.len()).unwrap());
    wasm.extend_from_slice(name.as_bytes());
    let new_digest = Sha256Digest::of(&wasm).to_string();
    let copy = PackageCopy::new(
        original.dir.to_str().unwrap(),
        &[(&old_digest, &new_digest)],
        "",
    );
    std::fs::write(copy.dir.join("hostile.wasm"), wasm).unwrap();
    copy
}

fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom(bytes: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(bytes)
        .unwrap();
}

fn load(runtime: &Runtime, package: &PackageCopy) -> (Package, LoadedAction) {
    let package = package.open();
    let action = runtime.load(&package).unwrap();
    (package, action)
}

fn output(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Succeeded { output } => serde_json::from_str(output.get()).unwrap(),
        other => panic!("the guest did not succeed: {other:?}"),
    }
}

/// Calls `on_filled` while the filling guest holds the secret in memory.
struct WhenFilled<F>(F);

impl<F: Fn() + Send + Sync> OutputObserver for WhenFilled<F> {
    fn output(&self, event: OutputEvent) {
        if matches!(&event, OutputEvent::Log(entry) if entry.message == "filled") {
            (self.0)();
        }
    }
}

fn fill(
    runtime: &Runtime,
    package: &PackageCopy,
    secret: &str,
    on_filled: impl Fn() + Send + Sync + 'static,
) {
    let (package, action) = load(runtime, package);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let input = serde_json::json!({ "mode": "fill-secret", "secret": secret, "mib": FILL_MIB });
    let invocation = runtime
        .reserve()
        .unwrap()
        .invoke_observed(
            &action,
            &grant,
            &input.to_string(),
            Arc::new(WhenFilled(on_filled)),
            salve::Cancellation::default(),
        )
        .unwrap();
    assert_eq!(output(&invocation.outcome)["filled"], FILL_MIB << 20);
}

/// Scans a fresh instance's whole memory; answers how many 64-byte runs of
/// the secret it found.
fn scan(runtime: &Runtime, package: &PackageCopy, secret: &str) -> u64 {
    let (package, action) = load(runtime, package);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let input = serde_json::json!({ "mode": "scan-secret", "secret": secret, "mib": FILL_MIB + 2 });
    let invocation = runtime.invoke(&action, &grant, &input.to_string()).unwrap();
    let answer = output(&invocation.outcome);
    let scanned = answer["scanned_bytes"].as_u64().unwrap();
    assert!(
        scanned >= u64::try_from(FILL_MIB << 20).unwrap(),
        "the scan must cover at least what was filled: {answer}"
    );
    answer["found"].as_u64().unwrap()
}

/// The secret is found by a scan of the filling instance's own memory (the
/// scanner works), and by nobody after it.
fn no_trace_after_fill(pageout: Option<&Swap>) {
    let runtime = small_pool_runtime();
    let hostile = hostile_package();
    let variants: Vec<PackageCopy> = (0..6).map(variant).collect();
    let secret = secret();
    let swapped = Arc::new(AtomicU64::new(0));
    let filler = |swapped: Arc<AtomicU64>, pageout: bool| {
        move || {
            if pageout {
                swapped.fetch_max(page_out_anonymous_memory(), Ordering::Relaxed);
            }
        }
    };

    // The same guest: affinity gives it the slot it just filled.
    fill(
        &runtime,
        &hostile,
        &secret,
        filler(Arc::clone(&swapped), pageout.is_some()),
    );
    assert_eq!(
        scan(&runtime, &hostile, &secret),
        0,
        "the same guest found the secret"
    );

    // Other guests: the first three take the pool's unused slots, the fourth
    // and later the least recently used, which the filler used last.
    fill(
        &runtime,
        &hostile,
        &secret,
        filler(Arc::clone(&swapped), pageout.is_some()),
    );
    for (n, other) in variants.iter().enumerate() {
        assert_eq!(
            scan(&runtime, other, &secret),
            0,
            "guest variant {n} found the secret"
        );
    }
    if let Some(swap) = pageout {
        let kib = swapped.load(Ordering::Relaxed);
        assert!(
            kib >= 1024,
            "pushing the filler's memory out to {} moved only {kib} KiB to swap: the test did not test the swapped case",
            swap.describe()
        );
    }
}

#[test]
fn a_guest_finds_nothing_of_an_earlier_invocations_memory() {
    no_trace_after_fill(None);
}

#[cfg(unix)]
#[test]
fn a_guest_finds_nothing_of_an_earlier_invocations_memory_swapped_out() {
    let swap = match Swap::ensure() {
        Ok(swap) => swap,
        Err(why) => {
            // The in-memory case above still runs; this one needs swap.
            eprintln!("NOT RUN: the swapped-out case needs swap, and {why}");
            return;
        }
    };
    no_trace_after_fill(Some(&swap));
}

/// The scanner itself works: run inside the memory the filler left, before
/// any reset could happen, it must find the secret. (A scanner that never
/// finds anything would make the tests above pass whatever happens.)
#[test]
fn the_scanner_finds_the_secret_where_it_is() {
    let runtime = small_pool_runtime();
    let hostile = hostile_package();
    let (package, action) = load(&runtime, &hostile);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let secret = secret();
    let input = serde_json::json!({ "mode": "fill-then-scan", "secret": secret, "mib": FILL_MIB });
    let invocation = runtime.invoke(&action, &grant, &input.to_string()).unwrap();
    let answer = output(&invocation.outcome);
    let found = answer["found"].as_u64().unwrap();
    assert!(
        found >= u64::try_from((FILL_MIB << 20) / 64).unwrap(),
        "the scanner found {found} runs in memory it had just filled: {answer}"
    );
}

/// Pushing memory out to swap, on Linux.
#[cfg(unix)]
mod swap {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Mutex;

    /// Asks the kernel to swap out every private anonymous read-write mapping of
    /// this process (wasmtime's pool among them); answers the process's swapped
    /// KiB afterwards.
    #[allow(unsafe_code)]
    pub(super) fn page_out_anonymous_memory() -> u64 {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            let path = fields.nth(3);
            if perms != "rw-p" || path.is_some() {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            let Some(address) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
                continue;
            };
            // SAFETY: MADV_PAGEOUT only moves pages to swap; their contents are
            // unchanged when next touched, so no memory of this process changes
            // meaning. A mapping that changed since /proc/self/maps was read is
            // at worst refused (the result is ignored).
            let _ = unsafe {
                nix::sys::mman::madvise(
                    address,
                    end - start,
                    nix::sys::mman::MmapAdvise::MADV_PAGEOUT,
                )
            };
        }
        swapped_kib()
    }

    fn swapped_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("VmSwap:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Swap for the test: the host's, or a swap file this test enables (as root)
    /// and takes away again.
    pub(super) struct Swap {
        own_file: Option<(tempfile::TempDir, PathBuf)>,
        active: String,
    }

    /// Where the test's own swap file goes: a directory on a disk file system
    /// (swap cannot live on tmpfs), inside the build's target directory.
    fn swap_file_parent() -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).to_path_buf()
    }

    static SWAP_LOCK: Mutex<()> = Mutex::new(());

    impl Swap {
        pub(super) fn ensure() -> Result<Swap, String> {
            let _one_at_a_time = SWAP_LOCK
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(active) = active_swap() {
                return Ok(Swap {
                    own_file: None,
                    active,
                });
            }
            if !nix::unistd::geteuid().is_root() {
                return Err(
                    "this host has none and the test is not root, so it cannot enable any".into(),
                );
            }
            let dir = tempfile::tempdir_in(swap_file_parent()).map_err(|e| e.to_string())?;
            let file = dir.path().join("swapfile");
            std::fs::write(&file, vec![0u8; 64 << 20]).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            run("mkswap", &file)?;
            run("swapon", &file)?;
            Ok(Swap {
                active: format!("the test's own swap file {}", file.display()),
                own_file: Some((dir, file)),
            })
        }

        pub(super) fn describe(&self) -> &str {
            &self.active
        }
    }

    impl Drop for Swap {
        fn drop(&mut self) {
            if let Some((_dir, file)) = &self.own_file
                && let Err(why) = run("swapoff", file)
            {
                eprintln!("could not turn the test's swap file off: {why}");
            }
        }
    }

    fn run(program: &str, file: &Path) -> Result<(), String> {
        let output = Command::new(program)
            .arg(file)
            .output()
            .map_err(|e| format!("{program} could not be run: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// The first active swap area in /proc/swaps.
    fn active_swap() -> Option<String> {
        let swaps = std::fs::read_to_string("/proc/swaps").ok()?;
        swaps
            .lines()
            .nth(1)
            .and_then(|line| line.split_whitespace().next())
            .map(|name| format!("the host's swap {name}"))
    }
}
#[cfg(unix)]
use swap::{Swap, page_out_anonymous_memory};

/// Windows has no swapped-out case here (it needs Linux's `MADV_PAGEOUT`):
/// no `Swap` can exist, so `no_trace_after_fill` is only given `None`.
#[cfg(windows)]
enum Swap {}

#[cfg(windows)]
impl Swap {
    fn describe(&self) -> &str {
        match *self {}
    }
}

/// Never called: there is no `Swap` to ask for it (see above).
#[cfg(windows)]
fn page_out_anonymous_memory() -> u64 {
    0
}
