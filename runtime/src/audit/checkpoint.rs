//! Checkpoints: the endpoint's signature over a record's sequence number and
//! hash. The log carries them as records; a copy kept elsewhere (a file on
//! another volume, the SIEM) makes truncation of the log's tail detectable:
//! a log that ends before a checkpoint, or differs at its record, was cut or
//! rewritten.
//!
//! Signed bytes: `"salve checkpoint v1\0"`, the sequence number as 8 bytes big
//! endian, then the record's 32-byte hash.

use super::record::{Kind, Record};
use crate::digest::Sha256Digest;
use crate::identity::{KeyPair, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::path::Path;

const DOMAIN: &[u8] = b"salve checkpoint v1\0";

/// A signed statement that record `seq` has hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The record vouched for.
    pub seq: u64,
    /// Its hash.
    pub hash: Sha256Digest,
    /// When the checkpoint was made.
    pub time: String,
    /// The endpoint key that signed it.
    pub key: PublicKey,
    /// The ed25519 signature, in base64.
    pub signature: String,
}

fn message(seq: u64, hash: &Sha256Digest) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash.as_bytes());
    message
}

impl Checkpoint {
    /// Signs that record `seq` has hash `hash`.
    pub fn sign(key: &KeyPair, seq: u64, hash: Sha256Digest, time: String) -> Checkpoint {
        let signature = key.sign(&message(seq, &hash));
        Checkpoint {
            seq,
            hash,
            time,
            key: key.public(),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the signature — against `trusted` when given, which must then
    /// be the key that signed.
    pub fn check(&self, trusted: Option<&PublicKey>) -> Result<(), String> {
        if let Some(trusted) = trusted
            && trusted != &self.key
        {
            return Err(format!(
                "checkpoint of record {} is signed by {}, not by the endpoint's key {trusted}",
                self.seq, self.key
            ));
        }
        let bytes: [u8; 64] = BASE64
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "checkpoint of record {}: the signature is not 64 bytes in base64",
                    self.seq
                )
            })?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        if !self
            .key
            .verifies(&message(self.seq, &self.hash), &signature)
        {
            return Err(format!(
                "checkpoint of record {}: the signature does not verify",
                self.seq
            ));
        }
        Ok(())
    }

    /// The checkpoint a `log.checkpoint` record carries in its `details`.
    pub fn from_record(record: &Record) -> Result<Checkpoint, String> {
        if record.kind != Kind::Checkpoint {
            return Err(format!("record {} is not a checkpoint", record.seq));
        }
        let details = record
            .details
            .clone()
            .ok_or("a checkpoint record without its details")?;
        serde_json::from_value(details).map_err(|e| format!("an unreadable checkpoint: {e}"))
    }

    /// Reads a checkpoint kept elsewhere: a file holding one checkpoint as
    /// JSON, or one per line (the last is used). A last line without its
    /// newline that is not a checkpoint — a write cut short — is passed
    /// over for the one before it.
    pub fn read(path: &Path) -> Result<Checkpoint, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Ok(whole) = serde_json::from_str::<Checkpoint>(text.trim()) {
            return Ok(whole);
        }
        let mut lines = text.lines().rev().filter(|l| !l.trim().is_empty());
        let last = lines
            .next()
            .ok_or_else(|| format!("{} holds no checkpoint", path.display()))?;
        let not_a_checkpoint =
            |e: serde_json::Error| format!("{} is not a checkpoint: {e}", path.display());
        match serde_json::from_str::<Checkpoint>(last) {
            Ok(checkpoint) => Ok(checkpoint),
            Err(error) if !text.ends_with('\n') => match lines.next() {
                Some(before) => serde_json::from_str(before).map_err(not_a_checkpoint),
                None => Err(not_a_checkpoint(error)),
            },
            Err(error) => Err(not_a_checkpoint(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_as_signed() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let hash = Sha256Digest::of(b"record");
        let checkpoint = Checkpoint::sign(&key, 42, hash, "t".into());
        assert_eq!(checkpoint.check(Some(&key.public())), Ok(()));
        assert!(
            checkpoint
                .check(Some(&other.public()))
                .unwrap_err()
                .contains("not by the endpoint's key")
        );
        let mut forged = checkpoint.clone();
        forged.seq = 41;
        assert!(forged.check(None).unwrap_err().contains("does not verify"));
        let mut swapped = Checkpoint::sign(&other, 42, hash, "t".into());
        swapped.signature = checkpoint.signature.clone();
        assert!(swapped.check(None).is_err());
    }

    #[test]
    fn a_copy_whose_last_line_was_cut_short_gives_the_one_before() {
        let key = KeyPair::generate().unwrap();
        let first = Checkpoint::sign(&key, 10, Sha256Digest::of(b"a"), "t".into());
        let second = Checkpoint::sign(&key, 20, Sha256Digest::of(b"b"), "t".into());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.jsonl");
        let lines = format!(
            "{}\n{}\n",
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
        std::fs::write(&path, &lines).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap(), second);
        std::fs::write(&path, &lines[..lines.len() - 20]).unwrap();
        assert_eq!(
            Checkpoint::read(&path).unwrap(),
            first,
            "torn: the one before"
        );
        // A complete last line that is not a checkpoint is an error, not skipped.
        std::fs::write(&path, format!("{lines}garbage\n")).unwrap();
        assert!(
            Checkpoint::read(&path)
                .unwrap_err()
                .contains("is not a checkpoint")
        );
    }
}
