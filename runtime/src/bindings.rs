//! Host bindings generated from `runtime/wit/action.wit`: a copy of the SDK's
//! `sdk/wit/action.wit`, kept in this crate so that it packages on its own; a
//! test (`tests/tests/wit_world.rs`) holds the two byte for byte alike.

// Generated code: wasmtime's bindings use `unsafe` internally for typed
// function access, and do not document every item.
#![allow(unsafe_code, missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "action",
    imports: {
        // Logging traps when the output limit is reached.
        "salve:action/log.log": trappable,
    },
});
