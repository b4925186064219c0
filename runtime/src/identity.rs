//! Who is asking: ed25519 keys bound to principals, and signed requests.
//!
//! Every request from a person is a JSON payload — principal, timestamp,
//! nonce and the operation — signed with the principal's key. The signature
//! covers the payload's exact bytes (prefixed by a domain tag), so nothing is
//! re-encoded before it is checked:
//!
//! ```text
//! {"payload": "<base64 of the payload bytes>", "signature": "<base64 ed25519 signature>"}
//! signature = ed25519(private key, "salve request v1\0" || payload bytes)
//! ```
//!
//! [`SignedRequest::open`] checks the signature against the key the policy
//! binds to the principal and the timestamp against the clock; the nonce is
//! then recorded by the state store, which refuses one it has seen.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The tag signed before every payload, so a signature over a request can
/// never be mistaken for a signature over anything else.
pub const REQUEST_DOMAIN: &[u8] = b"salve request v1\0";

/// How a key is written: `ed25519:` then the 32 key bytes in base64.
const KEY_PREFIX: &str = "ed25519:";

/// A principal's identifier: lowercase letters, digits, `.`, `_` and `-`,
/// starting with a letter, at most 64 characters (e.g. `alice`, `j.doe`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalId(String);

impl PrincipalId {
    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PrincipalId {
    type Err = String;
    fn from_str(id: &str) -> Result<Self, String> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !valid {
            return Err(format!(
                "`{id}` is not a principal id: use lowercase letters, digits, `.`, `_` and `-`, starting with a letter, e.g. `alice`"
            ));
        }
        Ok(PrincipalId(id.to_string()))
    }
}

impl TryFrom<String> for PrincipalId {
    type Error = String;
    fn try_from(id: String) -> Result<Self, String> {
        id.parse()
    }
}

impl From<PrincipalId> for String {
    fn from(id: PrincipalId) -> String {
        id.0
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ed25519 public key, written `ed25519:<base64>`.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Whether `signature` (64 bytes in base64) over `message` was made with
    /// this key's private half.
    pub fn verifies_base64(&self, message: &[u8], signature: &str) -> bool {
        BASE64
            .decode(signature)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .is_some_and(|bytes| self.verifies(message, &Signature::from_bytes(&bytes)))
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.0.verify_strict(message, signature).is_ok()
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl FromStr for PublicKey {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not an ed25519 public key: write `ed25519:` and the key's 32 bytes in base64 (what `salve keygen` prints)"
            )
        };
        let encoded = text.strip_prefix(KEY_PREFIX).ok_or_else(bad)?;
        let bytes: [u8; 32] = BASE64
            .decode(encoded)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad())
    }
}

impl TryFrom<String> for PublicKey {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A private key, as kept in a key file. Never printed.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
}

/// The key file `salve keygen` writes (TOML, mode 0600).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KeyFile {
    principal: Option<PrincipalId>,
    private_key: String,
    public_key: PublicKey,
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system could not provide randomness.
    #[error("cannot generate a key: no randomness from the operating system ({0})")]
    Randomness(String),
    /// The file cannot be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The key file.
        path: std::path::PathBuf,
        /// What the operating system said (in the message, not chained
        /// as a source, so that it is said once).
        error: std::io::Error,
    },
    /// The file is not a salve key file.
    #[error("{}: not a salve key file: {reason}", path.display())]
    Invalid {
        /// The key file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Others could read the private key.
    #[error(
        "{}: the private key is readable by other users; make it private with `chmod 600 {}`",
        path.display(), path.display()
    )]
    NotPrivate {
        /// The key file.
        path: std::path::PathBuf,
    },
}

impl KeyPair {
    /// A new key pair from the operating system's randomness.
    pub fn generate() -> Result<KeyPair, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Ok(KeyPair {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// Signs `message`: the signature's 64 bytes in base64.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        BASE64.encode(self.sign(message).to_bytes())
    }

    /// This key's signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// Writes the key file at `path` (created with mode 0600, never
    /// overwriting an existing file).
    pub fn write(&self, path: &Path, principal: Option<&PrincipalId>) -> Result<(), KeyError> {
        use std::io::Write;
        let file = KeyFile {
            principal: principal.cloned(),
            private_key: format!("{KEY_PREFIX}{}", BASE64.encode(self.signing.to_bytes())),
            public_key: self.public(),
        };
        let text = format!(
            "# salve ed25519 key{} — the private key signs your requests: keep this file private.\n{}",
            principal.map(|p| format!(" of {p}")).unwrap_or_default(),
            toml::to_string(&file).map_err(|e| KeyError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
        );
        let io = |error| KeyError::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut out =
            crate::os::owner_only_file(std::fs::OpenOptions::new().write(true).create_new(true))
                .open(path)
                .map_err(io)?;
        out.write_all(text.as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)
    }

    /// Reads a key file, refusing one that other users can read.
    pub fn read(path: &Path) -> Result<KeyPair, KeyError> {
        let io = |error| KeyError::Io {
            path: path.to_path_buf(),
            error,
        };
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let metadata = std::fs::metadata(path).map_err(io)?;
        if !metadata.is_file() {
            return Err(invalid("it is not a file".to_string()));
        }
        let text = crate::file_error::read_text(path).map_err(io)?;
        let file: KeyFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
        let seed: [u8; 32] = file
            .private_key
            .strip_prefix(KEY_PREFIX)
            .and_then(|k| BASE64.decode(k).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                invalid("`private-key` is not `ed25519:` and 32 bytes in base64".to_string())
            })?;
        let pair = KeyPair {
            signing: SigningKey::from_bytes(&seed),
        };
        if pair.public() != file.public_key {
            return Err(invalid(
                "`public-key` does not belong to `private-key`".to_string(),
            ));
        }
        // Checked once the file is known to be a key file, so that the
        // advice to make it private is not given about another file.
        if crate::os::others_may_access(&metadata) {
            return Err(KeyError::NotPrivate {
                path: path.to_path_buf(),
            });
        }
        Ok(pair)
    }
}

/// A request nonce: 16 random bytes in hex. Each may be used once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nonce(String);

impl Nonce {
    /// A fresh random nonce.
    pub fn random() -> Result<Nonce, KeyError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Ok(Nonce(hex::encode(bytes)))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Nonce {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let hex_ok =
            text.len() >= 16 && text.len() <= 64 && text.chars().all(|c| c.is_ascii_hexdigit());
        if !hex_ok {
            return Err("the nonce must be 16 to 64 hex characters".to_string());
        }
        Ok(Nonce(text.to_ascii_lowercase()))
    }
}

impl From<Nonce> for String {
    fn from(nonce: Nonce) -> String {
        nonce.0
    }
}

/// What a request carries besides its signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload<T> {
    /// Who signs it.
    pub principal: PrincipalId,
    /// The endpoint it is for: a request is accepted by that endpoint only,
    /// so it cannot be replayed against another one.
    pub endpoint: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Once only.
    pub nonce: Nonce,
    /// What is asked.
    pub operation: T,
}

/// A request as it travels: the payload's bytes and their signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The payload's JSON bytes, in base64.
    pub payload: String,
    /// The ed25519 signature over [`REQUEST_DOMAIN`] and the payload bytes, in
    /// base64.
    pub signature: String,
}

/// Why a request is not accepted as coming from its principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The envelope or payload is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The principal is not in the policy.
    #[error("unknown principal `{0}`: no key is registered for it in the policy")]
    UnknownPrincipal(String),
    /// The signature does not verify with the principal's key.
    #[error(
        "bad signature: the request was not signed by the key registered for `{0}`, or was changed after signing"
    )]
    BadSignature(PrincipalId),
    /// The timestamp is too far from the endpoint's clock.
    #[error(
        "stale request: signed at {timestamp_ms} ms, {skew_ms} ms away from this endpoint's clock (at most {allowed_ms} ms allowed); check the clocks and sign again"
    )]
    Stale {
        /// The request's timestamp.
        timestamp_ms: i64,
        /// How far it is from now.
        skew_ms: i64,
        /// The tolerance.
        allowed_ms: i64,
    },
    /// The nonce was seen before.
    #[error("replayed request: nonce {0} was already used")]
    Replayed(String),
    /// The request was signed at or before the replay watermark left by an
    /// earlier run of this endpoint, which may have accepted it.
    #[error(
        "the request was signed at {timestamp_ms} ms, before this endpoint restarted: its previous run may have accepted requests signed up to {floor_ms} ms, so those are refused to keep any from being replayed; sign it again"
    )]
    SignedBeforeRestart {
        /// The request's timestamp.
        timestamp_ms: i64,
        /// Requests signed at or before this instant are refused.
        floor_ms: i64,
    },
    /// The endpoint is stopping and accepts no more requests.
    #[error("the endpoint is stopping and accepts no more requests; try again once it is back")]
    Stopping,
    /// The replay watermark could not be made durable, so no request is
    /// accepted.
    #[error("the request cannot be accepted: the replay watermark cannot be stored ({0})")]
    ReplayState(String),
    /// The request was signed for another endpoint.
    #[error(
        "the request was signed for endpoint `{asked}`, but this is `{this}`: sign it for this endpoint"
    )]
    WrongEndpoint {
        /// The endpoint it names.
        asked: String,
        /// This endpoint.
        this: String,
    },
}

impl SignedRequest {
    /// Signs `operation` for `endpoint` as `principal` with `key`, stamped
    /// `timestamp_ms`.
    pub fn sign<T: Serialize>(
        key: &KeyPair,
        principal: &PrincipalId,
        endpoint: &str,
        timestamp_ms: i64,
        nonce: Nonce,
        operation: &T,
    ) -> Result<SignedRequest, serde_json::Error> {
        let payload = serde_json::to_vec(&Payload {
            principal: principal.clone(),
            endpoint: endpoint.to_string(),
            timestamp_ms,
            nonce,
            operation,
        })?;
        let mut message = REQUEST_DOMAIN.to_vec();
        message.extend_from_slice(&payload);
        Ok(SignedRequest {
            payload: BASE64.encode(&payload),
            signature: BASE64.encode(key.sign(&message).to_bytes()),
        })
    }

    /// Checks the signature with the key `key_of` gives for the payload's
    /// principal, and the timestamp against `now_ms` within `max_skew_ms`.
    /// The nonce is returned for the caller to record; a request is
    /// authenticated only once that succeeds.
    pub fn open<T: DeserializeOwned>(
        &self,
        key_of: impl FnOnce(&PrincipalId) -> Option<PublicKey>,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<Payload<T>, AuthError> {
        let malformed =
            |what: &str, e: &dyn fmt::Display| AuthError::Malformed(format!("{what}: {e}"));
        let payload = BASE64
            .decode(&self.payload)
            .map_err(|e| malformed("the payload is not base64", &e))?;
        let signature: [u8; 64] = BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                AuthError::Malformed("the signature is not 64 bytes in base64".to_string())
            })?;
        // Only the principal is read before the signature is checked, to find
        // the key; the rest is parsed from verified bytes.
        #[derive(Deserialize)]
        struct Signer {
            principal: String,
        }
        let signer: Signer = serde_json::from_slice(&payload)
            .map_err(|e| malformed("the payload is not a request", &e))?;
        let principal: PrincipalId = signer
            .principal
            .parse()
            .map_err(|_| AuthError::UnknownPrincipal(signer.principal.clone()))?;
        let key =
            key_of(&principal).ok_or_else(|| AuthError::UnknownPrincipal(principal.to_string()))?;
        let mut message = REQUEST_DOMAIN.to_vec();
        message.extend_from_slice(&payload);
        if !key.verifies(&message, &Signature::from_bytes(&signature)) {
            return Err(AuthError::BadSignature(principal));
        }
        let payload: Payload<T> = serde_json::from_slice(&payload)
            .map_err(|e| malformed("the request cannot be read", &e))?;
        let skew_ms = now_ms.saturating_sub(payload.timestamp_ms).saturating_abs();
        if skew_ms > max_skew_ms {
            return Err(AuthError::Stale {
                timestamp_ms: payload.timestamp_ms,
                skew_ms,
                allowed_ms: max_skew_ms,
            });
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> PrincipalId {
        "alice".parse().unwrap()
    }

    #[test]
    fn a_signed_request_opens_with_the_right_key_only() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let request = SignedRequest::sign(
            &key,
            &alice(),
            "pc-1",
            1_000,
            Nonce::random().unwrap(),
            &"hello",
        )
        .unwrap();
        let payload: Payload<String> = request.open(|_| Some(key.public()), 1_500, 1_000).unwrap();
        assert_eq!(payload.operation, "hello");
        assert_eq!(payload.principal, alice());
        assert_eq!(payload.endpoint, "pc-1");

        let error = request
            .open::<String>(|_| Some(other.public()), 1_500, 1_000)
            .unwrap_err();
        assert_eq!(error, AuthError::BadSignature(alice()));
        let error = request.open::<String>(|_| None, 1_500, 1_000).unwrap_err();
        assert_eq!(error, AuthError::UnknownPrincipal("alice".to_string()));
        let error = request
            .open::<String>(|_| Some(key.public()), 10_000, 1_000)
            .unwrap_err();
        assert!(
            matches!(error, AuthError::Stale { skew_ms: 9_000, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_changed_payload_fails_the_signature() {
        let key = KeyPair::generate().unwrap();
        let mut request = SignedRequest::sign(
            &key,
            &alice(),
            "pc-1",
            1_000,
            Nonce::random().unwrap(),
            &"restart cups",
        )
        .unwrap();
        let mut payload = BASE64.decode(&request.payload).unwrap();
        let text = String::from_utf8(payload.clone())
            .unwrap()
            .replace("cups", "sshd");
        payload = text.into_bytes();
        request.payload = BASE64.encode(payload);
        let error = request
            .open::<String>(|_| Some(key.public()), 1_000, 1_000)
            .unwrap_err();
        assert_eq!(error, AuthError::BadSignature(alice()));
    }

    #[test]
    fn keys_round_trip_through_text_and_files() {
        let key = KeyPair::generate().unwrap();
        let text = key.public().to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), key.public());
        assert!("ed25519:abc".parse::<PublicKey>().is_err());
        assert!("rsa:AAAA".parse::<PublicKey>().is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.key");
        key.write(&path, Some(&alice())).unwrap();
        assert_eq!(KeyPair::read(&path).unwrap().public(), key.public());
        // Never overwrite a key.
        assert!(key.write(&path, None).is_err());
        // Refuse a key others can read (Unix: its mode; Windows' access
        // lists are not read yet).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                KeyPair::read(&path),
                Err(KeyError::NotPrivate { .. })
            ));
        }
        // Something that is not a key file is named as such, not advised on.
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, "schema = 1\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let refused = |path: &Path| match KeyPair::read(path) {
            Ok(_) => panic!("{} read as a key", path.display()),
            Err(error) => error,
        };
        let error = refused(&policy).to_string();
        assert!(error.contains("not a salve key file"), "{error}");
        let error = refused(dir.path()).to_string();
        assert!(
            error.ends_with("not a salve key file: it is not a file"),
            "{error}"
        );
        // A missing file: the system's reason, said once.
        let error = refused(&dir.path().join("none.key"));
        assert!(std::error::Error::source(&error).is_none());
        assert!(error.to_string().ends_with("(os error 2)"), "{error}");
    }
}
