//! The policy file as written (`policy.toml`), parsed strictly.
//!
//! ```toml
//! schema = 1
//!
//! [settings]
//! max-session-minutes = 480      # the longest a session may be requested for
//! max-idle-minutes = 60          # the longest idle timeout a session may have
//! escalation-minutes = 30        # how long an escalation approval stays valid
//! clock-skew-seconds = 300       # how far a request's timestamp may be from the clock
//! extra-privileged = []          # capabilities this policy also treats as privileged
//!
//! [categories]                   # the request categories that justify remote access
//! incident = "A reported fault that needs hands-on remediation."
//!
//! [roles.tier1]
//! description = "First-line support"
//! permissions = ["request-sessions", "invoke-standard"]
//! actions = ["system-report", "collect-logs"]   # or ["*"]
//!
//! [[principals]]
//! id = "alice"
//! name = "Alice Martin"
//! roles = ["tier1"]
//! public-key = "ed25519:…"
//!
//! [rules]                        # optional Cedar `forbid` rules, for what roles cannot say
//! cedar = '''
//! @reason("no cleanups outside incidents")
//! forbid (principal, action == Salve::Action::"invoke", resource == Salve::Package::"clear-temp-files")
//! unless { context.category == "incident" };
//! '''
//! ```

use crate::capability::Capability;
use crate::identity::{PrincipalId, PublicKey};
use crate::manifest::ActionId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The policy schema this runtime reads.
pub const POLICY_SCHEMA: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Always [`POLICY_SCHEMA`]; checked while parsing.
    #[allow(dead_code)]
    pub schema: PolicySchema,
    /// Limits on sessions and requests.
    #[serde(default)]
    pub settings: Settings,
    /// Request categories that justify remote access, with what they mean.
    pub categories: BTreeMap<Name, String>,
    /// Roles by name.
    pub roles: BTreeMap<Name, RoleFile>,
    /// The people and their keys.
    #[serde(default)]
    pub principals: Vec<PrincipalFile>,
    /// Additional rules in Cedar.
    #[serde(default)]
    pub rules: Option<RulesFile>,
}

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// `forbid` rules in Cedar.
    pub cedar: toml::Spanned<String>,
}

/// The policy schema version.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "u32")]
pub struct PolicySchema;

impl TryFrom<u32> for PolicySchema {
    type Error = String;
    fn try_from(version: u32) -> Result<Self, String> {
        if version == POLICY_SCHEMA {
            Ok(PolicySchema)
        } else {
            Err(format!(
                "schema {version} is not supported: this runtime reads `schema = {POLICY_SCHEMA}`"
            ))
        }
    }
}

/// `[settings]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Settings {
    /// The longest a session may last, in minutes.
    pub max_session_minutes: u32,
    /// The longest idle timeout a session may have, in minutes.
    pub max_idle_minutes: u32,
    /// How long an escalation may wait for approval, and how long an
    /// approval stays valid, in minutes.
    pub escalation_minutes: u32,
    /// How far a request's timestamp may be from the endpoint's clock.
    pub clock_skew_seconds: u32,
    /// Capabilities treated as privileged in addition to the runtime's.
    pub extra_privileged: Vec<Capability>,
    /// The lowest user id that may consent at the endpoint: system accounts
    /// (the service's own among them) and root are below it by default.
    pub consent_min_uid: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_session_minutes: 8 * 60,
            max_idle_minutes: 60,
            escalation_minutes: 30,
            clock_skew_seconds: 300,
            extra_privileged: Vec::new(),
            consent_min_uid: 1000,
        }
    }
}

/// A role or category name: lowercase letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "`{name}` is not a name: use lowercase letters, digits and dashes, e.g. `tier2` or `service-request`"
            ));
        }
        Ok(Name(name.to_string()))
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        name.parse()
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Request sessions on the endpoint.
    RequestSessions,
    /// Invoke actions whose capabilities are all standard.
    InvokeStandard,
    /// Invoke actions with a privileged capability (each still needs a second
    /// approval).
    InvokePrivileged,
    /// Approve sessions (never one's own).
    ApproveSessions,
    /// Approve escalations (never one's own).
    ApproveEscalations,
    /// Read and export the audit log and reports.
    ReadAudit,
    /// Administer the endpoint (catalog, policy).
    Administer,
}

impl Permission {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Permission::RequestSessions => "request-sessions",
            Permission::InvokeStandard => "invoke-standard",
            Permission::InvokePrivileged => "invoke-privileged",
            Permission::ApproveSessions => "approve-sessions",
            Permission::ApproveEscalations => "approve-escalations",
            Permission::ReadAudit => "read-audit",
            Permission::Administer => "administer",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The actions a role may use: named ones, or all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub enum ActionSet {
    /// `["*"]`: every action in the catalog.
    All,
    /// These actions only.
    Only(Vec<ActionId>),
}

impl TryFrom<Vec<String>> for ActionSet {
    type Error = String;
    fn try_from(items: Vec<String>) -> Result<Self, String> {
        if items.iter().any(|i| i == "*") {
            if items.len() > 1 {
                return Err(
                    "`*` already names every action: write `actions = [\"*\"]` alone".to_string(),
                );
            }
            return Ok(ActionSet::All);
        }
        items
            .iter()
            .map(|i| i.parse::<ActionId>())
            .collect::<Result<Vec<_>, _>>()
            .map(ActionSet::Only)
    }
}

impl Default for ActionSet {
    fn default() -> Self {
        ActionSet::Only(Vec::new())
    }
}

/// `[roles.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleFile {
    /// What the role is for.
    #[serde(default)]
    pub description: String,
    /// What it may do.
    pub permissions: Vec<Permission>,
    /// Which actions its `invoke-*` permissions cover.
    #[serde(default)]
    pub actions: ActionSet,
}

/// `[[principals]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrincipalFile {
    /// The identifier requests are signed as.
    pub id: toml::Spanned<PrincipalId>,
    /// The person's name, for reports.
    pub name: String,
    /// Their roles (names from `[roles]`).
    pub roles: Vec<toml::Spanned<Name>>,
    /// The key their requests are signed with.
    pub public_key: toml::Spanned<PublicKey>,
}
