//! The WIT world has one source of truth, `sdk/wit/action.wit`, which guests
//! are built against; the runtime keeps a copy (`runtime/wit/action.wit`) so
//! that its crate packages on its own. The two must never drift.

use std::path::Path;

fn read(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    }
}

#[test]
fn the_runtime_builds_against_the_sdks_wit_world_byte_for_byte() {
    let sdk = read("sdk/wit/action.wit");
    let runtime = read("runtime/wit/action.wit");
    assert!(
        sdk == runtime,
        "runtime/wit/action.wit differs from sdk/wit/action.wit: copy the SDK's file over the runtime's (cp sdk/wit/action.wit runtime/wit/action.wit)"
    );
}
