//! Detached package signatures: `action.toml.sig` beside the manifest.
//!
//! ```toml
//! [[signature]]
//! role = "vetting"                 # or "author"
//! signer = "vetting-board"         # the principal who signed
//! key = "ed25519:…"
//! signed-at = "2026-11-24T10:00:00Z"  # RFC 3339, UTC
//! signature = "<base64>"           # the 64-byte ed25519 signature
//! ```
//!
//! **Signed bytes** (the canonical encoding): `"salve package v1\0"`, the
//! role, `"\0"`, the signer, `"\0"`, the signing time, `"\0"`, then the 32-byte
//! sha256 of `action.toml`'s exact bytes. Nothing is re-encoded: editing one
//! byte of the manifest (its digest of the component included) voids every
//! signature, and so does changing a signature's role, signer or time.

use crate::digest::Sha256Digest;
use crate::identity::{KeyPair, PrincipalId, PublicKey};
use crate::package::Package;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The signature file's name, beside `action.toml`.
pub const SIGNATURE_FILE: &str = "action.toml.sig";

const DOMAIN: &[u8] = b"salve package v1\0";

/// What a signer vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// "I wrote this package."
    Author,
    /// "I reviewed this package and vouch for it."
    Vetting,
}

impl Role {
    /// `author` or `vetting`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Author => "author",
            Role::Vetting => "vetting",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One signature over a package's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageSignature {
    /// What the signer vouches for.
    pub role: Role,
    /// Who signed.
    pub signer: PrincipalId,
    /// The key that signed.
    pub key: PublicKey,
    /// When (RFC 3339, UTC: `2026-11-24T10:00:00Z`). Checked when the file
    /// is read; signed as written, never re-encoded.
    #[serde(deserialize_with = "rfc3339")]
    pub signed_at: String,
    /// The ed25519 signature, base64.
    pub signature: String,
}

/// Whether `text` is an RFC 3339 time in UTC (`2026-11-24T10:00:00Z`, with
/// any fraction of a second).
pub fn is_rfc3339(text: &str) -> bool {
    humantime::parse_rfc3339(text).is_ok()
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if !is_rfc3339(&text) {
        return Err(serde::de::Error::custom(format!(
            "`signed-at = \"{text}\"` is not an RFC 3339 time in UTC (write e.g. 2026-11-24T10:00:00Z)"
        )));
    }
    Ok(text)
}

/// The bytes a signature covers.
pub fn message(
    role: Role,
    signer: &PrincipalId,
    signed_at: &str,
    manifest: &Sha256Digest,
) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    for part in [role.name(), signer.as_str(), signed_at] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message.extend_from_slice(manifest.as_bytes());
    message
}

impl PackageSignature {
    /// Signs the manifest whose sha256 is `manifest`.
    pub fn sign(
        key: &KeyPair,
        role: Role,
        signer: PrincipalId,
        signed_at: String,
        manifest: &Sha256Digest,
    ) -> PackageSignature {
        let signature = key.sign(&message(role, &signer, &signed_at, manifest));
        PackageSignature {
            role,
            signer,
            key: key.public(),
            signed_at,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// The ed25519 signature, if `signature` is the base64 of 64 bytes.
    pub fn decoded(&self) -> Option<ed25519_dalek::Signature> {
        BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|bytes| ed25519_dalek::Signature::from_bytes(&bytes))
    }

    /// Whether this signature is valid over the manifest `manifest` (false
    /// too when it is malformed: see [`PackageSignature::decoded`]).
    pub fn verifies(&self, manifest: &Sha256Digest) -> bool {
        let Some(signature) = self.decoded() else {
            return false;
        };
        self.key.verifies(
            &message(self.role, &self.signer, &self.signed_at, manifest),
            &signature,
        )
    }
}

/// The contents of `action.toml.sig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signatures {
    /// Every signature, in the order added.
    #[serde(default)]
    pub signature: Vec<PackageSignature>,
}

/// A signature file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The file is not valid, or one of its entries is malformed.
    #[error("{}: not a valid signature file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl Signatures {
    /// The signatures of the package in `dir`; none when it has no file.
    /// Every entry must be well formed: a `signed-at` in RFC 3339 and a
    /// `signature` that is the base64 of 64 bytes (the error names the
    /// entry otherwise).
    pub fn read(dir: &Path) -> Result<Signatures, SignatureError> {
        let path = dir.join(SIGNATURE_FILE);
        let text = match crate::file_error::read_text(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Signatures::default());
            }
            Err(source) => return Err(SignatureError::Io { path, source }),
        };
        let signatures: Signatures = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1);
            SignatureError::Malformed {
                reason: match line {
                    Some(line) => format!("line {line}: {}", e.message()),
                    None => e.message().to_string(),
                },
                path: path.clone(),
            }
        })?;
        if let Some(reason) = signatures.malformed() {
            return Err(SignatureError::Malformed { path, reason });
        }
        Ok(signatures)
    }

    /// What is wrong with the first malformed entry, if one is: `None` when
    /// every signature decodes.
    pub fn malformed(&self) -> Option<String> {
        self.signature.iter().enumerate().find_map(|(i, s)| {
            s.decoded().is_none().then(|| {
                format!(
                    "signature {} (the {} signature by {}): `signature` is not the base64 of a 64-byte ed25519 signature; the file was damaged or edited by hand: sign the package again with `salve action sign`",
                    i + 1,
                    s.role,
                    s.signer
                )
            })
        })
    }

    /// Adds a signature over `package`'s manifest (replacing an earlier one
    /// by the same key and role) and writes the file atomically.
    pub fn add(
        package: &Package,
        key: &KeyPair,
        role: Role,
        signer: PrincipalId,
        signed_at: String,
    ) -> Result<PackageSignature, SignatureError> {
        if !is_rfc3339(&signed_at) {
            return Err(SignatureError::Malformed {
                path: package.dir().join(SIGNATURE_FILE),
                reason: format!(
                    "the signing time `{signed_at}` is not an RFC 3339 time in UTC (e.g. 2026-11-24T10:00:00Z)"
                ),
            });
        }
        let mut signatures = Signatures::read(package.dir())?;
        let made = PackageSignature::sign(key, role, signer, signed_at, &package.manifest_digest());
        signatures
            .signature
            .retain(|s| !(s.key == made.key && s.role == made.role));
        signatures.signature.push(made.clone());
        signatures.write(package.dir())?;
        Ok(made)
    }

    fn write(&self, dir: &Path) -> Result<(), SignatureError> {
        let path = dir.join(SIGNATURE_FILE);
        let io = |source| SignatureError::Io {
            path: path.clone(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| SignatureError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let temporary = dir.join(format!(".{SIGNATURE_FILE}.tmp"));
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)
    }
}
