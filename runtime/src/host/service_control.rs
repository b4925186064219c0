//! `service-control`: start, stop and restart the services the grant names,
//! exactly. The check is `HostCtx::granted_service`, shared with
//! `service-status` so that both compare unit names the same way.

use super::HostCtx;
use super::service_manager::ServiceVerb;
use crate::bindings::salve::action::service_control::Host;
use crate::bindings::salve::action::types::HostError;
use crate::capability::Capability;
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};

/// What `service-control` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "service-control",
    class: CapabilityClass::Privileged,
    summary: "start, stop and restart the named services",
    link: |linker| {
        crate::bindings::salve::action::service_control::add_to_linker::<_, HostData>(
            linker, host_of,
        )
    },
};

impl HostCtx {
    fn control(&mut self, verb: ServiceVerb, service: &str) -> Result<(), HostError> {
        let unit = self.granted_service(Capability::ServiceControl, verb.name(), service)?;
        let timeout = self.remaining()?;
        tracing::info!(action = %self.action, verb = verb.name(), %unit, "service control");
        self.services.control(verb, &unit, timeout)
    }
}

impl Host for HostCtx {
    fn start(&mut self, service: String) -> Result<(), HostError> {
        self.control(ServiceVerb::Start, &service)
    }

    fn stop(&mut self, service: String) -> Result<(), HostError> {
        self.control(ServiceVerb::Stop, &service)
    }

    fn restart(&mut self, service: String) -> Result<(), HostError> {
        self.control(ServiceVerb::Restart, &service)
    }
}
