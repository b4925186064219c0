//! The catalog store: the packages an endpoint has installed, the highest
//! version it ever trusted for each action, and what is revoked.
//!
//! On disk, a directory: `catalog.db` (SQLite, WAL, synchronous writes) and
//! `packages/<id>/<version>/`, a copy of each installed package with its
//! signatures. The database is the truth: a package is installed once its row
//! is committed; its files are copied to a temporary directory of this
//! installation's own and synced first, then — holding the database's write
//! lock (`BEGIN IMMEDIATE`) from the revocation, rollback and conflict checks
//! until the commit — renamed into place and recorded. So concurrent
//! installations (threads or processes) are serialised, a crash leaves at
//! worst an unreferenced directory (replaced by the next installation of that
//! version), and a row never lacks its package unless its files are removed
//! behind the catalog's back, which `list` shows.

use super::revocation::{Revocation, Revoked};
use super::signature::{SIGNATURE_FILE, SignatureError, Signatures};
use super::trust::{TrustConfig, Vetted, VettingError};
use crate::capability::{Capability, CapabilityClass};
use crate::engine::{LoadError, Runtime};
use crate::package::{MANIFEST_FILE, Package, PackageError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The schema. `installed.author` holds the verified authors,
/// comma-separated (principal ids hold no commas), or NULL.
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
    /// Who wrote it: the verified authors (author signatures by keys the
    /// trust file knows).
    pub authors: Vec<String>,
    /// When it was installed.
    pub installed_at: String,
    /// Its capabilities: name, class and parameters (empty when broken).
    pub capabilities: Vec<(String, String, Vec<String>)>,
    /// Why it is revoked, if it is.
    pub revoked: Option<String>,
    /// Why its installed copy cannot be used, if it cannot (missing or
    /// damaged files): it is not loaded until installed again.
    pub broken: Option<String>,
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
    /// Why that version's installed copy cannot be read, if it cannot: the
    /// diff then shows every capability as added.
    pub previous_unreadable: Option<String>,
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
        "{package} is older than {installed}, already installed: rolling back to an older version is refused, even when the newer one is revoked (to replace a bad version, publish a fixed one under a higher version)"
    )]
    Rollback {
        /// `id@version` offered.
        package: String,
        /// The highest version installed.
        installed: String,
    },
    /// The same id and version, but another package.
    #[error(
        "{package} is already installed as another package ({difference}): a version names exactly one package, so publish this one under a new version"
    )]
    Conflict {
        /// `id@version`.
        package: String,
        /// What differs from the installed one.
        difference: String,
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
    let declared = package.manifest().capabilities.here();
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

/// What changed between the capabilities of `old` and `new`. With no `old`
/// (its installed copy cannot be read), every capability of `new` is shown
/// as added: a reviewer sees all of them rather than none.
pub fn capability_diff(old: Option<&Package>, new: &Package) -> Vec<CapabilityChange> {
    let after = new.manifest().capabilities.here();
    Capability::ALL
        .into_iter()
        .filter_map(|c| {
            let b = old.and_then(|old| old.manifest().capabilities.here().parameters(c));
            let a = after.parameters(c);
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

/// One row of `installed`.
struct Row {
    id: String,
    version: String,
    digest: String,
    manifest_digest: String,
    vetted_by: String,
    authors: Option<String>,
    installed_at: String,
}

const ROW_COLUMNS: &str = "id, version, digest, manifest_digest, vetted_by, author, installed_at";

impl Row {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: row.get(0)?,
            version: row.get(1)?,
            digest: row.get(2)?,
            manifest_digest: row.get(3)?,
            vetted_by: row.get(4)?,
            authors: row.get(5)?,
            installed_at: row.get(6)?,
        })
    }

    fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

/// What an installation that passed its checks does, decided under the
/// write lock.
enum Plan {
    /// Put the package in place and record it; `upgrade_from` is the highest
    /// version installed before.
    New { upgrade_from: Option<String> },
    /// Exactly this package is installed and intact: nothing to do.
    Present(Box<Installed>),
    /// Exactly this package is recorded but its files are missing or
    /// damaged: put them back.
    Repair,
}

/// A copy of a package in a temporary directory of this installation's own,
/// removed on drop unless it was moved into place.
struct Staged {
    path: PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.path.exists() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Makes each temporary directory's name unique within this process (the
/// process id makes it unique across processes).
static STAGING: AtomicU64 = AtomicU64::new(0);

impl CatalogStore {
    /// Opens (creating if needed) the catalog in `dir`.
    pub fn open(dir: &Path) -> Result<CatalogStore, InstallError> {
        let store_error = |reason: String| InstallError::Store {
            dir: dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir.join("packages")).map_err(|e| store_error(e.to_string()))?;
        let _opening = crate::store::schema_lock(&dir.join("catalog.db")).map_err(store_error)?;
        let mut conn =
            Connection::open(dir.join("catalog.db")).map_err(|e| store_error(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store_error(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| store_error(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| store_error(e.to_string()))?;
        crate::store::migrate(&mut conn, MIGRATIONS).map_err(store_error)?;
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

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn package_dir(&self, id: &str, version: &str) -> PathBuf {
        self.dir.join("packages").join(id).join(version)
    }

    /// Verifies the package in `source` — digest, signatures against
    /// `trust`, revocations, rollback, conflict with an installed package of
    /// the same version — loads it into `runtime` (compiling it into the
    /// runtime's cache), and installs it. Nothing is installed unless every
    /// check passes. Installations of the same catalog, from threads or
    /// processes, are serialised: each sees the others' results.
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
        // Refuse early what would be refused under the lock, before compiling.
        let early = self.plan(&self.conn(), &package)?;
        // Compiled into the runtime's cache even when already installed, so
        // installing again fills a cache that was emptied.
        runtime.load(&package)?;
        if let Plan::Present(installed) = early {
            return Ok(Installation {
                installed: *installed,
                upgrade_from: None,
                capability_diff: Vec::new(),
                previous_unreadable: None,
            });
        }
        let staged = self.stage(source, &package, &signatures)?;

        let manifest = package.manifest();
        let label = manifest.label();
        let (id, version) = (manifest.id.as_str(), manifest.version.to_string());
        let target = self.package_dir(id, &version);
        let mut conn = self.conn();
        // The write lock, held from the checks through the commit.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(format!("cannot lock the catalog: {e}")))?;
        let upgrade_from = match self.plan(&tx, &package)? {
            Plan::Present(installed) => {
                return Ok(Installation {
                    installed: *installed,
                    upgrade_from: None,
                    capability_diff: Vec::new(),
                    previous_unreadable: None,
                });
            }
            Plan::Repair => {
                self.put_in_place(staged, &target)?;
                tracing::warn!(package = %label, "repaired the installed copy");
                let installed = self
                    .row(&tx, id, &version)?
                    .map(|row| self.installed(&tx, row))
                    .transpose()?
                    .ok_or_else(|| self.error(format!("{label} is no longer recorded")))?;
                return Ok(Installation {
                    installed,
                    upgrade_from: None,
                    capability_diff: Vec::new(),
                    previous_unreadable: None,
                });
            }
            Plan::New { upgrade_from } => upgrade_from,
        };
        let previous = upgrade_from
            .as_ref()
            .map(|v| Package::open(self.package_dir(id, v)).map_err(|e| e.to_string()));
        // No row names this version (checked under the lock), so whatever is
        // at `target` was left by an installation that crashed before its
        // commit.
        self.put_in_place(staged, &target)?;
        if let Err(error) = record(&tx, &package, &vetted, now) {
            // Still under the lock: the directory is this call's own.
            let _ = std::fs::remove_dir_all(&target);
            return Err(self.error(format!("cannot record {label}: {error}")));
        }
        // If the commit fails the lock is gone, and the directory may be
        // another installation's by now: leave it (unreferenced, it is
        // replaced by the next installation of this version).
        tx.commit()
            .map_err(|e| self.error(format!("cannot record {label}: {e}")))?;
        drop(conn);
        tracing::info!(package = %label, digest = %package.digest(), "installed");
        let installed = Installed {
            id: id.to_string(),
            version,
            digest: package.digest().to_string(),
            vetted_by: vetted.vetted_by.iter().map(ToString::to_string).collect(),
            authors: vetted.authors.iter().map(ToString::to_string).collect(),
            installed_at: now.to_string(),
            capabilities: capabilities(&package),
            revoked: None,
            broken: None,
        };
        let (capability_diff, previous_unreadable) = match &previous {
            None => (Vec::new(), None),
            Some(Ok(old)) => (capability_diff(Some(old), &package), None),
            Some(Err(why)) => (capability_diff(None, &package), Some(why.clone())),
        };
        Ok(Installation {
            installed,
            upgrade_from,
            capability_diff,
            previous_unreadable,
        })
    }

    /// The revocation, rollback and conflict checks, against what `conn`
    /// sees; under the write lock, what to do.
    fn plan(&self, conn: &Connection, package: &Package) -> Result<Plan, InstallError> {
        let manifest = package.manifest();
        let (id, label) = (manifest.id.as_str(), manifest.label());
        if let Some((target, reason)) =
            self.revocation_in(conn, id, &manifest.version, &package.digest().to_string())?
        {
            return Err(InstallError::Revoked {
                package: label,
                target,
                reason,
            });
        }
        let Some((highest, row)) = self.highest(conn, id)? else {
            return Ok(Plan::New { upgrade_from: None });
        };
        match highest.cmp(&manifest.version) {
            std::cmp::Ordering::Greater => Err(InstallError::Rollback {
                package: label,
                installed: row.label(),
            }),
            std::cmp::Ordering::Less => Ok(Plan::New {
                upgrade_from: Some(row.version),
            }),
            std::cmp::Ordering::Equal => {
                let (digest, manifest_digest) = (
                    package.digest().to_string(),
                    package.manifest_digest().to_string(),
                );
                if row.digest != digest {
                    return Err(InstallError::Conflict {
                        package: label,
                        difference: format!(
                            "component sha256 {}, this one has {digest}",
                            row.digest
                        ),
                    });
                }
                if row.manifest_digest != manifest_digest {
                    return Err(InstallError::Conflict {
                        package: label,
                        difference: format!(
                            "the same component, but another action.toml: sha256 {}, this one has {manifest_digest}",
                            row.manifest_digest
                        ),
                    });
                }
                let installed = self.installed(conn, row)?;
                if installed.broken.is_some() {
                    Ok(Plan::Repair)
                } else {
                    Ok(Plan::Present(Box::new(installed)))
                }
            }
        }
    }

    /// Copies the package's manifest, signatures and component into a new
    /// temporary directory beside where it will be installed, synced, and
    /// checks that the copy is the package that was vetted.
    fn stage(
        &self,
        source: &Path,
        package: &Package,
        signatures: &Signatures,
    ) -> Result<Staged, InstallError> {
        let manifest = package.manifest();
        let parent = self.dir.join("packages").join(manifest.id.as_str());
        std::fs::create_dir_all(&parent).map_err(|e| self.error(e))?;
        let staged = Staged {
            path: parent.join(format!(
                ".installing-{}-{}-{}",
                manifest.version,
                std::process::id(),
                STAGING.fetch_add(1, Ordering::Relaxed)
            )),
        };
        // `create_dir`, not `create_dir_all`: never share another's directory.
        std::fs::create_dir(&staged.path)
            .map_err(|e| self.error(format!("cannot create {}: {e}", staged.path.display())))?;
        let copy = || -> std::io::Result<()> {
            let component = manifest.component.file.as_str();
            for name in [MANIFEST_FILE, SIGNATURE_FILE, component] {
                std::fs::copy(source.join(name), staged.path.join(name))?;
                crate::os::sync_file(&staged.path.join(name))?;
            }
            crate::os::sync_dir(&staged.path)
        };
        copy().map_err(|e| self.error(format!("cannot copy the package into the catalog: {e}")))?;
        // The copy must be the package that was checked.
        let copied = Package::open(&staged.path)?;
        if copied.manifest_digest() != package.manifest_digest()
            || copied.digest() != package.digest()
            || &Signatures::read(&staged.path)? != signatures
        {
            return Err(self.error(format!(
                "{} changed while it was being installed: install it again",
                source.display()
            )));
        }
        Ok(staged)
    }

    /// Moves `staged` to `target`, replacing what is there (an unreferenced
    /// or broken copy), and syncs the parent directory. Called only under
    /// the write lock.
    fn put_in_place(&self, staged: Staged, target: &Path) -> Result<(), InstallError> {
        let parent = target
            .parent()
            .ok_or_else(|| self.error("a package directory has no parent"))?;
        let place = || -> std::io::Result<()> {
            if target.exists() {
                std::fs::remove_dir_all(target)?;
            }
            std::fs::rename(&staged.path, target)?;
            crate::os::sync_dir(parent)
        };
        place().map_err(|e| {
            self.error(format!(
                "cannot move the package into {}: {e}",
                target.display()
            ))
        })
    }

    fn row(&self, conn: &Connection, id: &str, version: &str) -> Result<Option<Row>, InstallError> {
        conn.query_row(
            &format!("SELECT {ROW_COLUMNS} FROM installed WHERE id = ?1 AND version = ?2"),
            [id, version],
            Row::read,
        )
        .optional()
        .map_err(|e| self.error(e))
    }

    /// The highest version of `id` ever installed, and its row.
    fn highest(
        &self,
        conn: &Connection,
        id: &str,
    ) -> Result<Option<(semver::Version, Row)>, InstallError> {
        let mut statement = conn
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM installed WHERE id = ?1"
            ))
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([id], Row::read)
            .map_err(|e| self.error(e))?;
        let mut highest: Option<(semver::Version, Row)> = None;
        for row in rows {
            let row = row.map_err(|e| self.error(e))?;
            let version: semver::Version = row
                .version
                .parse()
                .map_err(|e| self.error(format!("a stored version is invalid: {e}")))?;
            if highest.as_ref().is_none_or(|(h, _)| &version > h) {
                highest = Some((version, row));
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
        self.revocation_in(&self.conn(), id, version, digest)
    }

    fn revocation_in(
        &self,
        conn: &Connection,
        id: &str,
        version: &semver::Version,
        digest: &str,
    ) -> Result<Option<(String, String)>, InstallError> {
        // One lookup by key each: `target = ?1 OR target = ?2` made SQLite
        // build a temporary table on every invocation.
        let mut lookup = conn
            .prepare_cached("SELECT reason FROM revoked WHERE target = ?1")
            .map_err(|e| self.error(e))?;
        for target in [format!("{id}@{version}"), format!("sha256:{digest}")] {
            let reason: Option<String> = lookup
                .query_row(params![target], |row| row.get(0))
                .optional()
                .map_err(|e| self.error(e))?;
            if let Some(reason) = reason {
                return Ok(Some((target, reason)));
            }
        }
        Ok(None)
    }

    /// Records revocations; returns how many were new.
    pub fn revoke(
        &self,
        revocations: &[Revocation],
        by: &str,
        now: &str,
    ) -> Result<usize, InstallError> {
        let mut conn = self.conn();
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
        let conn = self.conn();
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

    /// The installed copy of `row`'s package, opened and checked to be the
    /// package that was recorded; why not otherwise.
    fn open_installed(&self, row: &Row) -> Result<Package, String> {
        let dir = self.package_dir(&row.id, &row.version);
        let package = Package::open(&dir).map_err(|e| {
            format!(
                "its installed copy in {} cannot be used: {e}; install the package again to repair it",
                dir.display()
            )
        })?;
        let manifest = package.manifest();
        if manifest.id.as_str() != row.id
            || manifest.version.to_string() != row.version
            || package.digest().to_string() != row.digest
            || package.manifest_digest().to_string() != row.manifest_digest
        {
            return Err(format!(
                "its installed copy in {} is not the package that was installed (it holds {} with component sha256 {}, the catalog recorded sha256 {}); install the package again to repair it",
                dir.display(),
                manifest.label(),
                package.digest(),
                row.digest
            ));
        }
        Ok(package)
    }

    fn installed(&self, conn: &Connection, row: Row) -> Result<Installed, InstallError> {
        self.entry(conn, row).map(|(installed, _)| installed)
    }

    /// `row` as listed, and its package if it can be used.
    fn entry(
        &self,
        conn: &Connection,
        row: Row,
    ) -> Result<(Installed, Option<Package>), InstallError> {
        let version: semver::Version = row
            .version
            .parse()
            .map_err(|e| self.error(format!("a stored version is invalid: {e}")))?;
        let revoked = self
            .revocation_in(conn, &row.id, &version, &row.digest)?
            .map(|(target, reason)| format!("{target}: {reason}"));
        let opened = self.open_installed(&row);
        let installed = Installed {
            vetted_by: serde_json::from_str(&row.vetted_by).map_err(|e| self.error(e))?,
            authors: row
                .authors
                .as_deref()
                .map(|a| a.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            capabilities: opened.as_ref().map(capabilities).unwrap_or_default(),
            broken: opened.as_ref().err().cloned(),
            id: row.id,
            version: row.version,
            digest: row.digest,
            installed_at: row.installed_at,
            revoked,
        };
        Ok((installed, opened.ok()))
    }

    fn entries(&self) -> Result<Vec<(Installed, Option<Package>)>, InstallError> {
        let conn = self.conn();
        let rows: Vec<Row> = conn
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM installed ORDER BY id, installed_at"
            ))
            .and_then(|mut statement| statement.query_map([], Row::read)?.collect())
            .map_err(|e| self.error(e))?;
        rows.into_iter().map(|row| self.entry(&conn, row)).collect()
    }

    /// Every installed package, by id and version; one whose files are
    /// missing or damaged is listed with why (`broken`).
    pub fn list(&self) -> Result<Vec<Installed>, InstallError> {
        Ok(self.entries()?.into_iter().map(|(i, _)| i).collect())
    }

    /// The packages an endpoint may run: of each action, only the newest
    /// version installed — an older one is never run once a newer one was
    /// trusted — if it is not revoked and not broken, opened (digest checked
    /// against the manifest and against what was recorded) and vetted again
    /// against `trust`: a key no longer trusted no longer vouches for
    /// anything. A revoked or broken newest version leaves that action with
    /// nothing to run until a higher version is installed. Returns the
    /// packages that pass and, for the others, why not.
    pub fn packages(&self, trust: &TrustConfig) -> Result<Loadable, InstallError> {
        let entries = self.entries()?;
        let mut newest: BTreeMap<String, semver::Version> = BTreeMap::new();
        for (installed, _) in &entries {
            if let Ok(version) = installed.version.parse::<semver::Version>() {
                let current = newest
                    .entry(installed.id.clone())
                    .or_insert(version.clone());
                if version > *current {
                    *current = version;
                }
            }
        }
        let mut good = Vec::new();
        let mut refused = Vec::new();
        for (installed, package) in entries {
            let label = format!("{}@{}", installed.id, installed.version);
            let superseded = match (
                installed.version.parse::<semver::Version>(),
                newest.get(&installed.id),
            ) {
                (Ok(version), Some(newest)) => (version < *newest).then(|| newest.clone()),
                _ => None,
            };
            if let Some(newest) = superseded {
                refused.push((
                    label,
                    format!(
                        "superseded by {}@{newest}: only the newest installed version of an action runs",
                        installed.id
                    ),
                ));
                continue;
            }
            if let Some(revoked) = installed.revoked {
                refused.push((label, format!("revoked ({revoked})")));
                continue;
            }
            let Some(package) = package else {
                refused.push((label, installed.broken.unwrap_or_default()));
                continue;
            };
            let checked = Signatures::read(package.dir())
                .map_err(InstallError::from)
                .and_then(|s| trust.vet(&package, &s).map_err(InstallError::from));
            match checked {
                Ok(_) => good.push(package),
                Err(error) => refused.push((label, error.to_string())),
            }
        }
        Ok(Loadable {
            packages: good,
            refused,
        })
    }
}

fn record(
    conn: &Connection,
    package: &Package,
    vetted: &Vetted,
    now: &str,
) -> rusqlite::Result<()> {
    let manifest = package.manifest();
    let vetted_by: Vec<&str> = vetted.vetted_by.iter().map(|p| p.as_str()).collect();
    // Principal ids hold no commas.
    let authors: Vec<&str> = vetted.authors.iter().map(|p| p.as_str()).collect();
    conn.execute(
        "INSERT INTO installed (id, version, digest, manifest_digest, vetted_by, author, installed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            manifest.id.as_str(),
            manifest.version.to_string(),
            package.digest().to_string(),
            package.manifest_digest().to_string(),
            serde_json::Value::from(vetted_by).to_string(),
            (!authors.is_empty()).then(|| authors.join(",")),
            now
        ],
    )?;
    Ok(())
}

/// Whether a capability's class is privileged, for display.
pub fn is_privileged(class: &str) -> bool {
    class == CapabilityClass::Privileged.to_string()
}
