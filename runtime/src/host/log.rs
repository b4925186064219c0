//! `log`: messages for the invocation's log. Always granted; each message
//! counts against the output limit.

use super::HostCtx;
use crate::bindings::salve::action::log::{Host, Level};

impl Host for HostCtx {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        tracing::debug!(action = %self.action, ?level, %message, "action log");
        self.output
            .log(level, message)
            .map_err(wasmtime::Error::new)
    }
}
