//! Capabilities: what an action may do on the endpoint, each with its class
//! and its parameters.
//!
//! A capability is one interface of the WIT world (`sdk/wit/action.wit`). Its
//! name is the same in three places: the `[capabilities]` key of
//! `action.toml`, the WIT interface, and the host module under `host/` that
//! enforces it.
//!
//! The runtime, not the action's author, decides each capability's class:
//! [`Capability::class`] is the one table of it (docs/reference/sandbox.md repeats it).

mod declared;
mod os;
mod params;
mod path_syntax;
mod set;

pub use declared::DeclaredCapabilities;
pub use os::Os;
pub use params::{HostPort, ParamError, PathPrefix, ProgramPath, ServiceName};
pub use set::{Capabilities, Hosts, NotDeclared, Parameters, Paths, Programs, Services, Sysinfo};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The WIT package every capability interface belongs to.
pub const WIT_PACKAGE: &str = "salve:action";

/// One capability interface of the action world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Messages for the invocation's log. Always granted; not declared.
    Log,
    /// Read-only facts about the endpoint.
    Sysinfo,
    /// The state of named services.
    ServiceStatus,
    /// Starting, stopping, restarting named services.
    ServiceControl,
    /// Reading files under named path prefixes.
    FilesRead,
    /// Writing and deleting files under named path prefixes.
    FilesWrite,
    /// Running named programs.
    Programs,
    /// TCP connections to named `host:port` pairs.
    Network,
}

/// Whether a capability can be used without a second approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapabilityClass {
    /// Observes the endpoint without changing it or sending data off it.
    Standard,
    /// Changes the endpoint, runs code outside the sandbox, or moves data off
    /// the endpoint: needs a second, distinct approver per invocation.
    Privileged,
}

impl Capability {
    /// Every capability, in the order of the table in docs/reference/sandbox.md.
    pub const ALL: [Capability; 8] = [
        Capability::Log,
        Capability::Sysinfo,
        Capability::ServiceStatus,
        Capability::ServiceControl,
        Capability::FilesRead,
        Capability::FilesWrite,
        Capability::Programs,
        Capability::Network,
    ];

    /// Everything the runtime knows about this capability, as the module
    /// that implements it declares it (`host/<name>.rs`, beside its
    /// checks). The one table of capabilities to modules.
    pub fn spec(self) -> &'static CapabilitySpec {
        match self {
            Capability::Log => &crate::host::log::SPEC,
            Capability::Sysinfo => &crate::host::sysinfo::SPEC,
            Capability::ServiceStatus => &crate::host::service_status::SPEC,
            Capability::ServiceControl => &crate::host::service_control::SPEC,
            Capability::FilesRead => &crate::host::files_read::SPEC,
            Capability::FilesWrite => &crate::host::files_write::SPEC,
            Capability::Programs => &crate::host::programs::SPEC,
            Capability::Network => &crate::host::network::SPEC,
        }
    }

    /// The capability's name: its `[capabilities]` key and its WIT interface.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The runtime's class for this capability. A policy may class more
    /// capabilities as privileged, never fewer.
    pub fn class(self) -> CapabilityClass {
        self.spec().class
    }

    /// What the capability allows, in a phrase.
    pub fn summary(self) -> &'static str {
        self.spec().summary
    }

    /// The capability whose name is `name`.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The capability whose WIT interface is `interface`, e.g.
    /// `salve:action/files-read@0.1.0`. Any version of the package matches; the
    /// linker checks the version.
    pub fn from_interface(interface: &str) -> Option<Capability> {
        let rest = interface.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
        let name = rest.split_once('@').map_or(rest, |(name, _)| name);
        Capability::from_name(name)
    }

    /// A small bit set index, for sets of capabilities.
    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// One capability as the module that implements it declares it: its name
/// (the `[capabilities]` key and the WIT interface), the runtime's class for
/// it, a phrase for people, and how its interface is linked. Its parameters
/// are a [`Parameters`] type (a field of [`Capabilities`]); its checks are
/// the host functions beside the declaration.
pub struct CapabilitySpec {
    /// The name.
    pub name: &'static str,
    /// The runtime's class.
    pub class: CapabilityClass,
    /// What it allows, in a phrase.
    pub summary: &'static str,
    /// Adds its WIT interface, implemented by the host, to a linker.
    pub(crate) link: crate::engine::LinkFn,
}

impl fmt::Debug for CapabilitySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilitySpec")
            .field("name", &self.name)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for CapabilityClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapabilityClass::Standard => "standard",
            CapabilityClass::Privileged => "privileged",
        })
    }
}

/// A set of capabilities, cheap to copy and compare (one bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapabilityNames(u16);

impl CapabilityNames {
    /// The empty set.
    pub const fn empty() -> Self {
        CapabilityNames(0)
    }

    /// This set with `capability` added.
    #[must_use]
    pub const fn with(self, capability: Capability) -> Self {
        CapabilityNames(self.0 | capability.bit())
    }

    /// Whether `capability` is in the set.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The members, in table order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The privileged members.
    pub fn privileged(self) -> impl Iterator<Item = Capability> {
        self.iter()
            .filter(|c| c.class() == CapabilityClass::Privileged)
    }
}

impl FromIterator<Capability> for CapabilityNames {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(CapabilityNames::empty(), CapabilityNames::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_interfaces() {
        for capability in Capability::ALL {
            assert_eq!(Capability::from_name(capability.name()), Some(capability));
            let interface = format!("salve:action/{}@0.1.0", capability.name());
            assert_eq!(Capability::from_interface(&interface), Some(capability));
        }
        assert_eq!(Capability::from_interface("salve:action/types@0.1.0"), None);
        assert_eq!(Capability::from_interface("wasi:cli/stdout@0.2.6"), None);
        assert_eq!(Capability::from_interface("salve:actionx/log"), None);
    }

    #[test]
    fn the_class_table() {
        let privileged: Vec<_> = Capability::ALL
            .into_iter()
            .filter(|c| c.class() == CapabilityClass::Privileged)
            .map(Capability::name)
            .collect();
        assert_eq!(
            privileged,
            ["service-control", "files-write", "programs", "network"]
        );
    }

    #[test]
    fn name_sets() {
        let set: CapabilityNames = [Capability::Network, Capability::Log].into_iter().collect();
        assert!(set.contains(Capability::Log) && set.contains(Capability::Network));
        assert!(!set.contains(Capability::Sysinfo));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Capability::Log, Capability::Network]
        );
        assert_eq!(set.privileged().collect::<Vec<_>>(), [Capability::Network]);
    }
}
