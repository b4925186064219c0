//! What a component imports, and whether that is allowed — checked when a
//! package is loaded, before any of its code can run.

use crate::capability::{Capability, CapabilityNames};

/// The names of everything `component` imports.
pub fn names(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The WASI interfaces every Rust `std` guest imports. They are linked against
/// an empty context: no environment, no arguments, closed stdin, stdout and
/// stderr captured under the output limit, clocks and random numbers.
pub const BASE_WASI: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The interface that holds only shared types.
const TYPES_INTERFACE: &str = "salve:action/types";

/// What one import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// One of [`BASE_WASI`].
    BaseWasi,
    /// The shared types of the action world.
    Types,
    /// A capability interface.
    Capability(Capability),
}

/// An import no action may have, with the reason and what to use instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenImport {
    /// The import's name.
    pub interface: String,
    /// Why it is refused.
    pub reason: String,
}

/// Classifies one import by its name (e.g. `wasi:cli/stdout@0.2.6`).
pub fn classify(name: &str) -> Result<ImportKind, ForbiddenImport> {
    let unversioned = name.split_once('@').map_or(name, |(n, _)| n);
    if BASE_WASI.contains(&unversioned) {
        return Ok(ImportKind::BaseWasi);
    }
    if unversioned == TYPES_INTERFACE {
        return Ok(ImportKind::Types);
    }
    if let Some(capability) = Capability::from_interface(name) {
        return Ok(ImportKind::Capability(capability));
    }
    let reason = if unversioned.starts_with("wasi:filesystem/") {
        "WASI filesystem access is not given to actions: read and write files through the `files-read` and `files-write` capabilities (salve_sdk::files_read, salve_sdk::files_write)"
    } else if unversioned.starts_with("wasi:sockets/") {
        "WASI sockets are not given to actions: connect through the `network` capability (salve_sdk::network)"
    } else {
        "it is not an interface of the salve action world (sdk/wit/action.wit)"
    };
    Err(ForbiddenImport {
        interface: name.to_string(),
        reason: reason.to_string(),
    })
}

/// The outcome of checking all of a component's imports against its
/// manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportCheck {
    /// Every import is allowed; these capabilities are imported.
    Allowed(CapabilityNames),
    /// A capability interface is imported that the manifest does not declare.
    Undeclared {
        /// The capability.
        capability: Capability,
        /// The import's full name.
        interface: String,
    },
    /// An import no action may have.
    Forbidden(ForbiddenImport),
}

/// Checks `imports` (interface names) against the `declared` capabilities.
pub fn check<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    declared: CapabilityNames,
) -> ImportCheck {
    let mut used = CapabilityNames::empty();
    for name in imports {
        match classify(name) {
            Ok(ImportKind::BaseWasi | ImportKind::Types) => {}
            Ok(ImportKind::Capability(capability)) if declared.contains(capability) => {
                used = used.with(capability);
            }
            Ok(ImportKind::Capability(capability)) => {
                return ImportCheck::Undeclared {
                    capability,
                    interface: name.to_string(),
                };
            }
            Err(forbidden) => return ImportCheck::Forbidden(forbidden),
        }
    }
    ImportCheck::Allowed(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_imports() {
        assert_eq!(classify("wasi:cli/stdout@0.2.6"), Ok(ImportKind::BaseWasi));
        assert_eq!(classify("salve:action/types@0.1.0"), Ok(ImportKind::Types));
        assert_eq!(
            classify("salve:action/network@0.1.0"),
            Ok(ImportKind::Capability(Capability::Network))
        );
        assert!(
            classify("wasi:filesystem/preopens@0.2.6")
                .unwrap_err()
                .reason
                .contains("files-read")
        );
        assert!(
            classify("wasi:sockets/tcp@0.2.6")
                .unwrap_err()
                .reason
                .contains("network")
        );
        assert!(classify("wasi:http/outgoing-handler@0.2.6").is_err());
        assert!(classify("salve:action/nope@0.1.0").is_err());
    }

    #[test]
    fn undeclared_capabilities_are_named() {
        let declared: CapabilityNames =
            [Capability::Log, Capability::Sysinfo].into_iter().collect();
        let imports = ["wasi:io/streams@0.2.6", "salve:action/sysinfo@0.1.0"];
        assert_eq!(
            check(imports, declared),
            ImportCheck::Allowed(CapabilityNames::empty().with(Capability::Sysinfo))
        );
        let imports = [
            "salve:action/sysinfo@0.1.0",
            "salve:action/service-control@0.1.0",
        ];
        assert_eq!(
            check(imports, declared),
            ImportCheck::Undeclared {
                capability: Capability::ServiceControl,
                interface: "salve:action/service-control@0.1.0".to_string(),
            }
        );
    }
}
