//! Paths of the packages built from every guest crate: the shipped actions,
//! the hostile and helper guests used by tests, and the example action.
//!
//! `build.rs` compiles them for `wasm32-wasip2` and assembles each into a
//! package directory (its `action.toml` with the component's digest, and the
//! component), so that `cargo test` alone builds everything it runs.

include!(concat!(env!("OUT_DIR"), "/packages.rs"));
