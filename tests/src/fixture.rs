//! An endpoint for tests: a policy with generated keys, real packages, a
//! SQLite state store in a temporary directory, and a clock that moves only
//! when the test says so.

use crate::{PackageCopy, artifacts, shared_runtime};
use salve::Package;
use salve::audit::{AuditConfig, AuditLog, Record};

use salve::catalog::Catalog;
use salve::clock::ManualClock;
use salve::endpoint::{Authenticated, Endpoint};
use salve::identity::{KeyPair, PrincipalId};
use salve::policy::Policy;
use salve::session::{ActionRule, Scope, SessionRequest};
use salve::store::StateStore;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The endpoint's name in every fixture.
pub const ENDPOINT: &str = "pc-0421";

/// Who is who in the fixture's policy.
pub const PEOPLE: &[(&str, &str)] = &[
    ("alice", "tier1"),
    ("tom", "tier2"),
    ("bob", "approver"),
    ("carol", "approver"),
    ("ann", "tier2\", \"approver"),
    ("dave", "auditor"),
];

/// A test endpoint and what it is made of.
pub struct Fixture {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Every principal's key.
    pub keys: BTreeMap<String, KeyPair>,
    /// The directory `clear-temp-files` is granted (its privileged action).
    pub temp_dir: PathBuf,
    /// The state database.
    pub state_path: PathBuf,
    /// The audit log's directory.
    pub audit_dir: PathBuf,
    /// The endpoint's own key, which signs the audit log's checkpoints.
    pub endpoint_key: Arc<KeyPair>,
    /// The policy's text.
    pub policy_text: String,
    packages: Vec<Package>,
    _copies: Vec<PackageCopy>,
    _dir: tempfile::TempDir,
}

/// The fixture's policy text, with these public keys.
pub fn policy_text(keys: &BTreeMap<String, KeyPair>, extra: &str) -> String {
    let mut text = String::from(
        r#"schema = 1

[settings]
max-session-minutes = 480
max-idle-minutes = 120
escalation-minutes = 30
clock-skew-seconds = 300
consent-min-uid = 0

[categories]
incident = "A reported fault that needs hands-on remediation."
service-request = "A planned change a user asked for."

[roles.tier1]
description = "First-line support"
permissions = ["request-sessions", "invoke-standard"]
actions = ["system-report", "disk-usage", "echo", "clear-temp-files"]

[roles.tier2]
description = "Second-line support"
permissions = ["request-sessions", "invoke-standard", "invoke-privileged"]
actions = ["*"]

[roles.approver]
permissions = ["approve-sessions", "approve-escalations"]

[roles.auditor]
permissions = ["read-audit"]
"#,
    );
    for (id, roles) in PEOPLE {
        let key = keys[*id].public();
        text.push_str(&format!(
            "\n[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{roles}\"]\npublic-key = \"{key}\"\n"
        ));
    }
    text.push_str(extra);
    text
}

impl Fixture {
    /// A fresh endpoint at time 1 000 000 000 000 ms.
    pub fn new() -> Fixture {
        Fixture::with_rules("")
    }

    /// A fresh endpoint whose catalog also holds the hostile test guest
    /// (every capability declared, so a privileged action).
    pub fn with_hostile() -> Fixture {
        let mut f = Fixture::new();
        f.packages
            .push(Package::open(artifacts::HOSTILE).expect("hostile"));
        f.restart();
        f
    }

    /// A fresh endpoint whose policy ends with `extra` (e.g. `rules = ...`).
    pub fn with_rules(extra: &str) -> Fixture {
        Fixture::with_policy(extra, "")
    }

    /// A fresh endpoint whose policy's `[settings]` also hold `settings`
    /// (e.g. `extra-privileged = ["sysinfo"]`).
    pub fn with_settings(settings: &str) -> Fixture {
        Fixture::with_policy("", settings)
    }

    fn with_policy(extra: &str, settings: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let temp_dir = dir.path().join("var-tmp");
        std::fs::create_dir(&temp_dir).expect("temp dir");
        let keys: BTreeMap<String, KeyPair> = PEOPLE
            .iter()
            .map(|(id, _)| (id.to_string(), KeyPair::generate().expect("key")))
            .collect();
        let policy_text = policy_text(&keys, extra).replacen(
            "[settings]\n",
            &format!("[settings]\n{settings}\n"),
            1,
        );
        // The cleaner is vetted for the fixture's temporary directory, in
        // its manifest's Linux or Windows table.
        let (declared, granted) = if cfg!(windows) {
            (
                r"'C:\Windows\Temp'".to_string(),
                format!("'{}'", temp_dir.display()),
            )
        } else {
            (
                "\"/var/tmp\"".to_string(),
                format!("\"{}\"", temp_dir.display()),
            )
        };
        let replacements: &[(&str, &str)] = &[(&declared, &granted)];
        let cleaner = PackageCopy::new(artifacts::CLEAR_TEMP_FILES, replacements, "");
        let packages = vec![
            Package::open(artifacts::SYSTEM_REPORT).expect("system-report"),
            Package::open(artifacts::DISK_USAGE).expect("disk-usage"),
            Package::open(artifacts::ECHO).expect("echo"),
            cleaner.open(),
        ];
        let state_path = dir.path().join("state.db");
        let audit_dir = dir.path().join("audit");
        let endpoint_key = Arc::new(KeyPair::generate().expect("endpoint key"));
        let clock = Arc::new(ManualClock::at(1_000_000_000_000));
        let endpoint = Fixture::build(
            &policy_text,
            &packages,
            &state_path,
            &Fixture::audit_config(&audit_dir, &endpoint_key),
            &clock,
        );
        Fixture {
            endpoint,
            clock,
            keys,
            temp_dir,
            state_path,
            audit_dir,
            endpoint_key,
            policy_text,
            packages,
            _copies: vec![cleaner],
            _dir: dir,
        }
    }

    /// The audit log's configuration: a checkpoint every 16 records, signed
    /// by the endpoint's key.
    pub fn audit_config(dir: &std::path::Path, key: &Arc<KeyPair>) -> AuditConfig {
        let mut config = AuditConfig::new(dir);
        config.checkpoint_every = 16;
        config.checkpoint_key = Some(key.clone());
        config
    }

    fn build(
        policy_text: &str,
        packages: &[Package],
        state_path: &std::path::Path,
        audit: &AuditConfig,
        clock: &Arc<ManualClock>,
    ) -> Endpoint {
        let policy =
            Policy::parse(policy_text, std::path::Path::new("policy.toml")).expect("policy parses");
        let catalog =
            Catalog::load(shared_runtime(), packages.iter().cloned()).expect("catalog loads");
        let store = StateStore::open(state_path).expect("state store opens");
        let audit = Arc::new(AuditLog::open(audit.clone()).expect("audit log opens"));
        Endpoint::new(
            ENDPOINT,
            shared_runtime().clone(),
            catalog,
            policy,
            store,
            audit,
        )
        .with_clock(clock.clone())
    }

    /// The endpoint, built again from the files (its log closed first).
    fn rebuilt(&self) -> Endpoint {
        self.endpoint.audit().close();
        Fixture::build(
            &self.policy_text,
            &self.packages,
            &self.state_path,
            &Fixture::audit_config(&self.audit_dir, &self.endpoint_key),
            &self.clock,
        )
    }

    /// The same endpoint after a crash: rebuilt from the files without
    /// stopping it first.
    pub fn crash_and_restart(&mut self) {
        self.endpoint = self.rebuilt();
    }

    /// The same endpoint after a restart: stopped, then everything rebuilt
    /// from the files.
    pub fn restart(&mut self) {
        assert!(
            self.endpoint.stop().expect("the endpoint stops"),
            "stopped with invocations running"
        );
        self.endpoint = self.rebuilt();
    }

    /// The same endpoint after a restart, consulting `catalog`'s
    /// revocations before every invocation.
    pub fn restart_with_revocations(&mut self, catalog: Arc<salve::vetting::CatalogStore>) {
        assert!(
            self.endpoint.stop().expect("the endpoint stops"),
            "stopped with invocations running"
        );
        self.endpoint = self.rebuilt().with_revocations(catalog);
    }

    /// The same endpoint after a restart, drawing its ids from `random`.
    pub fn restart_with_random(&mut self, random: Arc<dyn salve::random::RandomSource>) {
        assert!(
            self.endpoint.stop().expect("the endpoint stops"),
            "stopped with invocations running"
        );
        self.endpoint = self.rebuilt().with_random(random);
    }

    /// Every record of the audit log so far, after verifying the whole chain
    /// and its checkpoints against the endpoint's key.
    pub fn audit_records(&self) -> Vec<Record> {
        salve::audit::verify_dir(&self.audit_dir, Some(&self.endpoint_key.public()), None)
            .expect("the audit log verifies");
        salve::audit::read::records(&self.audit_dir)
            .collect::<Result<Vec<_>, _>>()
            .expect("the audit log reads")
    }

    /// `id`, as authenticated.
    pub fn who(&self, id: &str) -> Authenticated {
        Authenticated::trusted(id.parse().expect("principal id"))
    }

    /// A principal id.
    pub fn id(&self, id: &str) -> PrincipalId {
        id.parse().expect("principal id")
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// A session request for `technician` allowing `allowed` (rules like
/// `echo` or `echo@^1`), privileged actions if `privileged`.
pub fn request(technician: &str, allowed: &[&str], privileged: bool) -> SessionRequest {
    SessionRequest {
        ticket: "INC0012345".parse().expect("ticket"),
        problem: "The printer queue is stuck.".to_string(),
        category: "incident".to_string(),
        endpoint: ENDPOINT.to_string(),
        technician: technician.parse().expect("technician"),
        scope: Scope {
            allowed: allowed
                .iter()
                .map(|a| a.parse::<ActionRule>().expect("rule"))
                .collect(),
            prohibited: Default::default(),
            privileged,
        },
        attended: false,
        idle_minutes: 60,
        duration_minutes: 240,
    }
}
