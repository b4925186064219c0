//! `salve action sign` and `salve catalog …` end to end: keys made with
//! `salve keygen`, a package signed, installed, listed, refused when it
//! should be, revoked.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve_test_artifacts as artifacts;
use std::path::Path;
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn salve(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_salve"))
            .args(args)
            .env("SALVE_CACHE_DIR", self.path("cache"))
            .env("SALVE_CATALOG_DIR", self.path("catalog"))
            .env("SALVE_TRUST", self.path("trust.toml"))
            .env_remove("SALVE_LOG")
            .output()
            .unwrap()
    }

    /// A key for `principal`; returns its public key.
    fn key(&self, principal: &str) -> String {
        let out = self.salve(&[
            "keygen",
            "--out",
            &self.path(&format!("{principal}.key")),
            "--principal",
            principal,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("public-key"))
            .unwrap();
        line.split('"').nth(1).unwrap().to_string()
    }

    /// The copy made by [`Env::package`].
    fn package_again(&self) -> String {
        self.dir.path().join("echo").to_str().unwrap().to_string()
    }

    /// A copy of the echo package.
    fn package(&self) -> String {
        let to = self.dir.path().join("echo");
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(artifacts::ECHO).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        to.to_str().unwrap().to_string()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sign_install_list_revoke() {
    let env = Env::new();
    let board = env.key("vetting-board");
    env.key("mallory");
    std::fs::write(
        env.path("trust.toml"),
        format!("schema = 1\nrequired-signatures = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n"),
    )
    .unwrap();
    let package = env.package();

    // Unsigned: refused, exit 3, nothing installed.
    let out = env.salve(&["catalog", "install", &package]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is unsigned"),
        "{}",
        text(&out.stderr)
    );

    // Signed by someone the endpoint does not trust: refused.
    let out = env.salve(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("mallory.key"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.salve(&["catalog", "install", &package]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("is not by a trusted vetting key"),
        "{}",
        text(&out.stderr)
    );

    // Signed by the board as well: installed.
    let out = env.salve(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("vetting-board.key"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("signed echo@0.1.0 as vetting by vetting-board"),
        "{}",
        text(&out.stdout)
    );
    let out = env.salve(&["catalog", "install", &package]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("installed echo@0.1.0 (sha256 "),
        "{}",
        text(&out.stdout)
    );

    let out = env.salve(&["catalog", "list"]);
    let listing = text(&out.stdout);
    assert!(listing.starts_with("echo@0.1.0\n"), "{listing}");
    assert!(listing.contains("vetted by vetting-board"), "{listing}");
    assert!(listing.contains("log (standard)"), "{listing}");

    let out = env.salve(&["catalog", "revoke", "echo@0.1.0", "--reason", "leaks input"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.salve(&["catalog", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["revoked"], "echo@0.1.0: leaks input");

    let out = env.salve(&["catalog", "revoke", "echo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("names no package"));
}

#[test]
fn revocation_lists_are_signed_and_checked() {
    let env = Env::new();
    let board = env.key("vetting-board");
    env.key("mallory");
    std::fs::write(
        env.path("trust.toml"),
        format!(
            "schema = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n"
        ),
    )
    .unwrap();
    for (signer, expected) in [("vetting-board", 0), ("mallory", 3)] {
        let out = env.salve(&[
            "catalog",
            "sign-revocations",
            "--key",
            &env.path(&format!("{signer}.key")),
            "echo@0.1.0",
            "--reason",
            "leaks input",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let list = env.path(&format!("{signer}.json"));
        std::fs::write(&list, &out.stdout).unwrap();
        let out = env.salve(&["catalog", "import-revocations", &list]);
        assert_eq!(out.status.code(), Some(expected), "{}", text(&out.stderr));
    }
    let out = env.salve(&["catalog", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(Path::new(&env.path("catalog/catalog.db")).exists());
}

#[test]
fn a_bad_trust_file_is_named() {
    let env = Env::new();
    std::fs::write(
        env.path("trust.toml"),
        "schema = 1\nrequired-signatures = 0\n",
    )
    .unwrap();
    let out = env.salve(&["catalog", "install", &env.package()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`required-signatures` must be at least 1"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(env.path("trust.toml"), "schema = 1\nvetting-key = []\n").unwrap();
    let out = env.salve(&["catalog", "install", &env.package_again()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("vetting-key"),
        "{}",
        text(&out.stderr)
    );
}
