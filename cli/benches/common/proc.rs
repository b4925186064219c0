//! What `/proc` says of a process, for the benchmarks that measure one.

use std::time::Duration;

/// The CPU time (user and system, every thread) process `pid` has used,
/// from `/proc/<pid>/stat` (in clock ticks: precise to 10 ms, enough over
/// a run of seconds).
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 14th and 15th of the line.
    let after = &stat[stat.rfind(')').expect("stat line") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .expect("sysconf")
        .expect("CLK_TCK") as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}
