//! `salve fleet`: the fleet admin's tools. The inventory lists the fleet's
//! endpoints and the keys their answers are signed with; clients trust an
//! answer through the broker only if it verifies with the key the signed
//! inventory gives.

use crate::args::InventoryCommand;
use crate::exit::{CliResult, Exit, ExitWith};
use anyhow::anyhow;
use salve::fleet::InventoryFile;
use salve::identity::{KeyPair, PublicKey};

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
