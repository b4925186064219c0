//! Host bindings generated from `sdk/wit/action.wit`, the one WIT source the
//! SDK's guest bindings come from as well.

// Generated code: wasmtime's bindings use `unsafe` internally for typed
// function access, and do not document every item.
#![allow(unsafe_code, missing_docs)]

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "action",
    imports: {
        // Logging traps when the output limit is reached.
        "salve:action/log.log": trappable,
    },
});
