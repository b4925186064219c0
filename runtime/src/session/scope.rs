//! What may run in a session: the actions allowed (with version ranges),
//! those never allowed, and whether privileged ones may be asked for.

use crate::manifest::ActionId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// An action allowed in a scope: its id and a version range, written
/// `restart-service` (any version) or `restart-service@^1.2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionRule {
    /// The action.
    pub id: ActionId,
    /// The versions allowed.
    pub versions: semver::VersionReq,
}

impl ActionRule {
    /// Whether `id@version` is allowed by this rule.
    pub fn allows(&self, id: &ActionId, version: &semver::Version) -> bool {
        &self.id == id && self.versions.matches(version)
    }
}

impl FromStr for ActionRule {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (id, versions) = match text.split_once('@') {
            Some((id, range)) => (
                id,
                range.parse().map_err(|e| {
                    format!("`{range}` in `{text}` is not a version range ({e}), e.g. `^1.2`")
                })?,
            ),
            None => (text, semver::VersionReq::STAR),
        };
        Ok(ActionRule {
            id: id.parse()?,
            versions,
        })
    }
}

impl TryFrom<String> for ActionRule {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<ActionRule> for String {
    fn from(rule: ActionRule) -> String {
        rule.to_string()
    }
}

impl fmt::Display for ActionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.versions == semver::VersionReq::STAR {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}@{}", self.id, self.versions)
        }
    }
}

/// What may run in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The actions allowed, with version ranges.
    pub allowed: Vec<ActionRule>,
    /// Actions never allowed, whatever `allowed` says.
    #[serde(default)]
    pub prohibited: BTreeSet<ActionId>,
    /// Whether privileged actions may be asked for at all (each still needs
    /// its own approval).
    #[serde(default)]
    pub privileged: bool,
}
