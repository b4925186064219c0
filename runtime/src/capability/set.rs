//! A set of capabilities with their parameters: what a manifest declares, what
//! a scope allows, and what an invocation is granted are all this one type.

use super::params::{HostPort, PathPrefix, ProgramPath, ServiceName};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
        let present = [
            (Capability::Sysinfo, self.sysinfo.is_some()),
            (Capability::ServiceStatus, self.service_status.is_some()),
            (Capability::ServiceControl, self.service_control.is_some()),
            (Capability::FilesRead, self.files_read.is_some()),
            (Capability::FilesWrite, self.files_write.is_some()),
            (Capability::Programs, self.programs.is_some()),
            (Capability::Network, self.network.is_some()),
        ];
        present
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(c, _)| c)
            .chain([Capability::Log])
            .collect()
    }

    /// The parameters of `capability`, as text; `None` when it is absent,
    /// empty for a capability without parameters.
    pub fn parameters(&self, capability: Capability) -> Option<Vec<String>> {
        fn text<T: ToString>(set: &BTreeSet<T>) -> Vec<String> {
            set.iter().map(T::to_string).collect()
        }
        match capability {
            Capability::Log => Some(Vec::new()),
            Capability::Sysinfo => self.sysinfo.map(|_| Vec::new()),
            Capability::ServiceStatus => self.service_status.as_ref().map(|s| text(&s.services)),
            Capability::ServiceControl => self.service_control.as_ref().map(|s| text(&s.services)),
            Capability::FilesRead => self.files_read.as_ref().map(|p| text(&p.paths)),
            Capability::FilesWrite => self.files_write.as_ref().map(|p| text(&p.paths)),
            Capability::Programs => self.programs.as_ref().map(|p| text(&p.programs)),
            Capability::Network => self.network.as_ref().map(|h| text(&h.hosts)),
        }
    }

    /// What both `self` and `other` allow. For path prefixes, the narrower of
    /// two nested prefixes is kept. A capability whose parameters do not meet
    /// at all is left out.
    #[must_use]
    pub fn intersect(&self, other: &Capabilities) -> Capabilities {
        Capabilities {
            sysinfo: self.sysinfo.and(other.sysinfo),
            service_status: both(&self.service_status, &other.service_status, |a, b| {
                non_empty_set(&a.services & &b.services).map(|services| Services { services })
            }),
            service_control: both(&self.service_control, &other.service_control, |a, b| {
                non_empty_set(&a.services & &b.services).map(|services| Services { services })
            }),
            files_read: both(&self.files_read, &other.files_read, intersect_paths),
            files_write: both(&self.files_write, &other.files_write, intersect_paths),
            programs: both(&self.programs, &other.programs, |a, b| {
                non_empty_set(&a.programs & &b.programs).map(|programs| Programs { programs })
            }),
            network: both(&self.network, &other.network, |a, b| {
                non_empty_set(&a.hosts & &b.hosts).map(|hosts| Hosts { hosts })
            }),
        }
    }

    /// Checks that everything in `self` lies within `declared`, naming the
    /// first thing that does not.
    pub fn check_within(&self, declared: &Capabilities) -> Result<(), NotDeclared> {
        for capability in self.names().iter() {
            let Some(asked) = self.parameters(capability) else {
                continue;
            };
            let Some(allowed) = declared.parameters(capability) else {
                return Err(NotDeclared {
                    capability,
                    what: format!("capability `{capability}`"),
                });
            };
            for parameter in asked {
                let inside = match capability {
                    Capability::FilesRead | Capability::FilesWrite => allowed
                        .iter()
                        .any(|prefix| is_path_within(&parameter, prefix)),
                    _ => allowed.contains(&parameter),
                };
                if !inside {
                    return Err(NotDeclared {
                        capability,
                        what: format!("`{parameter}` for capability `{capability}`"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Only the capabilities named in `names`, with their parameters.
    #[must_use]
    pub fn only(&self, names: CapabilityNames) -> Capabilities {
        let keep = |c: Capability| names.contains(c);
        Capabilities {
            sysinfo: self.sysinfo.filter(|_| keep(Capability::Sysinfo)),
            service_status: self
                .service_status
                .clone()
                .filter(|_| keep(Capability::ServiceStatus)),
            service_control: self
                .service_control
                .clone()
                .filter(|_| keep(Capability::ServiceControl)),
            files_read: self
                .files_read
                .clone()
                .filter(|_| keep(Capability::FilesRead)),
            files_write: self
                .files_write
                .clone()
                .filter(|_| keep(Capability::FilesWrite)),
            programs: self.programs.clone().filter(|_| keep(Capability::Programs)),
            network: self.network.clone().filter(|_| keep(Capability::Network)),
        }
    }
}

fn both<T>(a: &Option<T>, b: &Option<T>, meet: impl FnOnce(&T, &T) -> Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => meet(a, b),
        _ => None,
    }
}

fn non_empty_set<T>(set: BTreeSet<T>) -> Option<BTreeSet<T>> {
    (!set.is_empty()).then_some(set)
}

fn intersect_paths(a: &Paths, b: &Paths) -> Option<Paths> {
    let mut paths = BTreeSet::new();
    for x in &a.paths {
        for y in &b.paths {
            if x.contains(y) {
                paths.insert(y.clone());
            } else if y.contains(x) {
                paths.insert(x.clone());
            }
        }
    }
    non_empty_set(paths).map(|paths| Paths { paths })
}

fn is_path_within(path: &str, prefix: &str) -> bool {
    match (path.parse::<PathPrefix>(), prefix.parse::<PathPrefix>()) {
        (Ok(path), Ok(prefix)) => prefix.contains(&path),
        _ => false,
    }
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

    #[test]
    fn empty_lists_are_refused() {
        let error = toml::from_str::<Capabilities>("service-status = { services = [] }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("the list is empty"), "{error}");
    }
}
