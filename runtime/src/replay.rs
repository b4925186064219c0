//! Replay protection: each signed request is accepted once.
//!
//! A request carries a timestamp and a nonce. The endpoint accepts it only
//! if its timestamp is within the clock skew of now (so an old capture is
//! refused) and its nonce was not seen while it could still pass that check
//! (so a fresh capture is refused). Seen nonces are kept in memory for
//! exactly that long; across a restart, a request signed before the endpoint
//! started is refused — nothing a previous run saw can be replayed to this
//! one, and no request waits for a disk flush of its nonce.

use crate::identity::PrincipalId;
use crate::session::UnixMillis;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How often, at most, forgotten nonces are swept out.
const PURGE_EVERY_MS: i64 = 10_000;

/// Why a request's nonce or timestamp is refused here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The nonce was seen before, while its request could still pass.
    Replayed,
    /// The request was signed before this endpoint started.
    BeforeStart {
        /// When the endpoint started.
        started_ms: UnixMillis,
    },
}

/// The nonces seen since the endpoint started.
pub struct ReplayGuard {
    started_ms: UnixMillis,
    state: Mutex<Seen>,
}

struct Seen {
    /// A 128-bit digest of (principal, nonce) → until when it must be kept.
    until: HashMap<u128, UnixMillis>,
    purged_ms: UnixMillis,
}

impl ReplayGuard {
    /// A guard for an endpoint that starts at `started_ms`: requests signed
    /// before that instant are refused. (One signed in the very millisecond
    /// the endpoint started cannot have been accepted by an earlier run: that
    /// run accepted it no earlier than it was signed, and stopped before
    /// this one started.)
    pub fn new(started_ms: UnixMillis) -> ReplayGuard {
        ReplayGuard {
            started_ms,
            state: Mutex::new(Seen {
                until: HashMap::new(),
                purged_ms: started_ms,
            }),
        }
    }

    /// When the endpoint started.
    pub fn started_ms(&self) -> UnixMillis {
        self.started_ms
    }

    /// Accepts `nonce` from `principal` on a request signed at
    /// `timestamp_ms`, to be remembered until `remember_until_ms` (when the
    /// request would be refused as stale anyway); refuses a replay or a
    /// request from before the start. `now_ms` drives forgetting.
    pub fn accept(
        &self,
        principal: &PrincipalId,
        nonce: &str,
        timestamp_ms: UnixMillis,
        remember_until_ms: UnixMillis,
        now_ms: UnixMillis,
    ) -> Result<(), ReplayRefusal> {
        if timestamp_ms < self.started_ms {
            return Err(ReplayRefusal::BeforeStart {
                started_ms: self.started_ms,
            });
        }
        let key = key(principal, nonce);
        let mut seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now_ms.saturating_sub(seen.purged_ms) >= PURGE_EVERY_MS {
            seen.until.retain(|_, until| *until >= now_ms);
            seen.purged_ms = now_ms;
        }
        match seen.until.get(&key) {
            Some(until) if *until >= now_ms => Err(ReplayRefusal::Replayed),
            _ => {
                seen.until.insert(key, remember_until_ms);
                Ok(())
            }
        }
    }

    /// How many nonces are remembered now.
    pub fn remembered(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .until
            .len()
    }
}

/// (principal, nonce) as 128 bits of their SHA-256: a collision is as
/// unlikely as guessing a key, and an entry costs 24 bytes, not two strings.
fn key(principal: &PrincipalId, nonce: &str) -> u128 {
    let mut hash = Sha256::new();
    hash.update(principal.as_str().as_bytes());
    hash.update([0]);
    hash.update(nonce.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> PrincipalId {
        "alice".parse().unwrap()
    }

    #[test]
    fn a_nonce_is_accepted_once_while_it_matters() {
        let guard = ReplayGuard::new(1_000);
        assert_eq!(guard.accept(&alice(), "n1", 2_000, 5_000, 2_000), Ok(()));
        assert_eq!(
            guard.accept(&alice(), "n1", 2_000, 5_000, 2_100),
            Err(ReplayRefusal::Replayed)
        );
        // Another principal's nonce of the same text is another nonce.
        let bob: PrincipalId = "bob".parse().unwrap();
        assert_eq!(guard.accept(&bob, "n1", 2_000, 5_000, 2_100), Ok(()));
        // Forgotten once too old to pass the timestamp check (the caller
        // refuses it as stale before asking again).
        assert_eq!(guard.accept(&alice(), "n2", 3_000, 6_000, 3_000), Ok(()));
        let later = 30_000;
        assert_eq!(
            guard.accept(&alice(), "n3", later, later + 3_000, later),
            Ok(())
        );
        assert_eq!(guard.remembered(), 1, "n1 (twice) and n2 were swept out");
    }

    #[test]
    fn nothing_signed_before_the_start_is_accepted() {
        let guard = ReplayGuard::new(1_000);
        for timestamp in [0, 999] {
            assert_eq!(
                guard.accept(&alice(), "n", timestamp, 9_000, 1_001),
                Err(ReplayRefusal::BeforeStart { started_ms: 1_000 })
            );
        }
        assert_eq!(guard.accept(&alice(), "n", 1_000, 9_000, 1_001), Ok(()));
    }
}
