//! The vetted catalog: only packages signed by trusted vetting keys install,
//! never at an older version than one already trusted, never when revoked;
//! each refusal names the check that failed, and nothing is installed half
//! way. A revoked package is denied at once on the endpoint.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::endpoint::InvokeOutcome;
use salve::identity::KeyPair;
use salve::package::PackageError;
use salve::session::SessionState;
use salve::vetting::trust::VettingKey;
use salve::vetting::{
    CatalogStore, InstallError, Revocation, RevocationList, Revoked, Role, SignatureError,
    Signatures, TrustConfig, VettingError,
};
use salve::{Package, Sha256Digest};
use salve_tests::fixture::{Fixture, request};
use salve_tests::{PackageCopy, artifacts, shared_runtime};
use std::path::Path;
use std::sync::{Arc, Barrier};

struct Keys {
    /// vetting-board's vetting key.
    vetting: KeyPair,
    /// security-team's vetting key.
    second: KeyPair,
    /// ann's author key.
    author: KeyPair,
    /// A key the trust file does not hold.
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

fn key(principal: &str, key: &KeyPair) -> VettingKey {
    VettingKey {
        principal: principal.parse().unwrap(),
        key: key.public(),
    }
}

/// vetting-board and security-team vet; ann is a known author.
fn trust(keys: &Keys, required: usize, distinct_from_author: bool) -> TrustConfig {
    TrustConfig {
        schema: 1,
        required_signatures: required,
        distinct_from_author,
        vetting_keys: vec![
            key("vetting-board", &keys.vetting),
            key("security-team", &keys.second),
        ],
        author_keys: vec![key("ann", &keys.author)],
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
    dir: tempfile::TempDir,
    store: Arc<CatalogStore>,
    packages_dir: std::path::PathBuf,
}

fn catalog() -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CatalogStore::open(dir.path()).unwrap());
    Catalog {
        packages_dir: dir.path().join("packages"),
        store,
        dir,
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

    /// No temporary directory of an installation is left behind.
    fn assert_no_staging_left(&self) {
        let staging: Vec<_> = walk(&self.packages_dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".installing-"))
            .collect();
        assert!(staging.is_empty(), "staging left behind: {staging:?}");
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
    assert!(
        error
            .to_string()
            .ends_with("publish a fixed one under a higher version)"),
        "{error}"
    );
    assert_eq!(c.store.list().unwrap().len(), 1);
    assert!(!c.packages_dir.join("echo").join("1.0.0").exists());
    // Revoking the newer version does not reopen the way back.
    c.store
        .revoke(
            &[Revocation {
                target: "echo@2.0.0".parse().unwrap(),
                reason: "bad".into(),
            }],
            "root",
            "now",
        )
        .unwrap();
    let error = c.install(&old.dir, &trust).unwrap_err();
    assert!(matches!(error, InstallError::Rollback { .. }), "{error}");
    assert!(!c.packages_dir.join("echo").join("1.0.0").exists());
    c.assert_no_staging_left();
}

#[test]
fn an_upgrade_shows_its_capability_diff() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let old = echo("1.0.0", "");
    let new = echo(
        "1.1.0",
        "\n[capabilities.service-control]\nservices = [\"cups.service\"]\n\n[capabilities.service-control.windows]\nservices = [\"Spooler\"]\n",
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
    // The diff is of what this endpoint's system may be granted.
    let added = if cfg!(windows) {
        "Spooler"
    } else {
        "cups.service"
    };
    assert_eq!(change.after, [added]);
    // Only the newest installed version is run: the older one is not
    // loaded, whatever a session's version range would accept.
    let loadable = c.store.packages(&trust).unwrap();
    let loaded: Vec<String> = loadable
        .packages
        .iter()
        .map(|p| p.manifest().label())
        .collect();
    assert_eq!(loaded, ["echo@1.1.0"]);
    assert_eq!(
        loadable.refused,
        [(
            "echo@1.0.0".to_string(),
            "superseded by echo@1.1.0: only the newest installed version of an action runs"
                .to_string()
        )]
    );
    // A revoked newest version leaves nothing to run, not the older one.
    c.store
        .revoke(
            &[Revocation {
                target: "echo@1.1.0".parse().unwrap(),
                reason: "bad".into(),
            }],
            "root",
            "now",
        )
        .unwrap();
    assert!(c.store.packages(&trust).unwrap().packages.is_empty());
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
    sign(&package.dir, &keys.second, Role::Vetting, "security-team");
    let installed = c.install(&package.dir, &trust(&keys, 2, false)).unwrap();
    assert_eq!(
        installed.installed.vetted_by,
        ["vetting-board", "security-team"]
    );
}

#[test]
fn one_principal_signing_twice_is_still_one_signature() {
    let keys = keys();
    let c = catalog();
    // The same entry twice in the signature file.
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let file = package.dir.join("action.toml.sig");
    let once = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{once}\n{once}")).unwrap();
    assert_eq!(Signatures::read(&package.dir).unwrap().signature.len(), 2);
    let error = c
        .install(&package.dir, &trust(&keys, 2, false))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "echo@1.0.0 has 1 vetting signature(s) by trusted keys, the policy requires 2"
    );
    // Two keys of one principal, both trusted: still one principal.
    let other = echo("1.0.0", "");
    let spare = KeyPair::generate().unwrap();
    let mut two_keys = trust(&keys, 2, false);
    two_keys.vetting_keys.push(key("vetting-board", &spare));
    sign(&other.dir, &keys.vetting, Role::Vetting, "vetting-board");
    sign(&other.dir, &spare, Role::Vetting, "vetting-board");
    assert_eq!(Signatures::read(&other.dir).unwrap().signature.len(), 2);
    let error = c.install(&other.dir, &two_keys).unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Vetting(VettingError::TooFewSignatures { found: 1, .. })
        ),
        "{error}"
    );
    c.assert_empty();
    // A second principal makes two.
    sign(&other.dir, &keys.second, Role::Vetting, "security-team");
    c.install(&other.dir, &two_keys).unwrap();
}

#[test]
fn an_upgrade_needs_as_many_signatures_as_a_new_package() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 2, false);
    let old = echo("1.0.0", "");
    sign(&old.dir, &keys.vetting, Role::Vetting, "vetting-board");
    sign(&old.dir, &keys.second, Role::Vetting, "security-team");
    c.install(&old.dir, &trust).unwrap();
    let new = echo(
        "1.1.0",
        "\n[capabilities.service-control]\nservices = [\"cups.service\"]\n\n[capabilities.service-control.windows]\nservices = [\"Spooler\"]\n",
    );
    sign(&new.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c.install(&new.dir, &trust).unwrap_err();
    assert_eq!(
        error.to_string(),
        "echo@1.1.0 has 1 vetting signature(s) by trusted keys, the policy requires 2"
    );
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, "1.0.0");
    assert!(!c.packages_dir.join("echo/1.1.0").exists());
    c.assert_no_staging_left();
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
    sign(&package.dir, &keys.vetting, Role::Author, "vetting-board");
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
    assert_eq!(installed.installed.authors, ["ann"]);
    assert_eq!(c.store.list().unwrap()[0].authors, ["ann"]);
}

#[test]
fn an_author_signature_by_an_unknown_key_identifies_no_one() {
    // The board wrote the package and signs as author "ann" with a throwaway
    // key, then vets it.
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, true);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.stranger, Role::Author, "ann");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        matches!(error, InstallError::Vetting(VettingError::NoAuthor { .. })),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with("echo@1.0.0 has no author signature by a key the trust file knows"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "the author signature by ann ({}) is ignored: its key is not in the trust file",
            keys.stranger.public()
        )),
        "{text}"
    );
    c.assert_empty();
}

#[test]
fn a_fake_author_before_the_real_one_does_not_hide_the_author() {
    // The board wrote it and signed as author; a fake author first must not
    // make the board's vetting count.
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, true);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.stranger, Role::Author, "ann");
    sign(&package.dir, &keys.vetting, Role::Author, "vetting-board");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let roles: Vec<Role> = Signatures::read(&package.dir)
        .unwrap()
        .signature
        .iter()
        .map(|s| s.role)
        .collect();
    assert_eq!(roles, [Role::Author, Role::Author, Role::Vetting]);
    let error = c.install(&package.dir, &trust).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(
            "echo@1.0.0 has 0 vetting signature(s) by trusted keys, the policy requires 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("vetting-board signed as vetting authority but is the package's author"),
        "{text}"
    );
    c.assert_empty();

    // The real author ann first, the board as a second author: the board's
    // vetting still does not count, a third party's does.
    let shared = echo("1.0.0", "");
    sign(&shared.dir, &keys.author, Role::Author, "ann");
    sign(&shared.dir, &keys.vetting, Role::Author, "vetting-board");
    sign(&shared.dir, &keys.vetting, Role::Vetting, "vetting-board");
    assert!(c.install(&shared.dir, &trust).is_err());
    c.assert_empty();
    sign(&shared.dir, &keys.second, Role::Vetting, "security-team");
    let installed = c.install(&shared.dir, &trust).unwrap();
    assert_eq!(installed.installed.vetted_by, ["security-team"]);
    assert_eq!(installed.installed.authors, ["ann", "vetting-board"]);
}

#[test]
fn a_known_key_signing_under_another_name_is_refused() {
    // The board signs as author "ann" with its own key.
    let keys = keys();
    let c = catalog();
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Author, "ann");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c.install(&package.dir, &trust(&keys, 1, true)).unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Vetting(VettingError::SignerMismatch { .. })
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "echo@1.0.0: the author signature names ann as its signer, but its key belongs to vetting-board in the trust file: a signature counts only for the principal its key belongs to (sign again as vetting-board, or correct the trust file)"
    );
    c.assert_empty();
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

/// Runs echo on an endpoint consulting a catalog's revocations, revokes it
/// by the target `target` makes of echo's version and digest, and checks the
/// next invocation is denied.
fn revoked_at_once(target: impl Fn(String, Sha256Digest) -> String) {
    let mut f = Fixture::new();
    // `c` keeps the catalog's directory for the whole test.
    let c = catalog();
    f.restart_with_revocations(c.store.clone());
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
    let entry = f
        .endpoint
        .catalog()
        .entries()
        .find(|e| e.package.manifest().id.as_str() == "echo")
        .unwrap();
    let target: Revoked = target(entry.version().to_string(), entry.package.digest())
        .parse()
        .unwrap();
    c.store
        .revoke(
            &[Revocation {
                target: target.clone(),
                reason: "leaks input".into(),
            }],
            "root",
            "now",
        )
        .unwrap();
    assert!(c.dir.path().join("catalog.db").exists());
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
    assert!(
        denial
            .to_string()
            .contains(&format!("(revoked as {target})")),
        "{denial}"
    );
}

#[test]
fn a_revocation_blocks_an_action_on_a_running_endpoint_at_once() {
    revoked_at_once(|version, _| format!("echo@{version}"));
}

#[test]
fn a_revocation_by_digest_blocks_an_action_on_a_running_endpoint_at_once() {
    revoked_at_once(|_, digest| format!("sha256:{digest}"));
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

/// Cuts `file` to half its length.
fn truncate(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_truncated_package_is_refused_and_nothing_is_installed() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);

    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    truncate(&package.dir.join("action.toml"));
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        matches!(error, InstallError::Package(PackageError::Manifest(_))),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&package.dir.join("action.toml").display().to_string()),
        "the error names the manifest: {error}"
    );
    c.assert_empty();

    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    truncate(&package.dir.join("echo.wasm"));
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Package(PackageError::DigestMismatch { .. })
        ),
        "{error}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "the component {} does not match its manifest",
            package.dir.join("echo.wasm").display()
        )),
        "{error}"
    );
    c.assert_empty();

    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    truncate(&package.dir.join("action.toml.sig"));
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        matches!(
            error,
            InstallError::Signature(SignatureError::Malformed { .. })
        ),
        "{error}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "{}: not a valid signature file",
            package.dir.join("action.toml.sig").display()
        )),
        "{error}"
    );
    c.assert_empty();
}

#[test]
fn a_badly_encoded_signature_is_reported_as_malformed() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.stranger, Role::Author, "ann");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let file = package.dir.join("action.toml.sig");
    let good = std::fs::read_to_string(&file).unwrap();
    let signatures = Signatures::read(&package.dir).unwrap();
    let encoded = &signatures.signature[1].signature;
    // Not base64; base64 of the wrong length.
    for bad in ["not base64 at all!", "c2hvcnQ="] {
        std::fs::write(&file, good.replace(encoded.as_str(), bad)).unwrap();
        let error = c.install(&package.dir, &trust).unwrap_err();
        assert!(
            matches!(
                error,
                InstallError::Signature(SignatureError::Malformed { .. })
            ),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{}: not a valid signature file: signature 2 (the vetting signature by vetting-board): `signature` is not the base64 of a 64-byte ed25519 signature; the file was damaged or edited by hand: sign the package again with `salve action sign`",
                file.display()
            )
        );
        c.assert_empty();
    }
    // The same check when signatures do not come from a file.
    let mut broken = signatures.clone();
    broken.signature[1].signature = "c2hvcnQ=".into();
    let error = trust
        .vet(&Package::open(&package.dir).unwrap(), &broken)
        .unwrap_err();
    assert!(
        matches!(error, VettingError::MalformedSignature { entry: 2, .. }),
        "{error}"
    );
    // A signing time that is not RFC 3339.
    std::fs::write(&file, good.replace("2026-11-24T10:00:00Z", "last tuesday")).unwrap();
    let error = c.install(&package.dir, &trust).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`signed-at = \"last tuesday\"` is not an RFC 3339 time in UTC"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("not a valid signature file: line "),
        "{error}"
    );
    c.assert_empty();
    let error = Signatures::add(
        &Package::open(&package.dir).unwrap(),
        &keys.vetting,
        Role::Vetting,
        "vetting-board".parse().unwrap(),
        "2026-11-24 10:00".into(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("is not an RFC 3339 time"),
        "{error}"
    );
}

#[test]
fn the_same_version_with_another_package_is_a_conflict() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let first = echo("1.0.0", "");
    sign(&first.dir, &keys.vetting, Role::Vetting, "vetting-board");
    c.install(&first.dir, &trust).unwrap();
    let installed_digest = c.store.list().unwrap()[0].digest.clone();

    // Another component under the same id and version.
    let swapped = echo("1.0.0", "");
    let other =
        std::fs::read(Path::new(artifacts::SYSTEM_REPORT).join("system_report.wasm")).unwrap();
    std::fs::write(swapped.dir.join("echo.wasm"), &other).unwrap();
    let manifest = swapped.dir.join("action.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let other_digest = Sha256Digest::of(&other).to_string();
    std::fs::write(&manifest, text.replace(&installed_digest, &other_digest)).unwrap();
    sign(&swapped.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c.install(&swapped.dir, &trust).unwrap_err();
    assert!(matches!(error, InstallError::Conflict { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "echo@1.0.0 is already installed as another package (component sha256 {installed_digest}, this one has {other_digest}): a version names exactly one package, so publish this one under a new version"
        )
    );

    // The same component with another manifest (more capabilities).
    let widened = echo(
        "1.0.0",
        "\n[capabilities.service-control]\nservices = [\"cups.service\"]\n",
    );
    sign(&widened.dir, &keys.vetting, Role::Vetting, "vetting-board");
    let error = c.install(&widened.dir, &trust).unwrap_err();
    assert!(matches!(error, InstallError::Conflict { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("(the same component, but another action.toml: sha256 "),
        "{error}"
    );

    // The installed package is untouched.
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].broken, None);
    let placed = Package::open(c.packages_dir.join("echo").join("1.0.0")).unwrap();
    assert_eq!(placed.digest().to_string(), installed_digest);
    assert_eq!(placed.manifest_digest(), first.open().manifest_digest());
    c.assert_no_staging_left();
    // Installing exactly the same package again is a no-op.
    let again = c.install(&first.dir, &trust).unwrap();
    assert_eq!(again.installed.digest, installed_digest);
    assert_eq!(c.store.list().unwrap().len(), 1);
}

#[test]
fn concurrent_installs_of_one_version_leave_one_intact_package() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    // Eight installations at once, each from its own copy: half share the
    // store (threads of one process), half open their own (as processes do).
    let copies: Vec<PackageCopy> = (0..8).map(|_| echo("1.0.0", "")).collect();
    for copy in &copies {
        sign(&copy.dir, &keys.vetting, Role::Vetting, "vetting-board");
    }
    let barrier = Barrier::new(copies.len());
    let results: Vec<Result<_, InstallError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = copies
            .iter()
            .enumerate()
            .map(|(i, copy)| {
                let (c, trust, barrier) = (&c, &trust, &barrier);
                scope.spawn(move || {
                    let own;
                    let store = if i % 2 == 0 {
                        &*c.store
                    } else {
                        own = CatalogStore::open(c.dir.path()).unwrap();
                        &own
                    };
                    barrier.wait();
                    store.install(shared_runtime(), &copy.dir, trust, "2026-11-24T10:00:00Z")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &results {
        assert!(result.is_ok(), "{:?}", result.as_ref().err());
    }
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].broken, None);
    Package::open(c.packages_dir.join("echo").join("1.0.0")).unwrap();
    assert_eq!(c.store.packages(&trust).unwrap().packages.len(), 1);
    c.assert_no_staging_left();
}

#[test]
fn concurrent_installs_of_different_packages_under_one_version_let_one_win() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    // Four different manifests of echo@1.0.0, each installed twice at once.
    let copies: Vec<PackageCopy> = (0..8)
        .map(|i| echo("1.0.0", &format!("\n# variant {}\n", i % 4)))
        .collect();
    for copy in &copies {
        sign(&copy.dir, &keys.vetting, Role::Vetting, "vetting-board");
    }
    let barrier = Barrier::new(copies.len());
    let results: Vec<(usize, Result<_, InstallError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = copies
            .iter()
            .enumerate()
            .map(|(i, copy)| {
                let (c, trust, barrier) = (&c, &trust, &barrier);
                scope.spawn(move || {
                    let store = CatalogStore::open(c.dir.path()).unwrap();
                    barrier.wait();
                    (
                        i % 4,
                        store.install(shared_runtime(), &copy.dir, trust, "2026-11-24T10:00:00Z"),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: std::collections::BTreeSet<usize> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(variant, _)| *variant)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one variant wins: {results:?}");
    let winner = *winners.iter().next().unwrap();
    for (variant, result) in &results {
        if *variant != winner {
            assert!(
                matches!(result, Err(InstallError::Conflict { .. })),
                "{result:?}"
            );
        }
    }
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].broken, None, "the row has its package");
    let placed = Package::open(c.packages_dir.join("echo").join("1.0.0")).unwrap();
    assert_eq!(
        placed.manifest_digest(),
        copies[winner].open().manifest_digest()
    );
    c.assert_no_staging_left();
}

#[test]
fn a_missing_or_damaged_package_is_listed_as_broken_and_not_loaded() {
    let keys = keys();
    let c = catalog();
    let trust = trust(&keys, 1, false);
    let package = echo("1.0.0", "");
    sign(&package.dir, &keys.vetting, Role::Vetting, "vetting-board");
    c.install(&package.dir, &trust).unwrap();
    let installed = c.packages_dir.join("echo").join("1.0.0");

    std::fs::remove_dir_all(&installed).unwrap();
    let listed = c.store.list().unwrap();
    assert_eq!(listed.len(), 1, "the row is still listed");
    let broken = listed[0].broken.clone().unwrap();
    assert!(
        broken.starts_with(&format!(
            "its installed copy in {} cannot be used: ",
            installed.display()
        )),
        "{broken}"
    );
    assert!(
        broken.ends_with("install the package again to repair it"),
        "{broken}"
    );
    assert!(listed[0].capabilities.is_empty());
    let loadable = c.store.packages(&trust).unwrap();
    assert!(loadable.packages.is_empty());
    assert_eq!(loadable.refused[0].1, broken);

    // Installing the same package again repairs it.
    c.install(&package.dir, &trust).unwrap();
    assert_eq!(c.store.list().unwrap()[0].broken, None);
    assert_eq!(c.store.packages(&trust).unwrap().packages.len(), 1);

    // A damaged component.
    truncate(&installed.join("echo.wasm"));
    let broken = c.store.list().unwrap()[0].broken.clone().unwrap();
    assert!(broken.contains("does not match its manifest"), "{broken}");
    assert!(c.store.packages(&trust).unwrap().packages.is_empty());
    c.install(&package.dir, &trust).unwrap();
    assert_eq!(c.store.list().unwrap()[0].broken, None);
    c.assert_no_staging_left();
}

/// The listing a technician plans a scope from marks a capability privileged
/// as this endpoint's policy classes it: `extra-privileged` makes more
/// privileged than the runtime's own classes.
#[test]
fn the_catalog_listing_classes_capabilities_as_the_policy_does() {
    let class_of = |f: &Fixture, action: &str, capability: &str| {
        let listing = f.endpoint.catalog_listing();
        let entry = listing
            .into_iter()
            .find(|e| e.id.as_str() == action)
            .unwrap();
        entry
            .capabilities
            .iter()
            .find(|c| c.name.name() == capability)
            .map(|c| c.class.to_string())
            .unwrap()
    };
    let plain = Fixture::new();
    assert_eq!(class_of(&plain, "system-report", "sysinfo"), "standard");
    let stricter = Fixture::with_settings("extra-privileged = [\"sysinfo\"]");
    assert_eq!(
        class_of(&stricter, "system-report", "sysinfo"),
        "privileged"
    );
    assert_eq!(
        class_of(&stricter, "clear-temp-files", "files-write"),
        "privileged"
    );
}
