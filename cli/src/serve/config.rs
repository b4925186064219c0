//! `salve.toml`, the service's configuration. Every key has a default that
//! works on first start; paths are relative to the file's directory.
//!
//! ```toml
//! endpoint = "pc-0421"                      # default: the host name
//! data-dir = "/var/lib/salve"               # state.db, audit/, catalog/, endpoint.key, tls/
//! socket = "/run/salve/salve.sock"          # local API (consent comes only here); default $RUNTIME_DIRECTORY/salve.sock, else /run/salve/salve.sock
//! listen = "127.0.0.1:7443"                 # TLS API; "" for none
//! policy = "/etc/salve/policy.toml"         # missing at the default path: nobody may do anything yet
//! trust = "/etc/salve/trust.toml"           # missing at the default path: no package is trusted yet
//! checkpoint-copy = "/mnt/offsite/pc-0421-checkpoints.jsonl"  # default: <data-dir>/checkpoints.jsonl
//! max-concurrent-requests = 64              # more are answered "busy" at once
//! max-connections = 256                     # open at once, on each listener; more are refused "busy"
//! max-body-bytes = 1048576
//! request-timeout-seconds = 10              # a client slower than this to send is cut off
//! send-timeout-seconds = 60                 # a client that takes no answer for this long is cut off
//! shutdown-grace-seconds = 10               # in-flight requests get this long on SIGTERM
//! sweep-seconds = 30                        # how often idle and expired sessions are closed
//! # tls-cert = "cert.pem"                   # default: generated on first start
//! # tls-key = "key.pem"
//!
//! [limits]                                  # the most any action may have; its manifest may ask for less
//! deadline-ms = 120000                      # 100 to 3600000
//! memory-mib = 512                          # 1 to 4096
//! output-kib = 4096                         # 1 to 65536
//! ```

use anyhow::{Context, anyhow};
use salve::{Limits, RuntimeLimits};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub endpoint: Option<String>,
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    pub socket: Option<PathBuf>,
    #[serde(default = "defaults::listen")]
    pub listen: String,
    #[serde(default = "defaults::policy")]
    pub policy: PathBuf,
    #[serde(default = "defaults::trust")]
    pub trust: PathBuf,
    #[serde(default = "defaults::max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "defaults::request_timeout_seconds")]
    pub request_timeout_seconds: u64,
    #[serde(default = "defaults::send_timeout_seconds")]
    pub send_timeout_seconds: u64,
    #[serde(default = "defaults::shutdown_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    #[serde(default = "defaults::sweep_seconds")]
    pub sweep_seconds: u64,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where every audit checkpoint is also appended: somewhere whoever
    /// could rewrite the log cannot.
    pub checkpoint_copy: Option<PathBuf>,
    /// The operator's ceilings: what no action may exceed, whatever its
    /// manifest asks.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[fleet]`: the broker this endpoint dials out to, if any.
    pub fleet: Option<FleetConfig>,
}

/// `[fleet]`: the NATS broker the endpoint connects out to, and answers
/// signed requests on (`salve.v1.ep.<endpoint>.req`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FleetConfig {
    /// The broker's URLs (`nats://host:4222`, `tls://host:4222`): tried in
    /// turn, and again, for as long as the service runs.
    pub servers: Vec<String>,
    /// The broker user this endpoint connects as.
    pub user: Option<String>,
    /// The file holding that user's password.
    pub password_file: Option<PathBuf>,
    /// The broker's CA certificate (PEM), for `tls://` URLs.
    pub ca: Option<PathBuf>,
}

/// `[limits]`: the most any invocation may have. A manifest's own `[limits]`
/// may ask for any value up to these; a package asking for more is not
/// loaded.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsConfig {
    #[serde(default = "defaults::deadline_ms")]
    pub deadline_ms: u64,
    #[serde(default = "defaults::memory_mib")]
    pub memory_mib: u64,
    #[serde(default = "defaults::output_kib")]
    pub output_kib: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            deadline_ms: defaults::deadline_ms(),
            memory_mib: defaults::memory_mib(),
            output_kib: defaults::output_kib(),
        }
    }
}

mod defaults {
    use salve::RuntimeLimits;
    use std::path::PathBuf;
    pub fn deadline_ms() -> u64 {
        u64::try_from(RuntimeLimits::default().max.deadline.as_millis()).unwrap_or(u64::MAX)
    }
    pub fn memory_mib() -> u64 {
        RuntimeLimits::default().max.memory_bytes >> 20
    }
    pub fn output_kib() -> u64 {
        RuntimeLimits::default().max.output_bytes >> 10
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("/var/lib/salve")
    }
    pub fn listen() -> String {
        "127.0.0.1:7443".to_string()
    }
    pub fn policy() -> PathBuf {
        PathBuf::from("/etc/salve/policy.toml")
    }
    pub fn trust() -> PathBuf {
        PathBuf::from("/etc/salve/trust.toml")
    }
    pub fn max_concurrent_requests() -> usize {
        64
    }
    pub fn max_connections() -> usize {
        256
    }
    pub fn send_timeout_seconds() -> u64 {
        60
    }
    pub fn max_body_bytes() -> usize {
        1 << 20
    }
    pub fn request_timeout_seconds() -> u64 {
        10
    }
    pub fn shutdown_grace_seconds() -> u64 {
        10
    }
    pub fn sweep_seconds() -> u64 {
        30
    }
}

/// Most requests or connections a limit may allow.
const MAX_COUNT: u64 = 65_536;

/// Most seconds `shutdown-grace-seconds` may give: the shipped unit's
/// `TimeoutStopSec=90` covers it and the ~15 s of cancelling and closing
/// after it.
const MAX_GRACE_SECONDS: u64 = 60;

impl Config {
    /// Reads the file at `path`; without one, every default.
    pub fn read(path: Option<&Path>) -> anyhow::Result<Config> {
        let (text, base) = match path {
            Some(path) => (
                salve::file_error::read_text(path)
                    .with_context(|| format!("cannot read the configuration {}", path.display()))?,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (String::new(), PathBuf::new()),
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start].matches('\n').count() + 1)
                .unwrap_or(0);
            anyhow!(
                "{} line {line}: {}",
                path.map(|p| p.display().to_string()).unwrap_or_default(),
                e.message()
            )
        })?;
        for path in [&mut config.data_dir, &mut config.policy, &mut config.trust] {
            *path = base.join(&*path);
        }
        for path in [
            &mut config.socket,
            &mut config.tls_cert,
            &mut config.tls_key,
            &mut config.checkpoint_copy,
        ]
        .into_iter()
        .flatten()
        {
            *path = base.join(&*path);
        }
        config.check_ranges()?;
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err(anyhow!(
                "tls-cert and tls-key go together: give both, or neither to use a generated certificate"
            ));
        }
        Ok(config)
    }

    /// Every number within the range the service can work with, each
    /// error naming its key and the range.
    fn check_ranges(&self) -> anyhow::Result<()> {
        let ranges: [(&str, u64, u64, u64); 10] = [
            (
                "max-concurrent-requests",
                self.max_concurrent_requests as u64,
                1,
                MAX_COUNT,
            ),
            ("max-connections", self.max_connections as u64, 1, MAX_COUNT),
            // A signed request alone takes about a kilobyte.
            ("max-body-bytes", self.max_body_bytes as u64, 4096, 64 << 20),
            (
                "request-timeout-seconds",
                self.request_timeout_seconds,
                1,
                3600,
            ),
            ("send-timeout-seconds", self.send_timeout_seconds, 1, 3600),
            ("sweep-seconds", self.sweep_seconds, 1, 3600),
            // The unit's TimeoutStopSec must cover it, plus ~15 s.
            (
                "shutdown-grace-seconds",
                self.shutdown_grace_seconds,
                0,
                MAX_GRACE_SECONDS,
            ),
            (
                "limits.deadline-ms",
                self.limits.deadline_ms,
                100,
                3_600_000,
            ),
            // A 32-bit guest addresses at most 4 GiB.
            ("limits.memory-mib", self.limits.memory_mib, 1, 4096),
            ("limits.output-kib", self.limits.output_kib, 1, 64 << 10),
        ];
        for (key, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(anyhow!(
                    "{key} = {value} is out of range: it must be between {low} and {high}"
                ));
            }
        }
        Ok(())
    }

    /// The runtime's limits: the operator's ceilings, and the built-in
    /// defaults (for manifests that are silent) held under them.
    pub fn runtime_limits(&self) -> RuntimeLimits {
        let max = Limits {
            deadline: Duration::from_millis(self.limits.deadline_ms),
            memory_bytes: self.limits.memory_mib << 20,
            output_bytes: self.limits.output_kib << 10,
        };
        RuntimeLimits {
            max,
            default: RuntimeLimits::default().default.min(max),
        }
    }

    /// The local socket: as configured, else in the runtime directory
    /// systemd made for the service (`RuntimeDirectory=salve`), else
    /// `/run/salve/salve.sock` — where the CLI looks by default.
    pub fn socket(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            std::env::var_os("RUNTIME_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/run/salve"))
                .join("salve.sock")
        })
    }

    /// Where checkpoints are copied: as configured, else
    /// `checkpoints.jsonl` in the data directory.
    pub fn checkpoint_copy(&self) -> PathBuf {
        self.checkpoint_copy
            .clone()
            .unwrap_or_else(|| self.data_dir.join("checkpoints.jsonl"))
    }

    /// Whether the policy is the default path rather than one configured.
    pub fn policy_is_default(&self) -> bool {
        self.policy == defaults::policy()
    }

    /// Whether the trust file is the default path rather than one configured.
    pub fn trust_is_default(&self) -> bool {
        self.trust == defaults::trust()
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "endpoint".to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dist")
            .join(file)
    }

    #[test]
    fn the_shipped_example_configuration_reads() -> anyhow::Result<()> {
        let config = Config::read(Some(&dist("salve.toml")))?;
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/salve"));
        assert_eq!(config.socket(), PathBuf::from("/run/salve/salve.sock"));
        assert_eq!(
            config.checkpoint_copy(),
            PathBuf::from("/var/lib/salve/checkpoints.jsonl")
        );
        assert!(config.policy_is_default() && config.trust_is_default());
        // The policy and trust files beside it are valid too.
        salve::policy::Policy::read(&dist("policy.toml"))?;
        salve::vetting::TrustConfig::read(&dist("trust.toml"))?;
        Ok(())
    }

    #[test]
    fn the_operator_sets_the_ceiling_every_manifest_is_held_to() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("salve.toml");
        std::fs::write(&file, "[limits]\ndeadline-ms = 10000\nmemory-mib = 32\n")?;
        let limits = Config::read(Some(&file))?.runtime_limits();
        assert_eq!(limits.max.deadline, Duration::from_secs(10));
        assert_eq!(limits.max.memory_bytes, 32 << 20);
        assert_eq!(
            limits.max.output_bytes,
            4 << 20,
            "an unset ceiling keeps its default"
        );
        assert_eq!(
            limits.default.deadline,
            Duration::from_secs(10),
            "the default stays under the ceiling"
        );
        let asks = |text: &str| -> anyhow::Result<_> {
            let manifest: salve::ManifestLimits = toml::from_str(text)?;
            Ok(limits.resolve(&manifest).map_err(|e| e.to_string()))
        };
        // Above the default but within the built-in maximum: refused here.
        assert!(asks("deadline-ms = 20000")?.is_err_and(|e| e.contains("`deadline-ms = 20000`")));
        assert!(asks("memory-mib = 64")?.is_err_and(|e| e.contains("at most 32")));
        assert!(asks("deadline-ms = 10000\nmemory-mib = 32")?.is_ok());
        // Without [limits], the built-in ceilings.
        assert_eq!(
            Config::read(None)?.runtime_limits(),
            RuntimeLimits::default()
        );

        std::fs::write(&file, "[limits]\nmemory-mib = 8192\n")?;
        assert_eq!(
            Config::read(Some(&file)).unwrap_err().to_string(),
            "limits.memory-mib = 8192 is out of range: it must be between 1 and 4096"
        );
        std::fs::write(&file, "[limits]\ncpu = 1\n")?;
        assert!(Config::read(Some(&file)).is_err());
        Ok(())
    }

    #[test]
    fn paths_are_relative_to_the_file_and_bad_keys_are_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("salve.toml");
        std::fs::write(
            &file,
            "data-dir = \"data\"\npolicy = \"p.toml\"\ncheckpoint-copy = \"../elsewhere/c.jsonl\"\n",
        )?;
        let config = Config::read(Some(&file))?;
        assert_eq!(config.data_dir, dir.path().join("data"));
        assert_eq!(config.policy, dir.path().join("p.toml"));
        assert!(!config.policy_is_default() && config.trust_is_default());
        assert_eq!(
            config.checkpoint_copy(),
            dir.path().join("../elsewhere/c.jsonl")
        );
        std::fs::write(&file, "data-dir = \"data\"\nlisten-on = \"0.0.0.0:1\"\n")?;
        let error = Config::read(Some(&file)).unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("listen-on"),
            "{error}"
        );
        std::fs::write(&file, "tls-cert = \"c.pem\"\n")?;
        let error = Config::read(Some(&file)).unwrap_err().to_string();
        assert!(
            error.contains("tls-cert and tls-key go together"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn numbers_out_of_range_are_refused_naming_key_and_range() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("salve.toml");
        for (setting, expected) in [
            (
                "max-body-bytes = 0",
                "max-body-bytes = 0 is out of range: it must be between 4096 and 67108864",
            ),
            ("sweep-seconds = 0", "sweep-seconds = 0 is out of range"),
            (
                "max-concurrent-requests = 0",
                "max-concurrent-requests = 0 is out of range",
            ),
            (
                "max-connections = 100000000000",
                "max-connections = 100000000000 is out of range",
            ),
            (
                "shutdown-grace-seconds = 600",
                "shutdown-grace-seconds = 600 is out of range: it must be between 0 and 60",
            ),
            (
                "request-timeout-seconds = 0",
                "request-timeout-seconds = 0 is out of range",
            ),
        ] {
            std::fs::write(&file, format!("{setting}\n"))?;
            let error = Config::read(Some(&file)).unwrap_err().to_string();
            assert!(error.contains(expected), "{setting}: {error}");
        }
        std::fs::write(
            &file,
            "max-body-bytes = 4096\nshutdown-grace-seconds = 60\n",
        )?;
        assert!(Config::read(Some(&file)).is_ok());
        Ok(())
    }
}
