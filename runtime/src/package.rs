//! A package: a directory holding `action.toml` and the component it names,
//! opened only if the component's bytes match the manifest's digest.

use crate::digest::Sha256Digest;
use crate::manifest::{Manifest, ManifestError};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifest file of every package.
pub const MANIFEST_FILE: &str = "action.toml";

/// Largest component accepted. Shipped actions are around 100 KiB; the cap
/// keeps a bad package from making the runtime read an unbounded file.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// A package whose component matches its manifest's digest.
#[derive(Debug, Clone)]
pub struct Package {
    dir: PathBuf,
    manifest: Manifest,
    manifest_digest: Sha256Digest,
    digest: Sha256Digest,
    component: Arc<[u8]>,
}

/// Why a package cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The path is not a package directory.
    #[error(
        "{} is not a package: a package is a directory holding `action.toml` and its component ({source})",
        dir.display()
    )]
    NotAPackage {
        /// The path given.
        dir: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `action.toml` is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest has no digest yet.
    #[error(
        "{}: `[component]` has no `sha256`, so the package is not built: run `salve action build {}`",
        manifest.display(),
        dir.display()
    )]
    NotBuilt {
        /// The package directory.
        dir: PathBuf,
        /// Its manifest.
        manifest: PathBuf,
    },
    /// The component file cannot be read.
    #[error("the component {} cannot be read: {source}", path.display())]
    ComponentUnreadable {
        /// The component file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The component is larger than [`MAX_COMPONENT_BYTES`].
    #[error("the component {} is larger than {} MiB", path.display(), MAX_COMPONENT_BYTES >> 20)]
    ComponentTooLarge {
        /// The component file.
        path: PathBuf,
    },
    /// The component is not the one the manifest was written for.
    #[error(
        "the component {} does not match its manifest: action.toml says sha256 {expected}, the file has {actual}. The package was changed after it was built; rebuild it or get a fresh copy from its publisher",
        path.display()
    )]
    DigestMismatch {
        /// The component file.
        path: PathBuf,
        /// The digest in `action.toml`.
        expected: Sha256Digest,
        /// The digest of the file.
        actual: Sha256Digest,
    },
}

impl Package {
    /// Opens the package in `dir`: parses `action.toml`, reads the component
    /// and checks its sha256 against the manifest.
    pub fn open(dir: impl AsRef<Path>) -> Result<Package, PackageError> {
        let dir = dir.as_ref();
        let metadata = std::fs::metadata(dir).map_err(|source| PackageError::NotAPackage {
            dir: dir.to_path_buf(),
            source,
        })?;
        if !metadata.is_dir() {
            return Err(PackageError::NotAPackage {
                dir: dir.to_path_buf(),
                source: std::io::Error::other("it is a file"),
            });
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        // Parse the very bytes that are hashed (and that signatures cover).
        let manifest_text = crate::file_error::FileError::read(&manifest_path)?;
        let manifest = Manifest::parse(&manifest_text, &manifest_path)?;
        let manifest_digest = Sha256Digest::of(manifest_text.as_bytes());
        let Some(expected) = manifest.component.sha256 else {
            return Err(PackageError::NotBuilt {
                dir: dir.to_path_buf(),
                manifest: manifest_path,
            });
        };
        let component_path = dir.join(manifest.component.file.as_str());
        let component = read_capped(&component_path)?;
        let actual = Sha256Digest::of(&component);
        if actual != expected {
            return Err(PackageError::DigestMismatch {
                path: component_path,
                expected,
                actual,
            });
        }
        Ok(Package {
            dir: dir.to_path_buf(),
            manifest,
            manifest_digest,
            digest: actual,
            component: component.into(),
        })
    }

    /// The package directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The sha256 of `action.toml`'s exact bytes, which package signatures
    /// cover.
    pub fn manifest_digest(&self) -> Sha256Digest {
        self.manifest_digest
    }

    /// The component's verified sha256.
    pub fn digest(&self) -> Sha256Digest {
        self.digest
    }

    /// The component's bytes.
    pub fn component(&self) -> &[u8] {
        &self.component
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, PackageError> {
    let unreadable = |source| PackageError::ComponentUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(PackageError::ComponentTooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}
