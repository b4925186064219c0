//! SHA-256 digests, written as 64 lowercase hex characters.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SHA-256 digest of some bytes (a component, an input).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// All zeros: the `prev` of a hash chain's first link.
    pub const ZERO: Sha256Digest = Sha256Digest([0; 32]);

    /// A digest from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Sha256Digest {
        Sha256Digest(bytes)
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex characters, for display where space is short.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a sha256 digest: write 64 lowercase hex characters")]
pub struct DigestError(String);

impl FromStr for Sha256Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, DigestError> {
        let lowercase_hex = text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        let mut bytes = [0u8; 32];
        if text.len() != 64 || !lowercase_hex || hex::decode_to_slice(text, &mut bytes).is_err() {
            return Err(DigestError(text.to_string()));
        }
        Ok(Sha256Digest(bytes))
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = DigestError;
    fn try_from(text: String) -> Result<Self, DigestError> {
        text.parse()
    }
}

impl From<Sha256Digest> for String {
    fn from(digest: Sha256Digest) -> String {
        digest.to_string()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_hex() {
        let digest = Sha256Digest::of(b"abc");
        let text = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_string(), text);
        assert_eq!(text.parse::<Sha256Digest>().unwrap(), digest);
        assert_eq!(digest.short(), "ba7816bf8f01");
        assert!(text.to_uppercase().parse::<Sha256Digest>().is_err());
        assert!(text[1..].parse::<Sha256Digest>().is_err());
    }
}
