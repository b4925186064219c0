//! The NATS subjects of the fleet. Every endpoint listens on subjects of its
//! own, under `salve.v1.ep.<endpoint>.`, so that a broker's permissions can
//! give each endpoint's credentials its own subjects only:
//!
//! - `salve.v1.ep.<endpoint>.req`: signed requests, answered by request/reply
//!   with a [`crate::api::v1::SignedReply`];
//! - `salve.v1.ep.<endpoint>.stream`: signed `invoke` and
//!   `follow-invocation` requests whose answer is streamed to the reply
//!   subject in numbered frames, each a [`crate::api::v1::SignedFrame`].
//!
//! Each endpoint also keeps its own keys in two JetStream key-value buckets:
//! the approval queue ([`PENDING_BUCKET`], under `<endpoint>.…`) and its
//! presence ([`PRESENCE_BUCKET`], under `<endpoint>`). Reserved for what
//! comes next (the central audit, signed distribution):
//! `salve.v1.ep.<endpoint>.audit`.

use std::fmt;
use std::str::FromStr;

/// The first tokens of every fleet subject.
pub const PREFIX: &str = "salve.v1.ep";

/// An endpoint's name as it may appear in a subject: 1 to 64 ASCII letters,
/// digits and `-_`, starting with a letter or digit. (A `.` would split the
/// subject, and `*` or `>` would make it a wildcard.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointName(String);

impl EndpointName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EndpointName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(EndpointName(name.to_string()))
        } else {
            Err(format!(
                "`{name}` cannot be a fleet endpoint's name: use 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit"
            ))
        }
    }
}

impl fmt::Display for EndpointName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key-value bucket of the fleet's approval queue: each endpoint's
/// sessions awaiting approval and open escalations, under
/// `<endpoint>.session.<id>` and `<endpoint>.escalation.<id>`, each the
/// answer `show` gives, signed by the endpoint ([`pending_key`]).
pub const PENDING_BUCKET: &str = "salve-pending";

/// The key-value bucket of the endpoints' presence: under `<endpoint>`,
/// what it runs and when it was last seen, signed by the endpoint.
pub const PRESENCE_BUCKET: &str = "salve-presence";

/// The key of a pending item (`kind` is `session` or `escalation`).
pub fn pending_key(endpoint: &EndpointName, kind: &str, id: &str) -> String {
    format!("{endpoint}.{kind}.{id}")
}

/// Where `endpoint` takes signed requests.
pub fn request_subject(endpoint: &EndpointName) -> String {
    format!("{PREFIX}.{endpoint}.req")
}

/// Where `endpoint` takes signed requests whose answer is streamed
/// (`invoke`, `follow-invocation`): it answers to the request's reply
/// subject in numbered, signed frames ([`crate::api::v1::SignedFrame`]).
pub fn stream_subject(endpoint: &EndpointName) -> String {
    format!("{PREFIX}.{endpoint}.stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_break_a_subject_are_refused() {
        for bad in ["", "a.b", "*", ">", "pc 1", "-pc", "pc\n", &"x".repeat(65)] {
            assert!(bad.parse::<EndpointName>().is_err(), "{bad:?}");
        }
        let name: EndpointName = "pc-0421_b".parse().unwrap();
        assert_eq!(request_subject(&name), "salve.v1.ep.pc-0421_b.req");
        assert_eq!(stream_subject(&name), "salve.v1.ep.pc-0421_b.stream");
    }
}
