//! Replay protection: each signed request is accepted once, across restarts.
//!
//! A request carries a timestamp and a nonce. The endpoint accepts it only
//! if its timestamp is within the clock skew of now (so an old capture is
//! refused) and its nonce was not seen while it could still pass that check
//! (so a fresh capture is refused). Seen nonces are kept in memory for
//! exactly that long.
//!
//! Across a restart the memory is gone, so a durable **watermark** stands in
//! for it: every request this endpoint ever accepted was signed at or before
//! the watermark kept in the state store, and the next run refuses every
//! request signed at or before it. The watermark is raised ahead of the
//! clock, `AHEAD_MS` at a time, before a request beyond it is accepted: one
//! durable write every second or so under load, instead of one per request.
//! A graceful stop lowers it to the latest timestamp actually accepted, so a
//! restart refuses nothing new; after a crash, requests signed up to
//! `AHEAD_MS` after the last one accepted are refused (the service waits
//! that long before it listens). The watermark never moves back, so a clock
//! set back across a restart does not reopen the window either.

use crate::identity::PrincipalId;
use crate::session::UnixMillis;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How often, at most, forgotten nonces are swept out.
const PURGE_EVERY_MS: i64 = 10_000;

/// How far ahead of the clock (or of a request signed ahead of it) the
/// durable watermark is raised. Requests are accepted without touching the
/// disk while their timestamp is below the watermark less `RAISE_BEFORE_MS`.
pub const AHEAD_MS: i64 = 2_000;

/// The watermark is raised again once a request comes this close to it, so
/// that a steady stream of requests raises it about once a second.
const RAISE_BEFORE_MS: i64 = 1_000;

/// Why a request's nonce or timestamp is refused here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The nonce was seen before, while its request could still pass.
    Replayed,
    /// The request was signed at or before the watermark of an earlier run:
    /// that run may have accepted it.
    BeforeRestart {
        /// Requests signed at or before this instant are refused.
        floor_ms: UnixMillis,
    },
    /// The watermark could not be made durable, so nothing is accepted.
    Unavailable(String),
    /// The endpoint is stopping and accepts no more requests.
    Stopped,
}

/// The nonces seen since the endpoint started, and the durable watermark.
pub struct ReplayGuard {
    floor_ms: UnixMillis,
    state: Mutex<Seen>,
}

struct Seen {
    /// A 128-bit digest of (principal, nonce) → until when it must be kept.
    until: HashMap<u128, UnixMillis>,
    purged_ms: UnixMillis,
    /// The watermark as it is on disk: no request signed later is accepted
    /// before it is raised.
    watermark_ms: UnixMillis,
    /// The latest timestamp accepted by this run.
    latest_ms: Option<UnixMillis>,
    stopped: bool,
}

impl ReplayGuard {
    /// A guard for an endpoint whose durable watermark is `watermark_ms`
    /// (0 for a new endpoint): requests signed at or before it are refused.
    pub fn new(watermark_ms: UnixMillis) -> ReplayGuard {
        ReplayGuard {
            floor_ms: watermark_ms,
            state: Mutex::new(Seen {
                until: HashMap::new(),
                purged_ms: 0,
                watermark_ms,
                latest_ms: None,
                stopped: false,
            }),
        }
    }

    /// Requests signed at or before this instant are refused: an earlier
    /// run may have accepted them.
    pub fn floor_ms(&self) -> UnixMillis {
        self.floor_ms
    }

    /// Accepts `nonce` from `principal` on a request signed at
    /// `timestamp_ms`, to be remembered until `remember_until_ms` (when the
    /// request would be refused as stale anyway); refuses a replay or a
    /// request an earlier run may have seen. When the request is signed
    /// close to or past the watermark, `raise` is asked to make a higher one
    /// durable first; if it fails, the request is refused. `now_ms` drives
    /// forgetting.
    pub fn accept(
        &self,
        principal: &PrincipalId,
        nonce: &str,
        timestamp_ms: UnixMillis,
        remember_until_ms: UnixMillis,
        now_ms: UnixMillis,
        raise: impl FnOnce(UnixMillis) -> Result<(), String>,
    ) -> Result<(), ReplayRefusal> {
        if timestamp_ms <= self.floor_ms {
            return Err(ReplayRefusal::BeforeRestart {
                floor_ms: self.floor_ms,
            });
        }
        let key = key(principal, nonce);
        let mut seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.stopped {
            return Err(ReplayRefusal::Stopped);
        }
        if now_ms.saturating_sub(seen.purged_ms) >= PURGE_EVERY_MS {
            seen.until.retain(|_, until| *until >= now_ms);
            seen.purged_ms = now_ms;
        }
        if seen.until.get(&key).is_some_and(|until| *until >= now_ms) {
            return Err(ReplayRefusal::Replayed);
        }
        if timestamp_ms.saturating_add(RAISE_BEFORE_MS) > seen.watermark_ms {
            let higher = timestamp_ms.max(now_ms).saturating_add(AHEAD_MS);
            raise(higher).map_err(ReplayRefusal::Unavailable)?;
            seen.watermark_ms = higher;
        }
        seen.until.insert(key, remember_until_ms);
        seen.latest_ms = Some(seen.latest_ms.map_or(timestamp_ms, |t| t.max(timestamp_ms)));
        Ok(())
    }

    /// Stops accepting requests and returns the watermark the next run
    /// needs: the latest timestamp accepted (or the floor, if none was).
    /// Storing it, in place of the one raised ahead of the clock, lets the
    /// next run accept requests signed right after the stop.
    pub fn stop(&self) -> UnixMillis {
        let mut seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        seen.stopped = true;
        seen.latest_ms.unwrap_or(self.floor_ms).max(self.floor_ms)
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
    use std::cell::RefCell;

    fn alice() -> PrincipalId {
        "alice".parse().unwrap()
    }

    /// A durable watermark that can be told to fail.
    #[derive(Default)]
    struct Disk {
        watermark: RefCell<UnixMillis>,
        writes: RefCell<usize>,
        broken: bool,
    }

    impl Disk {
        fn raise(&self) -> impl FnOnce(UnixMillis) -> Result<(), String> + '_ {
            move |ms| {
                if self.broken {
                    return Err("disk full".to_string());
                }
                *self.watermark.borrow_mut() = ms;
                *self.writes.borrow_mut() += 1;
                Ok(())
            }
        }
    }

    #[test]
    fn a_nonce_is_accepted_once_while_it_matters() {
        let disk = Disk::default();
        let guard = ReplayGuard::new(0);
        let accept = |who: &PrincipalId, nonce, ts, until, now| {
            guard.accept(who, nonce, ts, until, now, disk.raise())
        };
        assert_eq!(accept(&alice(), "n1", 2_000, 5_000, 2_000), Ok(()));
        assert_eq!(
            accept(&alice(), "n1", 2_000, 5_000, 2_100),
            Err(ReplayRefusal::Replayed)
        );
        // Another principal's nonce of the same text is another nonce.
        let bob: PrincipalId = "bob".parse().unwrap();
        assert_eq!(accept(&bob, "n1", 2_000, 5_000, 2_100), Ok(()));
        // Forgotten once too old to pass the timestamp check (the caller
        // refuses it as stale before asking again).
        assert_eq!(accept(&alice(), "n2", 3_000, 6_000, 3_000), Ok(()));
        let later = 30_000;
        assert_eq!(accept(&alice(), "n3", later, later + 3_000, later), Ok(()));
        assert_eq!(guard.remembered(), 1, "n1 (twice) and n2 were swept out");
    }

    #[test]
    fn the_watermark_is_durable_before_a_request_past_it_is_accepted() {
        let disk = Disk::default();
        let guard = ReplayGuard::new(0);
        // Requests a few ms apart: the watermark is written ahead of them,
        // then again only once they come within a second of it.
        for ms in (10_000..13_000).step_by(10) {
            let nonce = format!("n{ms}");
            guard
                .accept(&alice(), &nonce, ms, ms + 300_000, ms, disk.raise())
                .unwrap();
            assert!(*disk.watermark.borrow() >= ms, "accepted past the disk");
        }
        assert_eq!(*disk.writes.borrow(), 3, "about one write a second");
        // A request signed ahead of the clock raises it past its timestamp.
        guard
            .accept(&alice(), "ahead", 200_000, 500_000, 13_000, disk.raise())
            .unwrap();
        assert_eq!(*disk.watermark.borrow(), 200_000 + AHEAD_MS);
    }

    #[test]
    fn nothing_an_earlier_run_may_have_accepted_is_accepted() {
        let disk = Disk::default();
        let first = ReplayGuard::new(0);
        // Accepted by the first run, signed ahead of its clock; then a crash.
        first
            .accept(&alice(), "n", 60_000, 360_000, 1_000, disk.raise())
            .unwrap();
        let after_crash = ReplayGuard::new(*disk.watermark.borrow());
        assert_eq!(
            after_crash.accept(&alice(), "n", 60_000, 360_000, 2_000, disk.raise()),
            Err(ReplayRefusal::BeforeRestart {
                floor_ms: 60_000 + AHEAD_MS
            })
        );
        // Signed after the watermark: accepted.
        assert_eq!(
            after_crash.accept(&alice(), "m", 62_001, 362_001, 62_001, disk.raise()),
            Ok(())
        );
    }

    #[test]
    fn a_graceful_stop_keeps_the_latest_timestamp_accepted() {
        let disk = Disk::default();
        let guard = ReplayGuard::new(500);
        assert_eq!(guard.stop(), 500, "nothing accepted: the floor stays");
        let guard = ReplayGuard::new(500);
        for (n, ts) in [(1, 1_000), (2, 3_000), (3, 2_000)] {
            guard
                .accept(&alice(), &format!("n{n}"), ts, ts + 1, ts, disk.raise())
                .unwrap();
        }
        assert_eq!(guard.stop(), 3_000);
        assert_eq!(
            guard.accept(&alice(), "late", 4_000, 5_000, 4_000, disk.raise()),
            Err(ReplayRefusal::Stopped)
        );
    }

    #[test]
    fn a_watermark_that_cannot_be_stored_refuses_the_request() {
        let disk = Disk {
            broken: true,
            ..Disk::default()
        };
        let guard = ReplayGuard::new(0);
        assert_eq!(
            guard.accept(&alice(), "n", 1_000, 2_000, 1_000, disk.raise()),
            Err(ReplayRefusal::Unavailable("disk full".to_string()))
        );
        // Its nonce was not used up.
        let disk = Disk::default();
        assert_eq!(
            guard.accept(&alice(), "n", 1_000, 2_000, 1_000, disk.raise()),
            Ok(())
        );
    }
}
