//! What can go wrong while building a package.

use std::path::PathBuf;

/// Why an action could not be built into a package.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The `wasm32-wasip2` standard library is missing from the toolchain.
    #[error(
        "the Rust target `wasm32-wasip2` is not installed for the toolchain used in {dir}: run `rustup target add wasm32-wasip2`"
    )]
    TargetMissing {
        /// Where the toolchain was looked up.
        dir: PathBuf,
    },
    /// `cargo` itself could not be started.
    #[error("could not run `{program}`: {source}")]
    CargoSpawn {
        /// The program that was run.
        program: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Compilation failed; cargo's own diagnostics were printed above.
    #[error("`cargo build` failed for {manifest} ({status}); its errors are printed above")]
    CargoFailed {
        /// The `Cargo.toml` that was built.
        manifest: PathBuf,
        /// How cargo exited.
        status: std::process::ExitStatus,
    },
    /// Cargo printed a message this crate could not read.
    #[error("could not read cargo's build messages: {0}")]
    CargoOutput(String),
    /// The crate produced no WebAssembly component.
    #[error(
        "{manifest} produced no WebAssembly component: an action crate needs `[lib] crate-type = [\"cdylib\"]`"
    )]
    NoComponent {
        /// The `Cargo.toml` that was built.
        manifest: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "could not read".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `action.toml` is not TOML, or lacks what this step needs.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl PackError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PackError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
