//! `log`: messages for the invocation's log. Always granted; each message
//! counts against the output limit.

use super::HostCtx;
use crate::bindings::salve::action::log::{Host, Level};
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};

/// What `log` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "log",
    class: CapabilityClass::Standard,
    summary: "write messages to the invocation's log (always granted)",
    link: |linker| {
        crate::bindings::salve::action::log::add_to_linker::<_, HostData>(linker, host_of)
    },
};

impl Host for HostCtx {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        tracing::debug!(action = %self.action, ?level, %message, "action log");
        self.output
            .log(level, message)
            .map_err(wasmtime::Error::new)
    }
}
