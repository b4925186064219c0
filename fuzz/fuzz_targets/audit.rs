//! An audit log given to `salve audit verify` (a copy from an endpoint, or
//! the endpoint's own directory): the fuzzer's bytes are written as segment
//! files, then verified with `verify_dir` and read with the reader
//! (`records`, `records_after`, `last_seq`) as exports and followers read
//! them.
//!
//! The input is split at NUL bytes (which no JSON line holds) into at most
//! four segments; each is named after the `"seq"` its first line opens
//! with, as the writer names it (after its position when it has none). A
//! segment named like one before it replaces it, as a file written twice
//! does: what is checked after `verify_dir` is the files it verified, read
//! back from the directory, not the parts of the input.
//!
//! An input that opens with `#` is first chained: each line laid out as the
//! log writes it gets the `prev` and `hash` that link it to the line before,
//! so that a mutated record passes the hash checks and what the verifier
//! and reader do with its content is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::Sha256Digest;
use salve::audit::record::{GENESIS, chain_hash, split_line};
use salve::audit::{Record, read, segment, verify_dir};

/// `segments` with every well-laid line's `prev` and `hash` made to chain.
fn chained(segments: Vec<&[u8]>) -> Vec<Vec<u8>> {
    const PREV: &[u8] = b",\"prev\":\"";
    let mut prev: Sha256Digest = GENESIS;
    let mut out = Vec::new();
    for part in segments {
        let mut fixed = Vec::with_capacity(part.len());
        for line in part.split_inclusive(|b| *b == b'\n') {
            let (body, newline) = match line.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (line, false),
            };
            let canonical = split_line(body)
                .map(|split| split.canonical_without_brace.to_vec())
                .filter(|c| {
                    c.len() >= PREV.len() + 65 && c[c.len() - 65 - PREV.len()..].starts_with(PREV)
                });
            match canonical {
                Some(mut canonical) => {
                    let at = canonical.len() - 65;
                    canonical.splice(at..at + 64, prev.to_string().into_bytes());
                    prev = chain_hash(&prev, &canonical);
                    fixed.extend_from_slice(&canonical);
                    fixed.extend_from_slice(format!(",\"hash\":\"{prev}\"}}").as_bytes());
                }
                None => fixed.extend_from_slice(body),
            }
            if newline {
                fixed.push(b'\n');
            }
        }
        out.push(fixed);
    }
    out
}

fn first_seq(segment: &[u8], position: u64) -> u64 {
    let digits = segment
        .strip_prefix(b"{\"seq\":")
        .map(|rest| {
            rest.iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| char::from(*b))
                .collect::<String>()
        })
        .unwrap_or_default();
    digits.parse().unwrap_or(position * 1000 + 1)
}

fuzz_target!(|data: &[u8]| {
    let dir = salve_fuzz::empty_scratch();
    let (chain, data) = match data.strip_prefix(b"#") {
        Some(rest) => (true, rest),
        None => (false, data),
    };
    let parts: Vec<&[u8]> = data.split(|b| *b == 0).take(4).collect();
    let parts: Vec<Vec<u8>> = if chain {
        chained(parts)
    } else {
        parts.into_iter().map(<[u8]>::to_vec).collect()
    };
    for (i, part) in parts.iter().enumerate() {
        let name = segment::name(first_seq(part, i as u64));
        std::fs::write(dir.join(name), part).expect("the scratch directory is writable");
    }
    if verify_dir(dir, None, None).is_ok() {
        // A verified log's every line is a record, as every reader reads it
        // (what `verify` promises: `export` and the reports read a log
        // once it verifies). The log is the files as they are on disk: two
        // parts named for the same record are one file, the later part's
        // (the earlier one, never verified, may be anything).
        let files = std::fs::read_dir(dir).expect("the scratch directory is readable");
        for file in files {
            let path = file.expect("the scratch directory is readable").path();
            let bytes = std::fs::read(&path).expect("a segment just written is readable");
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                if let Some(line) = line.strip_suffix(b"\n")
                    && let Err(error) = serde_json::from_slice::<Record>(line)
                {
                    panic!(
                        "a verified line is not a record ({error}): {}",
                        String::from_utf8_lossy(line)
                    );
                }
            }
        }
        if let Some(Err(error)) = read::records(dir).take(10_000).find(Result::is_err) {
            panic!("a verified log does not read: {error}");
        }
    }
    let _ = read::records(dir).take(10_000).count();
    let _ = read::records_after(dir, 2)
        .chained(None)
        .take(10_000)
        .count();
    let _ = read::last_seq(dir);
});
