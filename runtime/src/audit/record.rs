//! One audit record: what happened, to whom, under which authority — and
//! its place in the hash chain.
//!
//! A record is one line of JSON. Its fields are written in a fixed order,
//! `hash` last:
//!
//! ```text
//! {"seq":42,"time":"2026-11-22T10:15:00.123456Z","kind":"invocation.started","code":3003,…,"prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! The **canonical encoding** of a record is its line without the `hash`
//! member: the exact bytes up to the `,"hash":` that ends every line, then
//! `}`. `hash` is the SHA-256 of the previous record's hash (32 bytes) followed
//! by that canonical encoding; the first record's `prev` is 64 zeros. A
//! verifier recomputes every hash from the bytes it reads, so changing any byte
//! of any record — or deleting, inserting or reordering records — breaks the
//! chain at the first record touched.

use crate::digest::Sha256Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// The `prev` of the very first record.
pub const GENESIS: Sha256Digest = Sha256Digest::ZERO;

/// What a record is about, with a stable numeric code for SIEM rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A signed request was refused before it reached a decision.
    #[serde(rename = "request.refused")]
    RequestRefused,
    /// A session was requested.
    #[serde(rename = "session.requested")]
    SessionRequested,
    /// A session request was refused.
    #[serde(rename = "session.refused")]
    SessionRefused,
    /// A session was approved.
    #[serde(rename = "session.approved")]
    SessionApproved,
    /// The end user consented at the endpoint.
    #[serde(rename = "session.consented")]
    SessionConsented,
    /// A session closed (by hand, idle timeout or expiry).
    #[serde(rename = "session.closed")]
    SessionClosed,
    /// The write-up of a session that had closed by itself.
    #[serde(rename = "session.reported")]
    SessionReported,
    /// An invocation was denied.
    #[serde(rename = "invocation.denied")]
    InvocationDenied,
    /// An invocation was held for a second approval.
    #[serde(rename = "invocation.escalated")]
    InvocationEscalated,
    /// An invocation is about to run (written durably before it runs).
    #[serde(rename = "invocation.started")]
    InvocationStarted,
    /// An invocation ended.
    #[serde(rename = "invocation.finished")]
    InvocationFinished,
    /// A host call was refused for lying outside the grant.
    #[serde(rename = "host-call.denied")]
    HostCallDenied,
    /// An escalation was approved.
    #[serde(rename = "escalation.approved")]
    EscalationApproved,
    /// An escalation was denied.
    #[serde(rename = "escalation.denied")]
    EscalationDenied,
    /// An escalation was voided (its session closed).
    #[serde(rename = "escalation.voided")]
    EscalationVoided,
    /// An escalation expired: nobody approved it in time, or its approval
    /// was not used in time.
    #[serde(rename = "escalation.expired")]
    EscalationExpired,
    /// A refusal of an approval or another session change.
    #[serde(rename = "change.refused")]
    ChangeRefused,
    /// The endpoint signed a checkpoint of the chain.
    #[serde(rename = "log.checkpoint")]
    Checkpoint,
    /// The log was opened and a torn final line (never acknowledged) removed.
    #[serde(rename = "log.recovered")]
    Recovered,
    /// The service started.
    #[serde(rename = "service.started")]
    ServiceStarted,
    /// The service stopped.
    #[serde(rename = "service.stopped")]
    ServiceStopped,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 21] = [
        Kind::RequestRefused,
        Kind::SessionRequested,
        Kind::SessionRefused,
        Kind::SessionApproved,
        Kind::SessionConsented,
        Kind::SessionClosed,
        Kind::SessionReported,
        Kind::ChangeRefused,
        Kind::InvocationDenied,
        Kind::InvocationEscalated,
        Kind::InvocationStarted,
        Kind::InvocationFinished,
        Kind::HostCallDenied,
        Kind::EscalationApproved,
        Kind::EscalationDenied,
        Kind::EscalationVoided,
        Kind::EscalationExpired,
        Kind::Checkpoint,
        Kind::Recovered,
        Kind::ServiceStarted,
        Kind::ServiceStopped,
    ];

    /// The stable numeric code: the thousands name the area (1 requests,
    /// 2 sessions, 3 invocations, 4 escalations, 9 the log and service).
    pub const fn code(self) -> u32 {
        match self {
            Kind::RequestRefused => 1001,
            Kind::SessionRequested => 2001,
            Kind::SessionRefused => 2002,
            Kind::SessionApproved => 2003,
            Kind::SessionConsented => 2004,
            Kind::SessionClosed => 2005,
            Kind::SessionReported => 2006,
            Kind::ChangeRefused => 2007,
            Kind::InvocationDenied => 3001,
            Kind::InvocationEscalated => 3002,
            Kind::InvocationStarted => 3003,
            Kind::InvocationFinished => 3004,
            Kind::HostCallDenied => 3005,
            Kind::EscalationApproved => 4001,
            Kind::EscalationDenied => 4002,
            Kind::EscalationVoided => 4003,
            Kind::EscalationExpired => 4004,
            Kind::Checkpoint => 9001,
            Kind::Recovered => 9002,
            Kind::ServiceStarted => 9003,
            Kind::ServiceStopped => 9004,
        }
    }

    /// The dotted name, e.g. `invocation.started`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RequestRefused => "request.refused",
            Kind::SessionRequested => "session.requested",
            Kind::SessionRefused => "session.refused",
            Kind::SessionApproved => "session.approved",
            Kind::SessionConsented => "session.consented",
            Kind::SessionClosed => "session.closed",
            Kind::SessionReported => "session.reported",
            Kind::ChangeRefused => "change.refused",
            Kind::InvocationDenied => "invocation.denied",
            Kind::InvocationEscalated => "invocation.escalated",
            Kind::InvocationStarted => "invocation.started",
            Kind::InvocationFinished => "invocation.finished",
            Kind::HostCallDenied => "host-call.denied",
            Kind::EscalationApproved => "escalation.approved",
            Kind::EscalationDenied => "escalation.denied",
            Kind::EscalationVoided => "escalation.voided",
            Kind::EscalationExpired => "escalation.expired",
            Kind::Checkpoint => "log.checkpoint",
            Kind::Recovered => "log.recovered",
            Kind::ServiceStarted => "service.started",
            Kind::ServiceStopped => "service.stopped",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A record as written. Absent fields are left out of the line; the order
/// of the fields is fixed (it is part of the canonical encoding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was written: RFC 3339, UTC, microseconds.
    pub time: String,
    /// What happened.
    pub kind: Kind,
    /// The kind's stable numeric code.
    pub code: u32,
    /// The principal who acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// A second principal involved (the requester of an approved session, the
    /// invoker of an approved escalation…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// The session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The session's ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Where the request came from, as the endpoint saw it: `ip:port` over
    /// the network, `local:uid=<n>(<name>)` over the local socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The action's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The action's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The action component's sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The sha256 of the invocation's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_digest: Option<String>,
    /// The escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// The invocation, pairing its `invocation.started` and
    /// `invocation.finished` records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<String>,
    /// The decision: `allowed`, `denied`, `escalated`, `refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// A stable reason code (e.g. `out-of-scope`, `bad-signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The reason, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How an invocation ended (`succeeded`, `failed`, a stop reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// How long it took, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// The sha256 of the invocation's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_digest: Option<String>,
    /// Anything else, as a JSON object (a session's scope, a write-up, a
    /// checkpoint's signature…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The previous record's hash.
    #[serde(serialize_with = "hex_digest")]
    pub prev: Sha256Digest,
    /// This record's hash.
    #[serde(serialize_with = "hex_digest")]
    pub hash: Sha256Digest,
}

/// A digest as the lowercase hex string `Sha256Digest` serializes to,
/// encoded on the stack: sealing writes two per record.
fn hex_digest<S: serde::Serializer>(
    digest: &Sha256Digest,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut hex = [0u8; 64];
    hex::encode_to_slice(digest.as_bytes(), &mut hex).map_err(serde::ser::Error::custom)?;
    let text = std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

/// The fields verification needs, read at their fixed places in a sealed
/// line: every record opens with `{"seq":…,"time":"…","kind":"…","code":…`
/// and its canonical part closes with `,"prev":"<64 hex>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineHead<'a> {
    /// The sequence number.
    pub seq: u64,
    /// The kind.
    pub kind: Kind,
    /// The code written beside it.
    pub code: u64,
    /// The previous record's hash, as the line writes it (hex).
    pub prev: &'a [u8],
}

/// Leading ASCII digits as a number, and what follows.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for digit in &bytes[..end] {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some((value, &bytes[end..]))
}

/// Reads the head of a canonical part (a line without its `hash` member),
/// or `None` when the line is not laid out as the log writes it.
pub fn read_head(canonical_without_brace: &[u8]) -> Option<LineHead<'_>> {
    let rest = canonical_without_brace.strip_prefix(b"{\"seq\":")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"time\":\"")?;
    let rest = &rest[rest.iter().position(|b| *b == b'"')?..];
    let rest = rest.strip_prefix(b"\",\"kind\":\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let name = &rest[..end];
    let rest = rest[end..].strip_prefix(b"\",\"code\":")?;
    let (code, _) = number(rest)?;
    // The code tells which kind to compare the name with; only a record
    // whose kind and code disagree (which verify reports) needs a search.
    let kind = Kind::ALL
        .into_iter()
        .find(|k| u64::from(k.code()) == code && k.name().as_bytes() == name)
        .or_else(|| Kind::ALL.into_iter().find(|k| k.name().as_bytes() == name))?;
    const PREV: &[u8] = b",\"prev\":\"";
    let tail = canonical_without_brace
        .len()
        .checked_sub(PREV.len() + 64 + 1)?;
    let closing = &canonical_without_brace[tail..];
    if !closing.starts_with(PREV) || !closing.ends_with(b"\"") {
        return None;
    }
    Some(LineHead {
        seq,
        kind,
        code,
        prev: &closing[PREV.len()..PREV.len() + 64],
    })
}

/// The marker between a record's canonical part and its hash.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";

/// A line split into its canonical encoding and the hash it claims.
pub struct SplitLine<'a> {
    /// The line without `,"hash":"…"` (and with its closing brace).
    pub canonical_without_brace: &'a [u8],
    /// The claimed hash, as hex.
    pub claimed: &'a [u8],
}

/// Splits a line (without its newline) into canonical part and claimed hash.
pub fn split_line(line: &[u8]) -> Option<SplitLine<'_>> {
    // `,"hash":"` + 64 hex + `"}`
    let tail_len = HASH_MEMBER.len() + 64 + 2;
    if line.len() < tail_len + 2 || !line.ends_with(b"\"}") {
        return None;
    }
    let split = line.len() - tail_len;
    if &line[split..split + HASH_MEMBER.len()] != HASH_MEMBER {
        return None;
    }
    Some(SplitLine {
        canonical_without_brace: &line[..split],
        claimed: &line[split + HASH_MEMBER.len()..line.len() - 2],
    })
}

/// The hash of a record whose canonical encoding is
/// `canonical_without_brace` + `}`, following `prev`.
pub fn chain_hash(prev: &Sha256Digest, canonical_without_brace: &[u8]) -> Sha256Digest {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(canonical_without_brace);
    hasher.update(b"}");
    Sha256Digest::from_bytes(hasher.finalize().into())
}

impl Record {
    /// An event of `kind`, to be filled in and then sealed by the log.
    pub fn event(kind: Kind) -> Record {
        Record {
            seq: 0,
            time: String::new(),
            kind,
            code: kind.code(),
            principal: None,
            other: None,
            session: None,
            ticket: None,
            endpoint: None,
            source: None,
            action: None,
            version: None,
            digest: None,
            input_digest: None,
            escalation: None,
            invocation: None,
            decision: None,

            reason_code: None,
            reason: None,
            outcome: None,
            duration_us: None,
            output_digest: None,
            details: None,
            prev: GENESIS,
            hash: GENESIS,
        }
    }

    /// Places this record at `seq` and `time` after `prev`, and returns it
    /// with its line (ending in a newline).
    pub fn seal(
        self,
        seq: u64,
        time: String,
        prev: Sha256Digest,
    ) -> Result<(Record, Vec<u8>), serde_json::Error> {
        let mut line = Vec::with_capacity(768);
        let sealed = self.seal_into(seq, time, prev, &mut line)?;
        Ok((sealed, line))
    }

    /// As [`Record::seal`], appending the line to `out` (a batch being
    /// written) instead of returning it. On error `out` is left as it was.
    pub fn seal_into(
        mut self,
        seq: u64,
        time: String,
        prev: Sha256Digest,
        out: &mut Vec<u8>,
    ) -> Result<Record, serde_json::Error> {
        self.seq = seq;
        self.time = time;
        self.code = self.kind.code();
        self.prev = prev;
        self.hash = GENESIS;
        // Serialize with a placeholder hash, then cut it off: the canonical
        // part is exactly what precedes `,"hash":` in the final line.
        let start = out.len();
        if let Err(error) = serde_json::to_writer(&mut *out, &self) {
            out.truncate(start);
            return Err(error);
        }
        let canonical_end = out.len() - (HASH_MEMBER.len() + 64 + 2);
        self.hash = chain_hash(&prev, &out[start..canonical_end]);
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(self.hash.as_bytes(), &mut hex);
        out.truncate(canonical_end);
        out.extend_from_slice(HASH_MEMBER);
        out.extend_from_slice(&hex);
        out.extend_from_slice(b"\"}\n");
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_verifies_and_any_byte_changed_does_not() {
        let mut event = Record::event(Kind::InvocationStarted);
        event.principal = Some("tom".into());
        event.action = Some("restart-service".into());
        let (record, line) = event
            .seal(7, "2026-11-22T10:15:00.123456Z".into(), GENESIS)
            .unwrap();
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.starts_with(r#"{"seq":7,"time":"2026-11-22T10:15:00.123456Z","kind":"invocation.started","code":3003,"principal":"tom","action":"restart-service","prev":"0000"#), "{text}");
        assert!(text.ends_with("\"}\n"));
        let body = &line[..line.len() - 1];
        let split = split_line(body).unwrap();
        assert_eq!(
            chain_hash(&GENESIS, split.canonical_without_brace),
            record.hash
        );
        assert_eq!(split.claimed, record.hash.to_string().as_bytes());
        let head = read_head(split.canonical_without_brace).unwrap();
        assert_eq!(
            (head.seq, head.kind, head.code),
            (7, Kind::InvocationStarted, 3003)
        );
        assert_eq!(head.prev, GENESIS.to_string().as_bytes());
        let parsed: Record = serde_json::from_slice(body).unwrap();
        assert_eq!(parsed, record);
        // Serialized again (as `export` does), the record is its line byte
        // for byte, so the exported chain verifies too; digests are the hex
        // strings `Sha256Digest` itself serializes to.
        assert_eq!(serde_json::to_vec(&parsed).unwrap(), body);
        assert_eq!(
            serde_json::to_value(record.hash).unwrap(),
            serde_json::to_value(String::from(record.hash)).unwrap()
        );
        for i in 0..body.len() {
            let mut tampered = body.to_vec();
            tampered[i] ^= 0x20;
            let intact = split_line(&tampered).is_some_and(|s| {
                chain_hash(&GENESIS, s.canonical_without_brace)
                    .to_string()
                    .as_bytes()
                    == s.claimed
            });
            assert!(!intact, "flipping byte {i} went unnoticed");
        }
    }

    #[test]
    fn codes_are_unique_in_order_and_names_round_trip() {
        let codes: Vec<u32> = Kind::ALL.iter().map(|k| k.code()).collect();
        // Strictly increasing: in code order, and no code twice.
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        for kind in Kind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }
}
