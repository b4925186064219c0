//! The endpoint's policy: who the principals are and their keys, what each
//! role may do, which request categories justify remote access, and limits.
//!
//! Pure: no wasmtime, no I/O beyond reading the file. Parsed once and kept
//! (the Cedar rules compiled with it); [`Policy::authorize`] answers every
//! "may this principal do this?" question with a reason a person can read.

mod file;
mod rules;

pub use file::{ActionSet, Name, POLICY_SCHEMA, Permission, Settings};

use crate::capability::{CapabilityClass, CapabilityNames};
use crate::file_error::FileError;
use crate::identity::{PrincipalId, PublicKey};
use crate::manifest::ActionId;
use cedar_policy::RestrictedExpression;
use file::PolicyFile;
use rules::{Rules, Verdict, uid};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// A policy file that cannot be used; names the file, line and what is wrong.
pub type PolicyError = FileError;

/// A person who may sign requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The identifier requests are signed as.
    pub id: PrincipalId,
    /// Their name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<Name>,
    /// Their public key.
    pub key: PublicKey,
}

/// A role and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// What it is for.
    pub description: String,
    /// Its permissions.
    pub permissions: BTreeSet<Permission>,
    /// The actions its invoke permissions cover.
    pub actions: ActionSet,
}

/// The parsed, compiled policy.
pub struct Policy {
    settings: Settings,
    categories: BTreeMap<Name, String>,
    roles: BTreeMap<Name, Role>,
    principals: BTreeMap<PrincipalId, Principal>,
    extra_privileged: CapabilityNames,
    rules: Rules,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("principals", &self.principals.keys().collect::<Vec<_>>())
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .field("categories", &self.categories.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a session is, as far as authorization is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts<'a> {
    /// The session's id.
    pub id: &'a str,
    /// Its ticket.
    pub ticket: &'a str,
    /// Its request category.
    pub category: &'a str,
    /// The endpoint it is for.
    pub endpoint: &'a str,
    /// Who requested it.
    pub requester: &'a PrincipalId,
    /// Who works in it.
    pub technician: &'a PrincipalId,
    /// Whether its scope allows privileged actions.
    pub privileged: bool,
}

/// One question for the policy: may `principal` do this?
///
/// The Cedar context of each, for `rules`: `request-session` — `endpoint`,
/// `category`, `ticket`, `technician`, `privileged`; `approve-session` and
/// `invoke` — the session's `session`, `ticket`, `category`, `endpoint`,
/// `requester`, `technician`, `privileged`, and for `invoke` also `class`
/// (`"standard"`/`"privileged"`) and `version`; `approve-escalation` — the
/// same plus `invoker`; `read-audit` and `administer` — `endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access<'a> {
    /// Request a session.
    RequestSession {
        /// The endpoint.
        endpoint: &'a str,
        /// The request's category.
        category: &'a str,
        /// The ticket.
        ticket: &'a str,
        /// The technician to be assigned.
        technician: &'a PrincipalId,
        /// Whether privileged actions are asked for.
        privileged: bool,
    },
    /// See a session (show it, list it, its invocations and escalations).
    ViewSession(SessionFacts<'a>),
    /// Approve a session.
    ApproveSession(SessionFacts<'a>),
    /// Invoke an action in a session.
    Invoke {
        /// The session.
        session: SessionFacts<'a>,
        /// The action.
        action: &'a ActionId,
        /// Its version.
        version: &'a semver::Version,
        /// Its class under this policy.
        class: CapabilityClass,
    },
    /// Approve an escalation.
    ApproveEscalation {
        /// The session it belongs to.
        session: SessionFacts<'a>,
        /// The escalation's id.
        escalation: &'a str,
        /// Who raised it by invoking.
        invoker: &'a PrincipalId,
    },
    /// Read or export the audit log.
    ReadAudit {
        /// The endpoint.
        endpoint: &'a str,
    },
    /// Administer the endpoint.
    Administer {
        /// The endpoint.
        endpoint: &'a str,
    },
}

impl Access<'_> {
    /// What is being asked, in words.
    fn describe(&self) -> String {
        match self {
            Access::RequestSession { .. } => "request sessions".to_string(),
            Access::ViewSession(s) => format!("see session {}", s.id),
            Access::ApproveSession(s) => format!("approve session {}", s.id),
            Access::Invoke { action, class, .. } => format!("invoke {action} (a {class} action)"),
            Access::ApproveEscalation { escalation, .. } => {
                format!("approve escalation {escalation}")
            }
            Access::ReadAudit { .. } => "read the audit log".to_string(),
            Access::Administer { .. } => "administer this endpoint".to_string(),
        }
    }
}

/// Why the policy says no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyRefusal {
    /// The principal is not in the policy.
    #[error("`{0}` is not a principal of this endpoint's policy")]
    UnknownPrincipal(PrincipalId),
    /// No role of the principal permits it.
    #[error("{principal} may not {what}: their roles ({roles}) do not permit it")]
    NotPermitted {
        /// Who asked.
        principal: PrincipalId,
        /// Their roles, comma separated.
        roles: String,
        /// What was asked.
        what: String,
    },
    /// Separation of duties forbids it.
    #[error("{principal} may not {what}: separation of duties — {reason}")]
    SeparationOfDuties {
        /// Who asked.
        principal: PrincipalId,
        /// What was asked.
        what: String,
        /// The rule's reason.
        reason: String,
    },
    /// An extra rule of the policy forbids it.
    #[error("{principal} may not {what}: policy rule {rule} forbids it — {reason}")]
    Rule {
        /// Who asked.
        principal: PrincipalId,
        /// What was asked.
        what: String,
        /// The rule's id.
        rule: String,
        /// The rule's `@reason`, or a default.
        reason: String,
    },
    /// A rule could not be evaluated, which denies.
    #[error(
        "{principal} may not {what}: a policy rule could not be evaluated ({error}), and that denies"
    )]
    RuleError {
        /// Who asked.
        principal: PrincipalId,
        /// What was asked.
        what: String,
        /// What Cedar said.
        error: String,
    },
}

impl PolicyRefusal {
    /// The stable kebab-case code: `separation-of-duties`, `policy-rule`
    /// (a `forbid` rule, or one that could not be evaluated),
    /// `unknown-principal`, else `role-not-permitted`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyRefusal::UnknownPrincipal(_) => "unknown-principal",
            PolicyRefusal::SeparationOfDuties { .. } => "separation-of-duties",
            PolicyRefusal::Rule { .. } | PolicyRefusal::RuleError { .. } => "policy-rule",
            _ => "role-not-permitted",
        }
    }
}

impl Policy {
    /// Parses and compiles the text of a policy file; `file` names it in
    /// errors. Nothing is half-applied: either the whole policy or an error.
    pub fn parse(text: &str, file: &Path) -> Result<Policy, PolicyError> {
        let parsed: PolicyFile = FileError::parse_toml(text, file, "docs/reference/policy.md")?;
        let at = |span: std::ops::Range<usize>, message: String| {
            FileError::at(file, text, Some(span), &message)
        };

        let mut principals = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for principal in &parsed.principals {
            let id = principal.id.get_ref().clone();
            for role in &principal.roles {
                if !parsed.roles.contains_key(role.get_ref()) {
                    let known: Vec<&str> = parsed.roles.keys().map(Name::as_str).collect();
                    return Err(at(
                        role.span(),
                        format!(
                            "unknown role `{}`: define it under [roles.{}] or use one of {}",
                            role.get_ref(),
                            role.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
            let key = *principal.public_key.get_ref();
            if let Some(owner) = keys.insert(key.to_string(), id.clone()) {
                return Err(at(
                    principal.public_key.span(),
                    format!(
                        "this key is already `{owner}`'s: every principal needs a key of their own"
                    ),
                ));
            }
            let entry = Principal {
                id: id.clone(),
                name: principal.name.clone(),
                roles: principal
                    .roles
                    .iter()
                    .map(|r| r.get_ref().clone())
                    .collect(),
                key,
            };
            if principals.insert(id.clone(), entry).is_some() {
                return Err(at(
                    principal.id.span(),
                    format!("principal `{id}` is listed twice"),
                ));
            }
        }

        let roles: BTreeMap<Name, Role> = parsed
            .roles
            .into_iter()
            .map(|(name, role)| {
                let permissions = role.permissions.into_iter().collect();
                (
                    name,
                    Role {
                        description: role.description,
                        permissions,
                        actions: role.actions,
                    },
                )
            })
            .collect();
        let rule_input: BTreeMap<Name, (Vec<Permission>, ActionSet)> = roles
            .iter()
            .map(|(name, role)| {
                (
                    name.clone(),
                    (
                        role.permissions.iter().copied().collect(),
                        role.actions.clone(),
                    ),
                )
            })
            .collect();
        let memberships: BTreeMap<PrincipalId, Vec<Name>> = principals
            .values()
            .map(|p: &Principal| (p.id.clone(), p.roles.clone()))
            .collect();
        let extra = parsed.rules.as_ref().map(|r| &r.cedar);
        let rules = Rules::compile(
            &rule_input,
            &memberships,
            extra.map(|r| r.get_ref().as_str()),
        )
        .map_err(|error| match extra {
            Some(extra) => {
                let span = extra.span();
                let start = match error.offset {
                    Some(offset) => string_content_start(text, span.start) + offset,
                    None => span.start,
                };
                at(start..start + 1, error.message)
            }
            None => FileError::at(file, text, None, &error.message),
        })?;
        let extra_privileged = parsed.settings.extra_privileged.iter().copied().collect();
        Ok(Policy {
            settings: parsed.settings,
            categories: parsed.categories,
            roles,
            principals,
            extra_privileged,
            rules,
        })
    }

    /// Reads and compiles the policy file at `path`.
    pub fn read(path: &Path) -> Result<Policy, PolicyError> {
        let text = FileError::read(path)?;
        Policy::parse(&text, path)
    }

    /// The limits on sessions and requests.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The principal with this id.
    pub fn principal(&self, id: &PrincipalId) -> Option<&Principal> {
        self.principals.get(id)
    }

    /// Every principal.
    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.principals.values()
    }

    /// The roles.
    pub fn roles(&self) -> &BTreeMap<Name, Role> {
        &self.roles
    }

    /// The key registered for `id`.
    pub fn key_of(&self, id: &PrincipalId) -> Option<PublicKey> {
        self.principals.get(id).map(|p| p.key)
    }

    /// Whether a request category justifies remote access.
    pub fn category_allowed(&self, category: &str) -> bool {
        self.categories.keys().any(|c| c.as_str() == category)
    }

    /// The categories that justify remote access.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.categories.keys().map(Name::as_str)
    }

    /// The categories that justify remote access, each with what it means.
    pub fn described_categories(&self) -> impl Iterator<Item = (&str, &str)> {
        self.categories
            .iter()
            .map(|(name, meaning)| (name.as_str(), meaning.as_str()))
    }

    /// An action's class under this policy: privileged if any capability it
    /// declares is privileged by the runtime's table or by `extra-privileged`.
    pub fn class_of(&self, capabilities: CapabilityNames) -> CapabilityClass {
        let privileged = capabilities
            .iter()
            .any(|c| c.class() == CapabilityClass::Privileged || self.extra_privileged.contains(c));
        if privileged {
            CapabilityClass::Privileged
        } else {
            CapabilityClass::Standard
        }
    }

    /// How far a request's timestamp may be from the clock.
    pub fn clock_skew(&self) -> Duration {
        Duration::from_secs(u64::from(self.settings.clock_skew_seconds))
    }

    /// Decides whether `principal` may have `access`.
    pub fn authorize(
        &self,
        principal: &PrincipalId,
        access: &Access<'_>,
    ) -> Result<(), PolicyRefusal> {
        let Some(known) = self.principals.get(principal) else {
            return Err(PolicyRefusal::UnknownPrincipal(principal.clone()));
        };
        let (action, resource, context) = cedar_request(access);
        let what = access.describe();
        match self.rules.authorize(principal, action, resource, context) {
            Verdict::Allow => Ok(()),
            Verdict::NotPermitted => Err(PolicyRefusal::NotPermitted {
                principal: principal.clone(),
                roles: known
                    .roles
                    .iter()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                what,
            }),
            Verdict::Forbidden(forbids) => {
                let (rule, reason) = forbids
                    .iter()
                    .find(|(id, _)| id.starts_with("separation-of-duties"))
                    .or(forbids.first())
                    .cloned()
                    .unwrap_or_default();
                if rule.starts_with("separation-of-duties") {
                    Err(PolicyRefusal::SeparationOfDuties {
                        principal: principal.clone(),
                        what,
                        reason,
                    })
                } else {
                    Err(PolicyRefusal::Rule {
                        principal: principal.clone(),
                        what,
                        rule,
                        reason,
                    })
                }
            }
            Verdict::Error(error) => Err(PolicyRefusal::RuleError {
                principal: principal.clone(),
                what,
                error,
            }),
        }
    }
}

/// Where the content of the TOML string whose raw text starts at `start`
/// begins: after its opening quotes, and after the newline TOML drops right
/// after `'''` or `"""`.
fn string_content_start(text: &str, start: usize) -> usize {
    let raw = text.get(start..).unwrap_or_default();
    let quotes = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let after = start + quotes;
    let newline = match text.get(after..) {
        Some(rest) if quotes == 3 && rest.starts_with("\r\n") => 2,
        Some(rest) if quotes == 3 && rest.starts_with('\n') => 1,
        _ => 0,
    };
    after + newline
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_string())
}

fn principal_value(id: &PrincipalId) -> RestrictedExpression {
    RestrictedExpression::new_entity_uid(uid("Principal", id.as_str()))
}

fn session_context(session: &SessionFacts<'_>) -> Vec<(String, RestrictedExpression)> {
    vec![
        ("session".to_string(), string(session.id)),
        ("ticket".to_string(), string(session.ticket)),
        ("category".to_string(), string(session.category)),
        ("endpoint".to_string(), string(session.endpoint)),
        ("requester".to_string(), principal_value(session.requester)),
        (
            "technician".to_string(),
            principal_value(session.technician),
        ),
        (
            "privileged".to_string(),
            RestrictedExpression::new_bool(session.privileged),
        ),
    ]
}

/// The Cedar action, resource and context of an access.
fn cedar_request(
    access: &Access<'_>,
) -> (
    &'static str,
    cedar_policy::EntityUid,
    Vec<(String, RestrictedExpression)>,
) {
    match access {
        Access::RequestSession {
            endpoint,
            category,
            ticket,
            technician,
            privileged,
        } => (
            "request-session",
            uid("Endpoint", endpoint),
            vec![
                ("endpoint".to_string(), string(endpoint)),
                ("category".to_string(), string(category)),
                ("ticket".to_string(), string(ticket)),
                ("technician".to_string(), principal_value(technician)),
                (
                    "privileged".to_string(),
                    RestrictedExpression::new_bool(*privileged),
                ),
            ],
        ),
        Access::ViewSession(session) => (
            "view-session",
            uid("Session", session.id),
            session_context(session),
        ),
        Access::ApproveSession(session) => (
            "approve-session",
            uid("Session", session.id),
            session_context(session),
        ),
        Access::Invoke {
            session,
            action,
            version,
            class,
        } => {
            let mut context = session_context(session);
            context.push(("class".to_string(), string(&class.to_string())));
            context.push(("version".to_string(), string(&version.to_string())));
            ("invoke", uid("Package", action.as_str()), context)
        }
        Access::ApproveEscalation {
            session,
            escalation,
            invoker,
        } => {
            let mut context = session_context(session);
            context.push(("invoker".to_string(), principal_value(invoker)));
            ("approve-escalation", uid("Escalation", escalation), context)
        }
        Access::ReadAudit { endpoint } => (
            "read-audit",
            uid("Endpoint", endpoint),
            vec![("endpoint".to_string(), string(endpoint))],
        ),
        Access::Administer { endpoint } => (
            "administer",
            uid("Endpoint", endpoint),
            vec![("endpoint".to_string(), string(endpoint))],
        ),
    }
}
