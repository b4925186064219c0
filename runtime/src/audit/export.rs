//! Exporting records to an organization's log pipeline: as the JSON lines
//! they are (hash chain included, so the SIEM can verify them too), or as
//! OCSF events.
//!
//! OCSF mapping: every record is an *API Activity* event (class 6003,
//! category 6 *Application Activity*) of OCSF 1.1.0, the version the events
//! declare, with no profile applied — an operation on the endpoint's API.
//! Requests that create something (a session, an escalation) are activity 1
//! *Create*; approvals, consents and closures are 3 *Update*; everything
//! else is 99 *Other*. Refusals and denials have status *Failure* and medium
//! severity; a host call denied inside the sandbox has high severity.
//! `type_uid` is `class_uid * 100 + activity_id`; `time` is in milliseconds
//! (`timezone_offset` 0: records are written in UTC), and a record whose
//! time does not read is not exported ([`event`] says which). `metadata`
//! carries the OCSF version, the product, the record's sequence number and
//! hash, its time as written and its session (`correlation_uid`).
//!
//! Who acted (`actor`): the record's principal is `actor.user` (`uid` and
//! `name` the principal's id — `actor.user.uid` holds nothing but principal
//! ids); with no principal, a local user the kernel named (the end user
//! consenting, a keyless local request refused) is `actor.user`, with their
//! *Linux Account* (`uid` the numeric user id) as `account`; a client from
//! the network nobody authenticated is the user `unauthenticated`, of type
//! *Unknown*; and a record with neither principal nor source (the service
//! starting and stopping, the sweep, checkpoints, a repair) was written by
//! the service by itself: `actor.invoked_by` is `salve`.
//!
//! Where (`dst_endpoint`, `src_endpoint`): the endpoint's salve service is
//! the destination — `svc_name` `salve`, `name` the endpoint's id when the
//! record names it. (1.1.0's API Activity has no `device`: the host profile
//! does not apply to it.) The source is where the request came from, the
//! record's `source`: `ip` and `port` over the network; over the local
//! socket, the endpoint itself (`name` its id); with no source, the
//! endpoint's salve service, as the destination. The local user of a
//! request a principal signed has no OCSF home: the record's `source` stays
//! under `unmapped`, as does every other field without one (and a `seq`
//! too large for OCSF's 32-bit `sequence`).

use super::record::{Kind, Record};
use crate::source::RequestSource;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.1.0";

const API_ACTIVITY: u32 = 6003;

/// The name the service goes by in the events.
const SERVICE: &str = "salve";

/// The record's time, when it can be read.
pub fn record_time(record: &Record) -> Option<SystemTime> {
    humantime::parse_rfc3339(&record.time).ok()
}

/// Why a record cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Its time is not one an OCSF event can carry.
    #[error(
        "record {seq} ({kind}) cannot be exported as OCSF: its time `{time}` is not an RFC 3339 UTC time from 1970 on, and every OCSF event needs one"
    )]
    Time {
        /// The record's sequence number.
        seq: u64,
        /// Its kind.
        kind: Kind,
        /// Its time as written (made safe to print, and cut short).
        time: String,
    },
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

/// The record as an OCSF event, to serialize: serializing it fails, saying
/// why as [`event`] does, for a record that cannot be one.
pub struct Ocsf(Result<Value, ExportError>);

impl Ocsf {
    /// The event, or why the record cannot be one.
    pub fn into_result(self) -> Result<Value, ExportError> {
        self.0
    }
}

impl serde::Serialize for Ocsf {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Ok(event) => event.serialize(serializer),
            Err(error) => Err(serde::ser::Error::custom(error)),
        }
    }
}

/// The record as an OCSF API Activity event, ready to serialize.
pub fn ocsf(record: &Record) -> Ocsf {
    Ocsf(event(record))
}

/// The record as an OCSF API Activity event; refused for a record whose
/// time does not read (OCSF requires a time, and none is made up).
pub fn event(record: &Record) -> Result<Value, ExportError> {
    let time_ms = record_time(record)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| ExportError::Time {
            seq: record.seq,
            kind: record.kind,
            time: crate::text::clipped(&crate::text::escaped(&record.time), 64).into_owned(),
        })?;
    let (activity_id, activity_name) = activity(record.kind);
    let failure = failed(record);
    let (severity_id, severity) = match record.kind {
        Kind::HostCallDenied => (4, "High"),
        _ if failure => (3, "Medium"),
        Kind::Recovered => (3, "Medium"),
        _ => (1, "Informational"),
    };
    let mut message = record.kind.name().to_string();
    if let Some(action) = &record.action {
        message.push(' ');
        message.push_str(action);
    }
    if let Some(reason) = &record.reason {
        message.push_str(": ");
        message.push_str(reason);
    }
    let source = record.source.as_deref().map(RequestSource::parse);
    // OCSF's `sequence` is a 32-bit integer: a larger one stays unmapped.
    let sequence = i32::try_from(record.seq).ok();
    let mut unmapped = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Some(object) = unmapped.as_object_mut() {
        for mapped in [
            "time",
            "principal",
            "kind",
            "code",
            "hash",
            "session",
            "reason",
            "endpoint",
        ] {
            object.remove(mapped);
        }
        if sequence.is_some() {
            object.remove("seq");
        }
        // The source is mapped, but for the local user of a request a
        // principal signed.
        if record.principal.is_none() || !matches!(source, Some(RequestSource::Local { .. })) {
            object.remove("source");
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
        "timezone_offset": 0,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": if failure { 2 } else { 1 },
        "status": if failure { "Failure" } else { "Success" },
        "status_code": record.reason_code.as_deref().or(record.outcome.as_deref()),
        "status_detail": record.reason,
        "message": message,
        "actor": actor(record, source.as_ref()),
        "api": {
            "operation": record.kind.name(),
            "service": { "name": SERVICE },
        },
        "src_endpoint": src_endpoint(record, source.as_ref()),
        "dst_endpoint": service_endpoint(record),
        "metadata": {
            "version": OCSF_VERSION,
            "product": { "name": SERVICE, "vendor_name": SERVICE, "version": env!("CARGO_PKG_VERSION") },
            "log_name": "audit",
            "uid": record.hash.to_string(),
            "sequence": sequence,
            "original_time": record.time,
            "correlation_uid": record.session,
            "event_code": record.code.to_string(),
        },
        "unmapped": unmapped,
    });
    without_nulls(&mut event);
    Ok(event)
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

/// Who acted: the principal; else the local user a request came from (the
/// end user's consent); else an unauthenticated client (a request refused
/// before anyone was authenticated); else, with no request behind the
/// record, the service itself (the sweep, checkpoints).
fn actor(record: &Record, source: Option<&RequestSource>) -> Value {
    if let Some(principal) = &record.principal {
        return json!({ "user": { "uid": principal, "name": principal } });
    }
    match source {
        Some(local @ RequestSource::Local { uid, .. }) => {
            let name = local.local_name();
            json!({
                "user": {
                    "name": name,
                    "account": { "type_id": 9, "type": "Linux Account", "uid": uid.to_string(), "name": name },
                }
            })
        }
        Some(RequestSource::Network(_) | RequestSource::Other(_)) => {
            json!({ "user": { "name": "unauthenticated", "type_id": 0, "type": "Unknown" } })
        }
        None => json!({ "invoked_by": SERVICE }),
    }
}

/// The endpoint's salve service, named by the endpoint's id when the record
/// has it.
fn service_endpoint(record: &Record) -> Value {
    json!({ "name": record.endpoint, "svc_name": SERVICE })
}

/// Where the request came from, as an OCSF Network Endpoint.
fn src_endpoint(record: &Record, source: Option<&RequestSource>) -> Value {
    match source {
        Some(RequestSource::Network(address)) => {
            json!({ "ip": address.ip().to_string(), "port": address.port() })
        }
        // The local socket: the endpoint itself.
        Some(RequestSource::Local { .. }) => match &record.endpoint {
            Some(endpoint) => json!({ "name": endpoint }),
            None => json!({ "hostname": "localhost" }),
        },
        Some(RequestSource::Other(source)) => json!({ "name": source }),
        None => service_endpoint(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::GENESIS;

    fn sealed(record: Record, seq: u64, time: &str) -> Record {
        record.seal(seq, time.into(), GENESIS).unwrap().0
    }

    #[test]
    fn a_denial_maps_to_a_failed_api_activity() {
        let mut record = Record::event(Kind::InvocationDenied);
        record.principal = Some("alice".into());
        record.action = Some("restart-service".into());
        record.reason_code = Some("out-of-scope".into());
        record.reason = Some("restart-service@1.0.0 is outside the scope".into());
        let event = event(&sealed(record, 9, "2026-11-22T10:15:00.123456Z")).unwrap();
        assert_eq!(event["class_uid"], 6003);
        assert_eq!(event["activity_id"], 99);
        assert_eq!(event["type_uid"], 600399);
        assert_eq!(event["time"], 1_795_342_500_123u64);
        assert_eq!(event["timezone_offset"], 0);
        assert_eq!(event["status"], "Failure");
        assert_eq!(event["status_code"], "out-of-scope");
        assert_eq!(event["severity_id"], 3);
        assert_eq!(
            event["actor"],
            json!({ "user": { "uid": "alice", "name": "alice" } })
        );
        assert_eq!(event["metadata"]["version"], OCSF_VERSION);
        assert_eq!(event["metadata"]["sequence"], 9);
        assert_eq!(event["metadata"]["event_code"], "3001");
        assert!(event["metadata"].get("profiles").is_none());
        assert_eq!(event["unmapped"]["action"], "restart-service");
        // Not about an endpoint, no request from elsewhere: salve itself.
        assert!(event.get("device").is_none());
        assert_eq!(event["src_endpoint"], json!({ "svc_name": "salve" }));
        assert_eq!(event["dst_endpoint"], json!({ "svc_name": "salve" }));
    }

    #[test]
    fn the_endpoint_is_the_destination_and_the_source_is_where_the_request_came_from() {
        let mut record = Record::event(Kind::ServiceStarted);
        record.endpoint = Some("pc-0421".into());
        let event = event(&sealed(record, 3, "2026-11-22T10:15:00.123456Z")).unwrap();
        let salve = json!({ "name": "pc-0421", "svc_name": "salve" });
        assert_eq!(event["dst_endpoint"], salve);
        // No request from elsewhere: the endpoint's service, by itself.
        assert_eq!(event["src_endpoint"], salve);
        assert_eq!(event["actor"], json!({ "invoked_by": "salve" }));
        assert!(event.get("device").is_none());
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

        // Over the network: its address; the principal acted.
        let mut remote = Record::event(Kind::InvocationStarted);
        remote.principal = Some("tom".into());
        remote.endpoint = Some("pc-0421".into());
        remote.source = Some("192.0.2.7:51234".into());
        let event = super::event(&sealed(remote, 4, "2026-11-22T10:15:01Z")).unwrap();
        assert_eq!(
            event["src_endpoint"],
            json!({ "ip": "192.0.2.7", "port": 51234 })
        );
        assert_eq!(event["dst_endpoint"], salve);
        assert_eq!(event["actor"]["user"]["uid"], "tom");
        assert!(event["unmapped"].get("source").is_none());

        // Over the local socket, signed by a principal: the endpoint itself;
        // the Unix user the request came from is no user id of OCSF's here.
        let mut local = Record::event(Kind::SessionApproved);
        local.principal = Some("ann".into());
        local.endpoint = Some("pc-0421".into());
        local.source = Some("local:uid=0(root)".into());
        let event = super::event(&sealed(local, 5, "2026-11-22T10:15:02Z")).unwrap();
        assert_eq!(event["src_endpoint"], json!({ "name": "pc-0421" }));
        assert_eq!(
            event["actor"],
            json!({ "user": { "uid": "ann", "name": "ann" } })
        );
        assert_eq!(event["unmapped"]["source"], "local:uid=0(root)");

        // The end user's consent: the local user acted, a Linux account.
        let mut consent = Record::event(Kind::SessionConsented);
        consent.endpoint = Some("pc-0421".into());
        consent.source = Some("local:uid=1000(alice)".into());
        let event = super::event(&sealed(consent, 6, "2026-11-22T10:15:03Z")).unwrap();
        assert_eq!(event["src_endpoint"], json!({ "name": "pc-0421" }));
        assert_eq!(
            event["actor"],
            json!({ "user": {
                "name": "alice",
                "account": { "type_id": 9, "type": "Linux Account", "uid": "1000", "name": "alice" },
            } })
        );
        assert!(event["actor"]["user"].get("uid").is_none());
        assert!(event["unmapped"].get("source").is_none());
        // A uid the system had no name for: the account alone.
        let mut nameless = Record::event(Kind::RequestRefused);
        nameless.source = Some("local:uid=4242(uid 4242)".into());
        let event = super::event(&sealed(nameless, 7, "2026-11-22T10:15:04Z")).unwrap();
        assert_eq!(
            event["actor"],
            json!({ "user": { "account": { "type_id": 9, "type": "Linux Account", "uid": "4242" } } })
        );
        assert_eq!(event["src_endpoint"], json!({ "hostname": "localhost" }));

        // A request from the network refused before anyone was authenticated.
        let mut refused = Record::event(Kind::RequestRefused);
        refused.source = Some("192.0.2.9:4000".into());
        let event = super::event(&sealed(refused, 8, "2026-11-22T10:15:05Z")).unwrap();
        assert_eq!(event["actor"]["user"]["name"], "unauthenticated");
        assert_eq!(event["actor"]["user"]["type_id"], 0);
    }

    #[test]
    fn a_record_whose_time_does_not_read_is_refused_not_dated_1970() {
        for time in [
            "yesterday",
            "",
            "2026-11-22 10:15:00",
            "1969-12-31T23:59:59Z",
        ] {
            let record = sealed(Record::event(Kind::ServiceStarted), 12, time);
            let error = event(&record).unwrap_err().to_string();
            assert!(
                error.starts_with(
                    "record 12 (service.started) cannot be exported as OCSF: its time"
                ),
                "{error}"
            );
            assert!(error.contains(&format!("`{time}`")), "{error}");
            // Serializing says the same.
            let failed = serde_json::to_string(&ocsf(&record)).unwrap_err();
            assert_eq!(failed.to_string(), error);
        }
        // What a terminal would act on is not printed as it is.
        let record = sealed(Record::event(Kind::ServiceStarted), 13, "\u{1b}[2J");
        assert!(!event(&record).unwrap_err().to_string().contains('\u{1b}'));
    }

    #[test]
    fn a_sequence_number_past_ocsf_s_integers_stays_unmapped() {
        let record = sealed(
            Record::event(Kind::Checkpoint),
            u64::from(u32::MAX) + 1,
            "2026-11-22T10:15:00Z",
        );
        let event = event(&record).unwrap();
        assert!(event["metadata"].get("sequence").is_none());
        assert_eq!(event["unmapped"]["seq"], u64::from(u32::MAX) + 1);
    }
}
