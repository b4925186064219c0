//! The operating systems a capability's parameters are written for.
//!
//! Most parameters say by their form which system they belong to: a path
//! from `/` is a Unix path, one from a drive (`C:\`) a Windows path; a
//! systemd unit carries its type (`cups.service`), a Windows service does
//! not (`Spooler`). A `host:port` belongs to none. A manifest gives the
//! Linux form directly under a capability and the Windows form in its
//! `windows` table; an endpoint grants only the form of its own system.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An operating system salve's endpoint runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux (systemd units, Unix paths).
    Linux,
    /// Windows (Service Control Manager services, drive-absolute paths).
    Windows,
}

impl Os {
    /// Every system, in the order reports show them.
    pub const ALL: [Os; 2] = [Os::Linux, Os::Windows];

    /// The system this build runs on. (A Unix other than Linux reads the
    /// Linux parameters until it has its own.)
    pub const CURRENT: Os = if cfg!(windows) {
        Os::Windows
    } else {
        Os::Linux
    };

    /// The name, as the manifest's table and reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
        }
    }

    /// The name for people.
    pub fn title(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Windows => "Windows",
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
