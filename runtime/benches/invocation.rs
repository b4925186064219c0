//! Invocation benchmark: warm invocations of a trivial action (a fresh
//! instance every time) against spawning a trivial native program, and
//! loading a cached compiled component against compiling it — all measured
//! in this one run, reported as ratios.
//!
//! Run: `cargo bench -p salve --bench invocation`
//! (`-- --quick` for a shorter run; the results table is Markdown, ready for
//! BENCHMARKS.md). The Windows build runs it too (under Wine here:
//! `cargo bench --target x86_64-pc-windows-gnu -p salve --bench
//! invocation`), with `cmd.exe /c exit 0` as the native program and no
//! disk-cache rows, since the compile cache is refused on Windows.

use salve::{Grant, LoadedAction, Package, Runtime, RuntimeConfig};
use std::process::Command;
use std::time::{Duration, Instant};

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let total: Duration = samples.iter().sum();
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean: total / samples.len() as u32,
    }
}

fn measure(iterations: usize, mut f: impl FnMut()) -> Stats {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        f();
        samples.push(started.elapsed());
    }
    stats(samples)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn invoke(runtime: &Runtime, action: &LoadedAction, grant: &Grant) {
    let invocation = runtime
        .invoke(action, grant, r#"{"ticket":"INC-1"}"#)
        .expect("the echo action is invoked");
    assert!(invocation.outcome.succeeded(), "{:?}", invocation.outcome);
}

/// Invocations per second with `threads` threads for `duration`.
fn throughput(
    runtime: &Runtime,
    action: &LoadedAction,
    grant: &Grant,
    threads: usize,
    duration: Duration,
) -> f64 {
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0u64;
                    while started.elapsed() < duration {
                        invoke(runtime, action, grant);
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64()
}

/// The trivial native program whose spawn is the baseline.
#[cfg(unix)]
const NATIVE: (&str, &[&str]) = ("/bin/true", &[]);
#[cfg(windows)]
const NATIVE: (&str, &[&str]) = (r"C:\Windows\System32\cmd.exe", &["/c", "exit", "0"]);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let package = Package::open(salve_test_artifacts::ECHO).expect("echo package");
    let grant = Grant::declared(package.manifest().capabilities.here());

    // Baseline: a native process spawn, in this same run.
    let spawn = measure(2000 / scale, || {
        let status = Command::new(NATIVE.0)
            .args(NATIVE.1)
            .status()
            .expect("spawn the native program");
        assert!(status.success());
    });

    // Warm invocation: the component is compiled and pre-instantiated once;
    // every invocation gets a fresh instance and store.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let action = runtime.load(&package).expect("load");
    for _ in 0..1000 {
        invoke(&runtime, &action, &grant);
    }
    let warm = measure(50_000 / scale, || invoke(&runtime, &action, &grant));
    let window = Duration::from_secs(if quick { 1 } else { 3 });
    let one_thread = throughput(&runtime, &action, &grant, 1, window);
    let two_threads = throughput(&runtime, &action, &grant, 2, window);

    // Loading: compiling from bytes against reading the disk cache (none
    // on Windows, which refuses the cache).
    let loading = cfg!(unix).then(|| loading(&package, scale));

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "## Invocation (cargo bench{} -p salve --bench invocation{})",
        if cfg!(windows) {
            " --target x86_64-pc-windows-gnu"
        } else {
            ""
        },
        if quick { " -- --quick" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores, {}. Action: `echo` ({} KiB component), fresh instance per invocation.",
        std::env::consts::OS,
        package.component().len() / 1024
    );
    println!();
    println!("| measurement | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    println!(
        "| warm invocation (fresh instance) | {} | {} | {} |",
        us(warm.p50),
        us(warm.p99),
        us(warm.mean)
    );
    println!(
        "| native spawn of `{}` | {} | {} | {} |",
        std::iter::once(NATIVE.0)
            .chain(NATIVE.1.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        us(spawn.p50),
        us(spawn.p99),
        us(spawn.mean)
    );
    if let Some((compiled, cached)) = &loading {
        println!(
            "| load, compiling the component | {} | {} | {} |",
            ms(compiled.p50),
            ms(compiled.p99),
            ms(compiled.mean)
        );
        println!(
            "| load, from the disk cache | {} | {} | {} |",
            ms(cached.p50),
            ms(cached.p99),
            ms(cached.mean)
        );
    }
    println!();
    println!("| ratio | value | target |");
    println!("|---|---|---|");
    println!(
        "| native spawn p50 / warm invocation p50 | {:.1}× | ≥ 10× |",
        spawn.p50.as_secs_f64() / warm.p50.as_secs_f64()
    );
    if let Some((compiled, cached)) = &loading {
        println!(
            "| compile p50 / cached load p50 | {:.1}× | ≥ 20× |",
            compiled.p50.as_secs_f64() / cached.p50.as_secs_f64()
        );
    }
    println!();
    println!("| throughput | invocations/s |");
    println!("|---|---|");
    println!("| 1 thread | {one_thread:.0} |");
    println!("| 2 threads | {two_threads:.0} |");
    println!();
    println!(
        "Targets: warm p50 ≤ 25 µs ({}), p99 ≤ 60 µs ({}).",
        if warm.p50 <= Duration::from_micros(25) {
            "met"
        } else {
            "MISSED"
        },
        if warm.p99 <= Duration::from_micros(60) {
            "met"
        } else {
            "MISSED"
        },
    );
}

/// Loading `package`: compiling it, against reading it from the disk cache.
fn loading(package: &Package, scale: usize) -> (Stats, Stats) {
    let cache = tempfile::tempdir().expect("cache dir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().join("components")),
        ..RuntimeConfig::default()
    };
    // Time only `load`, not engine creation.
    let mut compile_samples = Vec::new();
    let mut cached_samples = Vec::new();
    for _ in 0..10.max(20 / scale) {
        let _ = std::fs::remove_dir_all(cache.path().join("components"));
        let fresh = Runtime::new(config.clone()).expect("runtime");
        let started = Instant::now();
        let loaded = fresh.load(package).expect("compile");
        compile_samples.push(started.elapsed());
        assert_eq!(loaded.cache_source(), salve::CacheSource::Compiled);
        let fresh = Runtime::new(config.clone()).expect("runtime");
        let started = Instant::now();
        let loaded = fresh.load(package).expect("cached load");
        cached_samples.push(started.elapsed());
        assert_eq!(loaded.cache_source(), salve::CacheSource::Disk);
    }
    (stats(compile_samples), stats(cached_samples))
}
