//! `service-status`: the state of the services the grant names, exactly.

use super::HostCtx;
use crate::bindings::salve::action::service_status::{Host, ServiceState};
use crate::bindings::salve::action::types::HostError;
use crate::capability::{Capability, ServiceName};
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};

/// What `service-status` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "service-status",
    class: CapabilityClass::Standard,
    summary: "read the state of the named services",
    link: |linker| {
        crate::bindings::salve::action::service_status::add_to_linker::<_, HostData>(
            linker, host_of,
        )
    },
};

impl HostCtx {
    /// The grant's check for `service-status` and `service-control`: the unit
    /// must be one the grant names, compared exactly.
    pub(super) fn granted_service(
        &mut self,
        capability: Capability,
        function: &str,
        service: &str,
    ) -> Result<ServiceName, HostError> {
        let granted = match capability {
            Capability::ServiceControl => self.grant.service_control.as_ref(),
            _ => self.grant.service_status.as_ref(),
        };
        let allowed = granted.is_some_and(|g| g.services.iter().any(|s| s.as_str() == service));
        if !allowed {
            return Err(self.refuse_outside_grant(
                capability,
                function,
                service,
                format!("service `{service}` is not granted to this action for {capability}"),
            ));
        }
        service
            .parse()
            .map_err(|e| HostError::Failed(format!("{e}")))
    }
}

impl Host for HostCtx {
    fn status(&mut self, service: String) -> Result<ServiceState, HostError> {
        let unit = self.granted_service(Capability::ServiceStatus, "status", &service)?;
        let timeout = self.remaining()?;
        self.services.status(&unit, timeout)
    }
}
