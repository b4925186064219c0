//! `salve keygen` and `salve sign`.

use crate::exit::{CliResult, Exit, ExitWith};
use crate::run::read_input;
use anyhow::{Context, anyhow};
use salve::api::v1::Operation;
use salve::clock::{Clock, SystemClock};
use salve::identity::{KeyPair, Nonce, PrincipalId, SignedRequest};
use std::path::Path;

pub fn keygen(out: &Path, principal: Option<&str>) -> CliResult {
    let principal: Option<PrincipalId> = principal
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow!(e))
        .exit_with(Exit::Usage)?;
    let key = KeyPair::generate().exit_with(Exit::Failed)?;
    key.write(out, principal.as_ref())
        .with_context(|| {
            format!(
                "cannot write the key file {} (an existing file is never overwritten)",
                out.display()
            )
        })
        .exit_with(Exit::Failed)?;
    eprintln!(
        "Wrote the private key to {} (mode 0600). Keep it private.",
        out.display()
    );
    eprintln!("Add this entry to the endpoint's policy:\n");
    println!("[[principals]]");
    println!(
        "id = \"{}\"",
        principal.as_ref().map_or("<id>", PrincipalId::as_str)
    );
    println!("name = \"<full name>\"");
    println!("roles = [\"<role>\"]");
    println!("public-key = \"{}\"", key.public());
    Ok(Exit::Success)
}

pub fn sign(
    key_path: &Path,
    principal: Option<&str>,
    endpoint: &str,
    operation: &str,
) -> CliResult {
    let key = KeyPair::read(key_path).exit_with(Exit::Usage)?;
    let principal: PrincipalId = match principal {
        Some(id) => id
            .parse()
            .map_err(|e: String| anyhow!(e))
            .exit_with(Exit::Usage)?,
        None => key_principal(key_path).exit_with(Exit::Usage)?,
    };
    let text = read_input(operation).exit_with(Exit::Usage)?;
    let operation: Operation = serde_json::from_str(&text)
        .context("the operation is not one an endpoint understands (see the operations in docs/reference/api.md)")
        .exit_with(Exit::Usage)?;
    let nonce = Nonce::random().exit_with(Exit::Failed)?;
    let signed = SignedRequest::sign(
        &key,
        &principal,
        endpoint,
        SystemClock.now_ms(),
        nonce,
        &operation,
    )
    .exit_with(Exit::Failed)?;
    println!(
        "{}",
        serde_json::to_string(&signed).exit_with(Exit::Failed)?
    );
    Ok(Exit::Success)
}

/// The principal recorded in a key file.
pub fn key_principal(path: &Path) -> anyhow::Result<PrincipalId> {
    let text = salve::file_error::read_text(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let value: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not a key file", path.display()))?;
    let id = value
        .get("principal")
        .and_then(|p| p.as_str())
        .ok_or_else(|| {
            anyhow!(
                "{} names no principal: pass --principal <ID>",
                path.display()
            )
        })?;
    id.parse().map_err(|e: String| anyhow!(e))
}
