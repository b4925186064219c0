//! The fleet inventory: which endpoints exist and the key each signs its
//! answers with, signed by a fleet admin. A client trusts an answer over the
//! fleet only if it verifies with the key the inventory gives for the
//! endpoint asked, and trusts the inventory only if a fleet-admin key it was
//! given signed it.
//!
//! The file is JSON:
//!
//! ```json
//! {"endpoints": [{"name": "pc-0421", "key": "ed25519:…"}],
//!  "signature": {"by": "ed25519:…", "value": "<base64>"}}
//! ```
//!
//! The signature covers [`INVENTORY_DOMAIN`] and the JSON of `endpoints`,
//! sorted by name. Changing the list drops the signature until an admin
//! signs it again.

use super::subjects::EndpointName;
use crate::file_error::FileError;
use crate::identity::{KeyPair, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What an inventory signature covers, before the endpoints' JSON.
pub const INVENTORY_DOMAIN: &[u8] = b"salve inventory v1\0";

/// One endpoint of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryEntry {
    /// Its name, as requests and subjects name it.
    pub name: String,
    /// The key its answers are signed with (its audit checkpoint key).
    pub key: PublicKey,
}

/// Who signed the inventory, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySignature {
    /// The fleet admin's public key.
    pub by: PublicKey,
    /// The signature, in base64.
    pub value: String,
}

/// The inventory file as stored: signed or not yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// The endpoints, sorted by name.
    pub endpoints: Vec<InventoryEntry>,
    /// The fleet admin's signature, once signed.
    #[serde(default)]
    pub signature: Option<InventorySignature>,
}

/// Why an inventory cannot be used or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The file cannot be read or written.
    #[error(transparent)]
    File(Box<FileError>),
    /// It is not an inventory.
    #[error("{path}: not a fleet inventory: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Nobody signed it yet.
    #[error(
        "{0}: the inventory is not signed: a fleet admin signs it with `salve fleet inventory sign`"
    )]
    Unsigned(String),
    /// Signed, but not by an admin this client trusts.
    #[error("{path}: the inventory is signed by {by}, which is not a fleet-admin key you trust")]
    UntrustedSigner {
        /// The file.
        path: String,
        /// Who signed it (the key).
        by: String,
    },
    /// The signature does not verify: the file changed after signing.
    #[error("{0}: the inventory's signature does not verify: it was changed after it was signed")]
    BadSignature(String),
    /// An endpoint's name cannot be used.
    #[error("{0}")]
    BadName(String),
    /// The endpoint is not in the inventory.
    #[error(
        "`{0}` is not in the fleet inventory: its answers cannot be checked (a fleet admin adds it with `salve fleet inventory add`)"
    )]
    UnknownEndpoint(String),
}

impl From<FileError> for InventoryError {
    fn from(error: FileError) -> InventoryError {
        InventoryError::File(Box::new(error))
    }
}

/// A verified inventory: endpoint names and their keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    endpoints: BTreeMap<String, PublicKey>,
}

impl Inventory {
    /// The key of `endpoint`, or the error naming it.
    pub fn key_of(&self, endpoint: &str) -> Result<&PublicKey, InventoryError> {
        self.endpoints
            .get(endpoint)
            .ok_or_else(|| InventoryError::UnknownEndpoint(endpoint.to_string()))
    }

    /// The endpoints and their keys, by name.
    pub fn endpoints(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.endpoints
            .iter()
            .map(|(name, key)| (name.as_str(), key))
    }

    /// The inventory at `path`, once its signature verifies with one of
    /// `admins`.
    pub fn load(path: &Path, admins: &[PublicKey]) -> Result<Inventory, InventoryError> {
        let file = InventoryFile::read(path)?;
        let shown = path.display().to_string();
        let Some(signature) = &file.signature else {
            return Err(InventoryError::Unsigned(shown));
        };
        if !admins.contains(&signature.by) {
            return Err(InventoryError::UntrustedSigner {
                path: shown,
                by: signature.by.to_string(),
            });
        }
        if !signature
            .by
            .verifies_base64(&file.signed_bytes(), &signature.value)
        {
            return Err(InventoryError::BadSignature(shown));
        }
        Ok(Inventory {
            endpoints: file
                .endpoints
                .into_iter()
                .map(|entry| (entry.name, entry.key))
                .collect(),
        })
    }
}

impl InventoryFile {
    /// The file at `path`; an empty inventory when there is none yet is the
    /// caller's choice ([`InventoryFile::read_or_new`]).
    pub fn read(path: &Path) -> Result<InventoryFile, InventoryError> {
        let text = FileError::read(path)?;
        let file: InventoryFile =
            serde_json::from_str(&text).map_err(|e| InventoryError::Malformed {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
        let mut names = std::collections::BTreeSet::new();
        for entry in &file.endpoints {
            entry
                .name
                .parse::<EndpointName>()
                .map_err(InventoryError::BadName)?;
            if !names.insert(&entry.name) {
                return Err(InventoryError::Malformed {
                    path: path.display().to_string(),
                    why: format!("`{}` is listed twice", entry.name),
                });
            }
        }
        Ok(file)
    }

    /// The file at `path`, or an empty one if there is no file.
    pub fn read_or_new(path: &Path) -> Result<InventoryFile, InventoryError> {
        if path.exists() {
            InventoryFile::read(path)
        } else {
            Ok(InventoryFile::default())
        }
    }

    /// Writes the file (whole, then renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), InventoryError> {
        let mut text =
            serde_json::to_string_pretty(self).map_err(|e| InventoryError::Malformed {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
        text.push('\n');
        let staged = path.with_extension("partial");
        let cannot = |path: &Path, e: std::io::Error| {
            FileError::at(path, "", None, &format!("cannot be written: {e}"))
        };
        std::fs::write(&staged, text).map_err(|e| cannot(&staged, e))?;
        std::fs::rename(&staged, path).map_err(|e| cannot(path, e))?;
        Ok(())
    }

    /// Adds `name` with `key`, or changes its key; the signature is dropped
    /// (the list must be signed again).
    pub fn add(&mut self, name: &str, key: PublicKey) -> Result<(), InventoryError> {
        name.parse::<EndpointName>()
            .map_err(InventoryError::BadName)?;
        self.endpoints.retain(|entry| entry.name != name);
        self.endpoints.push(InventoryEntry {
            name: name.to_string(),
            key,
        });
        self.endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        self.signature = None;
        Ok(())
    }

    /// Removes `name`; whether it was there. The signature is dropped.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.endpoints.len();
        self.endpoints.retain(|entry| entry.name != name);
        let removed = self.endpoints.len() != before;
        if removed {
            self.signature = None;
        }
        removed
    }

    /// Signs the list with the fleet admin's `key`.
    pub fn sign(&mut self, key: &KeyPair) {
        self.endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        self.signature = Some(InventorySignature {
            by: key.public(),
            value: key.sign_base64(&self.signed_bytes()),
        });
    }

    /// What the signature covers: the domain, then the endpoints' JSON in
    /// name order.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut sorted = self.endpoints.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut bytes = INVENTORY_DOMAIN.to_vec();
        // A list of names and keys always serializes.
        bytes.extend(serde_json::to_vec(&sorted).unwrap_or_default());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_is_trusted_only_signed_by_a_trusted_admin_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        let admin = KeyPair::generate().unwrap();
        let stranger = KeyPair::generate().unwrap();
        let pc = KeyPair::generate().unwrap();
        let mut file = InventoryFile::default();
        file.add("pc-1", pc.public()).unwrap();
        file.write(&path).unwrap();
        assert!(matches!(
            Inventory::load(&path, &[admin.public()]),
            Err(InventoryError::Unsigned(_))
        ));
        file.sign(&stranger);
        file.write(&path).unwrap();
        assert!(matches!(
            Inventory::load(&path, &[admin.public()]),
            Err(InventoryError::UntrustedSigner { .. })
        ));
        file.sign(&admin);
        file.write(&path).unwrap();
        let inventory = Inventory::load(&path, &[admin.public()]).unwrap();
        assert_eq!(inventory.key_of("pc-1").unwrap(), &pc.public());
        assert!(matches!(
            inventory.key_of("pc-2"),
            Err(InventoryError::UnknownEndpoint(_))
        ));
        // A key swapped in the file after signing is caught.
        let text = std::fs::read_to_string(&path).unwrap();
        let swapped = text.replace(&pc.public().to_string(), &stranger.public().to_string());
        std::fs::write(&path, swapped).unwrap();
        assert!(matches!(
            Inventory::load(&path, &[admin.public()]),
            Err(InventoryError::BadSignature(_))
        ));
        // Adding drops the signature.
        file.add("pc-2", stranger.public()).unwrap();
        assert!(file.signature.is_none());
        assert!(file.add("a.b", pc.public()).is_err());
    }
}
