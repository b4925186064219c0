//! The `[capabilities]` of `action.toml`, per operating system.
//!
//! ```toml
//! [capabilities.service-control]
//! services = ["cups.service"]          # on Linux
//!
//! [capabilities.service-control.windows]
//! services = ["Spooler"]               # on Windows
//!
//! [capabilities.network]
//! hosts = ["example.com:443"]          # on every system
//! ```
//!
//! The parameters directly under a capability are Linux's: systemd units,
//! paths from `/`. Its `windows` table gives Windows's: service names,
//! drive-absolute paths, programs from a drive. A value in the wrong table
//! is refused where it is written. `network` destinations belong to no
//! system: those under the capability hold on Windows too, unless a
//! `windows` table gives others. A capability with no parameters for a
//! system is not declared on that system; `sysinfo` is declared on all.
//!
//! The whole file is what the vetting signature covers, every system's
//! parameters included.

use super::params::{HostPort, PathPrefix, ProgramPath, ServiceName};
use super::set::{Hosts, Paths, Programs, Services, Sysinfo};
use super::{Capabilities, CapabilityNames, Os};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// What a manifest declares: the capabilities on each operating system,
/// resolved once when the manifest is read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Tables", into = "Tables")]
pub struct DeclaredCapabilities {
    tables: Tables,
    linux: Capabilities,
    windows: Capabilities,
}

impl DeclaredCapabilities {
    /// The capabilities declared on `os`.
    pub fn on(&self, os: Os) -> &Capabilities {
        match os {
            Os::Linux => &self.linux,
            Os::Windows => &self.windows,
        }
    }

    /// The capabilities declared on the system this runtime runs on: what
    /// it may grant.
    pub fn here(&self) -> &Capabilities {
        self.on(Os::CURRENT)
    }

    /// The capabilities declared on any system: what the component may
    /// import (a capability declared for Windows only is linked on Linux
    /// too, and every call to it is denied there).
    pub fn names_on_any_os(&self) -> CapabilityNames {
        Os::ALL
            .into_iter()
            .flat_map(|os| self.on(os).names().iter())
            .collect()
    }
}

/// The `[capabilities]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Tables {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sysinfo: Option<Sysinfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_status: Option<ServicesTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_control: Option<ServicesTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files_read: Option<PathsTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files_write: Option<PathsTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    programs: Option<ProgramsTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    network: Option<HostsTable>,
}

/// A parameter's system, where its form says one.
trait OfSystem {
    /// `None` for a parameter that means the same everywhere.
    fn system(&self) -> Option<Os>;
    /// What it is, for errors: "path".
    const WHAT: &'static str;
    /// How Linux writes one, for errors.
    const LINUX_FORM: &'static str;
}

impl OfSystem for ServiceName {
    fn system(&self) -> Option<Os> {
        Some(self.os())
    }
    const WHAT: &'static str = "service";
    const LINUX_FORM: &'static str = "a systemd unit with its type, e.g. `cups.service`";
}

impl OfSystem for PathPrefix {
    fn system(&self) -> Option<Os> {
        Some(self.os())
    }
    const WHAT: &'static str = "path";
    const LINUX_FORM: &'static str = "a path from `/`, e.g. `/var/log`";
}

impl OfSystem for ProgramPath {
    fn system(&self) -> Option<Os> {
        Some(self.os())
    }
    const WHAT: &'static str = "program";
    const LINUX_FORM: &'static str = "a program from `/`, e.g. `/usr/bin/resolvectl flush-caches`";
}

impl OfSystem for HostPort {
    fn system(&self) -> Option<Os> {
        None
    }
    const WHAT: &'static str = "destination";
    const LINUX_FORM: &'static str = "`host:port`";
}

/// A non-empty list whose values are all of system `os` (or of none).
fn values_of<'de, D, T>(deserializer: D, os: Os) -> Result<BTreeSet<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Ord + OfSystem + std::fmt::Display,
{
    let set = BTreeSet::<T>::deserialize(deserializer)?;
    if set.is_empty() {
        return Err(serde::de::Error::custom(
            "the list is empty: name at least one, or leave the capability out",
        ));
    }
    if let Some(wrong) = set.iter().find(|v| v.system().is_some_and(|s| s != os)) {
        let other = wrong.system().map_or("", |s| s.title());
        let hint = match os {
            Os::Linux => format!(
                "the parameters directly under a capability are Linux's ({}); put Windows ones in the capability's `windows` table",
                T::LINUX_FORM
            ),
            Os::Windows => "a `windows` table holds Windows parameters only; put Linux ones directly under the capability".to_string(),
        };
        return Err(serde::de::Error::custom(format!(
            "`{}` is a {other} {}: {hint}",
            crate::text::escaped(&wrong.to_string()),
            T::WHAT
        )));
    }
    Ok(set)
}

fn linux_values<'de, D, T>(deserializer: D) -> Result<Option<BTreeSet<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Ord + OfSystem + std::fmt::Display,
{
    values_of(deserializer, Os::Linux).map(Some)
}

fn windows_values<'de, D, T>(deserializer: D) -> Result<BTreeSet<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Ord + OfSystem + std::fmt::Display,
{
    values_of(deserializer, Os::Windows)
}

/// One capability's table: its Linux parameters and its `windows` table.
/// `$neutral`: whether the parameters mean the same on every system (then
/// those under the capability hold on Windows when it has no table).
macro_rules! per_os_table {
    ($table:ident, $windows:ident, $params:ident, $field:ident, $item:ty, $neutral:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $table {
            #[serde(
                default,
                deserialize_with = "linux_values",
                skip_serializing_if = "Option::is_none"
            )]
            $field: Option<BTreeSet<$item>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            windows: Option<$windows>,
        }

        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $windows {
            #[serde(deserialize_with = "windows_values")]
            $field: BTreeSet<$item>,
        }

        impl $table {
            fn on(&self, os: Os) -> Option<$params> {
                let $field = match os {
                    Os::Linux => self.$field.clone(),
                    Os::Windows => match &self.windows {
                        Some(table) => Some(table.$field.clone()),
                        None if $neutral => self.$field.clone(),
                        None => None,
                    },
                }?;
                Some($params { $field })
            }

            fn is_empty(&self) -> bool {
                self.$field.is_none() && self.windows.is_none()
            }
        }
    };
}

per_os_table!(
    ServicesTable,
    WindowsServices,
    Services,
    services,
    ServiceName,
    false
);
per_os_table!(PathsTable, WindowsPaths, Paths, paths, PathPrefix, false);
per_os_table!(
    ProgramsTable,
    WindowsPrograms,
    Programs,
    programs,
    ProgramPath,
    false
);
per_os_table!(HostsTable, WindowsHosts, Hosts, hosts, HostPort, true);

impl Tables {
    fn on(&self, os: Os) -> Capabilities {
        Capabilities {
            sysinfo: self.sysinfo.clone(),
            service_status: self.service_status.as_ref().and_then(|t| t.on(os)),
            service_control: self.service_control.as_ref().and_then(|t| t.on(os)),
            files_read: self.files_read.as_ref().and_then(|t| t.on(os)),
            files_write: self.files_write.as_ref().and_then(|t| t.on(os)),
            programs: self.programs.as_ref().and_then(|t| t.on(os)),
            network: self.network.as_ref().and_then(|t| t.on(os)),
        }
    }

    /// The first capability whose table names no parameters at all.
    fn empty_table(&self) -> Option<(&'static str, &'static str)> {
        [
            (
                "service-status",
                "services",
                self.service_status.as_ref().map(ServicesTable::is_empty),
            ),
            (
                "service-control",
                "services",
                self.service_control.as_ref().map(ServicesTable::is_empty),
            ),
            (
                "files-read",
                "paths",
                self.files_read.as_ref().map(PathsTable::is_empty),
            ),
            (
                "files-write",
                "paths",
                self.files_write.as_ref().map(PathsTable::is_empty),
            ),
            (
                "programs",
                "programs",
                self.programs.as_ref().map(ProgramsTable::is_empty),
            ),
            (
                "network",
                "hosts",
                self.network.as_ref().map(HostsTable::is_empty),
            ),
        ]
        .into_iter()
        .find(|(_, _, empty)| *empty == Some(true))
        .map(|(name, field, _)| (name, field))
    }
}

impl TryFrom<Tables> for DeclaredCapabilities {
    type Error = String;

    fn try_from(tables: Tables) -> Result<Self, String> {
        if let Some((name, field)) = tables.empty_table() {
            return Err(format!(
                "`[capabilities.{name}]` names no {field}: list them (for Linux) or in a `[capabilities.{name}.windows]` table, or leave the capability out"
            ));
        }
        Ok(DeclaredCapabilities {
            linux: tables.on(Os::Linux),
            windows: tables.on(Os::Windows),
            tables,
        })
    }
}

impl From<DeclaredCapabilities> for Tables {
    fn from(declared: DeclaredCapabilities) -> Tables {
        declared.tables
    }
}
