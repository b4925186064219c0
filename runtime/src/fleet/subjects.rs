//! The NATS subjects of the fleet. Every endpoint listens on subjects of its
//! own, under `salve.v1.ep.<endpoint>.`, so that a broker's permissions can
//! give each endpoint's credentials its own subjects only:
//!
//! - `salve.v1.ep.<endpoint>.req`: signed requests, answered by request/reply
//!   with a [`crate::api::v1::SignedReply`].
//!
//! Reserved for what comes next (the central audit, signed distribution, the
//! fleet's approval queue): `salve.v1.ep.<endpoint>.audit`, the key-value
//! buckets `salve-pending` and `salve-presence`.

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

/// Where `endpoint` takes signed requests.
pub fn request_subject(endpoint: &EndpointName) -> String {
    format!("{PREFIX}.{endpoint}.req")
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
    }
}
