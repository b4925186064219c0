//! `salve action sign` and `salve catalog …` end to end: keys made with
//! `salve keygen`, a package signed, installed, listed, refused when it
//! should be, revoked.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::{CacheSource, Package, Runtime, RuntimeConfig};
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
            // The CLI's own cache, which `catalog install` must not use: the
            // service reads `cache` beside its catalog.
            .env("SALVE_CACHE_DIR", self.path("user-cache"))
            .env("SALVE_CATALOG_DIR", self.path("data/catalog"))
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

    /// Writes the trust file.
    fn trust(&self, text: &str) {
        std::fs::write(self.path("trust.toml"), text).unwrap();
    }

    /// Runs salve and checks it succeeded.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.salve(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "salve {args:?}: {}",
            text(&out.stderr)
        );
        out
    }

    /// `salve catalog list --json`.
    fn listed(&self) -> serde_json::Value {
        serde_json::from_slice(&self.ok(&["catalog", "list", "--json"]).stdout).unwrap()
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
    env.trust(&format!(
        "schema = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n"
    ));
    let package = env.package();
    env.ok(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("vetting-board.key"),
    ]);
    env.ok(&["catalog", "install", &package]);
    for (signer, target, expected) in [
        ("mallory", "echo@0.1.0", 3),
        ("vetting-board", "echo@0.1.0", 0),
    ] {
        let out = env.salve(&[
            "catalog",
            "sign-revocations",
            "--key",
            &env.path(&format!("{signer}.key")),
            target,
            "--reason",
            &format!("leaks input, says {signer}"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let list = env.path(&format!("{signer}.json"));
        std::fs::write(&list, &out.stdout).unwrap();
        let out = env.salve(&["catalog", "import-revocations", &list]);
        assert_eq!(out.status.code(), Some(expected), "{}", text(&out.stderr));
        if signer == "mallory" {
            assert!(
                text(&out.stderr).contains("which is not a trusted vetting key"),
                "{}",
                text(&out.stderr)
            );
            // Nothing was stored.
            let listed = env.listed();
            assert_eq!(listed[0]["revoked"], serde_json::Value::Null, "{listed}");
        } else {
            assert_eq!(
                text(&out.stdout),
                "imported 1 revocation(s) signed by vetting-board (1 new)\n  echo@0.1.0: leaks input, says vetting-board\n"
            );
        }
    }
    // Stored: the installed package is listed as revoked, and importing the
    // list again adds nothing.
    let listed = env.listed();
    assert_eq!(
        listed[0]["revoked"],
        "echo@0.1.0: leaks input, says vetting-board"
    );
    let out = env.ok(&[
        "catalog",
        "import-revocations",
        &env.path("vetting-board.json"),
    ]);
    assert!(
        text(&out.stdout).contains("(0 new)"),
        "{}",
        text(&out.stdout)
    );
    assert!(Path::new(&env.path("data/catalog/catalog.db")).exists());
}

#[test]
fn install_compiles_into_the_cache_the_service_reads() {
    let env = Env::new();
    let board = env.key("vetting-board");
    env.trust(&format!(
        "schema = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n"
    ));
    let package = env.package();
    env.ok(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("vetting-board.key"),
    ]);
    env.ok(&["catalog", "install", &package]);
    // `salve serve` keeps its catalog in <data-dir>/catalog and reads
    // compiled components from <data-dir>/cache.
    let data = env.dir.path().join("data");
    assert_eq!(cached(&data.join("cache")), 1);
    assert!(!env.dir.path().join("user-cache").exists());
    // A runtime configured as the service's loads it from disk.
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(data.join("cache")),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let installed = Package::open(data.join("catalog/packages/echo/0.1.0")).unwrap();
    assert_eq!(
        runtime.load(&installed).unwrap().cache_source(),
        CacheSource::Disk
    );
    // --cache chooses another directory.
    env.ok(&[
        "catalog",
        "install",
        &package,
        "--catalog",
        &env.path("other/catalog"),
        "--cache",
        &env.path("elsewhere"),
    ]);
    assert_eq!(cached(&env.dir.path().join("elsewhere")), 1);
    assert!(!env.dir.path().join("other/cache").exists());
}

/// How many compiled components `dir` holds.
fn cached(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".cwasm")
        })
        .count()
}

#[test]
fn authors_are_known_by_key_and_a_broken_package_is_listed() {
    let env = Env::new();
    let board = env.key("vetting-board");
    let ann = env.key("ann");
    env.key("mallory");
    env.trust(&format!(
        "schema = 1\ndistinct-from-author = true\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n\n[[author-keys]]\nprincipal = \"ann\"\nkey = \"{ann}\"\n"
    ));
    let package = env.package();
    env.ok(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("vetting-board.key"),
    ]);
    // An author signature by a key the trust file does not know names no one.
    env.ok(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("mallory.key"),
        "--role",
        "author",
        "--principal",
        "ann",
    ]);
    let out = env.salve(&["catalog", "install", &package]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("has no author signature by a key the trust file knows"),
        "{}",
        text(&out.stderr)
    );
    env.ok(&[
        "action",
        "sign",
        &package,
        "--key",
        &env.path("ann.key"),
        "--role",
        "author",
    ]);
    let out = env.ok(&["catalog", "install", &package]);
    assert!(
        text(&out.stdout).contains("\n  vetted by vetting-board; author ann\n"),
        "{}",
        text(&out.stdout)
    );
    let out = env.ok(&["catalog", "list"]);
    redactions(&env).bind(|| insta::assert_snapshot!("catalog_list", text(&out.stdout)));

    std::fs::remove_file(env.path("data/catalog/packages/echo/0.1.0/echo.wasm")).unwrap();
    let out = env.ok(&["catalog", "list"]);
    redactions(&env).bind(|| insta::assert_snapshot!("catalog_list_broken", text(&out.stdout)));
    assert_eq!(
        env.listed()[0]["broken"]
            .as_str()
            .map(|b| b.contains("cannot be read")),
        Some(true)
    );
}

/// Redacts digests (they change from build to build) and the temporary
/// directory.
fn redactions(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"[0-9a-f]{64}", "[sha256]");
    settings.add_filter(&regex_escape(env.dir.path().to_str().unwrap()), "[tmp]");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
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
