//! Shared pieces of the fuzz targets: keys made once per process, and a
//! scratch directory for the parsers that read files.
//!
//! The targets that fuzz what a signature protects (a signed request's
//! payload, a revocation list's payload, a signed answer's payload) sign the
//! fuzzer's bytes with a key made here, so that the parser behind the
//! signature check is reached; a finding reproduces with any key.

use salve::identity::{KeyPair, PublicKey};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The key that signs what the targets feed past a signature check.
pub fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate().expect("the OS gives randomness"))
}

/// [`key`]'s public half.
pub fn public() -> PublicKey {
    key().public()
}

/// A directory of this process's own, emptied before each use.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Removes every file in [`scratch`] and returns it.
pub fn empty_scratch() -> &'static Path {
    let dir = scratch();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir
}

/// Writes `bytes` to `name` in the emptied scratch directory.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = empty_scratch().join(name);
    std::fs::write(&path, bytes).expect("the scratch directory is writable");
    path
}

/// `bytes` as text, the way the product reads files (`read_text` refuses
/// what is not UTF-8 before any parser sees it).
pub fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// A trust file whose one vetting key, `vetting-board`'s, is [`key`].
pub fn trust() -> &'static salve::vetting::TrustConfig {
    static TRUST: OnceLock<salve::vetting::TrustConfig> = OnceLock::new();
    TRUST.get_or_init(|| {
        let text = format!(
            "schema = 1\nrequired-signatures = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{}\"\n",
            public()
        );
        salve::vetting::TrustConfig::parse(&text, Path::new("trust.toml"))
            .expect("the fuzz trust file parses")
    })
}
