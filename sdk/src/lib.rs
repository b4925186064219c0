//! Write salve actions in Rust.
//!
//! An action is one typed function from its input to its output, exported with
//! [`action!`]:
//!
//! ```no_run
//! use salve_sdk::{ActionError, sysinfo};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input {}
//!
//! #[derive(Serialize)]
//! struct Output { hostname: String }
//!
//! fn run(_input: Input) -> Result<Output, ActionError> {
//!     Ok(Output { hostname: sysinfo::hostname()? })
//! }
//!
//! salve_sdk::action!(run);
//! ```
//!
//! The crate is a `cdylib` built for `wasm32-wasip2` (`salve action build <dir>`
//! does this and writes the component's digest into `action.toml`). The input
//! and output travel as JSON; [`action!`] decodes the input into your type and
//! encodes your output, and an input that does not decode is answered with an
//! [`ActionError`] whose code is `invalid-input`.
//!
//! Each capability is a module named like its `[capabilities]` key in
//! `action.toml`. Calling one makes the component import it, and the runtime
//! refuses to run a component that imports a capability its manifest does not
//! declare. A call outside the declared parameters (another service, path,
//! program or host) returns [`HostError::Denied`] and is recorded.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod error;

/// Bindings generated from `wit/action.wit`, the single source of truth shared
/// with the runtime.
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "action",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "salve_sdk::bindings",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub use bindings::salve::action::types::{ActionError, HostError};

/// Messages for the invocation's log (always granted).
pub mod log {
    use crate::bindings::salve::action::log::{Level, log};

    /// Logs `message` at trace level.
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }
    /// Logs `message` at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    /// Logs `message` at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    /// Logs `message` at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    /// Logs `message` at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Read-only facts about the endpoint (capability `sysinfo`, standard).
pub mod sysinfo {
    pub use crate::bindings::salve::action::sysinfo::*;

    /// Whether the endpoint runs Windows (its [`os`] name is `Windows`),
    /// for an action that does its job one way on Linux and another on
    /// Windows, with the parameters its manifest declares for each.
    pub fn is_windows() -> Result<bool, crate::HostError> {
        Ok(os()?.name == "Windows")
    }
}

/// The state of system services (capability `service-status`, standard).
pub mod service_status {
    pub use crate::bindings::salve::action::service_status::*;
}

/// Start, stop and restart system services (capability `service-control`,
/// privileged).
pub mod service_control {
    pub use crate::bindings::salve::action::service_control::*;
}

/// Read files and list directories under declared prefixes (capability
/// `files-read`, standard).
pub mod files_read {
    pub use crate::bindings::salve::action::files_read::*;

    /// Reads the whole file at `path`, refusing files larger than `max_bytes`.
    pub fn read_all(path: &str, max_bytes: u64) -> Result<Vec<u8>, crate::HostError> {
        let bytes = read(path, 0, max_bytes.saturating_add(1))?;
        if bytes.len() as u64 > max_bytes {
            return Err(crate::HostError::Failed(format!(
                "{path} is larger than {max_bytes} bytes"
            )));
        }
        Ok(bytes)
    }
}

/// Write and delete files under declared prefixes (capability `files-write`,
/// privileged).
pub mod files_write {
    pub use crate::bindings::salve::action::files_write::*;
}

/// Run allow-listed programs (capability `programs`, privileged).
pub mod programs {
    pub use crate::bindings::salve::action::programs::*;
}

/// TCP connections to allow-listed `host:port` pairs (capability `network`,
/// privileged).
pub mod network {
    pub use crate::bindings::salve::action::network::*;
}

#[doc(hidden)]
pub mod __private {
    pub use serde_json;

    use crate::ActionError;
    use serde::{Serialize, de::DeserializeOwned};

    /// Decodes `input`, calls the action, encodes its output.
    pub fn run_json<I: DeserializeOwned, O: Serialize>(
        input: &str,
        action: impl FnOnce(I) -> Result<O, ActionError>,
    ) -> Result<String, ActionError> {
        let input: I = serde_json::from_str(input).map_err(|error| {
            ActionError::invalid_input(format!(
                "the input does not match what this action expects: {error}"
            ))
        })?;
        let output = action(input)?;
        serde_json::to_string(&output).map_err(|error| {
            ActionError::new(
                "output-encoding",
                format!("the action's output could not be encoded as JSON: {error}"),
            )
        })
    }
}

/// Exports `$run` — a function `fn(Input) -> Result<Output, ActionError>`
/// where `Input: Deserialize` and `Output: Serialize` — as the action's `run`
/// entry point. Use it once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! action {
    ($run:path) => {
        struct SalveAction;

        impl $crate::bindings::Guest for SalveAction {
            fn run(
                input: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::ActionError> {
                $crate::__private::run_json(&input, $run)
            }
        }

        $crate::bindings::export_bindings!(SalveAction);
    };
}
