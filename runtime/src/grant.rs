//! What one invocation may use: the capabilities its action declares,
//! narrowed to what the caller allows. A grant never exceeds the manifest.

use crate::capability::{Capabilities, Capability, CapabilityNames, NotDeclared, ParamError};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The capabilities, with parameters, that one invocation is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    capabilities: Arc<Capabilities>,
}

impl Grant {
    /// Everything the manifest declares.
    pub fn declared(declared: &Capabilities) -> Grant {
        Grant {
            capabilities: Arc::new(declared.clone()),
        }
    }

    /// What both the manifest declares and `allowed` allows.
    pub fn intersect(declared: &Capabilities, allowed: &Capabilities) -> Grant {
        Grant {
            capabilities: Arc::new(declared.intersect(allowed)),
        }
    }

    /// Exactly `requested`, which must lie within what the manifest declares.
    pub fn exactly(declared: &Capabilities, requested: Capabilities) -> Result<Grant, NotDeclared> {
        requested.check_within(declared)?;
        Ok(Grant {
            capabilities: Arc::new(requested),
        })
    }

    /// The grant that `--grant`-style texts name (see [`GrantSpec`]),
    /// checked against what is `declared`.
    pub fn from_specs<S: AsRef<str>>(
        texts: &[S],
        declared: &Capabilities,
    ) -> Result<Grant, GrantSpecError> {
        let specs = texts
            .iter()
            .map(|text| text.as_ref().parse())
            .collect::<Result<Vec<GrantSpec>, _>>()?;
        GrantSpec::resolve(&specs, declared)
    }

    /// Nothing but `log`.
    pub fn none() -> Grant {
        Grant {
            capabilities: Arc::new(Capabilities::default()),
        }
    }

    /// The granted capabilities and their parameters.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The same, shared.
    pub fn shared(&self) -> Arc<Capabilities> {
        Arc::clone(&self.capabilities)
    }

    /// The granted capability names (always including `log`).
    pub fn names(&self) -> CapabilityNames {
        self.capabilities.names()
    }
}

/// One `--grant` argument: `<capability>` grants it with the parameters the
/// manifest declares, `<capability>=<p1>,<p2>` with only those parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// The capability.
    pub capability: Capability,
    /// The parameters named, if any.
    pub parameters: Option<Vec<String>>,
}

/// A `--grant` argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantSpecError {
    /// The capability name is unknown.
    #[error("`{0}` is not a capability: use one of {list}", list = grantable())]
    UnknownCapability(String),
    /// `log` is always granted.
    #[error("`log` is always granted; leave it out")]
    Log,
    /// A parameter is malformed.
    #[error("--grant {capability}: {error}")]
    Parameter {
        /// The capability.
        capability: Capability,
        /// What is wrong with the parameter.
        error: ParamError,
    },
    /// `sysinfo` takes no parameters, or a list was empty.
    #[error("--grant {0}: {1}")]
    Shape(Capability, &'static str),
    /// The grant exceeds the manifest.
    #[error(transparent)]
    NotDeclared(#[from] NotDeclared),
}

/// The capabilities a grant may name (all but `log`), comma-separated.
fn grantable() -> String {
    Capability::ALL
        .into_iter()
        .filter(|c| *c != Capability::Log)
        .map(Capability::name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for GrantSpec {
    type Err = GrantSpecError;

    fn from_str(text: &str) -> Result<Self, GrantSpecError> {
        let (name, parameters) = match text.split_once('=') {
            Some((name, list)) => (
                name,
                Some(
                    list.split(',')
                        .map(str::trim)
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                ),
            ),
            None => (text, None),
        };
        let capability = Capability::from_name(name.trim())
            .ok_or_else(|| GrantSpecError::UnknownCapability(name.to_string()))?;
        if capability == Capability::Log {
            return Err(GrantSpecError::Log);
        }
        Ok(GrantSpec {
            capability,
            parameters,
        })
    }
}

impl fmt::Display for GrantSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.capability.name())?;
        if let Some(parameters) = &self.parameters {
            write!(f, "={}", parameters.join(","))?;
        }
        Ok(())
    }
}

impl GrantSpec {
    /// The grant that `specs` name, checked against what is `declared`.
    pub fn resolve(specs: &[GrantSpec], declared: &Capabilities) -> Result<Grant, GrantSpecError> {
        let mut requested = Capabilities::default();
        for spec in specs {
            let Some(parameters) = &spec.parameters else {
                // The capability as the manifest declares it.
                let Some(_) = declared.parameters(spec.capability) else {
                    return Err(NotDeclared {
                        capability: spec.capability,
                        what: format!("capability `{}`", spec.capability),
                    }
                    .into());
                };
                let one = CapabilityNames::empty().with(spec.capability);
                requested = requested.union(declared.only(one));
                continue;
            };
            if parameters.iter().any(String::is_empty) {
                return Err(GrantSpecError::Shape(
                    spec.capability,
                    "a parameter is empty",
                ));
            }
            let capability = spec.capability;
            if capability == Capability::Log {
                return Err(GrantSpecError::Log);
            }
            let one = Capabilities::default()
                .with_parameters(capability, parameters)
                .map_err(|error| GrantSpecError::Parameter { capability, error })?;
            requested = requested.union(one);
        }
        Ok(Grant::exactly(declared, requested)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Capabilities {
        toml::from_str(
            r#"
            sysinfo = {}
            files-read = { paths = ["/var/log", "/tmp"] }
            network = { hosts = ["example.com:443", "10.0.0.1:22"] }
            "#,
        )
        .unwrap()
    }

    fn specs(texts: &[&str]) -> Vec<GrantSpec> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn a_bare_capability_grants_what_is_declared() {
        let grant = GrantSpec::resolve(&specs(&["sysinfo", "network"]), &declared()).unwrap();
        assert_eq!(
            grant.capabilities().parameters(Capability::Network),
            Some(vec![
                "10.0.0.1:22".to_string(),
                "example.com:443".to_string()
            ])
        );
        assert!(grant.capabilities().files_read.is_none());
    }

    #[test]
    fn parameters_narrow_and_may_not_widen() {
        let grant = GrantSpec::resolve(&specs(&["files-read=/var/log/apt"]), &declared()).unwrap();
        assert_eq!(
            grant.capabilities().parameters(Capability::FilesRead),
            Some(vec!["/var/log/apt".to_string()])
        );
        let error = GrantSpec::resolve(&specs(&["files-read=/etc"]), &declared()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`/etc` for capability `files-read` is not declared by the action's manifest"
        );
        let error = GrantSpec::resolve(&specs(&["programs"]), &declared()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "capability `programs` is not declared by the action's manifest"
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert_eq!(
            "files".parse::<GrantSpec>().unwrap_err().to_string(),
            "`files` is not a capability: use one of sysinfo, service-status, service-control, files-read, files-write, programs, network"
        );
        let error = GrantSpec::resolve(&specs(&["network=example.com"]), &declared()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--grant network: `example.com` has no port: write `host:port`, e.g. `updates.example.com:443`"
        );
    }
}
