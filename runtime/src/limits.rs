//! Hard limits on one invocation, and how a manifest may tighten them.

use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;
use std::time::Duration;

/// The hard limits of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time from instantiation to the end of `run`, host calls
    /// included.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Largest linear memory the action may grow to.
    pub memory_bytes: u64,
    /// Total bytes of stdout, stderr, log messages and the returned output.
    pub output_bytes: u64,
}

impl Limits {
    /// The tighter of `self` and `other`, limit by limit.
    #[must_use]
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            deadline: self.deadline.min(other.deadline),
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            output_bytes: self.output_bytes.min(other.output_bytes),
        }
    }
}

/// The runtime's limits, set by its operator: the most any action may have,
/// and what an action gets when its manifest does not say. A manifest may ask
/// for any value up to `max` (above `default` too); never beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeLimits {
    /// Upper bounds; a manifest asking for more is refused.
    pub max: Limits,
    /// Used where the manifest is silent (never above `max`).
    pub default: Limits,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        RuntimeLimits {
            max: Limits {
                deadline: Duration::from_secs(120),
                memory_bytes: 512 << 20,
                output_bytes: 4 << 20,
            },
            default: Limits {
                deadline: Duration::from_secs(30),
                memory_bytes: 64 << 20,
                output_bytes: 256 << 10,
            },
        }
    }
}

/// The optional `[limits]` table of `action.toml`. Each value may be at most
/// the runtime's maximum (its operator's ceiling); where absent, the
/// runtime's default applies:
///
/// ```toml
/// [limits]
/// deadline-ms = 5000
/// memory-mib = 32
/// output-kib = 64
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestLimits {
    /// Deadline in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<NonZeroU64>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<NonZeroU64>,
    /// Output in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<NonZeroU64>,
}

/// A manifest asked for more than the runtime allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the manifest asks for `{key} = {asked}` but this runtime allows at most {allowed} (its operator's ceiling): lower it in the manifest's `[limits]`, or have the operator raise the ceiling"
)]
pub struct LimitTooHigh {
    /// The `[limits]` key.
    pub key: &'static str,
    /// What the manifest asked for.
    pub asked: u64,
    /// The runtime's maximum, in the key's unit.
    pub allowed: u64,
}

impl RuntimeLimits {
    /// The limits an action with `manifest` limits runs under.
    pub fn resolve(&self, manifest: &ManifestLimits) -> Result<Limits, LimitTooHigh> {
        let max = self.max;
        let default = self.default.min(max);
        let pick = |asked: Option<NonZeroU64>, key, unit: u64, max: u64, default: u64| {
            let Some(asked) = asked else {
                return Ok(default);
            };
            let bytes = asked.get().saturating_mul(unit);
            if bytes > max {
                return Err(LimitTooHigh {
                    key,
                    asked: asked.get(),
                    allowed: max / unit,
                });
            }
            Ok(bytes)
        };
        let deadline_ms = pick(
            manifest.deadline_ms,
            "deadline-ms",
            1,
            duration_ms(max.deadline),
            duration_ms(default.deadline),
        )?;
        Ok(Limits {
            deadline: Duration::from_millis(deadline_ms),
            memory_bytes: pick(
                manifest.memory_mib,
                "memory-mib",
                1 << 20,
                max.memory_bytes,
                default.memory_bytes,
            )?,
            output_bytes: pick(
                manifest.output_kib,
                "output-kib",
                1 << 10,
                max.output_bytes,
                default.output_bytes,
            )?,
        })
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::duration_ms(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_limits_only_tighten() {
        let runtime = RuntimeLimits::default();
        assert_eq!(
            runtime.resolve(&ManifestLimits::default()),
            Ok(runtime.default)
        );
        let tight = ManifestLimits {
            deadline_ms: NonZeroU64::new(500),
            memory_mib: NonZeroU64::new(16),
            output_kib: NonZeroU64::new(8),
        };
        assert_eq!(
            runtime.resolve(&tight),
            Ok(Limits {
                deadline: Duration::from_millis(500),
                memory_bytes: 16 << 20,
                output_bytes: 8 << 10,
            })
        );
        let greedy = ManifestLimits {
            memory_mib: NonZeroU64::new(100_000),
            ..ManifestLimits::default()
        };
        assert_eq!(
            runtime.resolve(&greedy).unwrap_err().to_string(),
            "the manifest asks for `memory-mib = 100000` but this runtime allows at most 512 (its operator's ceiling): lower it in the manifest's `[limits]`, or have the operator raise the ceiling"
        );
    }

    /// An operator who lowers the ceilings below the built-in maxima: a
    /// manifest asking for more than the default but within the built-in
    /// maximum (what an unbounded "up to 120 s" would let through) is
    /// refused, limit by limit; one within the ceiling gets what it asks.
    #[test]
    fn a_manifest_cannot_loosen_past_the_operators_ceiling() {
        let operator = RuntimeLimits {
            max: Limits {
                deadline: Duration::from_secs(30),
                memory_bytes: 64 << 20,
                output_bytes: 1 << 20,
            },
            ..RuntimeLimits::default()
        };
        let asks = |deadline_ms, memory_mib, output_kib| ManifestLimits {
            deadline_ms: NonZeroU64::new(deadline_ms),
            memory_mib: NonZeroU64::new(memory_mib),
            output_kib: NonZeroU64::new(output_kib),
        };
        for (manifest, key, allowed) in [
            (asks(60_000, 0, 0), "deadline-ms", 30_000),
            (asks(0, 128, 0), "memory-mib", 64),
            (asks(0, 0, 2048), "output-kib", 1024),
        ] {
            let error = operator.resolve(&manifest).unwrap_err();
            assert_eq!((error.key, error.allowed), (key, allowed));
        }
        assert_eq!(
            operator.resolve(&asks(30_000, 64, 1024)),
            Ok(operator.max),
            "exactly the ceiling is allowed"
        );
        // The default is never above the ceiling.
        let low = RuntimeLimits {
            max: Limits {
                deadline: Duration::from_secs(5),
                ..operator.max
            },
            ..operator
        };
        assert_eq!(
            low.resolve(&ManifestLimits::default()).map(|l| l.deadline),
            Ok(Duration::from_secs(5))
        );
    }
}
