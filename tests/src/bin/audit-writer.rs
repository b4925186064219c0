//! A process that appends to an audit log as fast as it can, for the tests
//! that kill it mid-write or make its writes fail.
//!
//! `audit-writer <dir> <writers>` appends from `<writers>` threads forever
//! and prints `<seq> <hash>` for every record once it is acknowledged (on
//! disk). The test kills it with SIGKILL at a random moment.
//!
//! `audit-writer <dir> <writers> <file-size-limit>` first limits the size
//! of any file it writes (RLIMIT_FSIZE), so that a write fails part way;
//! it prints `stopped <seq-count> <error>` when an append fails, then tries
//! more appends and prints `after <error>` for each, and exits 0.

use salve::audit::{AuditConfig, AuditLog, Kind, Record};
use std::io::Write as _;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(writers)) = (
        args.get(1),
        args.get(2).and_then(|w| w.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: audit-writer <dir> <writers> [file-size-limit]");
        std::process::exit(2);
    };
    let limit = args.get(3).and_then(|l| l.parse::<u64>().ok());
    #[cfg(windows)]
    if limit.is_some() {
        eprintln!("a file-size limit needs RLIMIT_FSIZE, which Windows does not have");
        std::process::exit(2);
    }
    #[cfg(unix)]
    if let Some(limit) = limit {
        // A write past the limit fails with EFBIG instead of killing us.
        // SAFETY: ignoring a signal installs no handler code.
        #[allow(unsafe_code)]
        let ignored = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGXFSZ,
                nix::sys::signal::SigHandler::SigIgn,
            )
        };
        if let Err(error) = ignored {
            eprintln!("cannot ignore SIGXFSZ: {error}");
            std::process::exit(2);
        }
        if let Err(error) =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, limit, limit)
        {
            eprintln!("cannot limit file sizes: {error}");
            std::process::exit(2);
        }
    }
    let log = match AuditLog::open(AuditConfig::new(dir)) {
        Ok(log) => Arc::new(log),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let mut record = Record::event(Kind::InvocationStarted);
                    record.principal = Some(format!("writer-{writer}"));
                    record.invocation = Some(format!("i-{writer}-{n}"));
                    match log.append(record) {
                        Ok(appended) => {
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "{} {}", appended.seq, appended.hash);
                            let _ = out.flush();
                        }
                        Err(error) => {
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "stopped {error}");
                            for _ in 0..3 {
                                let again = log.append(Record::event(Kind::InvocationStarted));
                                let _ = writeln!(
                                    out,
                                    "after {}",
                                    again.map_or_else(
                                        |e| e.to_string(),
                                        |a| format!("appended {}", a.seq)
                                    )
                                );
                            }
                            let _ = out.flush();
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    if let Some(reason) = log.stopped() {
        println!("log stopped: {reason}");
    }
}
