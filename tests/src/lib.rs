//! Helpers for salve's end-to-end tests.

use salve::{Grant, LoadedAction, Package, Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use salve_test_artifacts as artifacts;

pub mod fixture;
#[cfg(unix)]
pub mod stand_in_systemctl;

/// One runtime for a whole test binary, as in a long-running endpoint: every
/// hostile case runs in it, and good actions must keep working after each.
pub fn shared_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| match Runtime::new(RuntimeConfig::default()) {
        Ok(runtime) => runtime,
        Err(error) => panic!("cannot create the test runtime: {error}"),
    })
}

/// A copy of a built package in a temporary directory, with its manifest
/// edited. The component is untouched, so its digest still matches.
pub struct PackageCopy {
    /// Keeps the directory alive.
    pub temp: tempfile::TempDir,
    /// The package directory.
    pub dir: PathBuf,
}

impl PackageCopy {
    /// Copies the package at `source`, replacing each `(from, to)` in its
    /// `action.toml` (each `from` must occur) and appending `extra`.
    pub fn new(source: &str, replacements: &[(&str, &str)], extra: &str) -> PackageCopy {
        let temp = tempfile::tempdir().expect("temporary directory");
        let dir = temp.path().join("package");
        std::fs::create_dir(&dir).expect("package directory");
        for entry in std::fs::read_dir(source).expect("package to copy") {
            let entry = entry.expect("directory entry");
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
        let manifest_path = dir.join("action.toml");
        let mut manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
        for (from, to) in replacements {
            assert!(manifest.contains(from), "`{from}` is not in the manifest");
            manifest = manifest.replace(from, to);
        }
        manifest.push_str(extra);
        std::fs::write(&manifest_path, manifest).expect("write manifest");
        PackageCopy { temp, dir }
    }

    /// Opens the copy.
    pub fn open(&self) -> Package {
        Package::open(&self.dir).expect("package copy opens")
    }
}

/// Loads the package at `dir` into the shared runtime.
pub fn load(dir: impl AsRef<Path>) -> (Package, LoadedAction) {
    let package = Package::open(dir).expect("package opens");
    let action = shared_runtime().load(&package).expect("package loads");
    (package, action)
}

/// Runs the shipped `system-report` action and checks that it succeeds: the
/// runtime is still healthy.
pub fn assert_runtime_still_works() {
    let (package, action) = load(artifacts::SYSTEM_REPORT);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let invocation = shared_runtime()
        .invoke(&action, &grant, "{}")
        .expect("system-report runs");
    assert!(
        invocation.outcome.succeeded(),
        "system-report after a hostile case: {:?}",
        invocation.outcome
    );
}
