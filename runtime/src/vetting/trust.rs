//! Trust roots and the rules a package must meet: which vetting keys the
//! endpoint trusts, how many of their signatures a package needs, and
//! whether the vetting signer must be someone other than the author.
//!
//! ```toml
//! schema = 1
//! required-signatures = 1
//! distinct-from-author = true
//!
//! [[vetting-keys]]
//! principal = "vetting-board"
//! key = "ed25519:…"
//! ```

use super::signature::{Role, Signatures};
use crate::file_error::FileError;
use crate::identity::{PrincipalId, PublicKey};
use crate::package::Package;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A vetting key the endpoint trusts, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VettingKey {
    /// The principal the key belongs to.
    pub principal: PrincipalId,
    /// The key.
    pub key: PublicKey,
}

/// The endpoint's trust configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustConfig {
    /// Always 1.
    pub schema: u32,
    /// How many distinct trusted vetting signatures a package needs.
    #[serde(default = "one")]
    pub required_signatures: usize,
    /// Whether a vetting signature counts only from someone other than the
    /// package's author (who must then sign as author).
    #[serde(default)]
    pub distinct_from_author: bool,
    /// The trusted vetting keys.
    #[serde(default)]
    pub vetting_keys: Vec<VettingKey>,
}

fn one() -> usize {
    1
}

/// A package that meets the trust rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vetted {
    /// The trusted principals whose vetting signatures count.
    pub vetted_by: Vec<PrincipalId>,
    /// The author, when signed as author.
    pub author: Option<PrincipalId>,
}

/// Why a package is not vetted. Each names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VettingError {
    /// No signatures at all.
    #[error(
        "{package} is unsigned: it needs {required} vetting signature(s) by a trusted key (sign it with `salve action sign`)"
    )]
    Unsigned {
        /// `id@version`.
        package: String,
        /// How many are needed.
        required: usize,
    },
    /// A signature does not verify over this manifest.
    #[error(
        "{package}: the {role} signature by {signer} does not verify over this manifest: the manifest (or the component digest it carries) was changed after signing, or the signature was made for another package"
    )]
    BadSignature {
        /// `id@version`.
        package: String,
        /// Its role.
        role: String,
        /// Its signer.
        signer: String,
    },
    /// Not enough trusted vetting signatures.
    #[error(
        "{package} has {found} vetting signature(s) by trusted keys, the policy requires {required}{detail}"
    )]
    TooFewSignatures {
        /// `id@version`.
        package: String,
        /// How many count.
        found: usize,
        /// How many are needed.
        required: usize,
        /// What did not count, and why.
        detail: String,
    },
    /// The separation of duties needs an author signature.
    #[error(
        "{package} has no author signature, so the vetting signer cannot be shown to be someone else (the policy requires distinct-from-author)"
    )]
    NoAuthor {
        /// `id@version`.
        package: String,
    },
}

impl TrustConfig {
    /// Parses a trust file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<TrustConfig, FileError> {
        let config: TrustConfig =
            FileError::parse_toml(text, file, "the README's catalog section")?;
        if config.schema != 1 {
            return Err(FileError::at(
                file,
                text,
                None,
                &format!(
                    "schema {} is not supported: write `schema = 1`",
                    config.schema
                ),
            ));
        }
        if config.required_signatures == 0 {
            return Err(FileError::at(
                file,
                text,
                None,
                "`required-signatures` must be at least 1: an endpoint never runs unvetted code",
            ));
        }
        Ok(config)
    }

    /// Reads a trust file.
    pub fn read(path: &Path) -> Result<TrustConfig, FileError> {
        let text = FileError::read(path)?;
        TrustConfig::parse(&text, path)
    }

    /// The trusted principal a key belongs to.
    pub fn trusted(&self, key: &PublicKey) -> Option<&PrincipalId> {
        self.vetting_keys
            .iter()
            .find(|k| &k.key == key)
            .map(|k| &k.principal)
    }

    /// Checks `signatures` over `package` against the rules.
    pub fn vet(&self, package: &Package, signatures: &Signatures) -> Result<Vetted, VettingError> {
        let label = package.manifest().label();
        if signatures.signature.is_empty() {
            return Err(VettingError::Unsigned {
                package: label,
                required: self.required_signatures,
            });
        }
        let manifest = package.manifest_digest();
        for signature in &signatures.signature {
            if !signature.verifies(&manifest) {
                return Err(VettingError::BadSignature {
                    package: label,
                    role: signature.role.to_string(),
                    signer: signature.signer.to_string(),
                });
            }
        }
        let author = signatures.signature.iter().find(|s| s.role == Role::Author);
        if self.distinct_from_author && author.is_none() {
            return Err(VettingError::NoAuthor { package: label });
        }
        let mut vetted_by: Vec<PrincipalId> = Vec::new();
        let mut skipped = Vec::new();
        for signature in signatures
            .signature
            .iter()
            .filter(|s| s.role == Role::Vetting)
        {
            let Some(principal) = self.trusted(&signature.key) else {
                skipped.push(format!(
                    "the signature by {} ({}) is not by a trusted vetting key",
                    signature.signer, signature.key
                ));
                continue;
            };
            if self.distinct_from_author
                && let Some(author) = author
                && (&author.signer == principal || author.key == signature.key)
            {
                skipped.push(format!(
                    "{principal} signed as vetting authority but is the package's author"
                ));
                continue;
            }
            if !vetted_by.contains(principal) {
                vetted_by.push(principal.clone());
            }
        }
        if vetted_by.len() < self.required_signatures {
            return Err(VettingError::TooFewSignatures {
                package: label,
                found: vetted_by.len(),
                required: self.required_signatures,
                detail: if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", skipped.join("; "))
                },
            });
        }
        Ok(Vetted {
            vetted_by,
            author: author.map(|a| a.signer.clone()),
        })
    }
}
