//! The actions an endpoint can run: packages opened (digest checked) and
//! loaded into the runtime (compiled, imports checked), by id and version.

use crate::engine::{LoadError, LoadedAction, Runtime};
use crate::manifest::ActionId;
use crate::package::Package;
use std::collections::BTreeMap;

/// One version of an action, ready to run.
#[derive(Clone)]
pub struct CatalogEntry {
    /// The verified package.
    pub package: Package,
    /// The loaded action.
    pub action: LoadedAction,
}

impl CatalogEntry {
    /// The action's version.
    pub fn version(&self) -> &semver::Version {
        &self.package.manifest().version
    }
}

/// The loaded actions, by id, each with its versions.
#[derive(Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<ActionId, Vec<CatalogEntry>>,
}

impl Catalog {
    /// Loads `packages` into `runtime`. Refuses the whole set if one package
    /// cannot be loaded, or if two have the same id and version.
    pub fn load(
        runtime: &Runtime,
        packages: impl IntoIterator<Item = Package>,
    ) -> Result<Catalog, CatalogError> {
        let mut entries: BTreeMap<ActionId, Vec<CatalogEntry>> = BTreeMap::new();
        for package in packages {
            let action = runtime.load(&package)?;
            let manifest = package.manifest();
            let versions = entries.entry(manifest.id.clone()).or_default();
            if versions.iter().any(|e| e.version() == &manifest.version) {
                return Err(CatalogError::Duplicate(manifest.label()));
            }
            versions.push(CatalogEntry { package, action });
            versions.sort_by(|a, b| b.version().cmp(a.version()));
        }
        Ok(Catalog { entries })
    }

    /// The newest version of `id` that `allowed` accepts, or the newest of
    /// all when none is accepted (so that a decision can name it).
    pub fn find(
        &self,
        id: &ActionId,
        allowed: impl Fn(&semver::Version) -> bool,
    ) -> Option<&CatalogEntry> {
        let versions = self.entries.get(id)?;
        versions
            .iter()
            .find(|e| allowed(e.version()))
            .or(versions.first())
    }

    /// Every entry, by id then newest version first.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values().flatten()
    }
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A package did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Two packages carry the same id and version.
    #[error("two packages are {0}: an id and version name exactly one package")]
    Duplicate(String),
}
