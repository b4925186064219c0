//! Exporting records to an organization's log pipeline: as the JSON lines
//! they are (hash chain included, so the SIEM can verify them too), or as
//! OCSF events.
//!
//! OCSF mapping: every record is an *API Activity* (class 6003, category 6
//! *Application Activity*) — an operation on the endpoint's API. Requests
//! that create something (a session, an escalation) are activity 1 *Create*;
//! approvals, consents and closures are 3 *Update*; everything else is 99
//! *Other*. Refusals and denials have status *Failure* and medium severity; a
//! host call denied inside the sandbox has high severity. `type_uid` is
//! `class_uid * 100 + activity_id`; `time` is in milliseconds; `metadata`
//! carries the OCSF version, the product, the record's sequence number and
//! hash; `device` is the endpoint the record is about (its `endpoint`
//! field); `src_endpoint` is where the request came from (the record's
//! `source`): `ip` and `port` for a request over the network, the endpoint
//! itself (with the local user's id as `uid`) for one over its local socket;
//! a record about no request (a sweep, a checkpoint) has none. Fields
//! without an OCSF home are kept under `unmapped`.

use super::record::{Kind, Record};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.1.0";

const API_ACTIVITY: u32 = 6003;

/// The record's time, when it can be read.
pub fn record_time(record: &Record) -> Option<SystemTime> {
    humantime::parse_rfc3339(&record.time).ok()
}

fn activity(kind: Kind) -> (u32, &'static str) {
    match kind {
        Kind::SessionRequested | Kind::InvocationEscalated => (1, "Create"),
        Kind::SessionApproved
        | Kind::SessionConsented
        | Kind::SessionClosed
        | Kind::SessionReported
        | Kind::EscalationApproved
        | Kind::EscalationDenied
        | Kind::EscalationVoided
        | Kind::EscalationExpired => (3, "Update"),
        _ => (99, "Other"),
    }
}

/// Whether the record reports something refused or failed.
fn failed(record: &Record) -> bool {
    matches!(
        record.kind,
        Kind::RequestRefused
            | Kind::SessionRefused
            | Kind::ChangeRefused
            | Kind::InvocationDenied
            | Kind::HostCallDenied
    ) || (record.kind == Kind::InvocationFinished && record.outcome.as_deref() != Some("succeeded"))
}

/// The record as an OCSF API Activity event.
pub fn ocsf(record: &Record) -> Value {
    let (activity_id, activity_name) = activity(record.kind);
    let failure = failed(record);
    let (severity_id, severity) = match record.kind {
        Kind::HostCallDenied => (4, "High"),
        _ if failure => (3, "Medium"),
        Kind::Recovered => (3, "Medium"),
        _ => (1, "Informational"),
    };
    let time_ms = record_time(record)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut message = record.kind.name().to_string();
    if let Some(action) = &record.action {
        message.push(' ');
        message.push_str(action);
    }
    if let Some(reason) = &record.reason {
        message.push_str(": ");
        message.push_str(reason);
    }
    let mut unmapped = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Some(object) = unmapped.as_object_mut() {
        for mapped in [
            "time",
            "principal",
            "kind",
            "code",
            "seq",
            "hash",
            "session",
            "reason",
            "endpoint",
            "source",
        ] {
            object.remove(mapped);
        }
    }
    let mut event = json!({
        "class_uid": API_ACTIVITY,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": API_ACTIVITY * 100 + activity_id,
        "type_name": format!("API Activity: {activity_name}"),
        "time": time_ms,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": if failure { 2 } else { 1 },
        "status": if failure { "Failure" } else { "Success" },
        "status_code": record.reason_code.as_deref().or(record.outcome.as_deref()),
        "status_detail": record.reason,
        "message": message,
        "actor": actor(record),
        "api": {
            "operation": record.kind.name(),
            "service": { "name": "salve" },
        },
        "metadata": {
            "version": OCSF_VERSION,
            "product": { "name": "salve", "vendor_name": "salve", "version": env!("CARGO_PKG_VERSION") },
            "log_name": "audit",
            "uid": record.hash.to_string(),
            "sequence": record.seq,
            "original_time": record.time,
            "correlation_uid": record.session,
            "event_code": record.code.to_string(),
        },
        "unmapped": unmapped,
    });
    if let (Some(endpoint), Some(object)) = (&record.endpoint, event.as_object_mut()) {
        object.insert(
            "device".to_string(),
            json!({ "hostname": endpoint, "name": endpoint, "type_id": 0, "type": "Unknown" }),
        );
    }
    if let Some(object) = event.as_object_mut() {
        // Required by the class: where the request came from, or, for what
        // the endpoint does by itself, the endpoint.
        let from = match &record.source {
            Some(source) => src_endpoint(source, record.endpoint.as_deref()),
            None => json!({ "hostname": record.endpoint, "name": "salve" }),
        };
        object.insert("src_endpoint".to_string(), from);
    }
    without_nulls(&mut event);
    event
}

/// Leaves out what a record does not have: OCSF omits absent attributes
/// rather than giving them as `null`.
fn without_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, v| !v.is_null());
            object.values_mut().for_each(without_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

/// Who acted: the principal; else the local account a request came from
/// (the end user's consent); else an unauthenticated client (a refused
/// request from the network); else, with no source at all, the endpoint
/// itself (the sweep, checkpoints).
fn actor(record: &Record) -> Value {
    if let Some(principal) = &record.principal {
        return json!({ "user": { "uid": principal, "name": principal } });
    }
    match record.source.as_deref() {
        Some(source) => match local_account(source) {
            Some((uid, name)) => json!({ "user": { "uid": uid, "name": name } }),
            None => {
                json!({ "user": { "name": "unauthenticated", "type_id": 0, "type": "Unknown" } })
            }
        },
        None => json!({ "app_name": "salve" }),
    }
}

/// `local:uid=<n>(<name>)`: the uid and the name.
fn local_account(source: &str) -> Option<(&str, &str)> {
    let rest = source.strip_prefix("local:uid=")?;
    let (uid, name) = rest.split_once('(')?;
    Some((uid, name.strip_suffix(')').unwrap_or(name)))
}

/// A record's `source` as an OCSF Network Endpoint.
fn src_endpoint(source: &str, endpoint: Option<&str>) -> Value {
    if let Ok(address) = source.parse::<std::net::SocketAddr>() {
        return json!({ "ip": address.ip().to_string(), "port": address.port() });
    }
    // `local:uid=<n>(<name>)`: the endpoint itself, a local account.
    let uid = source
        .strip_prefix("local:uid=")
        .and_then(|rest| rest.split('(').next());
    json!({ "hostname": endpoint, "name": source, "uid": uid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::GENESIS;

    #[test]
    fn a_denial_maps_to_a_failed_api_activity() {
        let mut record = Record::event(Kind::InvocationDenied);
        record.principal = Some("alice".into());
        record.action = Some("restart-service".into());
        record.reason_code = Some("out-of-scope".into());
        record.reason = Some("restart-service@1.0.0 is outside the scope".into());
        let (record, _) = record
            .seal(9, "2026-11-22T10:15:00.123456Z".into(), GENESIS)
            .unwrap();
        let event = ocsf(&record);
        assert_eq!(event["class_uid"], 6003);
        assert_eq!(event["activity_id"], 99);
        assert_eq!(event["type_uid"], 600399);
        assert_eq!(event["time"], 1_795_342_500_123u64);
        assert_eq!(event["status"], "Failure");
        assert_eq!(event["status_code"], "out-of-scope");
        assert_eq!(event["severity_id"], 3);
        assert_eq!(event["actor"]["user"]["uid"], "alice");
        assert_eq!(event["metadata"]["version"], OCSF_VERSION);
        assert_eq!(event["metadata"]["sequence"], 9);
        assert_eq!(event["metadata"]["event_code"], "3001");
        assert_eq!(event["unmapped"]["action"], "restart-service");
        // Not about an endpoint: no device; no request from elsewhere: the
        // source is salve itself.
        assert!(event.get("device").is_none());
        assert_eq!(event["src_endpoint"], json!({ "name": "salve" }));
    }

    #[test]
    fn the_endpoint_is_the_device_and_the_source_is_where_the_request_came_from() {
        let mut record = Record::event(Kind::InvocationStarted);
        record.endpoint = Some("pc-0421".into());
        let (record, _) = record
            .seal(3, "2026-11-22T10:15:00.123456Z".into(), GENESIS)
            .unwrap();
        let event = ocsf(&record);
        assert_eq!(event["device"]["hostname"], "pc-0421");
        assert_eq!(event["device"]["type_id"], 0);
        // No request from elsewhere: the endpoint itself (the class requires one).
        assert_eq!(event["src_endpoint"]["hostname"], "pc-0421");
        assert_eq!(event["src_endpoint"]["name"], "salve");
        assert_eq!(event["actor"]["app_name"], "salve");
        assert!(event["unmapped"].get("endpoint").is_none());
        // What the record does not have is left out, never `null`.
        fn nulls(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::Null => true,
                serde_json::Value::Object(o) => o.values().any(nulls),
                serde_json::Value::Array(a) => a.iter().any(nulls),
                _ => false,
            }
        }
        assert!(!nulls(&event), "{event}");

        // Over the network: its address.
        let mut remote = Record::event(Kind::InvocationStarted);
        remote.endpoint = Some("pc-0421".into());
        remote.source = Some("192.0.2.7:51234".into());
        let (remote, _) = remote
            .seal(4, "2026-11-22T10:15:01.000000Z".into(), GENESIS)
            .unwrap();
        let event = ocsf(&remote);
        assert_eq!(event["src_endpoint"]["ip"], "192.0.2.7");
        assert_eq!(event["src_endpoint"]["port"], 51234);
        assert!(event["unmapped"].get("source").is_none());

        // Over the local socket (a consent): the endpoint, a local account.
        let mut consent = Record::event(Kind::SessionConsented);
        consent.endpoint = Some("pc-0421".into());
        consent.source = Some("local:uid=1000(alice)".into());
        let (consent, _) = consent
            .seal(5, "2026-11-22T10:15:02.000000Z".into(), GENESIS)
            .unwrap();
        let event = ocsf(&consent);
        assert_eq!(event["src_endpoint"]["hostname"], "pc-0421");
        assert_eq!(event["src_endpoint"]["uid"], "1000");
        assert_eq!(event["device"]["name"], "pc-0421");
        // The end user consented, not the endpoint.
        assert_eq!(event["actor"]["user"]["uid"], "1000");
        assert_eq!(event["actor"]["user"]["name"], "alice");

        // A request from the network refused before anyone was authenticated.
        let mut refused = Record::event(Kind::RequestRefused);
        refused.source = Some("192.0.2.9:4000".into());
        let (refused, _) = refused
            .seal(6, "2026-11-22T10:15:03.000000Z".into(), GENESIS)
            .unwrap();
        let event = ocsf(&refused);
        assert_eq!(event["actor"]["user"]["name"], "unauthenticated");
        assert!(event["actor"].get("app_name").is_none());
    }
}
