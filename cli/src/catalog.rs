//! `salve action sign` and `salve catalog install|list|revoke|…`: the
//! vetted catalog of an endpoint.

use crate::args::CatalogArgs;
use crate::exit::{CliResult, Exit, ExitWith};
use crate::identity::key_principal;
use crate::setup;
use anyhow::{Context, anyhow};
use salve::Package;
use salve::audit::log::timestamp;
use salve::identity::{KeyPair, PrincipalId};
use salve::vetting::installed::is_privileged;
use salve::vetting::{
    CatalogStore, InstallError, Revocation, RevocationList, Revoked, Role, Signatures, TrustConfig,
};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

fn now() -> String {
    timestamp(SystemTime::now())
}

fn signer(
    key_file: &Path,
    principal: Option<&str>,
) -> Result<(KeyPair, PrincipalId), crate::exit::Failure> {
    let key = KeyPair::read(key_file).exit_with(Exit::Usage)?;
    let principal = match principal {
        Some(id) => id
            .parse()
            .map_err(|e: String| anyhow!(e))
            .exit_with(Exit::Usage)?,
        None => key_principal(key_file).exit_with(Exit::Usage)?,
    };
    Ok((key, principal))
}

pub fn sign(package: &Path, key_file: &Path, role: Role, principal: Option<&str>) -> CliResult {
    let opened = Package::open(package).exit_with(Exit::Refused)?;
    let (key, principal) = signer(key_file, principal)?;
    let made = Signatures::add(&opened, &key, role, principal, now()).exit_with(Exit::Failed)?;
    println!(
        "signed {} as {} by {} ({})\n  manifest sha256 {}\n  component sha256 {}\n  written to {}",
        opened.manifest().label(),
        made.role,
        made.signer,
        made.key,
        opened.manifest_digest(),
        opened.digest(),
        package
            .join(salve::vetting::signature::SIGNATURE_FILE)
            .display()
    );
    Ok(Exit::Success)
}

fn open(args: &CatalogArgs) -> Result<CatalogStore, crate::exit::Failure> {
    CatalogStore::open(&args.dir).exit_with(Exit::Failed)
}

fn trust(args: &CatalogArgs) -> Result<TrustConfig, crate::exit::Failure> {
    TrustConfig::read(&args.trust)
        .with_context(|| "the trust file names the vetting keys this endpoint trusts (see `salve catalog --help`)")
        .exit_with(Exit::Usage)
}

/// `; author ann` or `; authors ann, bob`, or nothing.
fn authors(authors: &[String]) -> String {
    match authors {
        [] => String::new(),
        [one] => format!("; author {one}"),
        many => format!("; authors {}", many.join(", ")),
    }
}

/// Refuses to install into a catalog another user owns: what this user
/// writes there (the packages, the compiled cache beside it) the service's
/// user must be able to read, and a cache it does not own it refuses.
fn owned_by_me(dir: &Path) -> Result<(), crate::exit::Failure> {
    let Ok(metadata) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(anyhow!(
            "the catalog {} belongs to another user (uid {}), not to you (uid {me}): install as the service's user, e.g. `sudo -u salve salve catalog install …`, so that `salve serve` can read the package and its compiled code",
            dir.display(),
            metadata.uid()
        ))
        .exit_with(Exit::Usage);
    }
    Ok(())
}

pub fn install(
    package: &Path,
    args: &CatalogArgs,
    cache: Option<&Path>,
    as_json: bool,
) -> CliResult {
    let trust = trust(args)?;
    owned_by_me(&args.dir)?;
    let store = open(args)?;
    // The cache the service reads, so it starts from the compiled code.
    let cache = cache.map_or_else(|| setup::service_cache_dir(&args.dir), Path::to_path_buf);
    let runtime = setup::runtime_in(
        Some(cache),
        "cannot use the compiled-component cache (choose another with --cache)",
    )?;
    let installation = match store.install(&runtime, package, &trust, &now()) {
        Ok(installation) => installation,
        Err(error @ InstallError::Store { .. }) => {
            return Err(anyhow!(error)).exit_with(Exit::Failed);
        }
        Err(error) => {
            return Err(anyhow!(error).context(format!("{} was not installed", package.display())))
                .exit_with(Exit::Refused);
        }
    };
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&installation).exit_with(Exit::Failed)?
        );
        return Ok(Exit::Success);
    }
    let i = &installation.installed;
    println!("installed {}@{} (sha256 {})", i.id, i.version, i.digest);
    println!(
        "  vetted by {}{}",
        i.vetted_by.join(", "),
        authors(&i.authors)
    );
    if let Some(from) = &installation.upgrade_from {
        println!("  upgrade from {from}");
        if let Some(why) = &installation.previous_unreadable {
            println!(
                "  the installed copy of {from} cannot be read ({why}): every capability is shown as added"
            );
        }
        if installation.capability_diff.is_empty() {
            println!("  capabilities unchanged");
        }
        for change in &installation.capability_diff {
            println!(
                "  {} {} ({}){}",
                change.change,
                change.capability,
                change.class,
                match change.change {
                    '~' => format!(
                        ": {} -> {}",
                        change.before.join(", "),
                        change.after.join(", ")
                    ),
                    '+' if !change.after.is_empty() => format!(": {}", change.after.join(", ")),
                    _ => String::new(),
                }
            );
        }
    }
    Ok(Exit::Success)
}

pub fn list(args: &CatalogArgs, as_json: bool) -> CliResult {
    let store = open(args)?;
    let installed = store.list().exit_with(Exit::Failed)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&installed).exit_with(Exit::Failed)?
        );
        return Ok(Exit::Success);
    }
    if installed.is_empty() {
        println!("no packages installed in {}", args.dir.display());
    }
    for i in &installed {
        println!(
            "{}@{}{}{}\n  sha256 {}\n  vetted by {}{}",
            i.id,
            i.version,
            i.revoked
                .as_ref()
                .map(|r| format!("  REVOKED ({r})"))
                .unwrap_or_default(),
            i.broken
                .as_ref()
                .map(|b| format!("  BROKEN ({b})"))
                .unwrap_or_default(),
            i.digest,
            i.vetted_by.join(", "),
            authors(&i.authors)
        );
        for (name, class, parameters) in &i.capabilities {
            println!(
                "  {}{name} ({class}){}",
                if is_privileged(class) { "! " } else { "  " },
                if parameters.is_empty() {
                    String::new()
                } else {
                    format!(": {}", parameters.join(", "))
                }
            );
        }
    }
    Ok(Exit::Success)
}

pub fn revoke(target: &str, reason: &str, args: &CatalogArgs) -> CliResult {
    let target: Revoked = target
        .parse()
        .map_err(|e: String| anyhow!(e))
        .exit_with(Exit::Usage)?;
    let store = open(args)?;
    let by = std::env::var("USER").unwrap_or_else(|_| "local administrator".to_string());
    let added = store
        .revoke(
            &[Revocation {
                target: target.clone(),
                reason: reason.to_string(),
            }],
            &by,
            &now(),
        )
        .exit_with(Exit::Failed)?;
    if added == 0 {
        println!("{target} was already revoked");
    } else {
        println!("revoked {target}: nothing runs it from now on");
    }
    Ok(Exit::Success)
}

pub fn sign_revocations(
    key_file: &Path,
    principal: Option<&str>,
    targets: &[String],
    reason: &str,
) -> CliResult {
    let (key, principal) = signer(key_file, principal)?;
    let revocations = targets
        .iter()
        .map(|t| {
            t.parse().map(|target| Revocation {
                target,
                reason: reason.to_string(),
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow!(e))
        .exit_with(Exit::Usage)?;
    let list = RevocationList::sign(&key, principal, now(), revocations)
        .map_err(|e| anyhow!(e))
        .exit_with(Exit::Failed)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&list).exit_with(Exit::Failed)?
    );
    Ok(Exit::Success)
}

pub fn import_revocations(file: &Path, args: &CatalogArgs) -> CliResult {
    let text = salve::file_error::read_text(file)
        .with_context(|| format!("cannot read {}", file.display()))
        .exit_with(Exit::Usage)?;
    let list: RevocationList = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a revocation list", file.display()))
        .exit_with(Exit::Usage)?;
    let trust = trust(args)?;
    let (signer, revocations) = list
        .open(&trust)
        .map_err(|e| anyhow!("{}: {e}", file.display()))
        .exit_with(Exit::Refused)?;
    let store = open(args)?;
    let added = store
        .revoke(&revocations, signer.as_str(), &now())
        .exit_with(Exit::Failed)?;
    println!(
        "imported {} revocation(s) signed by {signer} ({added} new)",
        revocations.len()
    );
    for r in &revocations {
        println!("  {}: {}", r.target, r.reason);
    }
    Ok(Exit::Success)
}
