//! Revocations: a package blocked at once, by `id@version` or by its
//! component's digest. They are made on the endpoint (`salve catalog
//! revoke`) or imported from a revocation list signed by a trusted vetting
//! key:
//!
//! ```json
//! {"payload": "<base64 of {\"issued_at\": …, \"revocations\": [{\"target\": \"id@1.2.0\", \"reason\": …}]}>",
//!  "signer": "vetting-board", "key": "ed25519:…", "signature": "<base64>"}
//! ```
//!
//! The signature is ed25519 over `"salve revocations v1\0"` followed by the
//! payload's exact bytes (nothing is re-encoded before checking).

use super::trust::TrustConfig;
use crate::digest::Sha256Digest;
use crate::identity::{KeyPair, PrincipalId, PublicKey};
use crate::manifest::ActionId;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const DOMAIN: &[u8] = b"salve revocations v1\0";

/// What is revoked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Revoked {
    /// One version of an action.
    Version {
        /// The action.
        id: ActionId,
        /// The version.
        version: semver::Version,
    },
    /// Whatever package carries this component.
    Digest(Sha256Digest),
}

impl FromStr for Revoked {
    type Err = String;
    fn from_str(text: &str) -> Result<Revoked, String> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return hex.parse().map(Revoked::Digest).map_err(|e| format!("{e}"));
        }
        let (id, version) = text
            .split_once('@')
            .ok_or_else(|| format!("`{text}` names no package: write `<id>@<version>` (e.g. restart-service@1.2.0) or a component's sha256"))?;
        Ok(Revoked::Version {
            id: id.parse().map_err(|e| format!("`{text}`: {e}"))?,
            version: version
                .parse()
                .map_err(|e| format!("`{text}`: `{version}` is not a version ({e})"))?,
        })
    }
}

impl TryFrom<String> for Revoked {
    type Error = String;
    fn try_from(text: String) -> Result<Revoked, String> {
        text.parse()
    }
}

impl From<Revoked> for String {
    fn from(revoked: Revoked) -> String {
        revoked.to_string()
    }
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revoked::Version { id, version } => write!(f, "{id}@{version}"),
            Revoked::Digest(digest) => write!(f, "sha256:{digest}"),
        }
    }
}

/// One revocation and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// What.
    pub target: Revoked,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    issued_at: String,
    revocations: Vec<Revocation>,
}

/// A signed list of revocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// The JSON payload, base64.
    pub payload: String,
    /// Who signed.
    pub signer: PrincipalId,
    /// With which key.
    pub key: PublicKey,
    /// The ed25519 signature, base64.
    pub signature: String,
}

impl RevocationList {
    /// Signs `revocations`.
    pub fn sign(
        key: &KeyPair,
        signer: PrincipalId,
        issued_at: String,
        revocations: Vec<Revocation>,
    ) -> Result<RevocationList, String> {
        let payload = serde_json::to_vec(&Payload {
            issued_at,
            revocations,
        })
        .map_err(|e| e.to_string())?;
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&payload);
        let signature = key.sign(&message);
        Ok(RevocationList {
            payload: BASE64.encode(payload),
            signer,
            key: key.public(),
            signature: BASE64.encode(signature.to_bytes()),
        })
    }

    /// The revocations, once the signature verifies by a key `trust` holds
    /// for vetting.
    pub fn open(&self, trust: &TrustConfig) -> Result<(PrincipalId, Vec<Revocation>), String> {
        let principal = trust.trusted(&self.key).ok_or_else(|| {
            format!(
                "the revocation list is signed by {} ({}), which is not a trusted vetting key",
                self.signer, self.key
            )
        })?;
        if principal != &self.signer {
            // As for package signatures: the name the list gives its signer
            // is not covered by the signature, so it must be the one the
            // trust file gives the key.
            return Err(format!(
                "the revocation list names `{}` as its signer, but its key {} is `{principal}`'s in the trust file: refused",
                crate::text::escaped(self.signer.as_str()),
                self.key
            ));
        }
        let payload = BASE64
            .decode(&self.payload)
            .map_err(|_| "the revocation list's payload is not base64".to_string())?;
        let signature: [u8; 64] = BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the revocation list's signature is not 64 bytes in base64")?;
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&payload);
        if !self
            .key
            .verifies(&message, &ed25519_dalek::Signature::from_bytes(&signature))
        {
            return Err(
                "the revocation list's signature does not verify: it was changed after signing"
                    .to_string(),
            );
        }
        let payload: Payload = serde_json::from_slice(&payload)
            .map_err(|e| format!("the revocation list's payload is not valid: {e}"))?;
        Ok((principal.clone(), payload.revocations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_versions_or_digests() {
        let version: Revoked = "restart-service@1.2.0".parse().unwrap();
        assert_eq!(version.to_string(), "restart-service@1.2.0");
        let digest: Revoked = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert!(matches!(digest, Revoked::Digest(_)));
        assert!(
            "restart-service"
                .parse::<Revoked>()
                .unwrap_err()
                .contains("names no package")
        );
        assert!(
            "x@one"
                .parse::<Revoked>()
                .unwrap_err()
                .contains("is not a version")
        );
    }

    #[test]
    fn a_list_whose_signer_is_not_its_keys_principal_is_refused() {
        let board = KeyPair::generate().unwrap();
        let trust = TrustConfig::parse(
            &format!(
                "schema = 1\n[[vetting-keys]]\nprincipal = \"board\"\nkey = \"{}\"\n",
                board.public()
            ),
            std::path::Path::new("trust.toml"),
        )
        .unwrap();
        let list = RevocationList::sign(
            &board,
            "board".parse().unwrap(),
            "2026-12-07T00:00:00Z".into(),
            vec![Revocation {
                target: "restart-service@1.2.0".parse().unwrap(),
                reason: "broken".into(),
            }],
        )
        .unwrap();
        let (signer, revocations) = list.open(&trust).unwrap();
        assert_eq!(signer.as_str(), "board");
        assert_eq!(revocations.len(), 1);
        let mut renamed = list.clone();
        renamed.signer = "security-team".parse().unwrap();
        let refused = renamed.open(&trust).unwrap_err();
        assert!(
            refused.contains("`security-team`") && refused.contains("`board`"),
            "{refused}"
        );
    }
}
