//! The command line, as clap parses it. Meaning (grants, limits, paths) is
//! resolved by the commands, not here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit status:
  0  the command (or the action) succeeded
  1  the action ran and reported failure
  2  bad usage or bad input (flags, JSON, grants)
  3  refused before running (bad package, digest mismatch, undeclared import, capability not granted)
  4  the sandbox stopped the action (deadline, memory, output, stack, trap)

Operational logs go to stderr (errors only by default); set SALVE_LOG, e.g.
SALVE_LOG=info or SALVE_LOG=salve=debug, to see more.";

/// salve runs vetted IT-support remediation actions in a WebAssembly
/// sandbox, with exactly the capabilities they declare and are granted.
#[derive(Debug, Parser)]
#[command(name = "salve", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, inspect and check action packages (for action authors).
    #[command(subcommand)]
    Action(ActionCommand),

    /// Run an action package locally with explicit grants.
    ///
    /// The action gets only the capabilities you grant with --grant, and only
    /// within what its manifest declares. Without any --grant it gets only
    /// `log`, and an action that needs more is refused before it runs.
    ///
    /// Examples:
    ///   salve run actions/system-report --grant sysinfo
    ///   salve run actions/collect-logs --input '{"files": ["syslog"]}' --grant files-read=/var/log
    ///   salve run ./my-action --input @input.json --grant-declared --json
    #[command(verbatim_doc_comment, after_help = AFTER_HELP)]
    Run(RunArgs),

    /// Build the shipped actions and walk through running them (the
    /// quickstart).
    Demo(DemoArgs),

    /// Make an ed25519 key pair for signing requests.
    ///
    /// Writes the private key to FILE (mode 0600; an existing file is never
    /// overwritten) and prints the public key as a `[[principals]]` entry to
    /// add to the endpoint's policy.
    Keygen {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The principal id the key belongs to (recorded in the key file).
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
    },

    /// Sign a request: wrap an operation with your principal id, the time and a
    /// fresh nonce, signed with your key.
    ///
    /// Prints the signed request as JSON, ready to send to an endpoint. The
    /// operation is JSON such as
    ///   {"op": "approve-session", "session": "s-…"}
    #[command(verbatim_doc_comment)]
    Sign {
        /// Your key file (from `salve keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Your principal id; defaults to the one in the key file.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// The operation: JSON text, @FILE, or - for stdin.
        #[arg(long, value_name = "JSON|@FILE|-")]
        operation: String,
    },

    /// Policy files (for administrators).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file and summarize it: principals and their roles, what
    /// each role may do, the categories that justify remote access, the rules.
    ///
    /// Exits 2 with the file, line and problem when the policy is invalid.
    Check {
        /// The policy file.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Build an action crate into a package.
    ///
    /// Runs `cargo build --release --target wasm32-wasip2` in DIR (showing
    /// cargo's progress), copies the component next to `action.toml` and writes
    /// its sha256 into the manifest's `[component]` table. Then checks the
    /// package as `salve action inspect` does.
    ///
    /// Needs the wasm32-wasip2 target: `rustup target add wasm32-wasip2`.
    Build {
        /// The action crate: a directory with Cargo.toml and action.toml.
        dir: PathBuf,
        /// Write the package here instead of into DIR.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },

    /// Show a package: manifest, digest, each capability with its class,
    /// what the component really imports, and any mismatch.
    ///
    /// Exits 3 when the package would be refused (digest mismatch, an
    /// undeclared or forbidden import).
    Inspect {
        /// The package directory (holding action.toml and its component).
        package: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The package directory (holding action.toml and its component).
    pub package: PathBuf,

    /// The action's input: JSON text, @FILE to read it from a file, or - for
    /// stdin. Defaults to {}.
    #[arg(long, short, value_name = "JSON|@FILE|-", default_value = "{}")]
    pub input: String,

    /// Grant a capability: `NAME` grants it as the manifest declares it,
    /// `NAME=P1,P2` only those parameters (services, paths, programs or
    /// host:port pairs). Repeatable. `log` is always granted.
    #[arg(long = "grant", short = 'g', value_name = "NAME[=P1,P2]")]
    pub grants: Vec<String>,

    /// Grant everything the manifest declares.
    #[arg(long, conflicts_with = "grants")]
    pub grant_declared: bool,

    /// Tighten the deadline, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,

    /// Tighten the memory limit, in MiB.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,

    /// Tighten the output limit, in KiB.
    #[arg(long, value_name = "KIB")]
    pub output_kib: Option<u64>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The directory of the shipped action crates. Defaults to `actions/` of
    /// the checkout salve was built from.
    #[arg(long, value_name = "DIR")]
    pub actions: Option<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print one JSON document instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Where compiled components are cached (must be private to you).
    /// Defaults to $SALVE_CACHE_DIR, else $XDG_CACHE_HOME/salve, else
    /// ~/.cache/salve.
    #[arg(long, value_name = "DIR", env = "SALVE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Do not read or write the compiled-component cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}
