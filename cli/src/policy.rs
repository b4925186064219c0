//! `salve policy check`.

use crate::exit::{CliResult, Exit, ExitWith};
use salve::policy::{ActionSet, Policy};
use serde_json::json;
use std::path::Path;

pub fn check(file: &Path, as_json: bool) -> CliResult {
    let policy = Policy::read(file).exit_with(Exit::Usage)?;
    let roles: Vec<_> = policy
        .roles()
        .iter()
        .map(|(name, role)| {
            let actions = match &role.actions {
                ActionSet::All => vec!["*".to_string()],
                ActionSet::Only(ids) => ids.iter().map(ToString::to_string).collect(),
            };
            json!({
                "name": name.as_str(),
                "description": role.description,
                "permissions": role.permissions.iter().map(|p| p.name()).collect::<Vec<_>>(),
                "actions": actions,
            })
        })
        .collect();
    let principals: Vec<_> = policy
        .principals()
        .map(|p| json!({"id": p.id.as_str(), "name": p.name, "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()}))
        .collect();
    let settings = policy.settings();
    if as_json {
        let summary = json!({
            "principals": principals,
            "roles": roles,
            "categories": policy.categories().collect::<Vec<_>>(),
            "settings": settings,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).exit_with(Exit::Failed)?
        );
        return Ok(Exit::Success);
    }
    println!("{}: valid", file.display());
    println!("\nprincipals");
    for p in policy.principals() {
        let roles: Vec<_> = p.roles.iter().map(|r| r.as_str()).collect();
        println!("  {:<16} {:<24} {}", p.id, p.name, roles.join(", "));
    }
    println!("\nroles");
    for role in &roles {
        println!(
            "  {:<16} may {}; actions: {}",
            role["name"].as_str().unwrap_or_default(),
            role["permissions"]
                .as_array()
                .map(|p| p
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            role["actions"]
                .as_array()
                .map(|p| p
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
        );
    }
    println!(
        "\ncategories that justify remote access: {}",
        policy.categories().collect::<Vec<_>>().join(", ")
    );
    println!(
        "sessions: at most {} minutes, idle at most {} minutes; approvals valid {} minutes; clock skew {} s",
        settings.max_session_minutes,
        settings.max_idle_minutes,
        settings.escalation_minutes,
        settings.clock_skew_seconds
    );
    Ok(Exit::Success)
}
