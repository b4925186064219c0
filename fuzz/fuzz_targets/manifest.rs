//! An action's `action.toml`: `Manifest::parse`, as `Package::open` and
//! `salve action vet` call it on a package from outside.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::Manifest;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some(text) = salve_fuzz::text(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text, Path::new("action.toml")) else {
        return;
    };
    // What a manifest says survives being written back and read again.
    let written = toml::to_string(&manifest).expect("a parsed manifest serializes");
    let again = Manifest::parse(&written, Path::new("action.toml"))
        .expect("a manifest written from a parsed one parses");
    assert_eq!(manifest, again);
    let _ = manifest.label();
});
