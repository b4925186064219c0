//! The catalog store: the packages an endpoint has installed, the highest
//! version it ever trusted for each action, and what is revoked.
//!
//! On disk, a directory: `catalog.db` (SQLite, WAL, synchronous writes) and
//! `packages/<id>/<version>/`, a copy of each installed package with its
//! signatures. The database is the truth: a package is installed once its row
//! is committed; its files are put in place (copied to a temporary directory,
//! synced, renamed) before that, so a crash leaves at worst an unreferenced
//! directory, never a row without its package.

use super::revocation::{Revocation, Revoked};
use super::signature::{SIGNATURE_FILE, SignatureError, Signatures};
use super::trust::{TrustConfig, Vetted, VettingError};
use crate::capability::{Capability, CapabilityClass};
use crate::engine::{LoadError, Runtime};
use crate::package::{MANIFEST_FILE, Package, PackageError};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const MIGRATIONS: &[&str] = &[r"
    CREATE TABLE installed (
        id TEXT NOT NULL,
        version TEXT NOT NULL,
        digest TEXT NOT NULL,
        manifest_digest TEXT NOT NULL,
        vetted_by TEXT NOT NULL,      -- JSON array of principals
        author TEXT,
        installed_at TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) STRICT;
    CREATE TABLE revoked (
        target TEXT PRIMARY KEY,      -- id@version or sha256:<hex>
        reason TEXT NOT NULL,
        revoked_by TEXT NOT NULL,
        revoked_at TEXT NOT NULL
    ) STRICT;
"];

/// One installed package, as `salve catalog list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The action.
    pub id: String,
    /// Its version.
    pub version: String,
    /// The component's sha256.
    pub digest: String,
    /// Who vetted it.
    pub vetted_by: Vec<String>,
    /// Who wrote it, when signed as author.
    pub author: Option<String>,
    /// When it was installed.
    pub installed_at: String,
    /// Its capabilities: name, class and parameters.
    pub capabilities: Vec<(String, String, Vec<String>)>,
    /// Why it is revoked, if it is.
    pub revoked: Option<String>,
}

/// A capability gained or lost by an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityChange {
    /// `+` added, `-` removed, `~` parameters changed.
    pub change: char,
    /// The capability.
    pub capability: String,
    /// Its class.
    pub class: String,
    /// Its parameters before and after.
    pub before: Vec<String>,
    /// After.
    pub after: Vec<String>,
}

/// What an installation did.
#[derive(Debug, Clone, Serialize)]
pub struct Installation {
    /// The package, as listed.
    pub installed: Installed,
    /// The version it supersedes, if any.
    pub upgrade_from: Option<String>,
    /// The capability diff against that version.
    pub capability_diff: Vec<CapabilityChange>,
}

/// Why a package was not installed (nothing was), or the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The package cannot be opened (missing files, digest mismatch…).
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Its signature file is not usable.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// It is not vetted.
    #[error(transparent)]
    Vetting(#[from] VettingError),
    /// The component does not load (forbidden import…).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An older version than one already trusted.
    #[error(
        "{package} is older than {installed}, already installed: rolling back to an older version is refused (revoke the newer one instead if it is bad)"
    )]
    Rollback {
        /// `id@version` offered.
        package: String,
        /// The highest version installed.
        installed: String,
    },
    /// The same id and version, but another package.
    #[error(
        "{package} is already installed with another component (sha256 {installed}): a version names exactly one package"
    )]
    Conflict {
        /// `id@version`.
        package: String,
        /// The installed digest.
        installed: String,
    },
    /// It is revoked.
    #[error("{package} is revoked ({target}): {reason}")]
    Revoked {
        /// `id@version`.
        package: String,
        /// The revocation's target.
        target: String,
        /// Why.
        reason: String,
    },
    /// The store cannot be read or written.
    #[error("the catalog in {}: {reason}", dir.display())]
    Store {
        /// The catalog directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// The installed packages an endpoint may load.
#[derive(Debug)]
pub struct Loadable {
    /// Those that pass every check again.
    pub packages: Vec<Package>,
    /// The others (`id@version`, why not).
    pub refused: Vec<(String, String)>,
}

/// The catalog store, open.
pub struct CatalogStore {
    dir: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CatalogStore({})", self.dir.display())
    }
}

fn capabilities(package: &Package) -> Vec<(String, String, Vec<String>)> {
    let declared = &package.manifest().capabilities;
    declared
        .names()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.class().to_string(),
                declared.parameters(c).unwrap_or_default(),
            )
        })
        .collect()
}

/// What changed between the capabilities of `old` and `new`.
pub fn capability_diff(old: &Package, new: &Package) -> Vec<CapabilityChange> {
    let (before, after) = (&old.manifest().capabilities, &new.manifest().capabilities);
    Capability::ALL
        .into_iter()
        .filter_map(|c| {
            let (b, a) = (before.parameters(c), after.parameters(c));
            let change = match (&b, &a) {
                (None, Some(_)) => '+',
                (Some(_), None) => '-',
                (Some(x), Some(y)) if x != y => '~',
                _ => return None,
            };
            Some(CapabilityChange {
                change,
                capability: c.name().to_string(),
                class: c.class().to_string(),
                before: b.unwrap_or_default(),
                after: a.unwrap_or_default(),
            })
        })
        .collect()
}

impl CatalogStore {
    /// Opens (creating if needed) the catalog in `dir`.
    pub fn open(dir: &Path) -> Result<CatalogStore, InstallError> {
        let store_error = |reason: String| InstallError::Store {
            dir: dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir.join("packages")).map_err(|e| store_error(e.to_string()))?;
        let mut conn =
            Connection::open(dir.join("catalog.db")).map_err(|e| store_error(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store_error(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| store_error(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| store_error(e.to_string()))?;
        Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
            .to_latest(&mut conn)
            .map_err(|e| store_error(format!("cannot bring the schema up to date: {e}")))?;
        Ok(CatalogStore {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, reason: impl ToString) -> InstallError {
        InstallError::Store {
            dir: self.dir.clone(),
            reason: reason.to_string(),
        }
    }

    fn package_dir(&self, id: &str, version: &str) -> PathBuf {
        self.dir.join("packages").join(id).join(version)
    }

    /// Verifies the package in `source` — digest, signatures against
    /// `trust`, revocations, rollback — loads it into `runtime` (compiling it
    /// into the cache), and installs it. Nothing is installed unless every
    /// check passes.
    pub fn install(
        &self,
        runtime: &Runtime,
        source: &Path,
        trust: &TrustConfig,
        now: &str,
    ) -> Result<Installation, InstallError> {
        let package = Package::open(source)?;
        let signatures = Signatures::read(source)?;
        let vetted = trust.vet(&package, &signatures)?;
        let manifest = package.manifest();
        let label = manifest.label();
        if let Some((target, reason)) = self.revocation(
            manifest.id.as_str(),
            &manifest.version,
            &package.digest().to_string(),
        )? {
            return Err(InstallError::Revoked {
                package: label,
                target,
                reason,
            });
        }
        let mut previous: Option<Package> = None;
        let highest = self.highest(manifest.id.as_str())?;
        if let Some((version, digest)) = &highest {
            match version.cmp(&manifest.version) {
                std::cmp::Ordering::Greater => {
                    return Err(InstallError::Rollback {
                        package: label,
                        installed: format!("{}@{version}", manifest.id),
                    });
                }
                std::cmp::Ordering::Equal if digest != &package.digest().to_string() => {
                    return Err(InstallError::Conflict {
                        package: label,
                        installed: digest.clone(),
                    });
                }
                std::cmp::Ordering::Equal => {
                    // Already installed: nothing to do.
                    let installed = self.list()?.into_iter().find(|i| {
                        i.id == manifest.id.as_str() && i.version == manifest.version.to_string()
                    });
                    if let Some(installed) = installed {
                        return Ok(Installation {
                            installed,
                            upgrade_from: None,
                            capability_diff: Vec::new(),
                        });
                    }
                }
                std::cmp::Ordering::Less => {
                    previous =
                        Package::open(self.package_dir(manifest.id.as_str(), &version.to_string()))
                            .ok();
                }
            }
        }
        runtime.load(&package)?;
        let target = self.package_dir(manifest.id.as_str(), &manifest.version.to_string());
        self.place(source, &target, &package)?;
        let record = self.record(&package, &vetted, now);
        if let Err(error) = record {
            let _ = std::fs::remove_dir_all(&target);
            return Err(error);
        }
        tracing::info!(package = %label, digest = %package.digest(), "installed");
        let installed = Installed {
            id: manifest.id.to_string(),
            version: manifest.version.to_string(),
            digest: package.digest().to_string(),
            vetted_by: vetted.vetted_by.iter().map(ToString::to_string).collect(),
            author: vetted.author.as_ref().map(ToString::to_string),
            installed_at: now.to_string(),
            capabilities: capabilities(&package),
            revoked: None,
        };
        let capability_diff = previous
            .as_ref()
            .map(|old| capability_diff(old, &package))
            .unwrap_or_default();
        Ok(Installation {
            installed,
            upgrade_from: highest.map(|(v, _)| v.to_string()),
            capability_diff,
        })
    }

    /// Copies the package's manifest, signatures and component to `target`,
    /// synced, through a temporary directory and a rename.
    fn place(&self, source: &Path, target: &Path, package: &Package) -> Result<(), InstallError> {
        let parent = target
            .parent()
            .ok_or_else(|| self.error("no parent directory"))?;
        std::fs::create_dir_all(parent).map_err(|e| self.error(e))?;
        let temporary = parent.join(format!(".installing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temporary);
        std::fs::create_dir(&temporary).map_err(|e| self.error(e))?;
        let copy = || -> std::io::Result<()> {
            let component = package.manifest().component.file.as_str();
            for name in [MANIFEST_FILE, SIGNATURE_FILE, component] {
                std::fs::copy(source.join(name), temporary.join(name))?;
                std::fs::File::open(temporary.join(name))?.sync_all()?;
            }
            if target.exists() {
                std::fs::remove_dir_all(target)?;
            }
            std::fs::rename(&temporary, target)?;
            std::fs::File::open(parent)?.sync_all()
        };
        copy().map_err(|e| {
            let _ = std::fs::remove_dir_all(&temporary);
            self.error(format!("cannot copy the package into place: {e}"))
        })?;
        // The copy must be the package that was checked.
        let placed = Package::open(target)?;
        if placed.manifest_digest() != package.manifest_digest()
            || placed.digest() != package.digest()
        {
            let _ = std::fs::remove_dir_all(target);
            return Err(self.error("the package changed while it was being installed"));
        }
        Ok(())
    }

    fn record(&self, package: &Package, vetted: &Vetted, now: &str) -> Result<(), InstallError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let manifest = package.manifest();
        let vetted_by = serde_json::to_string(&vetted.vetted_by).map_err(|e| self.error(e))?;
        conn.execute(
            "INSERT INTO installed (id, version, digest, manifest_digest, vetted_by, author, installed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                manifest.id.as_str(),
                manifest.version.to_string(),
                package.digest().to_string(),
                package.manifest_digest().to_string(),
                vetted_by,
                vetted.author.as_ref().map(ToString::to_string),
                now
            ],
        )
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The highest version of `id` ever installed, and its digest.
    fn highest(&self, id: &str) -> Result<Option<(semver::Version, String)>, InstallError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = conn
            .prepare("SELECT version, digest FROM installed WHERE id = ?1")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.error(e))?;
        let mut highest: Option<(semver::Version, String)> = None;
        for row in rows {
            let (version, digest) = row.map_err(|e| self.error(e))?;
            let version: semver::Version = version
                .parse()
                .map_err(|e| self.error(format!("a stored version is invalid: {e}")))?;
            if highest.as_ref().is_none_or(|(h, _)| &version > h) {
                highest = Some((version, digest));
            }
        }
        Ok(highest)
    }

    /// The revocation that blocks `id@version` or `digest`, if any:
    /// (target, reason).
    pub fn revocation(
        &self,
        id: &str,
        version: &semver::Version,
        digest: &str,
    ) -> Result<Option<(String, String)>, InstallError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.prepare_cached("SELECT target, reason FROM revoked WHERE target = ?1 OR target = ?2")
            .and_then(|mut s| {
                s.query_row(
                    params![format!("{id}@{version}"), format!("sha256:{digest}")],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
            })
            .map_err(|e| self.error(e))
    }

    /// Records revocations; returns how many were new.
    pub fn revoke(
        &self,
        revocations: &[Revocation],
        by: &str,
        now: &str,
    ) -> Result<usize, InstallError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| self.error(e))?;
        let mut added = 0;
        for revocation in revocations {
            added += tx
                .execute(
                    "INSERT OR IGNORE INTO revoked (target, reason, revoked_by, revoked_at) VALUES (?1, ?2, ?3, ?4)",
                    params![revocation.target.to_string(), revocation.reason, by, now],
                )
                .map_err(|e| self.error(e))?;
        }
        tx.commit().map_err(|e| self.error(e))?;
        for revocation in revocations {
            tracing::warn!(target = %revocation.target, reason = %revocation.reason, "revoked");
        }
        Ok(added)
    }

    /// Every revocation: (target, reason, by, at).
    pub fn revocations(&self) -> Result<Vec<(Revoked, String, String, String)>, InstallError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = conn
            .prepare(
                "SELECT target, reason, revoked_by, revoked_at FROM revoked ORDER BY revoked_at",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        rows.map(|row| {
            let (target, reason, by, at) = row.map_err(|e| self.error(e))?;
            Ok((
                target.parse().map_err(|e: String| self.error(e))?,
                reason,
                by,
                at,
            ))
        })
        .collect()
    }

    /// Every installed package, by id and version.
    pub fn list(&self) -> Result<Vec<Installed>, InstallError> {
        let rows: Vec<(String, String, String, String, Option<String>, String)> = {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            let mut statement = conn
                .prepare("SELECT id, version, digest, vetted_by, author, installed_at FROM installed ORDER BY id, installed_at")
                .map_err(|e| self.error(e))?;
            statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .map_err(|e| self.error(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.error(e))?
        };
        rows.into_iter()
            .map(|(id, version, digest, vetted_by, author, installed_at)| {
                let parsed: semver::Version = version
                    .parse()
                    .map_err(|e| self.error(format!("a stored version is invalid: {e}")))?;
                let revoked = self
                    .revocation(&id, &parsed, &digest)?
                    .map(|(target, reason)| format!("{target}: {reason}"));
                let capabilities = Package::open(self.package_dir(&id, &version))
                    .map(|p| capabilities(&p))
                    .unwrap_or_default();
                Ok(Installed {
                    vetted_by: serde_json::from_str(&vetted_by).map_err(|e| self.error(e))?,
                    id,
                    version,
                    digest,
                    author,
                    installed_at,
                    capabilities,
                    revoked,
                })
            })
            .collect()
    }

    /// The installed packages that are not revoked, each opened (digest
    /// checked) and vetted again against `trust` — a key no longer trusted
    /// no longer vouches for anything. Returns the packages that pass and,
    /// for the others, why not.
    pub fn packages(&self, trust: &TrustConfig) -> Result<Loadable, InstallError> {
        let mut good = Vec::new();
        let mut refused = Vec::new();
        for installed in self.list()? {
            let label = format!("{}@{}", installed.id, installed.version);
            if let Some(revoked) = installed.revoked {
                refused.push((label, format!("revoked ({revoked})")));
                continue;
            }
            let dir = self.package_dir(&installed.id, &installed.version);
            let checked = Package::open(&dir)
                .map_err(InstallError::from)
                .and_then(|p| Ok((Signatures::read(&dir)?, p)))
                .and_then(|(s, p)| trust.vet(&p, &s).map(|_| p).map_err(InstallError::from));
            match checked {
                Ok(package) => good.push(package),
                Err(error) => refused.push((label, error.to_string())),
            }
        }
        Ok(Loadable {
            packages: good,
            refused,
        })
    }
}

/// Whether a capability's class is privileged, for display.
pub fn is_privileged(class: &str) -> bool {
    class == CapabilityClass::Privileged.to_string()
}
