//! Creating the runtime the commands share.

use crate::args::CacheArgs;
use crate::exit::{Exit, ExitWith, Failure};
use anyhow::Context;
use salve::{Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};

/// Where compiled components are cached for this user, unless told otherwise.
pub fn cache_dir(args: &CacheArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    if let Some(dir) = &args.cache_dir {
        return Some(dir.clone());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("salve"))
}

/// The cache `salve serve` reads for the catalog in `catalog`: `cache`
/// beside it, as both live in the service's data directory
/// (`<data-dir>/catalog`, `<data-dir>/cache`).
pub fn service_cache_dir(catalog: &Path) -> PathBuf {
    match catalog.parent() {
        Some(data) => data.join("cache"),
        None => catalog.join("cache"),
    }
}

/// A runtime with the default limits and the chosen cache.
pub fn runtime(cache: &CacheArgs) -> Result<Runtime, Failure> {
    runtime_in(
        cache_dir(cache),
        "cannot start the runtime (use --no-cache to run without the compiled-component cache)",
    )
}

/// A runtime with the default limits caching in `cache_dir`; `context`
/// says what to do if it cannot start.
pub fn runtime_in(cache_dir: Option<PathBuf>, context: &'static str) -> Result<Runtime, Failure> {
    let config = RuntimeConfig {
        cache_dir,
        ..RuntimeConfig::default()
    };
    Runtime::new(config).context(context).exit_with(Exit::Usage)
}
