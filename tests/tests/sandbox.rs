//! Hostile guests against the sandbox. Each case must end in a clear, named
//! error within bounded time, and the same runtime must still run a good
//! action correctly afterwards.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

#[cfg(unix)]
use salve::host::service_manager::ServiceManager;
use salve::{
    Capabilities, Capability, Grant, InvokeError, LoadError, Outcome, Package, PackageError,
    StopReason,
};
// Services, files and programs are granted by Unix names and paths here;
// Windows grants (per-OS manifest keys) are not written yet.
#[cfg(unix)]
use salve_tests::stand_in_systemctl::{
    CLEARED_ENVIRONMENT, StandInSystemctl, UnitState, control_args, process_ended, show_args,
};
use salve_tests::{PackageCopy, artifacts, assert_runtime_still_works, shared_runtime};
use std::time::{Duration, Instant};

/// The hostile guest's declared read and write directories on this system
/// (its manifest's `windows` tables hold the Windows ones).
#[cfg(unix)]
const DECLARED_DIRS: [&str; 2] = [
    "/nonexistent/salve-test/read",
    "/nonexistent/salve-test/write",
];
#[cfg(windows)]
const DECLARED_DIRS: [&str; 2] = [
    r"C:\nonexistent\salve-test\read",
    r"C:\nonexistent\salve-test\write",
];

/// A directory that exists nowhere, to grant as the one not under test.
#[cfg(unix)]
const NO_SUCH_DIR: &str = "/tmp/salve-no-such-dir";
#[cfg(windows)]
const NO_SUCH_DIR: &str = r"C:\salve-no-such-dir";

/// A file outside every grant, there on every endpoint of this system.
#[cfg(unix)]
const OUTSIDE_FILE: &str = "/etc/passwd";
#[cfg(windows)]
const OUTSIDE_FILE: &str = r"C:\windows\win.ini";

/// The hostile guest with tight limits and its grant parameters pointed at
/// `read_dir` and `write_dir`.
fn hostile(read_dir: &str, write_dir: &str, extra_hosts: &[String]) -> PackageCopy {
    let mut hosts = vec!["\"127.0.0.1:9\"".to_string()];
    hosts.extend(extra_hosts.iter().map(|h| format!("\"{h}\"")));
    PackageCopy::new(
        artifacts::HOSTILE,
        &[
            (DECLARED_DIRS[0], read_dir),
            (DECLARED_DIRS[1], write_dir),
            (
                "hosts = [\"127.0.0.1:9\"]",
                &format!("hosts = [{}]", hosts.join(", ")),
            ),
        ],
        "\n[limits]\ndeadline-ms = 500\nmemory-mib = 32\noutput-kib = 64\n",
    )
}

struct Run {
    outcome: Outcome,
    elapsed: Duration,
    invocation: salve::Invocation,
}

/// Runs the hostile guest in `mode` with everything it declares granted.
fn attack(package: &PackageCopy, input: serde_json::Value) -> Run {
    let package = package.open();
    let action = shared_runtime()
        .load(&package)
        .expect("hostile guest loads");
    let grant = Grant::declared(package.manifest().capabilities.here());
    let started = Instant::now();
    let invocation = shared_runtime()
        .invoke(&action, &grant, &input.to_string())
        .expect("hostile guest is invoked");
    Run {
        outcome: invocation.outcome.clone(),
        elapsed: started.elapsed(),
        invocation,
    }
}

/// The system's temporary directory, as a grant writes it (Windows ends
/// it with a `\\`, which a grant may not).
fn temp_dir() -> String {
    let dir: std::path::PathBuf = std::env::temp_dir().components().collect();
    dir.to_str().unwrap().to_string()
}

fn simple_hostile() -> PackageCopy {
    hostile(&temp_dir(), NO_SUCH_DIR, &[])
}

fn assert_stopped(run: &Run, expected: StopReason, message_part: &str) {
    match &run.outcome {
        Outcome::Stopped { reason, message } => {
            assert_eq!(*reason, expected, "{message}");
            assert!(message.contains(message_part), "{message}");
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
    // Every limit here is far below this; the guest never holds the host.
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
    assert_runtime_still_works();
}

fn assert_denied(run: &Run, capability: Capability, reason_part: &str) {
    match &run.outcome {
        Outcome::Failed { code, message } => {
            assert_eq!(code, "denied", "{message}");
            assert!(message.contains(reason_part), "{message}");
        }
        other => panic!("expected a denied call, got {other:?}"),
    }
    let denied = &run.invocation.denied_calls;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].capability, capability);
    assert!(denied[0].reason.contains(reason_part), "{:?}", denied[0]);
    assert_runtime_still_works();
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "loop"}));
    assert_stopped(&run, StopReason::DeadlineExceeded, "deadline of 500 ms");
    assert!(
        run.elapsed >= Duration::from_millis(500),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn unbounded_allocation_is_stopped_at_the_memory_limit() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "alloc"}));
    assert_stopped(
        &run,
        StopReason::MemoryLimitExceeded,
        "its limit is 33554432 bytes",
    );
}

#[test]
fn flooding_stdout_is_stopped_at_the_output_limit() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "flood-stdout"}),
    );
    assert_stopped(
        &run,
        StopReason::OutputLimitExceeded,
        "output limit of 65536 bytes",
    );
    assert!(run.invocation.stdout.len() <= 65536);
}

#[test]
fn flooding_the_log_is_stopped_at_the_output_limit() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "flood-log"}));
    assert_stopped(
        &run,
        StopReason::OutputLimitExceeded,
        "output limit of 65536 bytes",
    );
    // Each message costs its bytes and what keeping it costs.
    let cost: usize = run
        .invocation
        .logs
        .iter()
        .map(|l| l.message.len() + salve::host::output::ENTRY_COST)
        .sum();
    assert!(cost <= 65536 && cost > 65536 - 700, "{cost}");
}

#[test]
fn a_flood_of_empty_log_messages_is_stopped_at_the_output_limit() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "flood-empty-log"}),
    );
    assert_stopped(
        &run,
        StopReason::OutputLimitExceeded,
        "output limit of 65536 bytes",
    );
    assert_eq!(
        run.invocation.logs.len(),
        65536 / salve::host::output::ENTRY_COST
    );
}

#[test]
fn an_error_message_larger_than_the_output_limit_is_refused() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "big-error", "size": 100_000}),
    );
    assert_stopped(&run, StopReason::OutputLimitExceeded, "output limit");
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "big-error", "size": 1000}),
    );
    let Outcome::Failed { code, message } = &run.outcome else {
        panic!("{:?}", run.outcome);
    };
    assert_eq!((code.as_str(), message.len()), ("too-big", 1000));
}

#[test]
fn oversized_output_is_refused() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "big-output", "size": 100_000}),
    );
    assert_stopped(&run, StopReason::OutputLimitExceeded, "output limit");
}

#[test]
fn output_that_is_not_json_is_refused() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "not-json"}));
    assert_stopped(&run, StopReason::InvalidOutput, "not JSON");
}

#[test]
fn deep_recursion_is_stopped() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "recurse"}));
    assert_stopped(&run, StopReason::StackOverflow, "exhausted its stack");
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "panic"}));
    assert_stopped(
        &run,
        StopReason::Panicked,
        "the hostile guest panics on purpose",
    );
}

#[test]
fn exiting_instead_of_returning_is_reported() {
    // WASI 0.2's `exit` carries only success or failure: `exit(3)` arrives
    // as status 1.
    let run = attack(&simple_hostile(), serde_json::json!({"mode": "exit"}));
    assert_stopped(&run, StopReason::Exited, "exited with status 1");
}

#[test]
fn an_undeclared_import_is_refused_before_running() {
    let package = Package::open(artifacts::UNDECLARED_IMPORT).unwrap();
    let error = shared_runtime().load(&package).err().expect("refused");
    assert!(
        matches!(
            &error,
            LoadError::UndeclaredImport {
                capability: Capability::ServiceControl,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "undeclared-import@0.1.0 imports `salve:action/service-control@0.1.0`, but its manifest does not declare the `service-control` capability: refused before running. Declare it under [capabilities.service-control] (and have the package vetted again), or remove the calls that use it"
    );
    assert_runtime_still_works();
}

#[test]
fn wasi_filesystem_is_refused_before_running() {
    let package = Package::open(artifacts::WASI_FILESYSTEM).unwrap();
    let error = shared_runtime().load(&package).err().expect("refused");
    let LoadError::ForbiddenImport { import, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        import.interface.starts_with("wasi:filesystem/"),
        "{import:?}"
    );
    assert!(error.to_string().contains("files-read"), "{error}");
    assert_runtime_still_works();
}

#[test]
fn a_capability_declared_but_not_granted_is_refused_before_running() {
    let package = simple_hostile().open();
    let action = shared_runtime().load(&package).unwrap();
    let grant = Grant::from_specs(
        &["sysinfo", "files-read"],
        package.manifest().capabilities.here(),
    )
    .unwrap();
    let error = shared_runtime()
        .invoke(&action, &grant, r#"{"mode": "hostname"}"#)
        .unwrap_err();
    assert!(matches!(error, InvokeError::NotGranted { .. }), "{error:?}");
    assert!(error.to_string().contains("was not granted"), "{error}");
    assert_runtime_still_works();
}

#[cfg(unix)]
#[test]
fn another_service_is_denied() {
    // The runtime reaches systemd through a stand-in, so that a refused call
    // that still ran systemctl would show.
    let systemctl = StandInSystemctl::new();
    systemctl
        .unit("ssh.service", SALVE_TEST_UP)
        .unit("sshd.service", SALVE_TEST_UP);
    let runtime = systemctl.runtime();
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "status", "service": "ssh.service"}),
    );
    assert_denied(
        &run,
        Capability::ServiceStatus,
        "service `ssh.service` is not granted",
    );
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "restart", "service": "sshd.service"}),
    );
    assert_denied(
        &run,
        Capability::ServiceControl,
        "service `sshd.service` is not granted",
    );
    assert_eq!(systemctl.calls(), []);
}

#[cfg(unix)]
/// `salve-test.service`, the unit the hostile guest is granted, running.
const SALVE_TEST_UP: UnitState<'static> = UnitState {
    description: "salve test unit",
    active_state: "active",
    sub_state: "running",
    main_pid: 4321,
};

#[cfg(unix)]
/// Runs the hostile guest in `runtime` (whose service manager is a stand-in).
fn attack_in(runtime: &salve::Runtime, input: serde_json::Value) -> Run {
    let package = simple_hostile().open();
    let action = runtime.load(&package).expect("hostile guest loads");
    let grant = Grant::declared(package.manifest().capabilities.here());
    let started = Instant::now();
    let invocation = runtime
        .invoke(&action, &grant, &input.to_string())
        .expect("hostile guest is invoked");
    Run {
        outcome: invocation.outcome.clone(),
        elapsed: started.elapsed(),
        invocation,
    }
}

fn failed(run: &Run) -> (&str, &str) {
    match &run.outcome {
        Outcome::Failed { code, message } => (code.as_str(), message.as_str()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn a_granted_service_reaches_the_service_manager() {
    let systemctl = StandInSystemctl::new();
    systemctl.unit("salve-test.service", SALVE_TEST_UP);
    let runtime = systemctl.runtime();
    let status = serde_json::json!({"mode": "status", "service": "salve-test.service"});
    let restart = serde_json::json!({"mode": "restart", "service": "salve-test.service"});
    for (input, answer) in [
        (&status, r#"{"ok":"active"}"#),
        (&restart, r#"{"ok":"restarted"}"#),
        (&status, r#"{"ok":"active"}"#),
    ] {
        let run = attack_in(&runtime, input.clone());
        assert_eq!(
            run.outcome.output().map(|o| o.get()),
            Some(answer),
            "{:?}",
            run.outcome
        );
        assert!(run.invocation.denied_calls.is_empty());
    }
    let calls = systemctl.calls();
    for call in &calls {
        assert_eq!(call.env, CLEARED_ENVIRONMENT, "{call:?}");
    }
    assert_eq!(
        calls.iter().map(|c| c.args()).collect::<Vec<_>>(),
        [
            show_args("salve-test.service"),
            control_args("restart", "salve-test.service"),
            show_args("salve-test.service"),
        ]
    );
}

/// On Windows, `service-status` and `service-control` reach the Service
/// Control Manager: here Wine's, with its print spooler.
#[cfg(windows)]
#[test]
fn a_granted_windows_service_reaches_the_service_control_manager() {
    let package = PackageCopy::new(
        artifacts::HOSTILE,
        &[(
            "services = [\"salve-test\"]",
            "services = [\"Spooler\", \"salve-no-such-service\"]",
        )],
        "\n[limits]\ndeadline-ms = 20000\n",
    );
    for (input, answer) in [
        (
            serde_json::json!({"mode": "restart", "service": "Spooler"}),
            r#"{"ok":"restarted"}"#,
        ),
        (
            serde_json::json!({"mode": "status", "service": "Spooler"}),
            r#"{"ok":"active"}"#,
        ),
        // Unknown to the SCM: a state, as systemd answers for a unit it does not know.
        (
            serde_json::json!({"mode": "status", "service": "salve-no-such-service"}),
            r#"{"ok":"inactive"}"#,
        ),
    ] {
        let run = attack(&package, input);
        assert_eq!(
            run.outcome.output().map(|o| o.get()),
            Some(answer),
            "{:?}",
            run.outcome
        );
        assert!(run.invocation.denied_calls.is_empty());
    }
    let run = attack(
        &package,
        serde_json::json!({"mode": "restart", "service": "salve-no-such-service"}),
    );
    assert_eq!(
        failed(&run),
        (
            "not-found",
            "restart salve-no-such-service: no such service"
        )
    );
    // Another service, and the Linux unit the manifest declares for Linux.
    for other in ["PlugPlay", "salve-test.service"] {
        let run = attack(
            &package,
            serde_json::json!({"mode": "status", "service": other}),
        );
        assert_denied(
            &run,
            Capability::ServiceStatus,
            &format!("service `{other}` is not granted"),
        );
    }
}

#[cfg(unix)]
#[test]
fn service_manager_refusals_reach_the_guest_as_not_found_and_failed() {
    // Unknown to systemd: `show` answers (not-found), a restart is refused.
    let systemctl = StandInSystemctl::new();
    let runtime = systemctl.runtime();
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "status", "service": "salve-test.service"}),
    );
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"inactive"}"#)
    );
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "restart", "service": "salve-test.service"}),
    );
    assert_eq!(
        failed(&run),
        (
            "not-found",
            "systemctl restart salve-test.service: Failed to restart salve-test.service: Unit salve-test.service not found."
        )
    );
    // Known, but its restart fails.
    systemctl.unit("salve-test.service", SALVE_TEST_UP).fail(
        "salve-test.service",
        "Job for salve-test.service failed because a timeout was exceeded.\n",
    );
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "restart", "service": "salve-test.service"}),
    );
    assert_eq!(
        failed(&run),
        (
            "failed",
            "systemctl restart salve-test.service failed (exit status: 1): Job for salve-test.service failed because a timeout was exceeded."
        )
    );
    assert_eq!(systemctl.calls().len(), 3);
    assert!(run.invocation.denied_calls.is_empty());
}

#[cfg(unix)]
#[test]
fn a_service_manager_that_never_answers_is_killed_at_the_deadline() {
    let systemctl = StandInSystemctl::new();
    systemctl
        .unit("salve-test.service", SALVE_TEST_UP)
        .hang("salve-test.service");
    let runtime = systemctl.runtime();
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "restart", "service": "salve-test.service"}),
    );
    match &run.outcome {
        Outcome::Stopped { reason, message } => {
            assert_eq!(*reason, StopReason::DeadlineExceeded, "{message}");
            assert!(message.contains("deadline of 500 ms"), "{message}");
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    // The stand-in sleeps 30 s: it was killed at the deadline, with what it
    // started, not waited for.
    assert!(
        run.elapsed < Duration::from_secs(2),
        "took {:?}",
        run.elapsed
    );
    let sleeper = systemctl.hung_pid().expect("the stand-in was reached");
    assert!(
        process_ended(sleeper),
        "systemctl's child {sleeper} still runs"
    );
    assert_eq!(
        systemctl
            .calls()
            .iter()
            .map(|c| c.args())
            .collect::<Vec<_>>(),
        [control_args("restart", "salve-test.service")]
    );
    // The same runtime still reaches the service manager.
    let run = attack_in(
        &runtime,
        serde_json::json!({"mode": "status", "service": "salve-test.service"}),
    );
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"active"}"#)
    );
}

#[cfg(unix)]
#[test]
fn without_a_service_manager_service_calls_say_so() {
    let runtime = salve::Runtime::new(salve::RuntimeConfig {
        service_manager: Some(ServiceManager::Absent),
        ..salve::RuntimeConfig::default()
    })
    .unwrap();
    for mode in ["status", "restart"] {
        let run = attack_in(
            &runtime,
            serde_json::json!({"mode": mode, "service": "salve-test.service"}),
        );
        assert_eq!(
            failed(&run),
            (
                "unavailable",
                "no service manager on this host: salve manages services through systemd, which is not running here (/run/systemd/system does not exist)"
            )
        );
        assert!(run.invocation.denied_calls.is_empty());
    }
}

#[test]
fn another_path_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read");
    std::fs::create_dir(&read).unwrap();
    let package = hostile(read.to_str().unwrap(), NO_SUCH_DIR, &[]);
    let run = attack(
        &package,
        serde_json::json!({"mode": "read", "path": OUTSIDE_FILE}),
    );
    assert_denied(
        &run,
        Capability::FilesRead,
        &format!("`{OUTSIDE_FILE}` is outside the paths granted"),
    );
}

/// Windows path rules: a name Windows would read as another file, a
/// stream, a device or another machine is denied before anything is
/// opened; a granted prefix matches without regard to ASCII case.
#[cfg(windows)]
#[test]
fn windows_names_that_mean_something_else_are_denied() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read");
    std::fs::create_dir(&read).unwrap();
    std::fs::write(read.join("note.txt"), "hello").unwrap();
    let package = hostile(read.to_str().unwrap(), NO_SUCH_DIR, &[]);
    let base = read.display().to_string();
    for (path, reason) in [
        (format!(r"{base}\note.txt."), "ends in a dot or a space"),
        (format!(r"{base}\note.txt "), "ends in a dot or a space"),
        (format!(r"{base}\note.txt:secret"), "alternate data stream"),
        (format!(r"{base}\CON"), "is a device name"),
        (format!(r"{base}\nul.txt"), "is a device name"),
        (format!(r"{base}/note.txt"), "holds a `/`"),
        (format!(r"\\?\{base}\note.txt"), "verbatim path"),
        (
            r"\\localhost\c$\windows\win.ini".to_string(),
            "verbatim path",
        ),
        (r"C:windows\win.ini".to_string(), "is not absolute"),
    ] {
        let run = attack(&package, serde_json::json!({"mode": "read", "path": path}));
        assert_denied(&run, Capability::FilesRead, reason);
    }
    let shouted = format!(r"{}\NOTE.TXT", base.to_uppercase());
    let run = attack(
        &package,
        serde_json::json!({"mode": "read", "path": shouted}),
    );
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"hello"}"#),
        "{:?}",
        run.outcome
    );
}

#[cfg(unix)]
/// A FIFO in a granted directory (anyone may make one where they may
/// write) blocks neither a read nor a write: the call fails at once instead
/// of waiting, past the deadline, for a writer or a reader.
#[test]
fn a_fifo_blocks_neither_a_read_nor_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let (read, write) = (dir.path().join("read"), dir.path().join("write"));
    std::fs::create_dir(&read).unwrap();
    std::fs::create_dir(&write).unwrap();
    for fifo in [read.join("fifo"), write.join("fifo")] {
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let package = hostile(read.to_str().unwrap(), write.to_str().unwrap(), &[]);
    let (reading, writing) = (
        serde_json::json!({"mode": "read", "path": format!("{}/fifo", read.display())}),
        serde_json::json!({"mode": "write", "path": format!("{}/fifo", write.display()), "data": "x"}),
    );
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcomes = [
            attack(&package, reading).outcome,
            attack(&package, writing).outcome,
        ];
        let _ = done.send(outcomes);
    });
    let outcomes = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a host call is blocked on a FIFO");
    for outcome in outcomes {
        assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    }
}

#[test]
fn path_traversal_by_dot_dot_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read");
    std::fs::create_dir(&read).unwrap();
    let package = hostile(read.to_str().unwrap(), NO_SUCH_DIR, &[]);
    let sneaky = read.join("..").join("..").join("..").join(
        OUTSIDE_FILE
            .split_once(std::path::MAIN_SEPARATOR)
            .unwrap()
            .1,
    );
    let run = attack(
        &package,
        serde_json::json!({"mode": "read", "path": sneaky}),
    );
    assert_denied(&run, Capability::FilesRead, "is not normalized");
}

#[cfg(unix)]
#[test]
fn path_traversal_by_symlink_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read");
    std::fs::create_dir(&read).unwrap();
    std::os::unix::fs::symlink("/etc", read.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", read.join("passwd")).unwrap();
    let package = hostile(read.to_str().unwrap(), NO_SUCH_DIR, &[]);
    for path in ["escape/passwd", "passwd"] {
        let path = format!("{}/{path}", read.display());
        let run = attack(&package, serde_json::json!({"mode": "read", "path": path}));
        assert_denied(
            &run,
            Capability::FilesRead,
            "leads outside the granted paths",
        );
    }
    let path = format!("{}/escape", read.display());
    let run = attack(&package, serde_json::json!({"mode": "list", "path": path}));
    assert_denied(
        &run,
        Capability::FilesRead,
        "leads outside the granted paths",
    );
}

#[cfg(unix)]
/// A granted path is opened without following links on the way to it: a
/// grant of `…/app` where whoever can write the parent has put a link at
/// `app` (to `/etc`), or at a directory above the grant, reads nothing.
#[test]
fn a_grant_reached_through_a_symlink_is_not_followed() {
    let temp = tempfile::tempdir().unwrap();
    // The temporary directory itself may lie behind a link.
    let dir = temp.path().canonicalize().unwrap();
    let dir = dir.as_path();
    std::os::unix::fs::symlink("/etc", dir.join("app")).unwrap();
    let real = dir.join("real");
    std::fs::create_dir_all(real.join("sub")).unwrap();
    std::fs::write(real.join("sub/note.txt"), "behind a link").unwrap();
    std::os::unix::fs::symlink(&real, dir.join("above")).unwrap();
    for (granted, path, link) in [
        (dir.join("app"), "passwd", dir.join("app")),
        (dir.join("above/sub"), "note.txt", dir.join("above")),
    ] {
        let package = hostile(granted.to_str().unwrap(), NO_SUCH_DIR, &[]);
        let path = format!("{}/{path}", granted.display());
        let run = attack(&package, serde_json::json!({"mode": "read", "path": path}));
        assert_denied(
            &run,
            Capability::FilesRead,
            &format!("`{}` on the way to the granted path", link.display()),
        );
    }
    // The same file through the real path is read.
    let package = hostile(real.to_str().unwrap(), NO_SUCH_DIR, &[]);
    let path = format!("{}/sub/note.txt", real.display());
    let run = attack(&package, serde_json::json!({"mode": "read", "path": path}));
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"behind a link"}"#)
    );
}

#[test]
fn reads_and_writes_inside_the_grant_work() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read");
    let write = dir.path().join("write");
    std::fs::create_dir_all(read.join("sub")).unwrap();
    std::fs::create_dir(&write).unwrap();
    std::fs::write(read.join("sub/note.txt"), "hello from the host").unwrap();
    let package = hostile(read.to_str().unwrap(), write.to_str().unwrap(), &[]);

    let path = read.join("sub").join("note.txt");
    let run = attack(&package, serde_json::json!({"mode": "read", "path": path}));
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"hello from the host"}"#)
    );
    let run = attack(&package, serde_json::json!({"mode": "list", "path": read}));
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"sub"}"#)
    );

    let target = write.join("out.txt");
    let run = attack(
        &package,
        serde_json::json!({"mode": "write", "path": target, "data": "written by the guest"}),
    );
    assert!(run.outcome.succeeded(), "{:?}", run.outcome);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "written by the guest"
    );
    let run = attack(
        &package,
        serde_json::json!({"mode": "remove", "path": target}),
    );
    assert!(run.outcome.succeeded(), "{:?}", run.outcome);
    assert!(!target.exists());

    // Reading is not writing: the read prefix is not writable.
    let run = attack(
        &package,
        serde_json::json!({"mode": "write", "path": read.join("x"), "data": "no"}),
    );
    assert_denied(&run, Capability::FilesWrite, "is outside the paths granted");
    // And a granted prefix itself cannot be removed.
    let run = attack(
        &package,
        serde_json::json!({"mode": "remove", "path": write}),
    );
    assert_denied(&run, Capability::FilesWrite, "is a granted path itself");
}

#[cfg(unix)]
#[test]
fn another_program_is_denied() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "program", "program": "/bin/sh", "args": ["-c", "id"], "timeout_ms": 1000}),
    );
    assert_denied(
        &run,
        Capability::Programs,
        "program `/bin/sh` is not granted",
    );
    // A granted program with other arguments than those granted.
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "program", "program": "/bin/echo", "args": ["bye"], "timeout_ms": 1000}),
    );
    assert_denied(
        &run,
        Capability::Programs,
        "program `/bin/echo` is not granted with the arguments [\"bye\"]: granted only as `/bin/echo hello $HOME`",
    );
    // The same program by another path is another program.
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "program", "program": "/usr/bin/../bin/echo", "args": [], "timeout_ms": 1000}),
    );
    assert_denied(&run, Capability::Programs, "is not granted");
}

#[cfg(unix)]
#[test]
fn a_granted_program_runs_with_an_empty_environment() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "program", "program": "/bin/echo", "args": ["hello", "$HOME"], "timeout_ms": 1000}),
    );
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"hello $HOME\n"}"#)
    );
}

#[cfg(unix)]
/// An argument holding a space is granted in quotes, and only that one
/// argument matches it, not the same words apart.
#[test]
fn a_quoted_argument_is_granted_whole() {
    let package = PackageCopy::new(
        artifacts::HOSTILE,
        &[("\"/bin/sleep 30\"", r#"'/bin/echo "two words" *'"#)],
        "\n[limits]\ndeadline-ms = 500\nmemory-mib = 32\noutput-kib = 64\n",
    );
    let run = attack(
        &package,
        serde_json::json!({"mode": "program", "program": "/bin/echo", "args": ["two words", "and more"], "timeout_ms": 1000}),
    );
    assert_eq!(
        run.outcome.output().map(|o| o.get()),
        Some(r#"{"ok":"two words and more\n"}"#)
    );
    let run = attack(
        &package,
        serde_json::json!({"mode": "program", "program": "/bin/echo", "args": ["two", "words"], "timeout_ms": 1000}),
    );
    assert_denied(
        &run,
        Capability::Programs,
        "is not granted with the arguments",
    );
}

#[cfg(unix)]
#[test]
fn the_deadline_covers_time_spent_in_host_calls() {
    let run = attack(
        &simple_hostile(),
        serde_json::json!({"mode": "program", "program": "/bin/sleep", "args": ["30"], "timeout_ms": 60_000}),
    );
    assert_stopped(&run, StopReason::DeadlineExceeded, "deadline of 500 ms");
    assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);
}

#[test]
fn another_host_is_denied_and_a_granted_one_is_reached() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let package = hostile(&temp_dir(), NO_SUCH_DIR, &[format!("127.0.0.1:{port}")]);
    let run = attack(
        &package,
        serde_json::json!({"mode": "probe", "host": "127.0.0.1", "port": port}),
    );
    assert!(run.outcome.succeeded(), "{:?}", run.outcome);
    let run = attack(
        &package,
        serde_json::json!({"mode": "probe", "host": "127.0.0.1", "port": port.wrapping_add(1)}),
    );
    assert_denied(&run, Capability::Network, "is not a destination granted");
    let run = attack(
        &package,
        serde_json::json!({"mode": "probe", "host": "localhost", "port": port}),
    );
    assert_denied(&run, Capability::Network, "`localhost:");
}

#[test]
fn a_tampered_component_is_refused() {
    let copy = PackageCopy::new(artifacts::ECHO, &[], "");
    let component = copy.dir.join("echo.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&component, bytes).unwrap();
    let error = Package::open(&copy.dir).unwrap_err();
    assert!(
        matches!(error, PackageError::DigestMismatch { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("does not match its manifest"),
        "{error}"
    );
    assert_runtime_still_works();
}

#[test]
fn bytes_that_are_not_a_component_are_refused_without_panic() {
    for garbage in [
        Vec::new(),
        b"\0asm\x01\0\0\0".to_vec(),
        b"\0asm\x0d\0\x01\0garbage".to_vec(),
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    ] {
        let copy = PackageCopy::new(artifacts::ECHO, &[], "");
        std::fs::write(copy.dir.join("echo.wasm"), &garbage).unwrap();
        // Re-digest so that the package opens and the engine sees the bytes.
        let manifest_path = copy.dir.join("action.toml");
        let manifest = std::fs::read_to_string(&manifest_path).unwrap();
        let digest = salve::Sha256Digest::of(&garbage).to_string();
        let old = manifest
            .lines()
            .find(|l| l.starts_with("sha256"))
            .unwrap()
            .to_string();
        std::fs::write(
            &manifest_path,
            manifest.replace(&old, &format!("sha256 = \"{digest}\"")),
        )
        .unwrap();
        let package = Package::open(&copy.dir).unwrap();
        let error = shared_runtime().load(&package).err().expect("refused");
        assert!(matches!(error, LoadError::Compile { .. }), "{error:?}");
    }
    assert_runtime_still_works();
}

#[test]
fn bad_input_is_refused_before_running() {
    let (package, action) = salve_tests::load(artifacts::ECHO);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let error = shared_runtime()
        .invoke(&action, &grant, "{not json")
        .unwrap_err();
    assert!(
        matches!(error, InvokeError::InvalidInput { .. }),
        "{error:?}"
    );
    let huge = format!("\"{}\"", "x".repeat(2 << 20));
    let error = shared_runtime().invoke(&action, &grant, &huge).unwrap_err();
    assert!(
        matches!(error, InvokeError::InputTooLarge { .. }),
        "{error:?}"
    );
    let invocation = shared_runtime()
        .invoke(&action, &grant, r#"{"still": "fine"}"#)
        .unwrap();
    assert_eq!(
        invocation.outcome.output().map(|o| o.get()),
        Some(r#"{"still":"fine"}"#)
    );
}

#[test]
fn input_that_does_not_fit_the_action_is_its_error() {
    let (package, action) = salve_tests::load(artifacts::SYSTEM_REPORT);
    let grant = Grant::declared(package.manifest().capabilities.here());
    let invocation = shared_runtime()
        .invoke(&action, &grant, r#"{"unexpected": 1}"#)
        .unwrap();
    match invocation.outcome {
        Outcome::Failed { code, message } => {
            assert_eq!(code, "invalid-input");
            assert!(message.contains("unknown field `unexpected`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_grant_never_exceeds_the_manifest() {
    let package = Package::open(artifacts::SYSTEM_REPORT).unwrap();
    let allowed: Capabilities = serde_json::from_value(serde_json::json!({
        "sysinfo": {},
        "programs": {"programs": ["/bin/sh"]},
    }))
    .unwrap();
    let grant = Grant::intersect(package.manifest().capabilities.here(), &allowed);
    assert!(grant.capabilities().programs.is_none());
    assert!(grant.names().contains(Capability::Sysinfo));
}
