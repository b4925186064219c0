//! Every invalid manifest in `tests/manifests/invalid/` is refused with the
//! exact error a user sees (file, line, column, the line itself, and what to
//! do), pinned by a snapshot. And no input makes the parser panic.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use salve::Manifest;
use std::path::Path;

#[test]
fn invalid_manifests_are_refused_with_their_exact_message() {
    insta::glob!("manifests/invalid/*.toml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = Path::new("action.toml");
        let error = Manifest::parse(&text, name).expect_err("an invalid manifest must be refused");
        insta::assert_snapshot!(error.to_string());
    });
}

const VALID: &str = r#"schema = 1
id = "collect-logs"
version = "1.2.3"
description = "Collects log tails."

[component]
file = "collect_logs.wasm"
sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

[input]
description = "Which files."
example = '{"files": ["syslog"]}'

[output]
description = "Their last lines."

[capabilities.files-read]
paths = ["/var/log"]

[limits]
output-kib = 512
"#;

#[test]
fn the_valid_manifest_parses() {
    let manifest = Manifest::parse(VALID, Path::new("action.toml")).unwrap();
    assert_eq!(manifest.label(), "collect-logs@1.2.3");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Manifest::parse(&text, Path::new("action.toml"));
    }

    #[test]
    fn mutated_manifests_never_panic(position in 0..VALID.len(), byte in any::<u8>()) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[position] = byte;
        let text = String::from_utf8_lossy(&bytes);
        match Manifest::parse(&text, Path::new("action.toml")) {
            Ok(_) => {}
            // Every refusal names the file.
            Err(error) => prop_assert!(error.to_string().starts_with("action.toml")),
        }
    }
}
