//! Compiled components, cached in memory and on disk, keyed by the
//! component's sha256 and the engine's compatibility hash.
//!
//! The disk cache holds native code that is loaded without re-validation, so
//! it lives in a directory only this user can write: the runtime creates it
//! with mode 0700 and refuses one that others can write.

use crate::digest::Sha256Digest;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheSource {
    /// Already loaded in this process.
    Memory,
    /// Precompiled, read from the disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

/// The cache of compiled components.
pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    memory: Mutex<HashMap<Sha256Digest, Component>>,
}

/// A cache directory that cannot be used safely.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    /// It cannot be created or inspected.
    #[error("cannot use cache directory {}: {source}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Someone else could write code into it.
    #[error(
        "cache directory {} is writable by other users or owned by another user (on Windows: its access list is not checked yet, so no compile cache is used there); compiled code is loaded from it without re-validation, so it must be private (chmod 700)",
        dir.display()
    )]
    NotPrivate {
        /// The directory.
        dir: PathBuf,
    },
}

impl ComponentCache {
    /// A cache for `engine`, on disk in `dir` if given.
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self, CacheDirError> {
        if let Some(dir) = &dir {
            prepare_private_dir(dir)?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ComponentCache {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
            memory: Mutex::new(HashMap::new()),
        })
    }

    fn disk_path(&self, digest: &Sha256Digest) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{digest}-{}.cwasm", self.engine_hash)))
    }

    /// The compiled component for `bytes` (whose digest is `digest`).
    pub(crate) fn load(
        &self,
        engine: &Engine,
        digest: Sha256Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheSource)> {
        let memory = || self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(component) = memory().get(&digest) {
            return Ok((component.clone(), CacheSource::Memory));
        }
        let (component, source) = match self.disk_path(&digest) {
            Some(path) if path.exists() => match deserialize(engine, &path) {
                Ok(component) => (component, CacheSource::Disk),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unusable cached component");
                    let _ = std::fs::remove_file(&path);
                    (self.compile(engine, digest, bytes)?, CacheSource::Compiled)
                }
            },
            _ => (self.compile(engine, digest, bytes)?, CacheSource::Compiled),
        };
        memory().insert(digest, component.clone());
        Ok((component, source))
    }

    fn compile(
        &self,
        engine: &Engine,
        digest: Sha256Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes)?;
        tracing::debug!(%digest, elapsed_ms = started.elapsed().as_millis(), "compiled component");
        if let Some(path) = self.disk_path(&digest)
            && let Err(error) = write_compiled(&component, &path)
        {
            tracing::warn!(path = %path.display(), %error, "cannot write the compiled component to the cache");
        }
        Ok(component)
    }
}

/// Loads a precompiled component from the cache directory.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize_file` trusts the file to be the output
    // of `Component::serialize` for a compatible engine. Files in this
    // directory are only ever written by `ComponentCache::compile` (atomically,
    // under a name that binds the source digest and the engine's
    // compatibility hash), and the directory is private to this user
    // (`prepare_private_dir`); wasmtime itself checks the header, version and
    // engine configuration and refuses a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_compiled(component: &Component, path: &Path) -> wasmtime::Result<()> {
    let code = component.serialize()?;
    write_atomically(path, &code)?;
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.partial", std::process::id()));
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

/// Creates `dir` (mode 0700) if needed and checks that only this user can
/// write to it.
fn prepare_private_dir(dir: &Path) -> Result<(), CacheDirError> {
    let io = |source| CacheDirError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    crate::os::owner_only_dir(std::fs::DirBuilder::new().recursive(true))
        .create(dir)
        .map_err(io)?;
    let metadata = std::fs::metadata(dir).map_err(io)?;
    if !crate::os::writable_only_by_this_user(&metadata) {
        return Err(CacheDirError::NotPrivate {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn refuses_a_cache_dir_others_can_write() {
        use std::os::unix::fs::PermissionsExt as _;
        let temp = tempfile::tempdir().unwrap();
        let private = temp.path().join("private");
        prepare_private_dir(&private).unwrap();
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let shared = temp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            prepare_private_dir(&shared),
            Err(CacheDirError::NotPrivate { .. })
        ));
    }

    /// Its access list is not checked yet on Windows, so no compile cache
    /// is used there.
    #[cfg(windows)]
    #[test]
    fn refuses_any_cache_dir_on_windows() {
        let temp = tempfile::tempdir().unwrap();
        assert!(matches!(
            prepare_private_dir(&temp.path().join("cache")),
            Err(CacheDirError::NotPrivate { .. })
        ));
    }
}
