//! The policy's rules in Cedar: default deny, and a `forbid` always overrides
//! a `permit`.
//!
//! Three sources make one cached policy set:
//!
//! - each role's permissions become `permit` rules (`role:<role>:<permission>`);
//! - separation of duties is two built-in `forbid` rules that no policy file can
//!   remove: nobody approves a session they requested or work on, nobody
//!   approves an escalation of their own session or invocation;
//! - the policy file's `rules` add more `forbid` rules (`rule:<n>`). Only
//!   `forbid` is accepted there: what may be done comes from roles.
//!
//! Every rule is validated against the schema of what salve asks Cedar
//! (`SCHEMA`: the entity types, and each action's resource and context) in
//! strict mode when the policy is read: a rule that names an attribute a
//! request does not carry, compares a string with an entity, or names an
//! action that does not exist is refused with the policy, instead of denying
//! at every request it touches. A rule that still fails to evaluate denies,
//! rather than being skipped.
//!
//! Entities: `Salve::Principal::"<id>"` (in its `Salve::Role::"<name>"`s),
//! `Salve::Endpoint`, `Salve::Session`, `Salve::Package` (an action, by id) and
//! `Salve::Escalation`. The context of each request is documented on
//! [`Access`](super::Access).

use super::file::{ActionSet, Name, Permission};
use crate::identity::PrincipalId;
use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Effect, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint, Request,
    ResourceConstraint, RestrictedExpression, Schema, ValidationMode, Validator,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

/// The built-in separation-of-duties rules.
const SEPARATION_OF_DUTIES: &[(&str, &str)] = &[
    (
        "separation-of-duties:session",
        r#"@reason("nobody approves a session they requested or are assigned to work on")
forbid (principal, action == Salve::Action::"approve-session", resource)
when { context.requester == principal || context.technician == principal };"#,
    ),
    (
        "separation-of-duties:escalation",
        r#"@reason("nobody approves an escalation they raised, or one in a session they requested or work on")
forbid (principal, action == Salve::Action::"approve-escalation", resource)
when { context.invoker == principal || context.requester == principal || context.technician == principal };"#,
    ),
];

/// Who may see a session besides those whose roles oversee sessions: the
/// people in it. Built in, like separation of duties; a file's `forbid`
/// rules may still hide a session from anyone.
const VIEW_OWN_SESSION: (&str, &str) = (
    "view-session:own",
    r#"permit (principal, action == Salve::Action::"view-session", resource)
when { context.requester == principal || context.technician == principal };"#,
);

/// The permissions whose holders oversee sessions, and so may see every
/// session of the endpoint (approvers, auditors, administrators).
const OVERSEERS: &[Permission] = &[
    Permission::ApproveSessions,
    Permission::ApproveEscalations,
    Permission::ReadAudit,
    Permission::Administer,
];

/// What salve asks Cedar, as a Cedar schema: the rules are validated
/// against it. Keep it in step with `cedar_request` in `super`.
const SCHEMA: &str = r#"
namespace Salve {
  entity Role;
  entity Principal in [Role];
  entity Endpoint, Session, Package, Escalation;

  action "request-session" appliesTo {
    principal: Principal, resource: Endpoint,
    context: { endpoint: String, category: String, ticket: String, technician: Principal, privileged: Bool }
  };
  action "view-session" appliesTo {
    principal: Principal, resource: Session,
    context: { session: String, ticket: String, category: String, endpoint: String,
               requester: Principal, technician: Principal, privileged: Bool }
  };
  action "approve-session" appliesTo {
    principal: Principal, resource: Session,
    context: { session: String, ticket: String, category: String, endpoint: String,
               requester: Principal, technician: Principal, privileged: Bool }
  };
  action "invoke" appliesTo {
    principal: Principal, resource: Package,
    context: { session: String, ticket: String, category: String, endpoint: String,
               requester: Principal, technician: Principal, privileged: Bool,
               class: String, version: String }
  };
  action "approve-escalation" appliesTo {
    principal: Principal, resource: Escalation,
    context: { session: String, ticket: String, category: String, endpoint: String,
               requester: Principal, technician: Principal, privileged: Bool,
               invoker: Principal }
  };
  action "read-audit", "administer" appliesTo {
    principal: Principal, resource: Endpoint, context: { endpoint: String }
  };
}
"#;

/// Validates `set` against [`SCHEMA`] in strict mode; the first error, in
/// words, with where it is in the file's rules when it is one of them.
fn validate(set: &PolicySet) -> Result<(), RulesError> {
    use miette::Diagnostic;
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA)
        .map_err(|e| RulesError::new(format!("the built-in Cedar schema does not parse: {e}")))?;
    let result = Validator::new(schema).validate(set, ValidationMode::Strict);
    let Some(error) = result.validation_errors().next() else {
        return Ok(());
    };
    let id = error.policy_id().to_string();
    let in_file = id.starts_with("rule:");
    let offset = in_file
        .then(|| {
            error
                .labels()
                .into_iter()
                .flatten()
                .next()
                .map(|l| l.offset())
        })
        .flatten();
    let help = error.help().map(|h| format!(" ({h})")).unwrap_or_default();
    Err(RulesError {
        message: format!(
            "{} {}: {error}{help}",
            if in_file { "rule" } else { "built-in rule" },
            id.trim_start_matches("rule:")
        ),
        offset,
    })
}

/// The Cedar action each permission is checked as.
pub(super) fn cedar_action(permission: Permission) -> &'static str {
    match permission {
        Permission::RequestSessions => "request-session",
        Permission::InvokeStandard | Permission::InvokePrivileged => "invoke",
        Permission::ApproveSessions => "approve-session",
        Permission::ApproveEscalations => "approve-escalation",
        Permission::ReadAudit => "read-audit",
        Permission::Administer => "administer",
    }
}

/// Every Cedar action the policy decides.
const CEDAR_ACTIONS: &[&str] = &[
    "request-session",
    "view-session",
    "invoke",
    "approve-session",
    "approve-escalation",
    "read-audit",
    "administer",
];

/// The compiled rules and the principal entities they are evaluated against.
///
/// Cedar evaluates every policy of the set it is given, rebuilding each
/// policy's expression as it goes (about a microsecond each, measured). So the
/// set is indexed by principal, action and resource at load time: each
/// request is evaluated against only the policies whose scope can match it.
/// A policy is left out only when its scope provably excludes the request,
/// so every decision is the one the whole set gives.
pub(super) struct Rules {
    set: PolicySet,
    index: HashMap<PrincipalId, HashMap<&'static str, ByResource>>,
    entities: Entities,
    authorizer: Authorizer,
}

/// The policies that may apply to one principal doing one action, by
/// resource: those naming a resource exactly (`resource == …`) apply to it
/// alone; the others to every resource.
struct ByResource {
    /// The policies whose resource scope is not one exact resource.
    general: PolicySet,
    /// For each resource some policy names exactly: `general` and those.
    exact: HashMap<EntityUid, PolicySet>,
}

impl ByResource {
    fn new(policies: Vec<&Policy>) -> Result<ByResource, RulesError> {
        let error = |e: cedar_policy::PolicySetError| {
            RulesError::new(format!("cannot index the rules: {e}"))
        };
        let mut general = PolicySet::new();
        let mut named: HashMap<EntityUid, Vec<&Policy>> = HashMap::new();
        for policy in policies {
            match policy.resource_constraint() {
                ResourceConstraint::Eq(resource) => named.entry(resource).or_default().push(policy),
                _ => general.add(policy.clone()).map_err(error)?,
            }
        }
        let mut exact = HashMap::new();
        for (resource, policies) in named {
            let mut set = general.clone();
            for policy in policies {
                set.add(policy.clone()).map_err(error)?;
            }
            exact.insert(resource, set);
        }
        Ok(ByResource { general, exact })
    }

    fn for_resource(&self, resource: &EntityUid) -> &PolicySet {
        self.exact.get(resource).unwrap_or(&self.general)
    }
}

/// Whether a policy's principal and action scope can match `principal` (a
/// member of `roles`) doing `action`.
fn may_apply(
    policy: &Policy,
    principal: &EntityUid,
    roles: &[EntityUid],
    action: &EntityUid,
) -> bool {
    let principal_ok = match policy.principal_constraint() {
        PrincipalConstraint::Eq(uid) => &uid == principal,
        PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => {
            &uid == principal || roles.contains(&uid)
        }
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) => true,
    };
    let action_ok = match policy.action_constraint() {
        ActionConstraint::Eq(uid) => &uid == action,
        ActionConstraint::In(uids) => uids.contains(action),
        ActionConstraint::Any => true,
    };
    principal_ok && action_ok
}

/// The outcome of one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Some permit applies and no forbid does.
    Allow,
    /// No permit applies.
    NotPermitted,
    /// These forbid rules apply: (id, reason).
    Forbidden(Vec<(String, String)>),
    /// A rule could not be evaluated.
    Error(String),
}

/// A uid in the `Salve` namespace.
pub(super) fn uid(kind: &str, id: &str) -> EntityUid {
    // Every `kind` passed here is one of this module's fixed type names, which
    // always parse; `EntityId::new` accepts any string.
    let type_name = EntityTypeName::from_str(&format!("Salve::{kind}"))
        .unwrap_or_else(|_| unreachable!("`Salve::{kind}` is a valid Cedar type name"));
    EntityUid::from_type_name_and_id(type_name, EntityId::new(id))
}

fn role_rule(role: &Name, permission: Permission, actions: &ActionSet) -> String {
    let scope = format!(
        "permit (principal in Salve::Role::\"{role}\", action == Salve::Action::\"{}\", resource)",
        cedar_action(permission)
    );
    let packages = match actions {
        ActionSet::All => None,
        ActionSet::Only(ids) => Some(
            ids.iter()
                .map(|id| format!("Salve::Package::\"{id}\""))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    match (permission, packages) {
        (Permission::InvokeStandard, None) => {
            format!("{scope} when {{ context.class == \"standard\" }};")
        }
        (Permission::InvokePrivileged, None) => {
            format!("{scope} when {{ context.class == \"privileged\" }};")
        }
        (Permission::InvokeStandard, Some(list)) => {
            format!("{scope} when {{ context.class == \"standard\" && resource in [{list}] }};")
        }
        (Permission::InvokePrivileged, Some(list)) => {
            format!("{scope} when {{ context.class == \"privileged\" && resource in [{list}] }};")
        }
        _ => format!("{scope};"),
    }
}

/// Why the rules do not compile: a sentence, and where in the Cedar text.
#[derive(Debug)]
pub(super) struct RulesError {
    /// What is wrong.
    pub message: String,
    /// The byte offset in the file's Cedar text, when known.
    pub offset: Option<usize>,
}

impl RulesError {
    fn new(message: String) -> RulesError {
        RulesError {
            message,
            offset: None,
        }
    }
}

/// Cedar's parse errors in words, with where the first one is.
fn cedar_error(errors: &cedar_policy::ParseErrors) -> RulesError {
    use miette::Diagnostic;
    let offset = errors.iter().find_map(|error| {
        error
            .labels()
            .into_iter()
            .flatten()
            .next()
            .map(|label| label.offset())
    });
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    RulesError {
        message: format!("the rules are not valid Cedar: {message}"),
        offset,
    }
}

impl Rules {
    /// Compiles the roles, the built-in rules and the file's extra rules.
    pub(super) fn compile(
        roles: &BTreeMap<Name, (Vec<Permission>, ActionSet)>,
        principals: &BTreeMap<PrincipalId, Vec<Name>>,
        extra: Option<&str>,
    ) -> Result<Rules, RulesError> {
        let mut set = PolicySet::new();
        let mut add = |id: String, text: &str| -> Result<(), RulesError> {
            let policy = Policy::parse(Some(PolicyId::new(&id)), text)
                .map_err(|e| RulesError::new(format!("rule {id} does not parse: {e}")))?;
            set.add(policy)
                .map_err(|e| RulesError::new(format!("rule {id}: {e}")))
        };
        for (id, text) in SEPARATION_OF_DUTIES.iter().chain([&VIEW_OWN_SESSION]) {
            add((*id).to_string(), text)?;
        }
        for (role, (permissions, actions)) in roles {
            let mut seen = HashSet::new();
            for permission in permissions {
                if seen.insert(*permission) {
                    add(
                        format!("role:{role}:{permission}"),
                        &role_rule(role, *permission, actions),
                    )?;
                }
            }
            if permissions.iter().any(|p| OVERSEERS.contains(p)) {
                add(
                    format!("role:{role}:view-sessions"),
                    &format!(
                        "permit (principal in Salve::Role::\"{role}\", action == Salve::Action::\"view-session\", resource);"
                    ),
                )?;
            }
        }
        if let Some(extra) = extra {
            let parsed = PolicySet::from_str(extra).map_err(|e| cedar_error(&e))?;
            for (n, policy) in parsed.policies().enumerate() {
                if policy.effect() != Effect::Forbid {
                    return Err(RulesError {
                        message: format!(
                            "rule {} is a `permit`: rules may only `forbid`; what people may do comes from their roles",
                            n + 1
                        ),
                        offset: extra.find("permit"),
                    });
                }
                set.add(policy.new_id(PolicyId::new(format!("rule:{}", n + 1))))
                    .map_err(|e| RulesError::new(format!("rule {}: {e}", n + 1)))?;
            }
        }
        validate(&set)?;
        let entities = principals.iter().map(|(id, roles)| {
            let parents = roles.iter().map(|r| uid("Role", r.as_str())).collect();
            Entity::new_no_attrs(uid("Principal", id.as_str()), parents)
        });
        let role_entities = roles
            .keys()
            .map(|r| Entity::new_no_attrs(uid("Role", r.as_str()), HashSet::new()));
        let entities = Entities::from_entities(entities.chain(role_entities), None)
            .map_err(|e| RulesError::new(format!("cannot build the principals' entities: {e}")))?;
        let mut index = HashMap::new();
        for (principal, roles) in principals {
            let principal_uid = uid("Principal", principal.as_str());
            let role_uids: Vec<EntityUid> = roles.iter().map(|r| uid("Role", r.as_str())).collect();
            for action in CEDAR_ACTIONS {
                let action_uid = uid("Action", action);
                let subset = set
                    .policies()
                    .filter(|p| may_apply(p, &principal_uid, &role_uids, &action_uid))
                    .collect();
                index
                    .entry(principal.clone())
                    .or_insert_with(HashMap::new)
                    .insert(*action, ByResource::new(subset)?);
            }
        }
        Ok(Rules {
            set,
            index,
            entities,
            authorizer: Authorizer::new(),
        })
    }

    /// Decides whether `principal` may do `action` on `resource` in `context`.
    pub(super) fn authorize(
        &self,
        principal: &PrincipalId,
        action: &str,
        resource: EntityUid,
        context: Vec<(String, RestrictedExpression)>,
    ) -> Verdict {
        let context = match Context::from_pairs(context) {
            Ok(context) => context,
            Err(error) => return Verdict::Error(error.to_string()),
        };
        // Every principal and action is indexed; the whole set is the
        // fallback should one ever not be.
        let policies = self
            .index
            .get(principal)
            .and_then(|by_action| by_action.get(action))
            .map_or(&self.set, |by_resource| by_resource.for_resource(&resource));
        let request = match Request::new(
            uid("Principal", principal.as_str()),
            uid("Action", action),
            resource,
            context,
            None,
        ) {
            Ok(request) => request,
            Err(error) => return Verdict::Error(error.to_string()),
        };
        let response = self
            .authorizer
            .is_authorized(&request, policies, &self.entities);

        let diagnostics = response.diagnostics();
        if let Some(error) = diagnostics.errors().next() {
            return Verdict::Error(error.to_string());
        }
        match response.decision() {
            Decision::Allow => Verdict::Allow,
            Decision::Deny => {
                let forbids: Vec<(String, String)> = diagnostics
                    .reason()
                    .map(|id| {
                        let reason = self
                            .set
                            .annotation(id, "reason")
                            .unwrap_or("a policy rule forbids it")
                            .to_string();
                        (id.to_string(), reason)
                    })
                    .collect();
                if forbids.is_empty() {
                    Verdict::NotPermitted
                } else {
                    Verdict::Forbidden(forbids)
                }
            }
        }
    }
}
