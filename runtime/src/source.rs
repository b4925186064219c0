//! Where a request came from, as audit records say it (their `source`):
//! written and read by this one type, so that what the service writes is
//! what an export reads back.

use std::fmt;
use std::net::SocketAddr;

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSource {
    /// Over the network, from this address: written `ip:port`.
    Network(SocketAddr),
    /// Over the local socket, from this Unix user as the kernel named it:
    /// written `local:uid=<uid>(<name>)`. With no name for the uid, the
    /// endpoint writes the name `uid <uid>`.
    Local {
        /// The user id.
        uid: u32,
        /// The user name.
        name: String,
    },
    /// Anything else, as an embedder wrote it.
    Other(String),
}

impl RequestSource {
    /// A local user's source.
    pub fn local(uid: u32, name: impl Into<String>) -> RequestSource {
        RequestSource::Local {
            uid,
            name: name.into(),
        }
    }

    /// Reads a record's `source` as [`RequestSource`]'s `Display` writes it;
    /// what is neither an address nor a local user is [`RequestSource::Other`].
    pub fn parse(text: &str) -> RequestSource {
        if let Ok(address) = text.parse() {
            return RequestSource::Network(address);
        }
        let local = text
            .strip_prefix("local:uid=")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|rest| rest.split_once('('))
            .filter(|(uid, _)| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(uid, name)| Some((uid.parse().ok()?, name)));
        match local {
            Some((uid, name)) => RequestSource::local(uid, name),
            None => RequestSource::Other(text.to_string()),
        }
    }

    /// For a local user, their name unless it is the placeholder written for
    /// a uid the system has no name for.
    pub fn local_name(&self) -> Option<&str> {
        match self {
            RequestSource::Local { uid, name }
                if !name.is_empty() && *name != format!("uid {uid}") =>
            {
                Some(name)
            }
            _ => None,
        }
    }
}

impl fmt::Display for RequestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestSource::Network(address) => write!(f, "{address}"),
            RequestSource::Local { uid, name } => write!(f, "local:uid={uid}({name})"),
            RequestSource::Other(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_reads_back_as_written() {
        let sources = [
            RequestSource::Network("192.0.2.7:50123".parse().unwrap()),
            RequestSource::Network("[2001:db8::1]:443".parse().unwrap()),
            RequestSource::local(0, "root"),
            RequestSource::local(4242, "uid 4242"),
            RequestSource::local(1000, "odd(name)"),
            RequestSource::local(7, ""),
            RequestSource::Other("embedder: batch job".into()),
        ];
        for source in sources {
            let written = source.to_string();
            assert_eq!(RequestSource::parse(&written), source, "{written}");
        }
        assert_eq!(
            RequestSource::local(0, "root").to_string(),
            "local:uid=0(root)"
        );
        assert_eq!(RequestSource::local(4242, "uid 4242").local_name(), None);
        assert_eq!(RequestSource::local(0, "root").local_name(), Some("root"));
        // Not a local user: a uid that is not a number, or no closing paren.
        for text in ["local:uid=x(root)", "local:uid=0(root", "local:uid=(root)"] {
            assert_eq!(
                RequestSource::parse(text),
                RequestSource::Other(text.into())
            );
        }
    }
}
