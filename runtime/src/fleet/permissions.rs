//! What each broker user of the fleet may do, as nats-server's
//! configuration writes it (`{ publish: …, subscribe: …, allow_responses: … }`).
//! One source for `salve fleet nats-config` and the fleet's tests.
//!
//! These permissions are defence in depth: nothing of salve's security rests
//! on them (requests and answers are signed end to end), but they keep one
//! endpoint's credentials from reading another's requests or writing its
//! part of the buckets, and people from reading each other's answers.

use super::subjects::{EndpointName, PENDING_BUCKET, PREFIX, PRESENCE_BUCKET};

/// The JetStream API calls that read a key-value bucket (`keys`, `get`): its
/// stream's info, an ordered consumer over it, direct and stored message
/// reads.
fn bucket_reads(bucket: &str) -> Vec<String> {
    let stream = format!("KV_{bucket}");
    [
        format!("STREAM.INFO.{stream}"),
        format!("CONSUMER.CREATE.{stream}"),
        format!("CONSUMER.CREATE.{stream}.>"),
        format!("CONSUMER.DELETE.{stream}.>"),
        format!("DIRECT.GET.{stream}"),
        format!("DIRECT.GET.{stream}.>"),
        format!("STREAM.MSG.GET.{stream}"),
    ]
    .into_iter()
    .map(|api| format!("$JS.API.{api}"))
    .collect()
}

/// `["a", "b"]` as the configuration writes a list.
fn list(subjects: &[String]) -> String {
    let quoted: Vec<String> = subjects.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// An endpoint's user: it takes requests on its own subjects only and reads
/// its own inboxes; it publishes its answers (to the reply subjects of the
/// requests it received), and its own keys in the approval queue and the
/// presence bucket.
pub fn endpoint(name: &EndpointName) -> String {
    let subscribe = [format!("{PREFIX}.{name}.>"), format!("_INBOX_{name}.>")];
    let publish = [
        format!("$KV.{PENDING_BUCKET}.{name}.>"),
        format!("$KV.{PRESENCE_BUCKET}.{name}"),
        format!("$JS.API.STREAM.INFO.KV_{PENDING_BUCKET}"),
        format!("$JS.API.STREAM.INFO.KV_{PRESENCE_BUCKET}"),
    ];
    format!(
        "{{ subscribe: {{ allow: {} }}, publish: {{ allow: {} }}, allow_responses: {ENDPOINT_RESPONSES} }}",
        list(&subscribe),
        list(&publish)
    )
}

/// How an endpoint may answer a request it received: a streamed answer is
/// many messages to the one reply subject (`max: -1`, no count), for as long
/// as an invocation may be followed (an hour), where nats-server's default
/// (`allow_responses: true`) lets one message through within two minutes.
const ENDPOINT_RESPONSES: &str = "{ max: -1, expires: \"1h\" }";

/// The user people's CLI (and the console) connect as, `user`: requests to
/// any endpoint, answers in inboxes of its own, the buckets read.
pub fn people(user: &str) -> String {
    let mut publish = vec![format!("{PREFIX}.*.req"), format!("{PREFIX}.*.stream")];
    publish.extend(bucket_reads(PENDING_BUCKET));
    publish.extend(bucket_reads(PRESENCE_BUCKET));
    format!(
        "{{ publish: {{ allow: {} }}, subscribe: {{ allow: {} }}, allow_responses: true }}",
        list(&publish),
        list(&[format!("_INBOX_{user}.>")])
    )
}

/// The fleet admin's user, `user`: the whole JetStream API (to create the
/// buckets with `salve fleet setup`), answers in inboxes of its own.
pub fn admin(user: &str) -> String {
    format!(
        "{{ publish: {{ allow: [\"$JS.API.>\"] }}, subscribe: {{ allow: {} }} }}",
        list(&[format!("_INBOX_{user}.>")])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_may_touch_its_own_subjects_and_keys_only() {
        let name: EndpointName = "pc-1".parse().unwrap();
        let rules = endpoint(&name);
        assert!(rules.contains("\"salve.v1.ep.pc-1.>\""), "{rules}");
        assert!(rules.contains("\"$KV.salve-pending.pc-1.>\""), "{rules}");
        assert!(rules.contains("\"$KV.salve-presence.pc-1\""), "{rules}");
        assert!(!rules.contains('*'), "a wildcard in {rules}");
        assert_eq!(rules.matches("pc-1").count(), 4, "{rules}");
    }

    #[test]
    fn people_read_the_buckets_but_write_nothing_in_them() {
        let rules = people("people");
        assert!(
            rules.contains("$JS.API.DIRECT.GET.KV_salve-pending"),
            "{rules}"
        );
        assert!(!rules.contains("$KV."), "{rules}");
        assert!(rules.contains("\"_INBOX_people.>\""), "{rules}");
    }
}
