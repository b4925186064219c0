//! A set of capabilities with their parameters: what a manifest declares, what
//! a scope allows, and what an invocation is granted are all this one type.

use super::params::{HostPort, ParamError, PathPrefix, ProgramPath, ServiceName};
use super::{Capability, CapabilityNames};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// Capabilities with their parameters, as in `action.toml`:
///
/// ```toml
/// [capabilities.sysinfo]
///
/// [capabilities.service-status]
/// services = ["cups.service"]
///
/// [capabilities.files-read]
/// paths = ["/var/log"]
/// ```
///
/// `log` is always granted and is not listed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Read-only facts about the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysinfo: Option<Sysinfo>,
    /// The state of these services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_status: Option<Services>,
    /// Start, stop, restart these services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_control: Option<Services>,
    /// Read under these paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_read: Option<Paths>,
    /// Write and delete under these paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_write: Option<Paths>,
    /// Run these programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<Programs>,
    /// Connect to these destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Hosts>,
}

/// `sysinfo` takes no parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysinfo {}

/// Service units, for `service-status` and `service-control`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    /// Exact unit names.
    #[serde(deserialize_with = "non_empty")]
    pub services: BTreeSet<ServiceName>,
}

/// Path prefixes, for `files-read` and `files-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Directories under which access is allowed.
    #[serde(deserialize_with = "non_empty")]
    pub paths: BTreeSet<PathPrefix>,
}

/// Program paths, for `programs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programs {
    /// Exact program paths.
    #[serde(deserialize_with = "non_empty")]
    pub programs: BTreeSet<ProgramPath>,
}

/// Destinations, for `network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// Exact `host:port` pairs.
    #[serde(deserialize_with = "non_empty")]
    pub hosts: BTreeSet<HostPort>,
}

fn non_empty<'de, D, T>(deserializer: D) -> Result<BTreeSet<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Ord,
{
    let set = BTreeSet::<T>::deserialize(deserializer)?;
    if set.is_empty() {
        return Err(serde::de::Error::custom(
            "the list is empty: name at least one, or leave the capability out",
        ));
    }
    Ok(set)
}

/// What a capability's parameters are, whatever their kind: how they read
/// from text (a grant on the command line), how two sets of them meet, and
/// whether one lies within them. Each parameter type of a capability
/// implements it; [`Capabilities`] needs nothing else to handle it.
pub trait Parameters: Clone + Sized {
    /// The parameters as text; empty for a capability that takes none.
    fn texts(&self) -> Vec<String>;
    /// Parameters read from text, as `capability=a,b` names them.
    fn parse(texts: &[String]) -> Result<Self, ParamError>;
    /// What both allow; `None` when they do not meet at all.
    fn meet(&self, other: &Self) -> Option<Self>;
    /// Both together.
    #[must_use]
    fn union(self, other: Self) -> Self;
    /// Whether the parameter `text` lies within these.
    fn allows(&self, text: &str) -> bool {
        self.texts().iter().any(|t| t == text)
    }
}

/// A set of parameters of one kind: the shape of every capability with a
/// list (services, paths, programs, hosts).
macro_rules! listed {
    ($ty:ident, $field:ident, $item:ty) => {
        impl Parameters for $ty {
            fn texts(&self) -> Vec<String> {
                self.$field.iter().map(ToString::to_string).collect()
            }

            fn parse(texts: &[String]) -> Result<Self, ParamError> {
                let $field = texts
                    .iter()
                    .map(|t| t.parse::<$item>())
                    .collect::<Result<BTreeSet<_>, _>>()?;
                Ok($ty { $field })
            }

            fn meet(&self, other: &Self) -> Option<Self> {
                non_empty_set(&self.$field & &other.$field).map(|$field| $ty { $field })
            }

            fn union(mut self, other: Self) -> Self {
                self.$field.extend(other.$field);
                self
            }
        }
    };
}

listed!(Services, services, ServiceName);
listed!(Programs, programs, ProgramPath);
listed!(Hosts, hosts, HostPort);

impl Parameters for Sysinfo {
    fn texts(&self) -> Vec<String> {
        Vec::new()
    }

    fn parse(_: &[String]) -> Result<Self, ParamError> {
        Err(ParamError::new("sysinfo takes no parameters"))
    }

    fn meet(&self, _: &Self) -> Option<Self> {
        Some(Sysinfo {})
    }

    fn union(self, _: Self) -> Self {
        self
    }
}

impl Parameters for Paths {
    fn texts(&self) -> Vec<String> {
        self.paths.iter().map(ToString::to_string).collect()
    }

    fn parse(texts: &[String]) -> Result<Self, ParamError> {
        let paths = texts
            .iter()
            .map(|t| t.parse::<PathPrefix>())
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Paths { paths })
    }

    /// For nested prefixes, the narrower is kept.
    fn meet(&self, other: &Self) -> Option<Self> {
        let mut paths = BTreeSet::new();
        for x in &self.paths {
            for y in &other.paths {
                if x.contains(y) {
                    paths.insert(y.clone());
                } else if y.contains(x) {
                    paths.insert(x.clone());
                }
            }
        }
        non_empty_set(paths).map(|paths| Paths { paths })
    }

    fn union(mut self, other: Self) -> Self {
        self.paths.extend(other.paths);
        self
    }

    /// A path lies within a prefix that contains it.
    fn allows(&self, text: &str) -> bool {
        text.parse::<PathPrefix>()
            .is_ok_and(|path| self.paths.iter().any(|prefix| prefix.contains(&path)))
    }
}

/// The one list of which field of [`Capabilities`] holds which capability:
/// `$body` is expanded once for each, with `$cap` the capability and
/// `$field` its field. (`log` has no field: it is always granted.)
macro_rules! each_field {
    ($cap:ident, $field:ident, $body:expr) => {{
        each_field!(@one Sysinfo, sysinfo, $cap, $field, $body);
        each_field!(@one ServiceStatus, service_status, $cap, $field, $body);
        each_field!(@one ServiceControl, service_control, $cap, $field, $body);
        each_field!(@one FilesRead, files_read, $cap, $field, $body);
        each_field!(@one FilesWrite, files_write, $cap, $field, $body);
        each_field!(@one Programs, programs, $cap, $field, $body);
        each_field!(@one Network, network, $cap, $field, $body);
    }};
    (@one $variant:ident, $name:ident, $cap:ident, $field:ident, $body:expr) => {{
        let $cap = Capability::$variant;
        macro_rules! $field {
            ($s:expr) => {
                $s.$name
            };
        }
        $body;
    }};
}

/// A parameter asked for that the manifest does not declare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not declared by the action's manifest")]
pub struct NotDeclared {
    /// The capability.
    pub capability: Capability,
    /// What was asked for, e.g. "capability `network`" or "path `/etc`".
    pub what: String,
}

impl Capabilities {
    /// The capabilities present, plus `log`, which is always granted.
    pub fn names(&self) -> CapabilityNames {
        let mut names = CapabilityNames::empty().with(Capability::Log);
        each_field!(cap, field, {
            if field!(self).is_some() {
                names = names.with(cap);
            }
        });
        names
    }

    /// The parameters of `capability`, as text; `None` when it is absent,
    /// empty for a capability without parameters.
    pub fn parameters(&self, capability: Capability) -> Option<Vec<String>> {
        if capability == Capability::Log {
            return Some(Vec::new());
        }
        let mut texts = None;
        each_field!(cap, field, {
            if cap == capability {
                texts = field!(self).as_ref().map(Parameters::texts);
            }
        });
        texts
    }

    /// Whether `capability` allows the parameter `text`.
    fn allows(&self, capability: Capability, text: &str) -> bool {
        let mut allowed = false;
        each_field!(cap, field, {
            if cap == capability {
                allowed = field!(self).as_ref().is_some_and(|p| p.allows(text));
            }
        });
        allowed
    }

    /// The capabilities of `self` with `capability` granted with the
    /// parameters `texts` (added to any it has), or why they do not read.
    pub fn with_parameters(
        mut self,
        capability: Capability,
        texts: &[String],
    ) -> Result<Capabilities, ParamError> {
        let mut result = Err(ParamError::new(format!("{capability} takes no parameters")));
        each_field!(cap, field, {
            if cap == capability {
                result = Parameters::parse(texts).map(|parsed| {
                    field!(self) = Some(match field!(self).take() {
                        Some(held) => Parameters::union(held, parsed),
                        None => parsed,
                    });
                });
            }
        });
        result.map(|()| self)
    }

    /// `self` with everything in `other` added (parameters unioned).
    #[must_use]
    pub fn union(mut self, other: Capabilities) -> Capabilities {
        let mut other = other;
        each_field!(cap, field, {
            let _ = cap;
            field!(self) = match (field!(self).take(), field!(other).take()) {
                (Some(a), Some(b)) => Some(Parameters::union(a, b)),
                (a, b) => a.or(b),
            };
        });
        self
    }

    /// What both `self` and `other` allow. For path prefixes, the narrower of
    /// two nested prefixes is kept. A capability whose parameters do not meet
    /// at all is left out.
    #[must_use]
    pub fn intersect(&self, other: &Capabilities) -> Capabilities {
        let mut both = Capabilities::default();
        each_field!(cap, field, {
            let _ = cap;
            field!(both) = match (&field!(self), &field!(other)) {
                (Some(a), Some(b)) => a.meet(b),
                _ => None,
            };
        });
        both
    }

    /// Checks that everything in `self` lies within `declared`, naming the
    /// first thing that does not.
    pub fn check_within(&self, declared: &Capabilities) -> Result<(), NotDeclared> {
        for capability in self.names().iter() {
            let Some(asked) = self.parameters(capability) else {
                continue;
            };
            if declared.parameters(capability).is_none() {
                return Err(NotDeclared {
                    capability,
                    what: format!("capability `{capability}`"),
                });
            }
            if let Some(parameter) = asked.iter().find(|p| !declared.allows(capability, p)) {
                return Err(NotDeclared {
                    capability,
                    what: format!("`{parameter}` for capability `{capability}`"),
                });
            }
        }
        Ok(())
    }

    /// Only the capabilities named in `names`, with their parameters.
    #[must_use]
    pub fn only(&self, names: CapabilityNames) -> Capabilities {
        let mut kept = Capabilities::default();
        each_field!(cap, field, {
            if names.contains(cap) {
                field!(kept) = field!(self).clone();
            }
        });
        kept
    }
}

fn non_empty_set<T>(set: BTreeSet<T>) -> Option<BTreeSet<T>> {
    (!set.is_empty()).then_some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(toml_text: &str) -> Capabilities {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn intersection_keeps_what_both_allow() {
        let declared = caps(
            r#"
            sysinfo = {}
            service-status = { services = ["cups.service", "ssh.service"] }
            files-read = { paths = ["/var/log", "/tmp"] }
            network = { hosts = ["example.com:443"] }
            "#,
        );
        let allowed = caps(
            r#"
            service-status = { services = ["ssh.service", "nginx.service"] }
            files-read = { paths = ["/var/log/apt", "/"] }
            network = { hosts = ["example.com:80"] }
            "#,
        );
        let grant = declared.intersect(&allowed);
        assert_eq!(
            grant,
            caps(
                r#"
                service-status = { services = ["ssh.service"] }
                files-read = { paths = ["/var/log/apt", "/var/log", "/tmp"] }
                "#
            )
        );
        assert_eq!(
            grant
                .names()
                .iter()
                .map(Capability::name)
                .collect::<Vec<_>>(),
            ["log", "service-status", "files-read"]
        );
    }

    #[test]
    fn check_within_names_the_first_excess() {
        let declared = caps(r#"files-read = { paths = ["/var/log"] }"#);
        assert!(
            caps(r#"files-read = { paths = ["/var/log/apt"] }"#)
                .check_within(&declared)
                .is_ok()
        );
        assert_eq!(
            caps(r#"files-read = { paths = ["/etc"] }"#)
                .check_within(&declared)
                .unwrap_err()
                .to_string(),
            "`/etc` for capability `files-read` is not declared by the action's manifest"
        );
        assert_eq!(
            caps(r#"programs = { programs = ["/bin/sh"] }"#)
                .check_within(&declared)
                .unwrap_err()
                .to_string(),
            "capability `programs` is not declared by the action's manifest"
        );
    }

    /// One scope may name Linux and Windows parameters side by side: what it
    /// grants on each system is what meets that system's declaration.
    #[test]
    fn a_scope_naming_both_systems_grants_each_its_own() {
        let scope = caps(
            r#"
            service-control = { services = ["cups.service", "Spooler"] }
            files-read = { paths = ["/var/log", 'C:\ProgramData'] }
            programs = { programs = ["/usr/bin/resolvectl flush-caches", 'C:\Windows\System32\ipconfig.exe /flushdns'] }
            "#,
        );
        let linux = caps(
            r#"
            service-control = { services = ["cups.service"] }
            files-read = { paths = ["/var/log/apt"] }
            programs = { programs = ["/usr/bin/resolvectl flush-caches"] }
            "#,
        );
        let windows = caps(
            r#"
            service-control = { services = ["Spooler"] }
            files-read = { paths = ['C:\ProgramData\app'] }
            programs = { programs = ['C:\Windows\System32\ipconfig.exe /flushdns'] }
            "#,
        );
        assert_eq!(linux.intersect(&scope), linux);
        assert_eq!(windows.intersect(&scope), windows);
        // A path of one system never contains one of the other.
        let root = caps(r#"files-read = { paths = ["/"] }"#);
        assert_eq!(windows.intersect(&root).files_read, None);
    }

    #[test]
    fn empty_lists_are_refused() {
        let error = toml::from_str::<Capabilities>("service-status = { services = [] }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("the list is empty"), "{error}");
    }
}
