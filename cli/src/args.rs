//! The command line, as clap parses it. Meaning (grants, limits, paths) is
//! resolved by the commands, not here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit status:
  0  the command (or the action) succeeded
  1  the action ran and reported failure (`salve invoke`: or the sandbox stopped it)
  2  bad usage or bad input (flags, JSON, grants)
  3  refused before running (bad package, digest mismatch, undeclared import, capability
     not granted; `salve invoke`: denied, or waiting for a second approver)
  4  `salve run`: the sandbox stopped the action (deadline, memory, output, stack, trap)
  5  the audit log does not verify (changed, truncated, or signed by another key)
  6  the service could not be reached (not running, wrong --socket or --url, TLS or pin failed)
  7  the service cannot take the request now (busy, stopping, its audit log or state store
     unavailable): nothing was done; try again later
141  stdout was closed by its reader (`salve … | head`), as SIGPIPE would end the command

With --json, an error is printed on stdout as
{\"error\": {\"code\": \"…\", \"message\": \"…\", \"status\": <HTTP status, if the service answered>}}.

Operational logs go to stderr (warnings and errors by default; `salve serve`: info too);
set SALVE_LOG, e.g. SALVE_LOG=info or SALVE_LOG=salve=debug, to see more.";

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

    /// Run the endpoint service: the API over a local Unix socket and over
    /// TLS, until SIGTERM.
    ///
    /// Everything has a default that works on first start (see
    /// docs/guides/operator.md): the data directory holds the state, the audit
    /// log, the catalog, the endpoint key and a generated TLS certificate,
    /// whose fingerprint is printed for clients to pin.
    ///
    /// Example:
    ///   salve serve --config /etc/salve/salve.toml
    #[command(verbatim_doc_comment)]
    Serve {
        /// The configuration file (TOML). Without one, every default.
        #[arg(long, value_name = "FILE", env = "SALVE_CONFIG")]
        config: Option<PathBuf>,
    },

    /// Serve the console: approvers work in a browser, with their key kept
    /// in it.
    ///
    /// The console relays requests a person's browser signed to the
    /// endpoints it is given, and their signed answers back; it holds no
    /// key of anyone's. A page asks for the person's key file (from `salve
    /// keygen`) once and keeps the key in the browser, unextractable; the
    /// approval pages check the endpoint's signature on what they show,
    /// against the fleet inventory and the fleet-admin key the person gives,
    /// and sign the digests of what was shown.
    ///
    /// Every endpoint it relays to is in the inventory: through the fleet's
    /// broker (--fleet), or directly (--direct NAME=unix:PATH or
    /// NAME=tls:HOST:PORT@sha256:FINGERPRINT). Nothing else is relayed to.
    ///
    /// Example:
    ///   salve console --inventory fleet.json --fleet-admin-key ed25519:… \
    ///       --direct pc-0421=unix:/run/salve/salve.sock
    /// then open http://127.0.0.1:8480/ in a browser.
    #[command(verbatim_doc_comment)]
    Console(ConsoleArgs),

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

    /// Sign a request: wrap an operation with your principal id, the endpoint
    /// it is for, the time and a fresh nonce, signed with your key.
    ///
    /// Prints the signed request as JSON, ready to send to that endpoint
    /// (POST /v1/requests); no other endpoint accepts it. The operation is
    /// JSON such as
    ///   {"op": "approve-session", "session": "s-…"}
    ///
    /// Example:
    ///   salve sign --key ann.key --endpoint pc-0421 \
    ///       --operation '{"op": "approve-session", "session": "s-…"}'
    #[command(verbatim_doc_comment)]
    Sign {
        /// Your key file (from `salve keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The endpoint the request is for (its name, as `/v1/health` gives it).
        #[arg(long, value_name = "NAME")]
        endpoint: String,
        /// Your principal id; defaults to the one in the key file.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// The operation: JSON text, @FILE, or - for stdin.
        #[arg(long, value_name = "JSON|@FILE|-")]
        operation: String,
    },

    /// The fleet: endpoints reached through a NATS broker (for fleet
    /// admins).
    #[command(subcommand)]
    Fleet(FleetCommand),

    /// Policy files (for administrators).
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// The endpoint's vetted catalog: install signed packages, list them,
    /// revoke them (for administrators).
    ///
    /// The trust file names the vetting keys the endpoint trusts and how many
    /// signatures a package needs:
    ///
    ///   schema = 1
    ///   required-signatures = 1
    ///   distinct-from-author = true
    ///   [[vetting-keys]]
    ///   principal = "vetting-board"
    ///   key = "ed25519:…"
    ///   [[author-keys]]              # who may sign as author
    ///   principal = "ann"
    ///   key = "ed25519:…"
    #[command(subcommand, verbatim_doc_comment)]
    Catalog(CatalogCommand),

    /// Sessions, against the service: request, approve, consent, show, list,
    /// close.
    ///
    /// A session is the approved scope of remote work on one ticket:
    /// requested by one person, approved by another with the approver role,
    /// consented to by the end user at the endpoint when attended.
    ///
    /// Example:
    ///   salve session request --key tom.key --ticket INC0012345 \
    ///       --problem "The printer service hangs" --allow service-status --allow restart-service \
    ///       --privileged --attended
    ///   salve session approve --key ann.key s-…          # an approver, not the requester
    ///   salve session consent s-…                        # the end user, at the endpoint
    ///   salve session close --key tom.key s-… --resolved --summary "Restarted cups"
    ///
    /// Exit: 0 done, 2 bad usage or input, 3 refused (the reason is printed),
    /// 6 the service could not be reached, 7 the service cannot take it now
    /// (busy, stopping): try again.
    #[command(subcommand, verbatim_doc_comment)]
    Session(SessionCommand),

    /// The actions installed on the endpoint, against the service: each
    /// one's id, version and description, and the capabilities it declares
    /// (privileged ones marked `!`: each invocation of such an action needs
    /// a second approval) — what a session's scope may allow.
    ///
    /// Example:
    ///   salve actions --key tom.key
    ///   salve actions --key tom.key --json
    #[command(verbatim_doc_comment)]
    Actions {
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Invoke an action in a session, against the service. Prints the
    /// action's output, or why it was denied, or the pending escalation of a
    /// privileged action (exit 3); with --wait, waits for a second approver
    /// to decide and then runs it once approved. With --follow, the action's
    /// log messages and output are shown as it writes them.
    ///
    /// Exit: 0 the action succeeded, 1 it ran and failed (or was stopped),
    /// 2 bad usage or input, 3 denied or waiting for approval, 6 the service
    /// could not be reached, 7 the service cannot take it now (busy,
    /// stopping, its audit log unavailable): nothing ran; try again.
    ///
    /// Example:
    ///   salve invoke --key tom.key s-… system-report
    ///   salve invoke --key tom.key s-… restart-service --input '{"service": "cups.service"}' --wait 300
    ///   salve invoke --key tom.key s-… collect-logs --follow
    #[command(verbatim_doc_comment)]
    Invoke {
        /// The session id.
        session: String,
        /// The action id.
        action: String,
        /// The input: JSON text, @FILE or - for stdin.
        #[arg(long, short, value_name = "JSON|@FILE|-", default_value = "{}")]
        input: String,
        /// If escalated, wait up to SECONDS for an approver's decision, then
        /// run it if approved.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
        /// Show the action's log messages and output while it runs.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Invocations that ran in a session, against the service: list them,
    /// show one with what it did, follow one while it runs.
    #[command(subcommand)]
    Invocation(InvocationCommand),

    /// Escalations of privileged invocations, against the service: list the
    /// pending ones, show one (the exact action and input), approve
    /// or deny it (as a second approver).
    ///
    /// A privileged action does not run on the technician's word alone:
    /// `salve invoke` holds it as an escalation, and a second approver —
    /// never the invoker, never someone who requested or works in the
    /// session — approves exactly that invocation (action, component digest,
    /// input) once, or denies it with a reason.
    ///
    /// Example:
    ///   salve escalation list --key carol.key
    ///   salve escalation show --key carol.key e-…      # the exact action and input held
    ///   salve escalation approve --key carol.key e-…   # that invocation, once
    ///   salve escalation deny --key carol.key e-… --reason "not during business hours"
    #[command(subcommand, verbatim_doc_comment)]
    Escalation(EscalationCommand),

    /// Print a shell completion script: `salve completions bash > /etc/bash_completion.d/salve`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Verify, export and follow the endpoint's audit log (for auditors).
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Post-session reviews and workflow metrics, built from the audit log.
    #[command(subcommand)]
    Report(ReportCommand),
}

/// How to reach the service, and who you are.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The service's local socket.
    #[arg(
        long,
        value_name = "PATH",
        env = "SALVE_SOCKET",
        default_value = "/run/salve/salve.sock",
        global = true
    )]
    pub socket: PathBuf,
    /// Reach the service over TLS instead: host:port.
    #[arg(long, value_name = "HOST:PORT", env = "SALVE_URL", global = true)]
    pub url: Option<String>,
    /// The service certificate's fingerprint (`sha256:…`, printed by `salve serve`).
    #[arg(long, value_name = "SHA256", env = "SALVE_PIN", global = true)]
    pub pin: Option<String>,
    /// Your key file (from `salve keygen`); requests are signed with it.
    #[arg(long, value_name = "FILE", env = "SALVE_KEY", global = true)]
    pub key: Option<PathBuf>,
    /// Your principal id; defaults to the one in the key file.
    #[arg(long, value_name = "ID", global = true)]
    pub principal: Option<String>,
    /// The endpoint to ask (its name). Over the socket or TLS it defaults to
    /// the one the service runs; over the fleet it is needed.
    #[arg(long, value_name = "NAME", env = "SALVE_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Print the service's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// The flag that names the key file, for messages.
    #[arg(skip = "--key")]
    pub key_flag: &'static str,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The fleet inventory: the endpoints' names and the keys their answers
    /// are signed with, signed by a fleet admin. Clients check every answer
    /// through the broker against it.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Write the broker's authorization for the fleet: a user for each
    /// endpoint of the inventory (its own subjects only) and one for people,
    /// each with a new random password written to DIR/<user>.password
    /// (mode 0600). Prints the `authorization { … }` block for the
    /// nats-server configuration.
    NatsConfig {
        /// The inventory file.
        #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY")]
        inventory: PathBuf,
        /// Where to write the password files (made if missing; existing
        /// password files are kept and used).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Create the broker's buckets the endpoints publish to: the approval
    /// queue (`salve-pending`) and their presence (`salve-presence`). Once,
    /// as a broker user allowed to create JetStream streams.
    Setup {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The fleet's approval queue: every endpoint's sessions awaiting
    /// approval and open escalations, newest first, each checked against
    /// the inventory. Approve one with `salve session approve` or `salve
    /// escalation approve` and `--endpoint` its endpoint.
    Pending {
        /// Only those with this ticket.
        #[arg(long)]
        ticket: Option<String>,
        /// Only those raised within this long (e.g. `2h`, `30m`).
        #[arg(long, value_name = "AGE")]
        newer_than: Option<humantime::Duration>,
        /// Only those of endpoints whose name starts with this (`pc-0421`,
        /// `lab-`). The fleet's queue is every endpoint's: `--endpoint` and
        /// `SALVE_ENDPOINT` do not narrow it.
        #[arg(long, value_name = "PREFIX")]
        only: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The fleet's endpoints as they last said they were there: version,
    /// actions, audit log head, last seen.
    Endpoints {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run many endpoints in this one process, for measuring the broker and
    /// the fleet's scale (the fleet benchmark runs it): each with its own
    /// key, audit log, policy and state under `<data-dir>/simulated/`,
    /// sharing the engine and the installed actions of the configuration,
    /// connected through its `[fleet]` section as `salve serve` connects.
    ///
    /// Says `loaded`, `connected N` and, after an outage, `reconnected N`
    /// on stdout; runs until SIGTERM or Ctrl-C.
    Simulate {
        /// The service's configuration file (its `[fleet]` section is
        /// required).
        #[arg(long, value_name = "FILE", env = "SALVE_CONFIG")]
        config: Option<PathBuf>,
        /// How many endpoints.
        #[arg(long, value_name = "N")]
        endpoints: usize,
        /// Their names' first part: `sim-` names them `sim-00000`, ….
        #[arg(long, default_value = "sim-")]
        prefix: String,
        /// Where to write their names and public keys (JSON), for the
        /// inventory.
        #[arg(long, value_name = "FILE")]
        keys_out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Add an endpoint (or change its key). The inventory must be signed
    /// again afterwards.
    ///
    /// The key is the endpoint's: `audit_key` in its `/v1/health`, printed
    /// by `salve serve` as the key its checkpoints are signed by.
    Add {
        /// The inventory file (made if there is none).
        #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY")]
        inventory: PathBuf,
        /// The endpoint's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The endpoint's public key, `ed25519:…`.
        #[arg(long, value_name = "KEY")]
        key: String,
    },
    /// Remove an endpoint. The inventory must be signed again afterwards.
    Remove {
        /// The inventory file.
        #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY")]
        inventory: PathBuf,
        /// The endpoint's name.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// List the endpoints, and who signed the list.
    List {
        /// The inventory file.
        #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY")]
        inventory: PathBuf,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign the inventory with the fleet admin's key.
    Sign {
        /// The inventory file.
        #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY")]
        inventory: PathBuf,
        /// The fleet admin's key file (from `salve keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
}

/// How to reach endpoints through the fleet's NATS broker instead.
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// Reach the endpoint through the fleet's broker: its NATS URL(s),
    /// comma-separated (`nats://host:4222`, `tls://host:4222`).
    #[arg(long, value_name = "URL", env = "SALVE_FLEET", global = true)]
    pub fleet: Option<String>,
    /// The broker user you connect as.
    #[arg(long, value_name = "NAME", env = "SALVE_FLEET_USER", global = true)]
    pub fleet_user: Option<String>,
    /// A file holding that user's password (not the password itself: it
    /// would show in the process list).
    #[arg(
        long,
        value_name = "FILE",
        env = "SALVE_FLEET_PASSWORD_FILE",
        global = true
    )]
    pub fleet_password_file: Option<PathBuf>,
    /// The fleet inventory: the endpoints' names and keys, signed by a
    /// fleet admin (`salve fleet inventory`).
    #[arg(long, value_name = "FILE", env = "SALVE_INVENTORY", global = true)]
    pub inventory: Option<PathBuf>,
    /// The fleet admin's public key (`ed25519:…`) the inventory must be
    /// signed with.
    #[arg(long, value_name = "KEY", env = "SALVE_FLEET_ADMIN_KEY", global = true)]
    pub fleet_admin_key: Option<String>,
    /// The broker's CA certificate (PEM), for `tls://` URLs.
    #[arg(long, value_name = "FILE", env = "SALVE_FLEET_CA", global = true)]
    pub fleet_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Where the console listens. Without --tls-cert and --tls-key, on
    /// loopback only: browsers sign with WebCrypto only in a secure context
    /// (HTTPS, or loopback), and what the pages show must not cross a
    /// network in the clear.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "SALVE_CONSOLE_LISTEN",
        default_value = "127.0.0.1:8480"
    )]
    pub listen: String,
    /// The console's TLS certificate chain (PEM), for browsers on other
    /// machines: one their system trusts (your organization's CA).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// An endpoint reached directly: NAME=unix:PATH (its local socket) or
    /// NAME=tls:HOST:PORT@sha256:FINGERPRINT (its TLS address and the
    /// certificate fingerprint `salve serve` prints). NAME must be in the
    /// inventory. May be given many times.
    #[arg(long = "direct", value_name = "NAME=ADDRESS")]
    pub direct: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The ITSM ticket.
    #[arg(long)]
    pub ticket: String,
    /// The problem, in your words.
    #[arg(long)]
    pub problem: String,
    /// The request category (the policy says which justify remote access).
    #[arg(long, default_value = "incident")]
    pub category: String,
    /// Who will work in the session; defaults to you.
    #[arg(long)]
    pub technician: Option<String>,
    /// An action the scope allows: `id` or `id@<version range>`. Repeatable.
    #[arg(long, required = true, value_name = "ACTION[@RANGE]")]
    pub allow: Vec<String>,
    /// An action the scope prohibits, whatever else it allows. Repeatable.
    #[arg(long, value_name = "ACTION")]
    pub prohibit: Vec<String>,
    /// Allow privileged actions (each still needs a second approval).
    #[arg(long)]
    pub privileged: bool,
    /// The end user must consent at the endpoint before anything runs.
    #[arg(long)]
    pub attended: bool,
    /// Minutes without activity after which the session closes itself.
    #[arg(long, default_value_t = 30)]
    pub idle_minutes: u32,
    /// Minutes after which the session closes itself.
    #[arg(long, default_value_t = 240)]
    pub duration_minutes: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true).multiple(false)))]
pub struct CloseArgs {
    /// The session id.
    pub id: String,
    /// The problem is resolved (this or --unresolved: a closure says which).
    #[arg(long, group = "outcome")]
    pub resolved: bool,
    /// The problem is not resolved.
    #[arg(long, group = "outcome")]
    pub unresolved: bool,
    /// What was done.
    #[arg(long)]
    pub summary: Option<String>,
    /// What remains to be done.
    #[arg(long)]
    pub follow_up: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Request a session (prints its id for the approver).
    Request(RequestArgs),
    /// Approve a session (you must have the approver role and be neither its
    /// requester nor its technician).
    Approve {
        /// The session id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Consent, as the end user at the endpoint, to an attended session.
    /// Works only over the local socket (the service refuses it over TLS):
    /// you are who the system says you are, no key needed. First shows the
    /// session — ticket, problem, who works in it, the actions it allows,
    /// until when — and asks; nothing runs until you say yes.
    ///
    /// Example (as the person at the endpoint, with the session id the
    /// technician gives you):
    ///   salve session consent s-…
    ///   salve session consent s-… --yes      # without being asked (scripts)
    #[command(verbatim_doc_comment)]
    Consent {
        /// The session id.
        id: String,
        /// Consent without being shown the session and asked.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// What ran in a session you consented to, as the end user at the
    /// endpoint: the session, then each invocation — when, what, by whom,
    /// how it ended. Works only over the local socket, for the user who
    /// consented (no key needed); for anyone else there is no such session.
    ///
    /// Example (as the person at the endpoint):
    ///   salve session activity s-…
    #[command(verbatim_doc_comment)]
    Activity {
        /// The session id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a session.
    Show {
        /// The session id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the sessions you may see.
    List {
        /// Only those not closed.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Close a session with its write-up.
    Close(CloseArgs),
}

#[derive(Debug, Subcommand)]
pub enum InvocationCommand {
    /// The invocations of a session: id, action, outcome, duration.
    List {
        /// The session id.
        session: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One invocation: who ran what, when, how it ended, its log messages
    /// and output (so far, while it runs).
    Show {
        /// The invocation id (`i-…`, from `salve invoke` or `list`).
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow an invocation's log messages and output as they are written,
    /// from its start; for one that has ended, replay them. Ends when it
    /// does.
    Follow {
        /// The invocation id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum EscalationCommand {
    /// The pending escalations.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One escalation: the exact action, its component's digest, and the
    /// exact input it would run with.
    Show {
        /// The escalation id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve one invocation (never your own, never in a session you
    /// requested).
    Approve {
        /// The escalation id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deny one invocation: it does not run, and invoking it again (the
    /// same action and input, in the same session) is refused with this
    /// denial instead of raising a new escalation. The reason is logged and
    /// shown to the technician.
    Deny {
        /// The escalation id.
        id: String,
        /// Why, in a sentence (no control characters).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// The catalog directory (`catalog.db` and the installed packages).
    #[arg(
        long = "catalog",
        value_name = "DIR",
        env = "SALVE_CATALOG_DIR",
        default_value = "/var/lib/salve/catalog"
    )]
    pub dir: PathBuf,
    /// The trust file: trusted vetting keys and signature rules.
    #[arg(
        long,
        value_name = "FILE",
        env = "SALVE_TRUST",
        default_value = "/etc/salve/trust.toml"
    )]
    pub trust: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Install a package: checks its digest, its signatures against the
    /// trust file, revocations, and that it is not older than a version
    /// already trusted (rollback); compiles it into the service's cache;
    /// copies it into the catalog. Nothing is installed unless every check
    /// passes (exit 3 naming the check that failed). An upgrade shows its
    /// capability diff. Run it as the service's user (e.g. `sudo -u salve`);
    /// a running `salve serve` loads the package at its next start.
    Install {
        /// The package directory (with action.toml, action.toml.sig and the
        /// component).
        package: PathBuf,
        #[command(flatten)]
        catalog: CatalogArgs,
        /// Where to cache the compiled component: the directory `salve
        /// serve` reads, `cache` beside the catalog directory (with the
        /// default catalog, /var/lib/salve/cache).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List installed packages: id, version, digest, signers, capabilities
    /// with their class (privileged ones marked `!`), revocations.
    List {
        #[command(flatten)]
        catalog: CatalogArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a package at once: `<id>@<version>` or a component's sha256.
    /// The endpoint denies every later invocation of it.
    Revoke {
        /// `<id>@<version>` or `sha256:<hex>`.
        target: String,
        /// Why (recorded).
        #[arg(long, default_value = "revoked by the endpoint's administrator")]
        reason: String,
        #[command(flatten)]
        catalog: CatalogArgs,
    },
    /// Import a revocation list signed by a trusted vetting key.
    ImportRevocations {
        /// The list (JSON, from `salve catalog sign-revocations`).
        file: PathBuf,
        #[command(flatten)]
        catalog: CatalogArgs,
    },
    /// Make a signed revocation list (for vetting authorities); prints JSON.
    SignRevocations {
        /// Your vetting key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Your principal id; defaults to the one in the key file.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// What to revoke: `<id>@<version>` or a component's sha256.
        #[arg(required = true)]
        targets: Vec<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The audit log's directory (its `audit-*.jsonl` segments) [default:
    /// $SALVE_AUDIT_DIR, else /var/lib/salve/audit].
    #[arg(long = "log", value_name = "DIR")]
    pub log: Option<PathBuf>,
    /// Ask the running service instead of reading the files (you need the
    /// read-audit permission; the request is signed with your --key-file).
    #[arg(long, conflicts_with = "log")]
    pub service: bool,
    /// The service's local socket (with --service).
    #[arg(
        long,
        value_name = "PATH",
        env = "SALVE_SOCKET",
        default_value = "/run/salve/salve.sock"
    )]
    pub socket: PathBuf,
    /// The service over TLS, host:port (with --service).
    #[arg(long, value_name = "HOST:PORT", env = "SALVE_URL")]
    pub url: Option<String>,
    /// The service certificate's fingerprint (with --url).
    #[arg(long, value_name = "SHA256", env = "SALVE_PIN")]
    pub pin: Option<String>,
    /// Your key file (with --service).
    #[arg(long = "key-file", value_name = "FILE", env = "SALVE_KEY")]
    pub key_file: Option<PathBuf>,
    /// The endpoint to ask through the fleet (with --service and --fleet).
    #[arg(long, value_name = "NAME", env = "SALVE_ENDPOINT")]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// How often the endpoint checkpoints, for reading its log's files.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// How many records the endpoint writes between two checkpoints (its
    /// `checkpoint-every`): a longer run without one means checkpoints were
    /// removed, and the log does not verify. Not with --service, which knows
    /// its own.
    #[arg(
        long,
        value_name = "N",
        default_value_t = salve::audit::DEFAULT_CHECKPOINT_EVERY,
        conflicts_with = "service"
    )]
    pub checkpoint_every: u64,
}

impl LogArgs {
    /// The audit log's directory: `--log`, else `$SALVE_AUDIT_DIR`, else
    /// `/var/lib/salve/audit`. (Not a clap default: a directory set in the
    /// environment must not conflict with `--service`.)
    pub fn dir(&self) -> PathBuf {
        self.log
            .clone()
            .or_else(|| std::env::var_os("SALVE_AUDIT_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/lib/salve/audit"))
    }

    /// The connection arguments, for the service.
    pub fn client(&self) -> ClientArgs {
        ClientArgs {
            socket: self.socket.clone(),
            url: self.url.clone(),
            pin: self.pin.clone(),
            key: self.key_file.clone(),
            principal: None,
            endpoint: self.endpoint.clone(),
            fleet: self.fleet.clone(),
            json: false,
            key_flag: "--key-file",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole log: every record's hash, every link, sequence numbers
    /// across segments, every checkpoint's signature. Only reads.
    ///
    /// Prints the first bad record with its file, line and what is wrong, and
    /// exits 5. Without --key, checkpoints are checked against the key they
    /// name; with it, they must be signed by that key. With
    /// --from-checkpoint, the log must reach and contain a checkpoint kept
    /// elsewhere: this is what detects a log whose tail was cut off.
    /// Checkpoints must come at least every --checkpoint-every records (the
    /// endpoint's setting): a longer run without one means checkpoints were
    /// removed, as rewriting the records before them requires.
    ///
    /// Examples:
    ///   salve audit verify --log /var/lib/salve/audit
    ///   salve audit verify --key ed25519:… --from-checkpoint /mnt/backup/checkpoints.jsonl
    #[command(verbatim_doc_comment)]
    Verify {
        #[command(flatten)]
        log: LogArgs,
        /// The endpoint's public key: `ed25519:…`, or @FILE holding it or a
        /// key file with its `public-key` line (the endpoint's own key file
        /// will do; only its public half is read).
        #[arg(long, value_name = "KEY|@FILE")]
        key: Option<String>,
        /// A checkpoint kept elsewhere (a JSON file, or JSON lines: the last
        /// one is used).
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Option<PathBuf>,
        #[command(flatten)]
        checkpoints: CheckpointArgs,
        #[command(flatten)]
        output: OutputArgs,
    },

    /// Write records to stdout for a SIEM: as the JSON lines they are (hash
    /// chain included) or as OCSF API Activity events (class 6003), one per
    /// line.
    ///
    /// Examples:
    ///   salve audit export --format ocsf --since 24h > audit.ocsf.jsonl
    ///   salve audit export --since 2026-11-01T00:00:00Z
    #[command(verbatim_doc_comment)]
    Export {
        #[command(flatten)]
        log: LogArgs,
        /// `jsonl` (the records as written) or `ocsf`.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only records at or after this time: RFC 3339 (2026-11-01T00:00:00Z,
        /// 2026-11-01T01:00:00+01:00; without a zone, UTC), a date
        /// (2026-11-01, from midnight UTC) or an age such as 90m, 24h, 7d.
        #[arg(long, value_name = "TIME|AGE")]
        since: Option<String>,
        #[command(flatten)]
        checkpoints: CheckpointArgs,
    },

    /// Print the last records, one line each; with --follow, keep printing
    /// new ones as they are written (Ctrl-C to stop).
    ///
    /// Each record is checked as it is read: its hash must be its line's,
    /// and it must follow the record before it. One that does not stops the
    /// tail with exit 5 and names its file and line. Signatures, and a tail
    /// cut off, are `salve audit verify`'s to check.
    Tail {
        #[command(flatten)]
        log: LogArgs,
        /// How many records to show first.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
        /// Keep watching for new records.
        #[arg(long, short)]
        follow: bool,
        /// Print the records as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SignRole {
    /// You reviewed the package and vouch for it.
    Vetting,
    /// You wrote the package.
    Author,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// The records as written, one JSON object per line.
    Jsonl,
    /// OCSF 1.1.0 API Activity events, one per line.
    Ocsf,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The post-session review: who, ticket, scope, approvals, each action
    /// with its input digest, outcome and duration, escalations, denials,
    /// and the closure's write-up. Flags a closure without a summary.
    Session {
        /// The session id (`s-…`).
        id: String,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        checkpoints: CheckpointArgs,
        #[command(flatten)]
        output: OutputArgs,
    },

    /// Workflow metrics, overall and per technician: mean time to
    /// resolution, share of sessions needing escalation, documentation
    /// completeness, deviations (denied and out-of-scope attempts).
    Metrics {
        /// Only sessions requested at or after this time: RFC 3339 (with `Z`
        /// or an offset), a date (from midnight UTC), or an age such as 7d.
        #[arg(long, value_name = "TIME|AGE")]
        since: Option<String>,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        checkpoints: CheckpointArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
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
    /// Sign a package's manifest (which carries its component's sha256)
    /// with your key, as vetting authority or as author. The signature goes
    /// into `action.toml.sig` beside the manifest, with any others.
    ///
    /// Example:
    ///   salve action sign actions/restart-service --key vetting.key
    #[command(verbatim_doc_comment)]
    Sign {
        /// The package directory.
        package: PathBuf,
        /// Your key file (from `salve keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// `vetting` (you reviewed it) or `author` (you wrote it).
        #[arg(long, value_enum, default_value = "vetting")]
        role: SignRole,
        /// Your principal id; defaults to the one in the key file.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
    },

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
