//! `action.toml`: what an action is, the component it runs, and what it needs.
//!
//! ```toml
//! schema = 1
//! id = "restart-service"
//! version = "1.2.0"
//! description = "Restarts one service and reports its state afterwards."
//!
//! [component]
//! file = "restart_service.wasm"
//! sha256 = "…"          # written by `salve action build`
//!
//! [input]
//! description = "The unit to restart."
//! example = '{"service": "cups.service"}'
//!
//! [output]
//! description = "The unit's state after the restart."
//!
//! [capabilities.service-control]
//! services = ["cups.service"]
//!
//! [capabilities.service-control.windows]   # optional: the same on Windows
//! services = ["Spooler"]
//!
//! [limits]              # optional; may only tighten the runtime's maxima
//! deadline-ms = 20000
//! ```
//!
//! Parsing is strict: an unknown key is an error, and every value is checked
//! while it is read, so an error points at the line that holds it.

use crate::capability::DeclaredCapabilities;
use crate::digest::Sha256Digest;
use crate::file_error::FileError;
use crate::limits::ManifestLimits;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// An `action.toml` that cannot be used: names the file, line and column,
/// shows the line, and says what is wrong.
pub type ManifestError = FileError;

/// The manifest schema this runtime reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The parsed `action.toml` of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest schema version; always [`SCHEMA_VERSION`].
    pub schema: Schema,
    /// The action's identifier, e.g. `restart-service`.
    pub id: ActionId,
    /// The action's semantic version.
    #[serde(deserialize_with = "semantic_version")]
    pub version: semver::Version,
    /// What the action does, for technicians and approvers.
    pub description: Text,
    /// The component file and its digest.
    pub component: ComponentRef,
    /// What the action takes.
    pub input: DataDescription,
    /// What the action returns.
    pub output: DataDescription,
    /// The capabilities the action needs, with their parameters, on each
    /// operating system; [`DeclaredCapabilities::here`] on this one.
    #[serde(default)]
    pub capabilities: DeclaredCapabilities,
    /// Limits tighter than the runtime's.
    #[serde(default)]
    pub limits: ManifestLimits,
}

fn semantic_version<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<semver::Version, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|error| {
        serde::de::Error::custom(format!(
            "`{text}` is not a semantic version ({error}): write MAJOR.MINOR.PATCH, e.g. `1.0.0`"
        ))
    })
}

/// The `[component]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRef {
    /// The component's file name inside the package directory.
    pub file: ComponentFile,
    /// The component's sha256; absent until the action is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
}

/// The `[input]` and `[output]` tables: what the JSON looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDescription {
    /// The fields and their meaning, in prose.
    pub description: Text,
    /// An example document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<JsonText>,
    /// For `[input]`: whether the audit log may record the raw input (by
    /// default only its sha256 is recorded, as input may hold personal data).
    #[serde(
        default,
        rename = "audit-raw",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub audit_raw: bool,
}

/// The manifest schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Schema;

impl TryFrom<u32> for Schema {
    type Error = String;
    fn try_from(version: u32) -> Result<Self, String> {
        if version == SCHEMA_VERSION {
            Ok(Schema)
        } else {
            Err(format!(
                "schema {version} is not supported: this runtime reads `schema = {SCHEMA_VERSION}`"
            ))
        }
    }
}

impl From<Schema> for u32 {
    fn from(_: Schema) -> u32 {
        SCHEMA_VERSION
    }
}

/// An action identifier: lowercase letters and digits in dash-separated words,
/// starting with a letter, at most 64 characters, e.g. `clear-temp-files`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionId(String);

impl ActionId {
    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ActionId {
    type Err = String;
    fn from_str(id: &str) -> Result<Self, String> {
        let words_ok = id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
        let starts_with_letter = id.starts_with(|c: char| c.is_ascii_lowercase());
        if id.len() > 64 || !words_ok || !starts_with_letter {
            return Err(format!(
                "`{id}` is not an action id: use lowercase letters and digits in dash-separated words, starting with a letter, e.g. `restart-service`"
            ));
        }
        Ok(ActionId(id.to_string()))
    }
}

/// A component file name inside the package: no directory, ends in `.wasm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentFile(String);

impl ComponentFile {
    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ComponentFile {
    type Err = String;
    fn from_str(file: &str) -> Result<Self, String> {
        if file.contains(['/', '\\', '\0']) || file.starts_with('.') || !file.ends_with(".wasm") {
            return Err(format!(
                "`{file}` is not a component file name: name a `.wasm` file in the package directory, without a directory part"
            ));
        }
        Ok(ComponentFile(file.to_string()))
    }
}

/// Non-empty prose, at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Text {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("the text is empty: say it in a sentence".to_string());
        }
        if trimmed.chars().count() > 2000 {
            return Err("the text is longer than 2000 characters: shorten it".to_string());
        }
        Ok(Text(trimmed.to_string()))
    }
}

/// A JSON document, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JsonText(String);

impl JsonText {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JsonText {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| format!("the example is not valid JSON: {e}"))?;
        Ok(JsonText(text.to_string()))
    }
}

macro_rules! string_newtype_conversions {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                text.parse()
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_conversions!(ActionId, ComponentFile, Text, JsonText);

impl Manifest {
    /// Parses the text of an `action.toml`; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Manifest, ManifestError> {
        FileError::parse_toml(text, file, "docs/reference/manifest.md")
    }

    /// Reads and parses the `action.toml` at `path`.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text = FileError::read(path)?;
        Manifest::parse(&text, path)
    }

    /// `id@version`, the way people name an action.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Os;

    const MINIMAL: &str = r#"schema = 1
id = "disk-usage"
version = "1.0.0"
description = "Reports disk usage."

[component]
file = "disk_usage.wasm"

[input]
description = "Nothing."

[output]
description = "Usage per mount."
"#;

    #[test]
    fn parses_a_minimal_manifest() {
        let manifest = Manifest::parse(MINIMAL, Path::new("action.toml")).unwrap();
        assert_eq!(manifest.label(), "disk-usage@1.0.0");
        assert_eq!(manifest.component.sha256, None);
        assert_eq!(manifest.capabilities, DeclaredCapabilities::default());
    }

    #[test]
    fn an_error_points_at_its_line() {
        let text = MINIMAL.replace("id = \"disk-usage\"", "id = \"Disk Usage\"");
        let error = Manifest::parse(&text, Path::new("pkg/action.toml")).unwrap_err();
        assert_eq!(error.position, Some((2, 6)));
        assert_eq!(
            error.to_string(),
            "pkg/action.toml:2:6: `Disk Usage` is not an action id: use lowercase letters and digits in dash-separated words, starting with a letter, e.g. `restart-service`\n  |\n2 | id = \"Disk Usage\"\n  |      ^^^^^^^^^^^^"
        );
    }

    #[test]
    fn capabilities_are_declared_per_operating_system() {
        let text = format!(
            r#"{MINIMAL}
[capabilities.sysinfo]

[capabilities.service-control]
services = ["cups.service"]

[capabilities.service-control.windows]
services = ["Spooler"]

[capabilities.files-read]
paths = ["/var/log"]

[capabilities.programs.windows]
programs = ['C:\Windows\System32\ipconfig.exe /flushdns']

[capabilities.network]
hosts = ["example.com:443"]
"#
        );
        let manifest = Manifest::parse(&text, Path::new("action.toml")).unwrap();
        let on = |os: Os| {
            let caps = manifest.capabilities.on(os);
            caps.names()
                .iter()
                .map(|c| format!("{c}={}", caps.parameters(c).unwrap_or_default().join(",")))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            on(Os::Linux),
            [
                "log=",
                "sysinfo=",
                "service-control=cups.service",
                "files-read=/var/log",
                "network=example.com:443"
            ]
        );
        assert_eq!(
            on(Os::Windows),
            [
                "log=",
                "sysinfo=",
                "service-control=Spooler",
                r"programs=C:\Windows\System32\ipconfig.exe /flushdns",
                "network=example.com:443"
            ]
        );
        assert_eq!(manifest.capabilities.names_on_any_os().iter().count(), 6);
        // Written back as it was read: the per-system tables survive.
        let again: Manifest = toml::from_str(&toml::to_string(&manifest).unwrap()).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn a_windows_table_replaces_network_destinations_on_windows() {
        let text = format!(
            "{MINIMAL}\n[capabilities.network]\nhosts = [\"a.example:443\"]\n\n[capabilities.network.windows]\nhosts = [\"b.example:443\"]\n"
        );
        let manifest = Manifest::parse(&text, Path::new("action.toml")).unwrap();
        let hosts = |os| {
            manifest
                .capabilities
                .on(os)
                .parameters(crate::Capability::Network)
        };
        assert_eq!(hosts(Os::Linux), Some(vec!["a.example:443".to_string()]));
        assert_eq!(hosts(Os::Windows), Some(vec!["b.example:443".to_string()]));
    }

    #[test]
    fn ids() {
        for good in ["a", "restart-service", "x2-y3"] {
            assert!(good.parse::<ActionId>().is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "2fa", "a_b", &"a".repeat(65)] {
            assert!(bad.parse::<ActionId>().is_err(), "{bad}");
        }
    }
}
