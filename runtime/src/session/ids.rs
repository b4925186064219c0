//! The names of things a session holds: sessions, invocations and
//! escalations (random ids), tickets, and the time as milliseconds.

use crate::random::{NoRandomness, RandomSource, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// A session's identifier: `s-` and 24 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

/// An invocation's identifier: `i-` and 24 hex characters. It pairs the
/// invocation's `started` and `finished` audit records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvocationId(String);

/// An escalation's identifier: `e-` and 24 hex characters.

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EscalationId(String);

macro_rules! random_id {
    ($ty:ident, $prefix:literal, $what:literal) => {
        impl $ty {
            /// A fresh random identifier, from the operating system's
            /// randomness.
            pub fn random() -> Result<$ty, NoRandomness> {
                $ty::random_from(&SystemRandom)
            }

            /// A fresh random identifier, from `source`.
            pub fn random_from(source: &dyn RandomSource) -> Result<$ty, NoRandomness> {
                let mut bytes = [0u8; 12];
                source.fill(&mut bytes)?;
                Ok($ty(format!("{}{}", $prefix, hex::encode(bytes))))
            }

            /// The identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                let valid = text.strip_prefix($prefix).is_some_and(|rest| {
                    rest.len() == 24
                        && rest
                            .chars()
                            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                });
                if !valid {
                    return Err(format!(
                        concat!(
                            "`{}` is not ",
                            $what,
                            " id: they look like `",
                            $prefix,
                            "` and 24 hex characters"
                        ),
                        text
                    ));
                }
                Ok($ty(text.to_string()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                text.parse()
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
random_id!(SessionId, "s-", "a session");
random_id!(EscalationId, "e-", "an escalation");
random_id!(InvocationId, "i-", "an invocation");

/// An ITSM ticket reference, e.g. `INC0012345`: 1 to 64 letters, digits and
/// `._:/-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketId(String);

impl TicketId {
    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TicketId {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
        if !valid {
            return Err(format!(
                "`{text}` is not a ticket reference: use 1 to 64 letters, digits and `._:/-`, e.g. `INC0012345`"
            ));
        }
        Ok(TicketId(text.to_string()))
    }
}

impl TryFrom<String> for TicketId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<TicketId> for String {
    fn from(id: TicketId) -> String {
        id.0
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
