//! Example of embedding the salve runtime in a host program: load a package,
//! grant it only its *standard* capabilities, run it, and report the outcome —
//! through the library's public API, without the CLI.
//!
//! Build a package, then run this host on it:
//!
//! ```text
//! rustup target add wasm32-wasip2
//! cargo run --release -- action build actions/system-report --out /tmp/system-report
//! cargo run --release -p salve-examples --bin embed-runtime -- /tmp/system-report '{}'
//! ```
//!
//! A package that needs a privileged capability (say `restart-service`) is
//! refused before it runs: this host never grants one.

use salve::{CapabilityClass, Grant, Outcome, Package, Runtime, RuntimeConfig};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(package_dir), input) = (args.next(), args.next()) else {
        eprintln!("usage: embed-runtime <package-dir> [input-json]");
        return ExitCode::from(2);
    };
    match run(&package_dir, input.as_deref().unwrap_or("{}")) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(3)
        }
    }
}

fn run(package_dir: &str, input: &str) -> Result<bool, Box<dyn std::error::Error>> {
    // One runtime per process: it owns the engine, the epoch ticker that
    // enforces deadlines, and the compiled-component cache.
    let runtime = Runtime::new(RuntimeConfig::default())?;

    // Opening checks the component against the digest in action.toml;
    // loading compiles it and checks its imports against the manifest.
    let package = Package::open(package_dir)?;
    let action = runtime.load(&package)?;

    // This host's policy: standard capabilities only. The grant is what the
    // manifest declares intersected with what the host allows.
    let declared = package.manifest().capabilities.here();
    let standard = declared
        .names()
        .iter()
        .filter(|c| c.class() == CapabilityClass::Standard)
        .collect();
    let grant = Grant::intersect(declared, &declared.only(standard));

    let invocation = runtime.invoke(&action, &grant, input)?;
    println!(
        "{} {} in {:?}",
        invocation.action,
        invocation.outcome.code(),
        invocation.duration
    );
    match &invocation.outcome {
        Outcome::Succeeded { output } => println!("{}", output.get()),
        Outcome::Failed { code, message } => println!("{code}: {message}"),
        Outcome::Stopped { message, .. } => println!("{message}"),
    }
    for call in &invocation.denied_calls {
        println!(
            "denied: {}.{} {}: {}",
            call.capability, call.function, call.target, call.reason
        );
    }
    Ok(invocation.outcome.succeeded())
}
