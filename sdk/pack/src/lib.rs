//! Build a salve action crate into a package.
//!
//! A package is a directory holding `action.toml` and the WebAssembly
//! component it names. Building one is two steps, kept apart so that a whole
//! workspace of actions can be compiled by one `cargo` call:
//!
//! 1. [`compile`] runs `cargo build --release --target wasm32-wasip2` and
//!    returns every component it produced, with the crate it came from;
//! 2. [`assemble`] copies a component beside the crate's `action.toml` in an
//!    output directory and writes the component's sha256 into that manifest.
//!
//! `salve action build <dir>` does both for one crate, in place. The runtime
//! validates the manifest strictly when it loads the package; this crate only
//! touches the `[component]` table.

mod assemble;
mod cargo;
mod error;

pub use assemble::{Assembled, assemble};
pub use cargo::{BuiltComponent, Compile, TARGET, compile};
pub use error::PackError;

/// The manifest file every package and action crate holds.
pub const MANIFEST_FILE: &str = "action.toml";
