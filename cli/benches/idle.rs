//! Idle benchmark: what `salve serve` costs when it does nothing, and when
//! it answers one invocation a second — the agent's cost on a laptop's
//! battery or on a VM host running many endpoints.
//!
//! A service is staged with the eight shipped actions and `echo` installed,
//! started, and left to settle for 5 s. Then, over a window of 60 s each
//! (`-- --quick`: 10 s), with nothing asked of it, and with one signed
//! `invoke` of `echo` a second each on a new connection to its socket:
//!
//! - **wake-ups per second**, per thread and in total: the growth of each
//!   thread's `voluntary_ctxt_switches` in `/proc/<pid>/task/<tid>/status`
//!   (a thread that sleeps and is woken switches out once);
//! - **CPU**: user and system time of the whole process
//!   (`/proc/<pid>/stat`), as a share of one core over the window;
//! - **resident memory**: `VmRSS` at the end of the window, and of it the
//!   anonymous pages (`RssAnon`) and the file and shared ones.
//!
//! The baseline, measured the same way in the same run: `sleep` (a process
//! that does nothing at all) over the same window.
//!
//! Run: `cargo bench -p salve-cli --bench idle` (`-- --quick` for 10 s windows).

#[path = "../tests/support/service.rs"]
mod support;

#[path = "common/proc.rs"]
mod proc;

use salve::api::v1::Operation;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Connection, people, signed, stage_packages};

/// A thread's name and its voluntary context switches so far.
type Threads = BTreeMap<u32, (String, u64)>;

fn threads(pid: u32) -> Threads {
    let mut threads = Threads::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may end between the listing and the read.
        let (Ok(status), Ok(name)) = (
            std::fs::read_to_string(task.path().join("status")),
            std::fs::read_to_string(task.path().join("comm")),
        ) else {
            continue;
        };
        let switches = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        threads.insert(tid, (name.trim().to_string(), switches));
    }
    threads
}

/// A `… kB` field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("/proc status")
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// What a process cost over a window.
struct Cost {
    seconds: f64,
    /// Wake-ups per second, by thread name (threads of one name summed).
    wakeups: BTreeMap<String, f64>,
    cpu_share: f64,
    resident_kib: u64,
    /// Of it: anonymous memory (heaps, compiled code), and file pages
    /// (the binary and its libraries, mapped files).
    anon_kib: u64,
    file_kib: u64,
}

impl Cost {
    fn total_wakeups(&self) -> f64 {
        self.wakeups.values().sum()
    }
}

/// Measures process `pid` over `window`, calling `during` every second.
fn measure(pid: u32, window: Duration, mut during: impl FnMut()) -> Cost {
    let before = threads(pid);
    let cpu_before = proc::cpu_time(&pid.to_string());
    let started = Instant::now();
    let mut next = started;
    while started.elapsed() < window {
        during();
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let after = threads(pid);
    let seconds = started.elapsed().as_secs_f64();
    let cpu = proc::cpu_time(&pid.to_string()) - cpu_before;
    let mut wakeups = BTreeMap::new();
    for (tid, (name, switches)) in &after {
        let from = before.get(tid).map_or(0, |(_, s)| *s);
        *wakeups.entry(name.clone()).or_insert(0.0) +=
            switches.saturating_sub(from) as f64 / seconds;
    }
    Cost {
        seconds,
        wakeups,
        cpu_share: cpu.as_secs_f64() / seconds,
        resident_kib: status_kib(pid, "VmRSS"),
        anon_kib: status_kib(pid, "RssAnon"),
        file_kib: status_kib(pid, "RssFile") + status_kib(pid, "RssShmem"),
    }
}

fn report(label: &str, cost: &Cost) {
    println!(
        "{label}: {:.2} wake-ups/s in all, CPU {:.3} % of a core, resident {:.1} MiB ({:.1} anonymous, {:.1} file and shared) (over {:.0} s)",
        cost.total_wakeups(),
        cost.cpu_share * 100.0,
        cost.resident_kib as f64 / 1024.0,
        cost.anon_kib as f64 / 1024.0,
        cost.file_kib as f64 / 1024.0,
        cost.seconds
    );
    let mut busiest: Vec<_> = cost.wakeups.iter().filter(|(_, w)| **w > 0.0).collect();
    busiest.sort_by(|a, b| b.1.total_cmp(a.1));
    for (name, per_second) in busiest {
        println!("    {name:<20} {per_second:>8.2} /s");
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let window = Duration::from_secs(if quick { 10 } else { 60 });

    let mut packages: Vec<&str> = salve_test_artifacts::SHIPPED_ACTIONS
        .iter()
        .map(|(_, path)| *path)
        .collect();
    packages.push(salve_test_artifacts::ECHO);
    let service = stage_packages(
        Path::new(env!("CARGO_BIN_EXE_salve")),
        "pc-test",
        people(),
        "",
        "",
        &packages,
    );
    // Staged as `salve catalog install` leaves an endpoint: each package
    // compiled into the service's cache, so that the service compiled
    // nothing as it started (which would leave Cranelift's code and heap
    // in its resident memory).
    let compiled = std::fs::read_dir(service.dir.path().join("data/cache"))
        .expect("the service's cache")
        .count();
    assert!(
        compiled >= packages.len(),
        "{compiled} compiled components in the service's cache for {} packages",
        packages.len()
    );
    let pid = service.child.as_ref().expect("the service runs").id();
    let session = service.session();
    let key = service.keys["tom"].clone();
    let socket = service.socket();
    // A connection per invocation: the service closes idle ones. One
    // invocation before settling: the action is instantiated once.
    let invoke = |i: u64| {
        let body = signed(
            &key,
            "tom",
            &Operation::Invoke {
                session: session.clone(),
                action: "echo".parse().expect("id"),
                input: json!({ "i": i }),
            },
        );
        let mut connection = Connection::open(&socket).expect("connect");
        let (status, answer) = connection.post("/v1/requests", &body).expect("invoke");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    };
    invoke(0);
    std::thread::sleep(Duration::from_secs(5));

    let baseline = {
        let mut sleeper = Command::new("sleep")
            .arg(format!("{}", window.as_secs() + 30))
            .spawn()
            .expect("sleep");
        std::thread::sleep(Duration::from_millis(200));
        let cost = measure(sleeper.id(), window, || {});
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        cost
    };
    let idle = measure(pid, window, || {});
    let mut i = 1;
    let busy = measure(pid, window, || {
        invoke(i);
        i += 1;
    });

    println!("salve serve, {} actions installed\n", packages.len());
    report("baseline (`sleep`)", &baseline);
    report("idle", &idle);
    report("one invocation a second", &busy);
    println!(
        "\nidle: {:.2} wake-ups/s (target ≤ 1), CPU {:.3} % (target ≤ 0.1 %), resident {:.1} MiB (target ≤ 40 MiB)",
        idle.total_wakeups(),
        idle.cpu_share * 100.0,
        idle.resident_kib as f64 / 1024.0
    );
}
