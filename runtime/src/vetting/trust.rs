//! Trust roots and the rules a package must meet: which vetting keys the
//! endpoint trusts, how many of their signatures a package needs, and
//! whether the vetting signer must be someone other than the author — whose
//! key the endpoint must then know too.
//!
//! ```toml
//! schema = 1
//! required-signatures = 1
//! distinct-from-author = true
//!
//! [[vetting-keys]]
//! principal = "vetting-board"
//! key = "ed25519:…"
//!
//! [[author-keys]]                  # who may sign as author
//! principal = "ann"
//! key = "ed25519:…"
//! ```
//!
//! A signature counts for the principal the trust file binds its key to; a
//! signature by a known key that names another signer is refused. Under
//! `distinct-from-author`, a package needs an author signature by a key in
//! `author-keys` (or `vetting-keys`: a vetter who wrote a package signs it as
//! author with their own key); author signatures by unknown keys are ignored,
//! and a vetting signature counts only if neither its principal nor its key
//! is one of the verified authors'.

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
    /// package's authors, who must then sign as author with a key this file
    /// knows (`author-keys` or `vetting-keys`).
    #[serde(default)]
    pub distinct_from_author: bool,
    /// The trusted vetting keys.
    #[serde(default)]
    pub vetting_keys: Vec<VettingKey>,
    /// The keys of known authors: they vouch for nothing, but identify who
    /// wrote a package, for `distinct-from-author`.
    #[serde(default)]
    pub author_keys: Vec<VettingKey>,
}

fn one() -> usize {
    1
}

/// A package that meets the trust rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vetted {
    /// The trusted principals whose vetting signatures count.
    pub vetted_by: Vec<PrincipalId>,
    /// The verified authors: principals whose keys the trust file knows and
    /// who signed as author (unknown-key author signatures are not listed).
    pub authors: Vec<PrincipalId>,
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
    /// A signature entry is not an ed25519 signature at all.
    #[error(
        "{package}: signature {entry} (the {role} signature by {signer}) is malformed: it is not the base64 of a 64-byte ed25519 signature (sign the package again with `salve action sign`)"
    )]
    MalformedSignature {
        /// `id@version`.
        package: String,
        /// Its place in the signature file, from 1.
        entry: usize,
        /// Its role.
        role: String,
        /// Its signer.
        signer: String,
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
    /// A signature by a key the trust file binds to someone else.
    #[error(
        "{package}: the {role} signature names {signer} as its signer, but its key belongs to {owner} in the trust file: a signature counts only for the principal its key belongs to (sign again as {owner}, or correct the trust file)"
    )]
    SignerMismatch {
        /// `id@version`.
        package: String,
        /// Its role.
        role: String,
        /// The signer it names.
        signer: String,
        /// The principal the trust file binds its key to.
        owner: String,
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
    /// The separation of duties needs an author signature by a known key.
    #[error(
        "{package} has no author signature by a key the trust file knows, so the vetting signer cannot be shown to be someone else (the policy requires distinct-from-author: the author signs with `salve action sign --role author` using a key listed in `author-keys`){detail}"
    )]
    NoAuthor {
        /// `id@version`.
        package: String,
        /// The author signatures that were ignored, and why.
        detail: String,
    },
}

impl TrustConfig {
    /// Parses a trust file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<TrustConfig, FileError> {
        let config: TrustConfig =
            FileError::parse_toml(text, file, "docs/reference/trust-and-signatures.md")?;
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
        let all: Vec<&VettingKey> = config
            .vetting_keys
            .iter()
            .chain(&config.author_keys)
            .collect();
        for (i, a) in all.iter().enumerate() {
            if let Some(b) = all[..i]
                .iter()
                .find(|b| b.key == a.key && b.principal != a.principal)
            {
                return Err(FileError::at(
                    file,
                    text,
                    None,
                    &format!(
                        "the key {} is listed for both {} and {}: a key belongs to one principal, so remove it from one of them",
                        a.key, b.principal, a.principal
                    ),
                ));
            }
        }
        Ok(config)
    }

    /// Reads a trust file.
    pub fn read(path: &Path) -> Result<TrustConfig, FileError> {
        let text = FileError::read(path)?;
        TrustConfig::parse(&text, path)
    }

    /// The trusted vetting principal a key belongs to.
    pub fn trusted(&self, key: &PublicKey) -> Option<&PrincipalId> {
        self.vetting_keys
            .iter()
            .find(|k| &k.key == key)
            .map(|k| &k.principal)
    }

    /// The principal a key belongs to, whether a vetting or an author key.
    pub fn owner(&self, key: &PublicKey) -> Option<&PrincipalId> {
        self.vetting_keys
            .iter()
            .chain(&self.author_keys)
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
        for (i, signature) in signatures.signature.iter().enumerate() {
            if signature.decoded().is_none() {
                return Err(VettingError::MalformedSignature {
                    package: label,
                    entry: i + 1,
                    role: signature.role.to_string(),
                    signer: signature.signer.to_string(),
                });
            }
            if !signature.verifies(&manifest) {
                return Err(VettingError::BadSignature {
                    package: label,
                    role: signature.role.to_string(),
                    signer: signature.signer.to_string(),
                });
            }
            if let Some(owner) = self.owner(&signature.key)
                && owner != &signature.signer
            {
                return Err(VettingError::SignerMismatch {
                    package: label,
                    role: signature.role.to_string(),
                    signer: signature.signer.to_string(),
                    owner: owner.to_string(),
                });
            }
        }
        // Every author signature by a known key identifies an author; one by
        // an unknown key identifies no one (anyone can make a key).
        let mut authors: Vec<(&PrincipalId, &PublicKey)> = Vec::new();
        let mut ignored = Vec::new();
        for signature in signatures
            .signature
            .iter()
            .filter(|s| s.role == Role::Author)
        {
            match self.owner(&signature.key) {
                Some(principal) => authors.push((principal, &signature.key)),
                None => ignored.push(format!(
                    "the author signature by {} ({}) is ignored: its key is not in the trust file",
                    signature.signer, signature.key
                )),
            }
        }
        if self.distinct_from_author && authors.is_empty() {
            return Err(VettingError::NoAuthor {
                package: label,
                detail: detail(&ignored),
            });
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
                && authors
                    .iter()
                    .any(|(author, key)| *author == principal || *key == &signature.key)
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
            if self.distinct_from_author {
                skipped.extend(ignored);
            }
            return Err(VettingError::TooFewSignatures {
                package: label,
                found: vetted_by.len(),
                required: self.required_signatures,
                detail: detail(&skipped),
            });
        }
        let mut names: Vec<PrincipalId> = Vec::new();
        for (author, _) in authors {
            if !names.contains(author) {
                names.push(author.clone());
            }
        }
        Ok(Vetted {
            vetted_by,
            authors: names,
        })
    }
}

/// ` (a; b)`, or nothing.
fn detail(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        crate::identity::KeyPair::generate().unwrap().public()
    }

    #[test]
    fn author_keys_are_read_and_unknown_fields_refused() {
        let (board, ann) = (key(), key());
        let text = format!(
            "schema = 1\ndistinct-from-author = true\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n\n[[author-keys]]\nprincipal = \"ann\"\nkey = \"{ann}\"\n"
        );
        let config = TrustConfig::parse(&text, Path::new("trust.toml")).unwrap();
        assert_eq!(config.owner(&ann).map(PrincipalId::as_str), Some("ann"));
        assert_eq!(
            config.trusted(&ann),
            None,
            "an author key vouches for nothing"
        );
        assert_eq!(
            config.owner(&board).map(PrincipalId::as_str),
            Some("vetting-board")
        );
        let misspelled = text.replace("[[author-keys]]", "[[authors]]");
        let error = TrustConfig::parse(&misspelled, Path::new("trust.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("authors"), "{error}");
        let extra = text.replace("principal = \"ann\"", "principal = \"ann\"\nname = \"Ann\"");
        assert!(TrustConfig::parse(&extra, Path::new("trust.toml")).is_err());
    }

    #[test]
    fn a_key_bound_to_two_principals_is_refused() {
        let board = key();
        let text = format!(
            "schema = 1\n\n[[vetting-keys]]\nprincipal = \"vetting-board\"\nkey = \"{board}\"\n\n[[author-keys]]\nprincipal = \"ann\"\nkey = \"{board}\"\n"
        );
        let error = TrustConfig::parse(&text, Path::new("trust.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is listed for both vetting-board and ann"),
            "{error}"
        );
        // The same principal may hold its key in both lists.
        let same = text.replace("principal = \"ann\"", "principal = \"vetting-board\"");
        assert!(TrustConfig::parse(&same, Path::new("trust.toml")).is_ok());
    }
}
