//! Messages larger than the broker carries, sent in parts. A NATS server
//! refuses a message past its `max_payload` (1 MiB by default), and an
//! answer can be larger: an audit page, an invocation with up to 4 MiB of
//! output. Such a message goes as consecutive parts on the same subject,
//! each with the header `Salve-Part: <i>/<n>`; one that fits goes whole,
//! without it. The parts are not signed one by one: the message they make
//! up is (a signed answer or frame), and is checked once put together, so
//! a part altered, dropped or reordered on the way makes it fail.

use async_nats::HeaderMap;
use std::fmt;

/// The header that numbers a part.
pub const PART_HEADER: &str = "Salve-Part";

/// Room left in each part for its headers and the protocol's own.
const HEADROOM: usize = 1024;

/// The most bytes a message put together from parts may have: past it, the
/// parts are refused (a broker cannot make a client hold more).
pub const MAX_WHOLE: usize = 64 << 20;

/// Why parts do not make a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartsError {
    /// The header is not `<i>/<n>` with 1 ≤ i ≤ n.
    Malformed(String),
    /// Not the part due next.
    OutOfOrder {
        expected: (u64, u64),
        got: (u64, u64),
    },
    /// The message would be larger than [`MAX_WHOLE`].
    TooLarge,
    /// A message without the header came before the last part.
    Interrupted,
}

impl fmt::Display for PartsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartsError::Malformed(value) => {
                write!(f, "a part's {PART_HEADER} header `{value}` is not <i>/<n>")
            }
            PartsError::OutOfOrder { expected, got } => write!(
                f,
                "part {}/{} came where part {}/{} was due: parts were lost or reordered on the way",
                got.0, got.1, expected.0, expected.1
            ),
            PartsError::TooLarge => write!(
                f,
                "the parts make up more than {} MiB: refused",
                MAX_WHOLE >> 20
            ),
            PartsError::Interrupted => {
                write!(f, "a whole message came before the last part of another")
            }
        }
    }
}

impl std::error::Error for PartsError {}

/// Publishes `bytes` on `subject`: whole if they fit in what the broker
/// carries, else in numbered parts.
pub async fn publish(
    client: &async_nats::Client,
    subject: async_nats::Subject,
    bytes: Vec<u8>,
) -> Result<(), async_nats::PublishError> {
    let max = client.server_info().max_payload;
    if bytes.len() <= max {
        return client.publish(subject, bytes.into()).await;
    }
    let room = max.saturating_sub(HEADROOM).max(HEADROOM);
    let count = bytes.len().div_ceil(room);
    for (i, chunk) in bytes.chunks(room).enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert(PART_HEADER, format!("{}/{count}", i + 1).as_str());
        client
            .publish_with_headers(subject.clone(), headers, chunk.to_vec().into())
            .await?;
    }
    Ok(())
}

/// Puts messages together from their parts, one message at a time.
#[derive(Debug, Default)]
pub struct Assembly {
    /// The parts so far: (the last one's number, how many), and their bytes.
    partial: Option<((u64, u64), Vec<u8>)>,
}

impl Assembly {
    /// Takes the next message (its `Salve-Part` header, if any, and its
    /// payload): the whole message once it is complete, `None` while parts
    /// are missing.
    pub fn take(
        &mut self,
        header: Option<&str>,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, PartsError> {
        let Some(header) = header else {
            if self.partial.is_some() {
                return Err(PartsError::Interrupted);
            }
            return Ok(Some(payload.to_vec()));
        };
        let part = parse(header)?;
        let expected = match &self.partial {
            None => (1, part.1),
            Some(((last, count), _)) => (last + 1, *count),
        };
        if part != expected {
            return Err(PartsError::OutOfOrder {
                expected,
                got: part,
            });
        }
        let (_, mut bytes) = self.partial.take().unwrap_or_default();
        if bytes.len() + payload.len() > MAX_WHOLE {
            return Err(PartsError::TooLarge);
        }
        bytes.extend_from_slice(payload);
        if part.0 == part.1 {
            return Ok(Some(bytes));
        }
        self.partial = Some((part, bytes));
        Ok(None)
    }
}

/// `<i>/<n>`, 1 ≤ i ≤ n.
fn parse(header: &str) -> Result<(u64, u64), PartsError> {
    let malformed = || PartsError::Malformed(salve::text::escaped(header).into_owned());
    let (i, n) = header.split_once('/').ok_or_else(malformed)?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|_| malformed())?,
        n.parse().map_err(|_| malformed())?,
    );
    if i == 0 || i > n {
        return Err(malformed());
    }
    Ok((i, n))
}

/// The `Salve-Part` header of `message`, if it has one.
pub fn header(message: &async_nats::Message) -> Option<&str> {
    message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(PART_HEADER))
        .map(|value| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_in_order_make_the_message() {
        let mut assembly = Assembly::default();
        assert_eq!(assembly.take(Some("1/3"), b"ab"), Ok(None));
        assert_eq!(assembly.take(Some("2/3"), b"cd"), Ok(None));
        assert_eq!(
            assembly.take(Some("3/3"), b"e"),
            Ok(Some(b"abcde".to_vec()))
        );
        // And the next message starts afresh.
        assert_eq!(assembly.take(None, b"whole"), Ok(Some(b"whole".to_vec())));
        assert_eq!(assembly.take(Some("1/1"), b"x"), Ok(Some(b"x".to_vec())));
    }

    #[test]
    fn parts_lost_reordered_or_made_up_are_refused() {
        let mut assembly = Assembly::default();
        assert!(matches!(
            assembly.take(Some("2/3"), b"x"),
            Err(PartsError::OutOfOrder { .. })
        ));
        let mut assembly = Assembly::default();
        assembly.take(Some("1/3"), b"x").unwrap();
        assert!(matches!(
            assembly.take(Some("3/3"), b"x"),
            Err(PartsError::OutOfOrder { .. })
        ));
        let mut assembly = Assembly::default();
        assembly.take(Some("1/3"), b"x").unwrap();
        assert!(matches!(
            assembly.take(Some("2/4"), b"x"),
            Err(PartsError::OutOfOrder { .. })
        ));
        let mut assembly = Assembly::default();
        assembly.take(Some("1/3"), b"x").unwrap();
        assert_eq!(assembly.take(None, b"x"), Err(PartsError::Interrupted));
        for bad in ["", "1", "0/1", "2/1", "a/b", "1/-1", "1/3/4"] {
            assert!(
                matches!(
                    Assembly::default().take(Some(bad), b"x"),
                    Err(PartsError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parts_cannot_make_a_client_hold_more_than_the_bound() {
        let mut assembly = Assembly::default();
        let chunk = vec![0u8; 1 << 20];
        let mut refused = false;
        for i in 1..=100 {
            match assembly.take(Some(&format!("{i}/100")), &chunk) {
                Ok(None) => {}
                Err(PartsError::TooLarge) => {
                    refused = true;
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(refused);
    }
}
