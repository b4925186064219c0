//! The vetted catalog: only packages signed by trusted vetting keys install,
//! never at an older version than one already trusted, never when revoked;
//! each refusal names the check that failed, and nothing is installed half
//! way. A revoked package is denied at once on the endpoint.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::Package;
use salve::endpoint::InvokeOutcome;
use salve::identity::KeyPair;
use salve::session::SessionState;
use salve::vetting::trust::VettingKey;
use salve::vetting::{
    CatalogStore, InstallError, Revocation, RevocationList, Role, SignatureError, Signatures,
    TrustConfig, VettingError,
};
use salve_tests::fixture::{Fixture, request};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use std::path::Path;
use std::sync::Arc;

struct Keys {
    vetting: KeyPair,
    second: KeyPair,
    author: KeyPair,
    stranger: KeyPair,
}

fn keys() -> Keys {
    Keys {
        vetting: KeyPair::generate().unwrap(),
        second: KeyPair::generate().unwrap(),
        author: KeyPair::generate().unwrap(),
        stranger: KeyPair::generate().unwrap(),
    }
}

fn trust(keys: &Keys, required: usize, distinct_from_author: bool) -> TrustConfig {
    TrustConfig {
        schema: 1,
        required_signatures: required,
        distinct_from_author,
        vetting_keys: vec![
            VettingKey {
                principal: "vetting-board".parse().unwrap(),
                key: keys.vetting.public(),
            },
            VettingKey {
                principal: "security-team".parse().unwrap(),
                key: keys.second.public(),
            },
        ],
    }
}

fn sign(package: &Path, key: &KeyPair, role: Role, signer: &str) {
    let opened = Package::open(package).unwrap();
    Signatures::add(
        &opened,
        key,
        role,
        signer.parse().unwrap(),
        "2026-11-24T10:00:00Z".into(),
    )
    .unwrap();
}

/// The echo package at `version`, in a directory of its own.
fn echo(version: &str, extra: &str) -> PackageCopy {
    PackageCopy::new(
        artifacts::ECHO,
        &[("version = \"0.1.0\"", &format!("version = \"{version}\""))],
        extra,
    )
}

struct Catalog {
    _dir: tempfile::TempDir,
    store: CatalogStore,
    packages_dir: std::path::PathBuf,
}

fn catalog() -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let store = CatalogStore::open(dir.path()).unwrap();
    Catalog {
        packages_dir: dir.path().join("packages"),
        store,
        _dir: dir,
    }
}

impl Catalog {
    fn install(
        &self,
        package: &Path,
        trust: &TrustConfig,
    ) -> Result<salve::vetting::installed::Installation, InstallError> {
        self.store
            .install(shared_runtime(), package, trust, "2026-11-24T10:00:00Z")
    }

    /// Nothing installed, no files left behind.
    fn assert_empty(&self) {
        assert!(self.store.list().unwrap().is_empty());
        let leftovers: Vec<_> = walk(&self.packages_dir);
        assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn a_package_signed_by_a_trusted_key_installs_and_lists_with_its_signers() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let installation = c.install(&package.dir, &trust(&keys, 1, false)).unwrap();
    assert_eq!(installation.installed.vetted_by, ["vetting-board"]);
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "echo");
    assert_eq!(listed[0].version, "1.0.0");
    assert_eq!(
        listed[0].digest,
        Package::open(&package.dir).unwrap().digest().to_string()
    );
    assert_eq!(listed[0].capabilities[0].0, "log");
    // The installed copy loads again, re-vetted.
    let loadable = c.store.packages(&trust(&keys, 1, false)).unwrap();
    assert_eq!(loadable.packages.len(), 1);
    // A key no longer trusted no longer vouches for it.
    let mut distrust = trust(&keys, 1, false);
    distrust.vetting_keys.remove(0);
    let loadable = c.store.packages(&distrust).unwrap();
    assert!(loadable.packages.is_empty());
    assert!(
        loadable.refused[0]
            .1
            .contains("not by a trusted vetting key"),
        "{:?}",
        loadable.refused
    );
}

#[test]
fn an_unsigned_package_is_refused() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    assert!(
        matches!(error, InstallError::Vetting(VettingError::Unsigned { .. })),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "echo@1.0.0 is unsigned: it needs 1 vetting signature(s) by a trusted key (sign it with `salve action sign`)"
    );
    c.assert_empty();
}

#[test]
fn a_signature_by_an_untrusted_key_does_not_count() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.stranger, Role::Vetting, "vetting-board");
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(
            "echo@1.0.0 has 0 vetting signature(s) by trusted keys, the policy requires 1"
        ),
        "{text}"
    );
    assert!(text.contains("is not by a trusted vetting key"), "{text}");
    c.assert_empty();
}

#[test]
fn a_signature_over_a_different_manifest_is_refused() {
    let keys = keys();
    let c = catalog();
    let one = echo("1.0.0", "");
    let other = echo("1.0.1", "");
    sign(&one.dir, &keys.vetting, Role::Vetting, "vetting-board");
    std::fs::copy(
        one.dir.join("action.toml.sig"),
        other.dir.join("action.toml.sig"),
    )
    .unwrap();
    let error = c.install(&other.dir, &trust(&keys, 1, false)).unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Vetting(VettingError::BadSignature { .. })
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("does not verify over this manifest"),
        "{error}"
    );
    c.assert_empty();
}

#[test]
fn a_manifest_edited_after_signing_is_refused() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let manifest = package.dir.join("action.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("Returns its input unchanged", "Returns its input, honest"),
    )
    .unwrap();
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the vetting signature by vetting-board does not verify over this manifest"),
        "{error}"
    );
    c.assert_empty();
}

#[test]
fn a_component_swapped_after_signing_is_refused() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    // Swap the component only: its digest no longer matches the manifest.
    let other =
        std::fs::read(Path::new(artifacts::SYSTEM_REPORT).join("system_report.wasm")).unwrap();
    std::fs::write(package.dir.join("echo.wasm"), &other).unwrap();
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    assert!(matches!(error, InstallError::Package(_)), "{error}");
    assert!(
        error.to_string().contains("does not match its manifest"),
        "{error}"
    );
    // Swap it and write its digest into the manifest: the signature breaks.
    let manifest = package.dir.join("action.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let digest = Package::open(artifacts::ECHO).unwrap().digest().to_string();
    let swapped = salve::Sha256Digest::of(&other).to_string();
    std::fs::write(&manifest, text.replace(&digest, &swapped)).unwrap();
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Vetting(VettingError::BadSignature { .. })
        ),
        "{error}"
    );
    c.assert_empty();
}

#[test]
fn rolling_back_to_an_older_version_is_refused() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let new = echo("2.0.0", "");
    let old = echo("1.0.0", "");
    for p in [&new, &old] {
        sign(&p.dir, &keys.vetting, Role::Vetting, "vetting-board");
    }
    c.install(&new.dir, &trust).unwrap();
    let error = c.install(&old.dir, &trust).unwrap_err();
    assert!(matches!(error, InstallError::Rollback { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("echo@1.0.0 is older than echo@2.0.0, already installed"),
        "{error}"
    );
    assert_eq!(c.store.list().unwrap().len(), 1);
    assert!(!c.packages_dir.join("echo/1.0.0").exists());
}

#[test]
fn an_upgrade_shows_its_capability_diff() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let old = echo("1.0.0", "");
    let new = echo(
        "1.1.0",
        "\n[capabilities.service-control]\nservices = [\"cups.service\"]\n",
    );
    for p in [&old, &new] {
        sign(&p.dir, &keys.vetting, Role::Vetting, "vetting-board");
    }
    c.install(&old.dir, &trust).unwrap();
    let upgrade = c.install(&new.dir, &trust).unwrap();
    assert_eq!(upgrade.upgrade_from.as_deref(), Some("1.0.0"));
    assert_eq!(upgrade.capability_diff.len(), 1);
    let change = &upgrade.capability_diff[0];
    assert_eq!(
        (
            change.change,
            change.capability.as_str(),
            change.class.as_str()
        ),
        ('+', "service-control", "privileged")
    );
    assert_eq!(change.after, ["cups.service"]);
}

#[test]
fn too_few_signatures_are_refused() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c
        .install(&package.dir, &trust(&keys, 2, false))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "echo@1.0.0 has 1 vetting signature(s) by trusted keys, the policy requires 2"
    );
    c.assert_empty();
    // The same key twice is still one signature.
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    assert!(c.install(&package.dir, &trust(&keys, 2, false)).is_err());
    sign(&package.dir, &keys.second, Role::Vetting, "security-team");
    let installed = c.install(&package.dir, &trust(&keys, 2, false)).unwrap();
    assert_eq!(
        installed.installed.vetted_by,
        ["vetting-board", "security-team"]
    );
}

#[test]
fn the_vetting_signer_must_not_be_the_author() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, true);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    // Without an author signature the separation cannot be shown.
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        matches!(error, InstallError::Vetting(VettingError::NoAuthor { .. })),
        "{error}"
    );
    // The vetting board wrote it itself: its own vetting does not count.
    sign(&package.dir, &keys.author, Role::Author, "vetting-board");
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("vetting-board signed as vetting authority but is the package's author"),
        "{error}"
    );
    c.assert_empty();
    // Written by someone else, vetted by the board: installed.
    let other = echo("1.0.0", "");
    sign(&other.dir, &keys.author, Role::Author, "ann");
    sign(&other.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let installed = c.install(&other.dir, &trust).unwrap();
    assert_eq!(installed.installed.author.as_deref(), Some("ann"));
}

#[test]
fn a_malformed_signature_file_is_named() {
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    std::fs::write(
        package.dir.join("action.toml.sig"),
        "[[signature]]\nrole = \"vetting\"\nkey = 42\n",
    )
    .unwrap();
    let error = c
        .install(&package.dir, &trust(&keys, 1, false))
        .unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Signature(SignatureError::Malformed { .. })
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("not a valid signature file: line 3"),
        "{error}"
    );
    c.assert_empty();
}

#[test]
fn a_revoked_package_is_not_installed_and_not_run() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    c.install(&package.dir, &trust).unwrap();
    let revocation = Revocation {
        target: "echo@1.0.0".parse().unwrap(),
        reason: "leaks input".into(),
    };
    assert_eq!(c.store.revoke(&[revocation], "root", "now").unwrap(), 1);
    let listed = c.store.list().unwrap();
    assert_eq!(
        listed[0].revoked.as_deref(),
        Some("echo@1.0.0: leaks input")
    );
    assert!(c.store.packages(&trust).unwrap().packages.is_empty());

    let again = catalog();
    again
        .store
        .revoke(
            &[Revocation {
                target: format!("sha256:{}", listed[0].digest).parse().unwrap(),
                reason: "bad build".into(),
            }],
            "root",
            "now",
        )
        .unwrap();
    let error = again.install(&package.dir, &trust).unwrap_err();
    assert!(matches!(error, InstallError::Revoked { .. }), "{error}");
    assert!(error.to_string().contains("bad build"), "{error}");
    again.assert_empty();
}

#[test]
fn a_revocation_blocks_an_action_on_a_running_endpoint_at_once() {
    let mut f = Fixture::new();
    let c = Arc::new(catalog().store);
    f.restart_with_revocations(c.clone());
    let session = f
        .endpoint
        .request_session(&f.who("alice"), request("tom", &["echo"], false))
        .unwrap();
    let session = f
        .endpoint
        .approve_session(&f.who("bob"), &session.id)
        .unwrap();
    assert_eq!(session.state, SessionState::Active);
    let echo = "echo".parse().unwrap();
    let InvokeOutcome::Ran { .. } = f
        .endpoint
        .invoke(&f.who("tom"), &session.id, &echo, "{}")
        .unwrap()
    else {
        panic!("echo runs before it is revoked")
    };
    let version = f
        .endpoint
        .catalog()
        .entries()
        .find(|e| e.package.manifest().id.as_str() == "echo")
        .unwrap()
        .version()
        .clone();
    c.revoke(
        &[Revocation {
            target: format!("echo@{version}").parse().unwrap(),
            reason: "leaks input".into(),
        }],
        "root",
        "now",
    )
    .unwrap();
    let InvokeOutcome::Denied { denial } = f
        .endpoint
        .invoke(&f.who("tom"), &session.id, &echo, "{}")
        .unwrap()
    else {
        panic!("a revoked action is denied")
    };
    assert_eq!(denial.code(), "revoked");
    assert!(
        denial.to_string().contains("is revoked: leaks input"),
        "{denial}"
    );
}

#[test]
fn a_revocation_list_counts_only_when_signed_by_a_trusted_key() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let revocations = vec![Revocation {
        target: "echo@1.0.0".parse().unwrap(),
        reason: "leaks input".into(),
    }];
    let list = RevocationList::sign(
        &keys.vetting,
        "vetting-board".parse().unwrap(),
        "t".into(),
        revocations.clone(),
    )
    .unwrap();
    let (signer, opened) = list.open(&trust).unwrap();
    assert_eq!(signer.as_str(), "vetting-board");
    assert_eq!(opened, revocations);
    c.store.revoke(&opened, signer.as_str(), "now").unwrap();
    assert_eq!(c.store.revocations().unwrap().len(), 1);

    let untrusted = RevocationList::sign(
        &keys.stranger,
        "vetting-board".parse().unwrap(),
        "t".into(),
        revocations.clone(),
    )
    .unwrap();
    assert!(
        untrusted
            .open(&trust)
            .unwrap_err()
            .contains("not a trusted vetting key")
    );
    let mut forged = list.clone();
    let other = RevocationList::sign(
        &keys.vetting,
        "vetting-board".parse().unwrap(),
        "t".into(),
        Vec::new(),
    )
    .unwrap();
    forged.payload = other.payload;
    assert!(forged.open(&trust).unwrap_err().contains("does not verify"));
}
