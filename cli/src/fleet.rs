//! `salve fleet`: the fleet admin's tools. The inventory lists the fleet's
//! endpoints and the keys their answers are signed with; clients trust an
//! answer through the broker only if it verifies with the key the signed
//! inventory gives.

use crate::args::InventoryCommand;
use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::{Context, anyhow};
use salve::fleet::InventoryFile;
use salve::identity::{KeyPair, PublicKey};
use std::path::Path;

pub fn inventory(command: InventoryCommand) -> CliResult {
    match command {
        InventoryCommand::Add {
            inventory,
            name,
            key,
        } => {
            let key: PublicKey = key
                .parse()
                .map_err(|e: String| anyhow!("--key: {e}"))
                .exit_with(Exit::Usage)?;
            let mut file = InventoryFile::read_or_new(&inventory).exit_with(Exit::Usage)?;
            file.add(&name, key).exit_with(Exit::Usage)?;
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{name} added with key {key}; {} endpoint(s). Sign the inventory again: salve fleet inventory sign --inventory {} --key ADMIN.key",
                file.endpoints.len(),
                inventory.display()
            );
            Ok(Exit::Success)
        }
        InventoryCommand::Remove { inventory, name } => {
            let mut file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            if !file.remove(&name) {
                return Err(anyhow!("{name} is not in {}", inventory.display()))
                    .exit_with(Exit::Usage);
            }
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{name} removed; sign the inventory again: salve fleet inventory sign --inventory {} --key ADMIN.key",
                inventory.display()
            );
            Ok(Exit::Success)
        }
        InventoryCommand::List { inventory, json } => {
            let file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&file).exit_with(Exit::Failed)?
                );
                return Ok(Exit::Success);
            }
            for entry in &file.endpoints {
                println!("{:<24} {}", entry.name, entry.key);
            }
            match &file.signature {
                Some(signature) => println!(
                    "{} endpoint(s), signed by {} (clients check the signature against the fleet-admin key they trust)",
                    file.endpoints.len(),
                    signature.by
                ),
                None => println!(
                    "{} endpoint(s), NOT SIGNED: clients refuse it until a fleet admin signs it",
                    file.endpoints.len()
                ),
            }
            Ok(Exit::Success)
        }
        InventoryCommand::Sign { inventory, key } => {
            let admin = KeyPair::read(&key).exit_with(Exit::Usage)?;
            let mut file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            file.sign(&admin);
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{} signed by {}: {} endpoint(s)",
                inventory.display(),
                admin.public(),
                file.endpoints.len()
            );
            Ok(Exit::Success)
        }
    }
}

/// The broker permissions of an endpoint's user: its own requests and
/// inboxes, nothing to publish but its answers.
fn endpoint_permissions(name: &str) -> String {
    format!(
        "{{ subscribe: {{ allow: [\"salve.v1.ep.{name}.>\", \"_INBOX_{name}.>\"] }}, publish: {{ deny: [\">\"] }}, allow_responses: true }}"
    )
}

/// People's broker permissions: requests to any endpoint, answers in their
/// own inboxes.
const PEOPLE_PERMISSIONS: &str =
    "{ publish: { allow: [\"salve.v1.ep.*.req\"] }, subscribe: { allow: [\"_INBOX_people.>\"] } }";

/// The password in `dir/<user>.password`, made (random, mode 0600) if
/// there is none.
fn password_for(dir: &Path, user: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(format!("{user}.password"));
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness for a password: {e}"))?;
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{password}")?;
    Ok(password)
}

/// `salve fleet nats-config`.
pub fn nats_config(inventory: &Path, out: &Path) -> CliResult {
    let file = InventoryFile::read(inventory).exit_with(Exit::Usage)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot make {}", out.display()))
        .exit_with(Exit::Failed)?;
    let mut block = String::from("authorization {\n  users = [\n");
    for entry in &file.endpoints {
        let password = password_for(out, &entry.name).exit_with(Exit::Failed)?;
        block.push_str(&format!(
            "    {{ user: \"{}\", password: \"{password}\", permissions: {} }}\n",
            entry.name,
            endpoint_permissions(&entry.name)
        ));
    }
    let password = password_for(out, "people").exit_with(Exit::Failed)?;
    block.push_str(&format!(
        "    {{ user: \"people\", password: \"{password}\", permissions: {PEOPLE_PERMISSIONS} }}\n"
    ));
    block.push_str("  ]\n}\n");
    print!("{block}");
    eprintln!(
        "{} endpoint user(s) and `people`; their passwords are in {} (give each endpoint its own, as [fleet] password-file)",
        file.endpoints.len(),
        out.display()
    );
    Ok(Exit::Success)
}
