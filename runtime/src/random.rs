//! Randomness, as the endpoint draws it for the ids it hands out: the
//! operating system's, or a source a test controls. Without it no id can be
//! made, and the endpoint refuses the request as an internal failure.

/// A source of random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `bytes`, or says why it cannot.
    fn fill(&self, bytes: &mut [u8]) -> Result<(), NoRandomness>;
}

/// The operating system's randomness (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandom;

impl RandomSource for SystemRandom {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), NoRandomness> {
        getrandom::fill(bytes).map_err(|e| NoRandomness(e.to_string()))
    }
}

/// The randomness source failed: nothing random could be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct NoRandomness(pub String);
