//! Refusals of requests that are not authenticated — malformed, badly
//! signed, replayed, too large — are logged one by one up to a rate per
//! source; beyond it they are counted, and the counts logged as one record
//! per source and code at each [`FloodGuard::take_counted`]. A client that
//! sends refused requests without end (a replayed capture needs no key)
//! then writes a bounded amount to the log, and the log still holds every
//! refusal: one by one, or in a count.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Refusals logged one by one per second from one source, in the long run.
const RATE_PER_SECOND: f64 = 20.0;

/// Refusals logged one by one from one source in a burst.
const BURST: f64 = 100.0;

/// Sources tracked at once; past it the oldest state is forgotten (each
/// source then starts again with a full burst).
const MAX_SOURCES: usize = 4096;

/// A source's allowance.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// See the module documentation.
#[derive(Default)]
pub struct FloodGuard {
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Refusals counted and not logged yet, by source and code.
    counted: Mutex<BTreeMap<(String, String), u64>>,
}

impl FloodGuard {
    /// Whether a refusal with `code` of a request from `source` is logged
    /// one by one; when not, it is counted.
    pub fn admit(&self, source: Option<&str>, code: &str, now: Instant) -> bool {
        let key = source_key(source);
        let admitted = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&key) {
                buckets.clear();
            }
            let bucket = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: BURST,
                at: now,
            });
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * RATE_PER_SECOND).min(BURST);
            bucket.at = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                true
            } else {
                false
            }
        };
        if !admitted {
            *self
                .counted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((key, code.to_string()))
                .or_default() += 1;
        }
        admitted
    }

    /// The refusals counted since the last call: source, code, how many.
    pub fn take_counted(&self) -> Vec<(String, String, u64)> {
        std::mem::take(&mut *self.counted.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|((source, code), count)| (source, code, count))
            .collect()
    }
}

/// Who sent a request, as far as limits go: the address without its port
/// (a client opens as many connections as it likes), or the local user.
fn source_key(source: Option<&str>) -> String {
    match source {
        None => "unknown".to_string(),
        Some(local) if local.starts_with("local:") => local.to_string(),
        Some(remote) => remote
            .rsplit_once(':')
            .map_or(remote, |(host, _port)| host)
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_a_rate_per_source_and_the_rest_counted() {
        let guard = FloodGuard::default();
        let start = Instant::now();
        let admitted = (0..300)
            .filter(|_| guard.admit(Some("10.0.0.7:4000"), "bad-signature", start))
            .count();
        assert_eq!(admitted, 100);
        // Another port of the same host is the same source; another host is not.
        assert!(!guard.admit(Some("10.0.0.7:4001"), "bad-signature", start));
        assert!(guard.admit(Some("10.0.0.8:4000"), "bad-signature", start));
        // A second later, 20 more.
        let later = start + Duration::from_secs(1);
        let admitted = (0..50)
            .filter(|_| guard.admit(Some("10.0.0.7:4000"), "replayed-request", later))
            .count();
        assert_eq!(admitted, 20);
        let counted = guard.take_counted();
        assert_eq!(
            counted,
            [
                ("10.0.0.7".to_string(), "bad-signature".to_string(), 201),
                ("10.0.0.7".to_string(), "replayed-request".to_string(), 30),
            ]
        );
        assert!(guard.take_counted().is_empty());
        assert_eq!(source_key(Some("[::1]:8443")), "[::1]");
        assert_eq!(source_key(Some("local:uid=0(root)")), "local:uid=0(root)");
    }
}
