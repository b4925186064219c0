//! Hand-written hostile components: the classes of wasmtime's own security
//! advisories that concern an embedder, tried against salve's sandbox.
//!
//! Each guest is a core module in WebAssembly text that speaks the canonical
//! ABI directly — so it can pass what no SDK would produce: a string of
//! 4 GiB, a forged resource handle, a host call from inside `cabi_realloc`,
//! a table past its limit, an export besides `run`, an import of another
//! version of the action world — wrapped into a component by wit-component.
//! Every case must end in a clear refusal or a named stop within bounded
//! time, and the same runtime must then run a good action correctly.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::{Grant, LoadError, Outcome, Package, StopReason};
use salve_tests::{assert_runtime_still_works, shared_runtime};
use std::time::{Duration, Instant};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The action world, as the runtime links it.
const ACTION_WIT: &str = include_str!("../../runtime/wit/action.wit");

/// The part of WASI's streams a guest reaches through stdin and stdout: two
/// resource types, enough to confuse one handle with another.
const WASI_IO: &str = r#"
package wasi:io@0.2.6;
interface error {
    resource error;
}
interface streams {
    use error.{error};
    variant stream-error { last-operation-failed(error), closed }
    resource input-stream {
        read: func(len: u64) -> result<list<u8>, stream-error>;
    }
    resource output-stream {
        blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
    }
}
"#;

const WASI_CLI: &str = r#"
package wasi:cli@0.2.6;
interface stdin {
    use wasi:io/streams@0.2.6.{input-stream};
    get-stdin: func() -> input-stream;
}
interface stdout {
    use wasi:io/streams@0.2.6.{output-stream};
    get-stdout: func() -> output-stream;
}
"#;

/// What every guest module has: one page of memory, a bump allocator as
/// `cabi_realloc` (unless the case brings its own), `{"ok":true}` at 16, and
/// `$ok`, which fills the return area at 0 with it and returns the area.
/// Scratch strings go at 64..4096; the allocator starts at 4096.
fn module(imports: &str, realloc: Option<&str>, body: &str) -> String {
    let realloc = realloc.unwrap_or(
        r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
            (call $bump (local.get 3)))"#,
    );
    format!(
        r#"(module
        {imports}
        (memory (export "memory") 1)
        (global $next (mut i32) (i32.const 4096))
        (func $bump (param $size i32) (result i32)
            (local $p i32)
            (local.set $p (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
            (global.set $next (i32.add (local.get $p) (local.get $size)))
            (local.get $p))
        {realloc}
        (data (i32.const 16) "{{\"ok\":true}}")
        (func $ok (result i32)
            (i32.store8 (i32.const 0) (i32.const 0))
            (i32.store (i32.const 4) (i32.const 16))
            (i32.store (i32.const 8) (i32.const 11))
            (i32.const 0))
        {body})"#
    )
}

/// A world exporting `run` (as the action world does) with `extra` inside.
fn world(extra: &str) -> String {
    format!(
        "package salve-test:hostile;
        world hostile {{
            use salve:action/types@0.1.0.{{action-error}};
            {extra}
            export run: func(input: string) -> result<string, action-error>;
        }}"
    )
}

/// The component of `core` (WebAssembly text) for `world_wit`.
fn component(world_wit: &str, core: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    for (name, text) in [
        ("wasi-io.wit", WASI_IO.to_string()),
        ("wasi-cli.wit", WASI_CLI.to_string()),
        ("wasi-io-0.3.wit", WASI_IO.replace("@0.2.6", "@0.3.0")),
        ("wasi-cli-0.3.wit", WASI_CLI.replace("@0.2.6", "@0.3.0")),
        ("action.wit", ACTION_WIT.to_string()),
        ("action-0.2.wit", ACTION_WIT.replace("@0.1.0", "@0.2.0")),
    ] {
        resolve.push_str(name, &text).unwrap();
    }
    let package = resolve.push_str("hostile.wit", world_wit).unwrap();
    let world = resolve.select_world(&[package], Some("hostile")).unwrap();
    let mut module = wat::parse_str(core).unwrap();
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .unwrap();
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap()
}

/// A package of a hand-written component, in a temporary directory.
struct Guest {
    _temp: tempfile::TempDir,
    package: Package,
}

impl Guest {
    /// The package of `core` for `world_wit`, declaring `capabilities`
    /// (TOML tables), with tight limits.
    fn new(world_wit: &str, core: &str, capabilities: &str) -> Guest {
        let bytes = component(world_wit, core);
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("package");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("guest.wasm"), &bytes).unwrap();
        let digest = salve::Sha256Digest::of(&bytes);
        let manifest = format!(
            r#"schema = 1
id = "hand-written"
version = "0.1.0"
description = "A hand-written hostile component; tests only."

[component]
file = "guest.wasm"
sha256 = "{digest}"

[input]
description = "Anything."

[output]
description = "{{\"ok\": true}}"

[limits]
deadline-ms = 500
memory-mib = 4
output-kib = 64

{capabilities}
"#
        );
        std::fs::write(dir.join("action.toml"), manifest).unwrap();
        let package = Package::open(&dir).unwrap();
        Guest {
            _temp: temp,
            package,
        }
    }

    /// Loads and invokes the guest with everything it declares granted.
    fn run(&self) -> Run {
        let action = shared_runtime().load(&self.package).unwrap();
        let grant = Grant::declared(self.package.manifest().capabilities.here());
        let started = Instant::now();
        let invocation = shared_runtime().invoke(&action, &grant, "{}").unwrap();
        Run {
            elapsed: started.elapsed(),
            invocation,
        }
    }

    /// Loads the guest, which must be refused.
    fn refused(&self) -> LoadError {
        match shared_runtime().load(&self.package) {
            Ok(_) => panic!("the component was loaded"),
            Err(error) => error,
        }
    }
}

struct Run {
    elapsed: Duration,
    invocation: salve::Invocation,
}

impl Run {
    /// The invocation stopped for `expected`, saying `message_part`, in
    /// bounded time; then the runtime still runs a good action.
    fn assert_stopped(&self, expected: StopReason, message_part: &str) {
        match &self.invocation.outcome {
            Outcome::Stopped { reason, message } => {
                assert_eq!(*reason, expected, "{message}");
                assert!(message.contains(message_part), "{message}");
            }
            other => panic!("expected {expected:?}, got {other:?}"),
        }
        assert!(self.elapsed < Duration::from_secs(5), "{:?}", self.elapsed);
        assert_runtime_still_works();
    }

    /// The invocation succeeded with `{"ok":true}`; then the runtime still
    /// runs a good action.
    fn assert_ok(&self) {
        assert!(
            self.invocation.outcome.succeeded(),
            "{:?}",
            self.invocation.outcome
        );
        assert_eq!(
            self.invocation
                .outcome
                .output()
                .map(|o| o.get().to_string()),
            Some(r#"{"ok":true}"#.to_string())
        );
        assert_runtime_still_works();
    }
}

/// A refusal at load names the action and says `part`; the runtime still
/// runs a good action.
fn assert_refused(error: &LoadError, part: &str) {
    let message = error.to_string();
    assert!(message.starts_with("hand-written@0.1.0"), "{message}");
    assert!(message.contains(part), "{message}");
    assert_runtime_still_works();
}

const LOG_IMPORT: &str =
    r#"(import "salve:action/log@0.1.0" "log" (func $log (param i32 i32 i32)))"#;
const LOG_WORLD: &str = "import salve:action/log@0.1.0;";

/// Runs a guest whose `run` returns the result area at 1024 as `body`
/// leaves it.
fn returned(body: &str) -> Run {
    let core = module(
        "",
        None,
        &format!(r#"(func (export "run") (param i32 i32) (result i32) {body} (i32.const 1024))"#),
    );
    Guest::new(&world(""), &core, "").run()
}

// ---------------------------------------------------------------------------
// The harness itself: a well-behaved hand-written guest reaches every host
// call it uses below, so that each hostile case differs from a working one
// only in what it attacks.

// Grants a temporary directory by its Unix path (Windows paths in grants
// are not parsed yet).
#[cfg(unix)]
#[test]
fn a_well_behaved_hand_written_guest_reaches_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let granted = dir.path().to_str().unwrap();
    let target = format!("{granted}/written");
    let imports = format!(
        r#"{LOG_IMPORT}
        (import "wasi:cli/stdout@0.2.6" "get-stdout" (func $stdout (result i32)))
        (import "wasi:io/streams@0.2.6" "[method]output-stream.blocking-write-and-flush"
            (func $write (param i32 i32 i32 i32)))
        (import "wasi:io/streams@0.2.6" "[resource-drop]output-stream" (func $drop (param i32)))
        (import "salve:action/sysinfo@0.1.0" "hostname" (func $hostname (param i32)))
        (import "salve:action/files-write@0.1.0" "write" (func $file (param i32 i32 i32 i32 i32)))
        (import "salve:action/programs@0.1.0" "run" (func $program (param i32 i32 i32 i32 i32 i32)))"#
    );
    let body = format!(
        r#"(data (i32.const 64) "hello")
        (data (i32.const 128) "{target}")
        (data (i32.const 512) "/bin/echo")
        (func (export "run") (param i32 i32) (result i32)
            (local $out i32)
            (call $log (i32.const 2) (i32.const 64) (i32.const 5))
            (local.set $out (call $stdout))
            (call $write (local.get $out) (i32.const 64) (i32.const 5) (i32.const 1024))
            (call $drop (local.get $out))
            (call $hostname (i32.const 1024))
            (if (i32.load8_u (i32.const 1024)) (then unreachable))
            (call $file (i32.const 128) (i32.const {len}) (i32.const 64) (i32.const 5) (i32.const 1024))
            (if (i32.load8_u (i32.const 1024)) (then unreachable))
            ;; args: one string, "hello", described at 600
            (i32.store (i32.const 600) (i32.const 64))
            (i32.store (i32.const 604) (i32.const 5))
            (call $program (i32.const 512) (i32.const 9) (i32.const 600) (i32.const 1)
                (i32.const 1000) (i32.const 1024))
            (if (i32.load8_u (i32.const 1024)) (then unreachable))
            (call $ok))"#,
        len = target.len()
    );
    let guest = Guest::new(
        &world(&format!(
            "{LOG_WORLD}
            import wasi:cli/stdout@0.2.6;
            import salve:action/sysinfo@0.1.0;
            import salve:action/files-write@0.1.0;
            import salve:action/programs@0.1.0;"
        )),
        &module(&imports, None, &body),
        &format!(
            "[capabilities.sysinfo]\n\
             [capabilities.files-write]\npaths = [\"{granted}\"]\n\
             [capabilities.programs]\nprograms = [\"/bin/echo hello\"]\n"
        ),
    );
    let run = guest.run();
    run.assert_ok();
    let invocation = &run.invocation;
    assert_eq!(invocation.logs.len(), 1);
    assert_eq!(invocation.logs[0].message, "hello");
    assert_eq!(invocation.stdout, "hello");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello");
}

// ---------------------------------------------------------------------------
// Strings and lists lifted with lengths the guest made up.

#[test]
fn a_returned_string_of_4_gib_traps() {
    returned(
        "(i32.store8 (i32.const 1024) (i32.const 0))
             (i32.store (i32.const 1028) (i32.const 16))
             (i32.store (i32.const 1032) (i32.const -1))",
    )
    .assert_stopped(StopReason::Trapped, "out of bounds");
}

#[test]
fn a_returned_string_past_the_end_of_memory_traps() {
    returned(
        "(i32.store8 (i32.const 1024) (i32.const 0))
             (i32.store (i32.const 1028) (i32.const 65530))
             (i32.store (i32.const 1032) (i32.const 100))",
    )
    .assert_stopped(StopReason::Trapped, "out of bounds");
}

#[test]
fn a_returned_string_that_is_not_utf8_traps() {
    let guest = Guest::new(
        &world(""),
        &module(
            "",
            None,
            r#"(data (i32.const 64) "\ff\fe\fd")
            (func (export "run") (param i32 i32) (result i32)
                (i32.store8 (i32.const 0) (i32.const 0))
                (i32.store (i32.const 4) (i32.const 64))
                (i32.store (i32.const 8) (i32.const 3))
                (i32.const 0))"#,
        ),
        "",
    );
    guest.run().assert_stopped(StopReason::Trapped, "utf-8");
}

#[test]
fn a_returned_error_with_a_message_of_2_gib_traps() {
    returned(
        "(i32.store8 (i32.const 1024) (i32.const 1))
             (i32.store (i32.const 1028) (i32.const 16))
             (i32.store (i32.const 1032) (i32.const 2))
             (i32.store (i32.const 1036) (i32.const 16))
             (i32.store (i32.const 1040) (i32.const 0x7fffffff))",
    )
    .assert_stopped(StopReason::Trapped, "out of bounds");
}

#[test]
fn a_result_with_an_invalid_discriminant_traps() {
    returned(
        "(i32.store8 (i32.const 1024) (i32.const 7))
             (i32.store (i32.const 1028) (i32.const 16))
             (i32.store (i32.const 1032) (i32.const 11))",
    )
    .assert_stopped(StopReason::Trapped, "discriminant");
}

#[test]
fn a_log_message_of_4_gib_traps_before_the_host_sees_it() {
    let guest = Guest::new(
        &world(LOG_WORLD),
        &module(
            LOG_IMPORT,
            None,
            r#"(func (export "run") (param i32 i32) (result i32)
                (call $log (i32.const 2) (i32.const 64) (i32.const -16))
                (call $ok))"#,
        ),
        "",
    );
    let run = guest.run();
    assert!(run.invocation.logs.is_empty(), "{:?}", run.invocation.logs);
    run.assert_stopped(StopReason::Trapped, "out of bounds");
}

#[test]
fn a_log_level_out_of_range_traps() {
    let guest = Guest::new(
        &world(LOG_WORLD),
        &module(
            LOG_IMPORT,
            None,
            r#"(func (export "run") (param i32 i32) (result i32)
                (call $log (i32.const 99) (i32.const 16) (i32.const 11))
                (call $ok))"#,
        ),
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::Trapped, "discriminant");
}

// Grants a temporary directory by its Unix path (Windows paths in grants
// are not parsed yet).
#[cfg(unix)]
#[test]
fn a_file_write_of_a_1_gib_list_traps_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let granted = dir.path().to_str().unwrap();
    let target = format!("{granted}/written");
    let guest = Guest::new(
        &world("import salve:action/files-write@0.1.0;"),
        &module(
            r#"(import "salve:action/files-write@0.1.0" "write"
                (func $file (param i32 i32 i32 i32 i32)))"#,
            None,
            &format!(
                r#"(data (i32.const 128) "{target}")
                (func (export "run") (param i32 i32) (result i32)
                    (call $file (i32.const 128) (i32.const {len})
                        (i32.const 64) (i32.const 0x40000000) (i32.const 1024))
                    (call $ok))"#,
                len = target.len()
            ),
        ),
        &format!("[capabilities.files-write]\npaths = [\"{granted}\"]\n"),
    );
    guest
        .run()
        .assert_stopped(StopReason::Trapped, "out of bounds");
    assert!(!std::path::Path::new(&target).exists());
}

#[test]
fn a_program_argument_list_of_a_quarter_billion_strings_traps() {
    let guest = Guest::new(
        &world("import salve:action/programs@0.1.0;"),
        &module(
            r#"(import "salve:action/programs@0.1.0" "run"
                (func $program (param i32 i32 i32 i32 i32 i32)))"#,
            None,
            r#"(data (i32.const 512) "/bin/echo")
            (func (export "run") (param i32 i32) (result i32)
                (call $program (i32.const 512) (i32.const 9)
                    (i32.const 600) (i32.const 0x10000000) (i32.const 1000) (i32.const 1024))
                (call $ok))"#,
        ),
        // Declared on both systems: the call traps before any grant check.
        "[capabilities.programs]\nprograms = [\"/bin/echo hello\"]\n\
         [capabilities.programs.windows]\nprograms = ['C:\\Windows\\System32\\cmd.exe']\n",
    );
    guest
        .run()
        .assert_stopped(StopReason::Trapped, "out of bounds");
}

#[test]
fn an_input_string_lowered_where_realloc_points_past_memory_traps() {
    let guest = Guest::new(
        &world(""),
        &module(
            "",
            Some(
                r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (i32.const 0xfffffff0))"#,
            ),
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))"#,
        ),
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::Trapped, "realloc return: beyond end of memory");
}

#[test]
fn a_host_list_lowered_where_realloc_is_misaligned_traps() {
    let guest = Guest::new(
        &world("import salve:action/sysinfo@0.1.0;"),
        &module(
            r#"(import "salve:action/sysinfo@0.1.0" "network-interfaces"
                (func $interfaces (param i32)))"#,
            Some(
                r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (i32.add (call $bump (i32.add (local.get 3) (i32.const 8))) (i32.const 1)))"#,
            ),
            r#"(func (export "run") (param i32 i32) (result i32)
                (call $interfaces (i32.const 1024))
                (call $ok))"#,
        ),
        "[capabilities.sysinfo]\n",
    );
    guest.run().assert_stopped(StopReason::Trapped, "align");
}

// ---------------------------------------------------------------------------
// Resource handles: used after their drop, as another type, forged.

/// A guest that takes stdout (and stdin) and then does `body`.
fn streams_guest(body: &str) -> Guest {
    Guest::new(
        &world("import wasi:cli/stdout@0.2.6; import wasi:cli/stdin@0.2.6;"),
        &module(
            r#"(import "wasi:cli/stdout@0.2.6" "get-stdout" (func $stdout (result i32)))
            (import "wasi:cli/stdin@0.2.6" "get-stdin" (func $stdin (result i32)))
            (import "wasi:io/streams@0.2.6" "[method]output-stream.blocking-write-and-flush"
                (func $write (param i32 i32 i32 i32)))
            (import "wasi:io/streams@0.2.6" "[resource-drop]output-stream" (func $drop_out (param i32)))
            (import "wasi:io/streams@0.2.6" "[resource-drop]input-stream" (func $drop_in (param i32)))"#,
            None,
            &format!(
                r#"(data (i32.const 64) "hello")
                (func (export "run") (param i32 i32) (result i32)
                    (local $out i32) (local $in i32)
                    (local.set $out (call $stdout))
                    (local.set $in (call $stdin))
                    {body}
                    (call $ok))"#
            ),
        ),
        "",
    )
}

#[test]
fn a_stream_used_after_its_drop_traps() {
    let guest = streams_guest(
        "(call $drop_out (local.get $out))
         (call $write (local.get $out) (i32.const 64) (i32.const 5) (i32.const 1024))",
    );
    let run = guest.run();
    assert_eq!(run.invocation.stdout, "");
    run.assert_stopped(StopReason::Trapped, "handle");
}

#[test]
fn an_input_stream_passed_as_an_output_stream_traps() {
    let guest = streams_guest(
        "(call $write (local.get $in) (i32.const 64) (i32.const 5) (i32.const 1024))",
    );
    let run = guest.run();
    assert_eq!(run.invocation.stdout, "");
    run.assert_stopped(StopReason::Trapped, "handle");
}

#[test]
fn a_forged_handle_traps() {
    let guest = streams_guest(
        "(call $write (i32.const 1000) (i32.const 64) (i32.const 5) (i32.const 1024))",
    );
    guest.run().assert_stopped(StopReason::Trapped, "handle");
}

#[test]
fn a_handle_dropped_twice_traps() {
    let guest = streams_guest(
        "(call $drop_out (local.get $out))
         (call $drop_out (local.get $out))",
    );
    guest.run().assert_stopped(StopReason::Trapped, "handle");
}

#[test]
fn an_output_stream_dropped_as_an_input_stream_traps() {
    let guest = streams_guest("(call $drop_in (local.get $out))");
    guest.run().assert_stopped(StopReason::Trapped, "handle");
}

// ---------------------------------------------------------------------------
// Reentrancy: host calls from where the canonical ABI forbids them, and code
// that never ends where the host waits for it.

#[test]
fn a_host_call_from_realloc_while_the_input_is_lowered_traps() {
    let guest = Guest::new(
        &world(LOG_WORLD),
        &module(
            LOG_IMPORT,
            Some(
                r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (call $log (i32.const 2) (i32.const 16) (i32.const 11))
                    (call $bump (local.get 3)))"#,
            ),
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))"#,
        ),
        "",
    );
    let run = guest.run();
    assert!(run.invocation.logs.is_empty(), "{:?}", run.invocation.logs);
    run.assert_stopped(StopReason::Trapped, "cannot leave");
}

#[test]
fn a_host_call_from_realloc_while_a_host_result_is_lowered_traps() {
    // realloc is first called for the input, before `run`: it calls the
    // host only once `run` has begun (the flag at 32).
    let guest = Guest::new(
        &world("import salve:action/sysinfo@0.1.0;"),
        &module(
            r#"(import "salve:action/sysinfo@0.1.0" "hostname" (func $hostname (param i32)))"#,
            Some(
                r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (if (i32.load (i32.const 32)) (then (call $hostname (i32.const 2048))))
                    (call $bump (local.get 3)))"#,
            ),
            r#"(func (export "run") (param i32 i32) (result i32)
                (i32.store (i32.const 32) (i32.const 1))
                (call $hostname (i32.const 1024))
                (call $ok))"#,
        ),
        "[capabilities.sysinfo]\n",
    );
    guest
        .run()
        .assert_stopped(StopReason::Trapped, "cannot leave");
}

#[test]
fn a_host_call_from_post_return_traps() {
    let guest = Guest::new(
        &world(LOG_WORLD),
        &module(
            LOG_IMPORT,
            None,
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))
            (func (export "cabi_post_run") (param i32)
                (call $log (i32.const 2) (i32.const 16) (i32.const 11)))"#,
        ),
        "",
    );
    let run = guest.run();
    assert!(run.invocation.logs.is_empty(), "{:?}", run.invocation.logs);
    run.assert_stopped(StopReason::Trapped, "cannot leave");
}

#[test]
fn a_realloc_that_never_returns_is_stopped_at_the_deadline() {
    let guest = Guest::new(
        &world(""),
        &module(
            "",
            Some(
                r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (loop $forever (br $forever))
                    (i32.const 0))"#,
            ),
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))"#,
        ),
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::DeadlineExceeded, "deadline");
}

#[test]
fn a_post_return_that_never_returns_is_stopped_at_the_deadline() {
    let guest = Guest::new(
        &world(""),
        &module(
            "",
            None,
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))
            (func (export "cabi_post_run") (param i32)
                (loop $forever (br $forever)))"#,
        ),
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::DeadlineExceeded, "deadline");
}

#[test]
fn a_start_function_that_never_returns_is_stopped_at_the_deadline() {
    let guest = Guest::new(
        &world(""),
        &module(
            "",
            None,
            r#"(func $spin (loop $forever (br $forever)))
            (start $spin)
            (func (export "run") (param i32 i32) (result i32) (call $ok))"#,
        ),
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::DeadlineExceeded, "deadline");
}

// ---------------------------------------------------------------------------
// Memory and tables at their limits (the manifest's memory limit: 4 MiB).

/// A guest whose `run` returns `{"ok":true}` when `condition` holds and
/// traps otherwise.
fn checking(condition: &str, memory: &str, table: &str) -> Guest {
    let core = module(
        "",
        None,
        &format!(
            r#"{table}
            (func (export "run") (param i32 i32) (result i32)
                (if (i32.eqz {condition}) (then unreachable))
                (call $ok))"#
        ),
    )
    .replace(r#"(memory (export "memory") 1)"#, memory);
    Guest::new(&world(""), &core, "")
}

#[test]
fn memory_grows_to_exactly_its_limit() {
    let guest = checking(
        "(i32.eq (memory.grow (i32.const 63)) (i32.const 1))",
        r#"(memory (export "memory") 1)"#,
        "",
    );
    guest.run().assert_ok();
}

#[test]
fn memory_grown_one_page_past_its_limit_is_stopped() {
    let guest = checking(
        "(i32.ne (memory.grow (i32.const 64)) (i32.const -1))",
        r#"(memory (export "memory") 1)"#,
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::MemoryLimitExceeded, "4194304");
}

#[test]
fn memory_grown_by_the_largest_delta_is_stopped() {
    let guest = checking(
        "(i32.ne (memory.grow (i32.const -1)) (i32.const -1))",
        r#"(memory (export "memory") 1)"#,
        "",
    );
    guest
        .run()
        .assert_stopped(StopReason::MemoryLimitExceeded, "4194304");
}

#[test]
fn a_memory_declared_larger_than_the_limit_is_stopped_before_running() {
    let guest = checking("(i32.const 1)", r#"(memory (export "memory") 100)"#, "");
    guest
        .run()
        .assert_stopped(StopReason::MemoryLimitExceeded, "4194304");
}

#[test]
fn a_table_grown_past_its_limit_is_refused() {
    let guest = checking(
        "(i32.eq (table.grow $t (ref.null func) (i32.const 200000)) (i32.const -1))",
        r#"(memory (export "memory") 1)"#,
        "(table $t 1 funcref)",
    );
    guest.run().assert_ok();
}

#[test]
fn a_table_grown_by_the_largest_delta_is_refused() {
    let guest = checking(
        "(i32.eq (table.grow $t (ref.null func) (i32.const -1)) (i32.const -1))",
        r#"(memory (export "memory") 1)"#,
        "(table $t 1 funcref)",
    );
    guest.run().assert_ok();
}

#[test]
fn a_table_declared_past_its_limit_is_refused_at_load() {
    let guest = checking(
        "(i32.const 1)",
        r#"(memory (export "memory") 1)"#,
        "(table $t 200000 funcref)",
    );
    // The pooling allocator's slots hold 20 000 elements; the component is
    // refused when it is compiled for them.
    let error = guest.refused();
    assert!(matches!(&error, LoadError::Compile { .. }), "{error:?}");
    assert_refused(&error, "minimum element size of 200000");
}

// ---------------------------------------------------------------------------
// Components that are not of the action world: more exports than `run`,
// none, another signature, another version of the world or of WASI.

#[test]
fn a_component_exporting_a_function_besides_run_is_refused_at_load() {
    let guest = Guest::new(
        &world("export backdoor: func() -> u32;"),
        &module(
            "",
            None,
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))
            (func (export "backdoor") (result i32) (i32.const 7))"#,
        ),
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::UnexpectedExport { export, .. } if export == "backdoor"),
        "{error:?}"
    );
    assert_refused(&error, "exports `backdoor`");
}

#[test]
fn a_component_exporting_an_interface_of_the_host_is_refused_at_load() {
    let guest = Guest::new(
        &world("export salve:action/log@0.1.0;"),
        &module(
            "",
            None,
            r#"(func (export "run") (param i32 i32) (result i32) (call $ok))
            (func (export "salve:action/log@0.1.0#log") (param i32 i32 i32))"#,
        ),
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::UnexpectedExport { .. }),
        "{error:?}"
    );
    assert_refused(&error, "exports `salve:action/log@0.1.0`");
}

#[test]
fn a_component_without_run_is_refused_at_load() {
    let guest = Guest::new(
        "package salve-test:hostile; world hostile {}",
        r#"(module (memory (export "memory") 1))"#,
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::WorldMismatch { .. }),
        "{error:?}"
    );
    assert_refused(&error, "run");
}

#[test]
fn a_component_whose_run_has_another_signature_is_refused_at_load() {
    let guest = Guest::new(
        "package salve-test:hostile;
        world hostile { export run: func(input: string) -> string; }",
        &module(
            "",
            None,
            r#"(func (export "run") (param i32 i32) (result i32)
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 11))
                (i32.const 0))"#,
        ),
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::WorldMismatch { .. }),
        "{error:?}"
    );
    assert_refused(&error, "salve:action@0.1.0");
}

#[test]
fn a_component_built_against_another_version_of_the_action_world_is_refused_at_load() {
    let guest = Guest::new(
        "package salve-test:hostile;
        world hostile {
            import salve:action/log@0.2.0;
            use salve:action/types@0.2.0.{action-error};
            export run: func(input: string) -> result<string, action-error>;
        }",
        &module(
            r#"(import "salve:action/log@0.2.0" "log" (func $log (param i32 i32 i32)))"#,
            None,
            r#"(func (export "run") (param i32 i32) (result i32)
                (call $log (i32.const 2) (i32.const 16) (i32.const 11))
                (call $ok))"#,
        ),
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::WorldMismatch { .. }),
        "{error:?}"
    );
    assert_refused(&error, "salve:action/log@0.2.0");
}

#[test]
fn a_component_importing_another_version_of_wasi_is_refused_at_load() {
    let guest = Guest::new(
        &world("import wasi:cli/stdout@0.3.0;"),
        &module(
            r#"(import "wasi:cli/stdout@0.3.0" "get-stdout" (func $stdout (result i32)))"#,
            None,
            r#"(func (export "run") (param i32 i32) (result i32)
                (drop (call $stdout))
                (call $ok))"#,
        ),
        "",
    );
    let error = guest.refused();
    assert!(
        matches!(&error, LoadError::WorldMismatch { .. }),
        "{error:?}"
    );
    assert_refused(&error, "@0.3.0");
}
