//! The OCSF export held to the schema it declares, OCSF 1.1.0: every record
//! kind — from the log of a real `salve serve`, and from a log holding each
//! kind as the endpoint writes it — exported by `salve audit export --format
//! ocsf` and checked against the *API Activity* class (6003) as written down
//! below from the schema: its attributes and theirs, their types, which are
//! required, the objects' constraints, the profiles, and the enumerations.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

#[path = "support/service.rs"]
mod support;

use salve::api::v1::{InvokeAnswer, Operation};
use salve::audit::{AuditConfig, AuditLog, Kind, Record, segment};
use salve::identity::KeyPair;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// OCSF 1.1.0, written down from the schema's files at its tag `v1.1.0`
/// (github.com/ocsf/ocsf-schema): `events/base_event.json` with
/// `includes/classification.json` and `includes/occurrence.json`,
/// `events/application/application.json` and `events/application/api.json`
/// (API Activity), the objects under `objects/` and the types in
/// `dictionary.json` — the class and every object the export writes, each
/// with all of its attributes, so that one unknown to 1.1.0 is caught.
mod ocsf {
    use serde_json::Value;

    /// The version the export must declare.
    pub const VERSION: &str = "1.1.0";

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Req {
        Required,
        Recommended,
        Optional,
    }
    use Req::{Optional, Recommended, Required};

    #[derive(Clone, Copy, Debug)]
    pub enum Ty {
        /// `string_t`, and the string types whose pattern no export writes
        /// (`username_t`, `process_name_t`, `email_t`, `mac_t`, `url_t`).
        Str,
        /// `integer_t`: a signed 32-bit integer.
        Int,
        /// `long_t`: a signed 64-bit integer.
        Long,
        /// `timestamp_t`: milliseconds since the epoch, a `long_t`.
        Timestamp,
        /// `port_t`: an integer from 0 to 65535.
        Port,
        /// `ip_t`: an IPv4 or IPv6 address.
        Ip,
        /// `hostname_t`: dot-separated labels of letters, digits and inner
        /// dashes.
        Hostname,
        /// `object`: any JSON object (as `unmapped` is).
        AnyObject,
        /// One of the objects of [`object`].
        Obj(&'static str),
    }
    use Ty::{AnyObject, Hostname, Int, Ip, Long, Obj, Port, Str, Timestamp};

    pub struct Attr {
        pub name: &'static str,
        pub ty: Ty,
        pub req: Req,
        pub array: bool,
        /// The profile that adds the attribute: it belongs to an event only
        /// when `metadata.profiles` lists that profile.
        pub profile: Option<&'static str>,
    }

    const fn a(name: &'static str, ty: Ty, req: Req) -> Attr {
        Attr {
            name,
            ty,
            req,
            array: false,
            profile: None,
        }
    }

    const fn many(name: &'static str, ty: Ty, req: Req) -> Attr {
        Attr {
            name,
            ty,
            req,
            array: true,
            profile: None,
        }
    }

    const fn from(profile: &'static str, name: &'static str, ty: Ty, req: Req) -> Attr {
        Attr {
            name,
            ty,
            req,
            array: false,
            profile: Some(profile),
        }
    }

    /// An enumerated attribute: the id attribute, the attribute holding its
    /// caption, and the values with their captions. For 99 (*Other*) the
    /// caption is the source's own.
    pub type Enum = (&'static str, &'static str, &'static [(i64, &'static str)]);

    pub struct Object {
        pub name: &'static str,
        pub attributes: &'static [Attr],
        /// At least one of these must be present.
        pub at_least_one: &'static [&'static str],
        pub enums: &'static [Enum],
    }

    /// The profiles that apply to API Activity in 1.1.0: those of the base
    /// event. `host` is not among them (it comes to API Activity in later
    /// versions), so `device`, which only the host profile adds, is no
    /// attribute of this class in 1.1.0.
    pub const CLASS_PROFILES: &[&str] = &["cloud", "datetime"];

    pub const CLASS_UID: i64 = 6003;
    pub const CLASS_NAME: &str = "API Activity";
    pub const CATEGORY_UID: i64 = 6;
    pub const CATEGORY_NAME: &str = "Application Activity";

    const ACTIVITY: &[(i64, &str)] = &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Read"),
        (3, "Update"),
        (4, "Delete"),
        (99, "Other"),
    ];
    const SEVERITY: &[(i64, &str)] = &[
        (0, "Unknown"),
        (1, "Informational"),
        (2, "Low"),
        (3, "Medium"),
        (4, "High"),
        (5, "Critical"),
        (6, "Fatal"),
        (99, "Other"),
    ];
    const STATUS: &[(i64, &str)] = &[
        (0, "Unknown"),
        (1, "Success"),
        (2, "Failure"),
        (99, "Other"),
    ];

    /// API Activity: the base event (with its classification and occurrence
    /// attributes and its profiles' attributes), Application Activity (which
    /// adds none) and the class's own.
    pub const API_ACTIVITY: Object = Object {
        name: "API Activity",
        attributes: &[
            a("activity_id", Int, Required),
            a("activity_name", Str, Optional),
            a("actor", Obj("actor"), Required),
            // The cloud profile names `api` too; the class makes it its own.
            a("api", Obj("api"), Required),
            a("category_name", Str, Optional),
            a("category_uid", Int, Required),
            a("class_name", Str, Optional),
            a("class_uid", Int, Required),
            from("cloud", "cloud", Obj("cloud"), Required),
            a("count", Int, Optional),
            a("dst_endpoint", Obj("network_endpoint"), Optional),
            a("duration", Int, Optional),
            a("end_time", Timestamp, Optional),
            many("enrichments", Obj("enrichment"), Optional),
            a("http_request", Obj("http_request"), Optional),
            a("message", Str, Recommended),
            a("metadata", Obj("metadata"), Required),
            many("observables", Obj("observable"), Optional),
            a("raw_data", Str, Optional),
            many("resources", Obj("resource_details"), Recommended),
            a("severity", Str, Optional),
            a("severity_id", Int, Required),
            a("src_endpoint", Obj("network_endpoint"), Required),
            a("start_time", Timestamp, Optional),
            a("status", Str, Optional),
            a("status_code", Str, Optional),
            a("status_detail", Str, Optional),
            a("status_id", Int, Recommended),
            a("time", Timestamp, Required),
            a("timezone_offset", Int, Recommended),
            a("type_name", Str, Optional),
            a("type_uid", Long, Required),
            a("unmapped", AnyObject, Optional),
        ],
        at_least_one: &[],
        enums: &[
            ("activity_id", "activity_name", ACTIVITY),
            ("severity_id", "severity", SEVERITY),
            ("status_id", "status", STATUS),
        ],
    };

    const ENTITY: &[&str] = &["name", "uid"];

    /// The objects the export may write, by name.
    pub fn object(name: &str) -> Option<&'static Object> {
        static OBJECTS: &[Object] = &[
            Object {
                name: "metadata",
                attributes: &[
                    a("correlation_uid", Str, Optional),
                    a("event_code", Str, Optional),
                    a("extension", Obj("extension"), Optional),
                    many("extensions", Obj("extension"), Optional),
                    many("labels", Str, Optional),
                    a("log_level", Str, Optional),
                    a("log_name", Str, Recommended),
                    a("log_provider", Str, Recommended),
                    a("log_version", Str, Optional),
                    a("logged_time", Timestamp, Optional),
                    many("loggers", Obj("logger"), Optional),
                    a("modified_time", Timestamp, Optional),
                    a("original_time", Str, Recommended),
                    a("processed_time", Timestamp, Optional),
                    a("product", Obj("product"), Required),
                    many("profiles", Str, Optional),
                    a("sequence", Int, Optional),
                    a("tenant_uid", Str, Recommended),
                    a("uid", Str, Optional),
                    a("version", Str, Required),
                ],
                at_least_one: &[],
                enums: &[],
            },
            Object {
                name: "product",
                attributes: &[
                    a("cpe_name", Str, Optional),
                    a("feature", Obj("feature"), Optional),
                    a("lang", Str, Optional),
                    a("name", Str, Recommended),
                    a("path", Str, Optional),
                    a("uid", Str, Recommended),
                    a("url_string", Str, Optional),
                    a("vendor_name", Str, Required),
                    a("version", Str, Recommended),
                ],
                at_least_one: ENTITY,
                enums: &[],
            },
            Object {
                name: "api",
                attributes: &[
                    a("group", Obj("group"), Optional),
                    a("operation", Str, Required),
                    a("request", Obj("request"), Recommended),
                    a("response", Obj("response"), Recommended),
                    a("service", Obj("service"), Optional),
                    a("version", Str, Optional),
                ],
                at_least_one: &[],
                enums: &[],
            },
            Object {
                name: "service",
                attributes: &[
                    many("labels", Str, Optional),
                    a("name", Str, Recommended),
                    a("uid", Str, Recommended),
                    a("version", Str, Recommended),
                ],
                at_least_one: ENTITY,
                enums: &[],
            },
            Object {
                name: "actor",
                attributes: &[
                    many("authorizations", Obj("authorization"), Optional),
                    a("idp", Obj("idp"), Optional),
                    a("invoked_by", Str, Optional),
                    a("process", Obj("process"), Recommended),
                    a("session", Obj("session"), Optional),
                    a("user", Obj("user"), Recommended),
                ],
                // `app_name` is not here: it came in 1.2.0.
                at_least_one: &["process", "user", "invoked_by", "session"],
                enums: &[],
            },
            Object {
                name: "user",
                attributes: &[
                    a("account", Obj("account"), Optional),
                    a("credential_uid", Str, Optional),
                    a("domain", Str, Optional),
                    a("email_addr", Str, Optional),
                    a("full_name", Str, Optional),
                    many("groups", Obj("group"), Optional),
                    a("ldap_person", Obj("ldap_person"), Optional),
                    a("name", Str, Recommended),
                    a("org", Obj("organization"), Optional),
                    a("type", Str, Optional),
                    a("type_id", Int, Recommended),
                    a("uid", Str, Recommended),
                    a("uid_alt", Str, Optional),
                ],
                at_least_one: &["account", "name", "uid"],
                enums: &[(
                    "type_id",
                    "type",
                    &[
                        (0, "Unknown"),
                        (1, "User"),
                        (2, "Admin"),
                        (3, "System"),
                        (99, "Other"),
                    ],
                )],
            },
            Object {
                name: "account",
                attributes: &[
                    a("name", Str, Recommended),
                    a("type", Str, Optional),
                    a("type_id", Int, Recommended),
                    a("uid", Str, Recommended),
                ],
                at_least_one: ENTITY,
                enums: &[(
                    "type_id",
                    "type",
                    &[
                        (0, "Unknown"),
                        (1, "LDAP Account"),
                        (2, "Windows Account"),
                        (3, "AWS IAM User"),
                        (4, "AWS IAM Role"),
                        (5, "GCP Account"),
                        (6, "Azure AD Account"),
                        (7, "Mac OS Account"),
                        (8, "Apple Account"),
                        (9, "Linux Account"),
                        (10, "AWS Account"),
                        (99, "Other"),
                    ],
                )],
            },
            Object {
                name: "network_endpoint",
                attributes: &[
                    from("container", "container", Obj("container"), Recommended),
                    a("domain", Str, Optional),
                    a("hostname", Hostname, Recommended),
                    a("hw_info", Obj("device_hw_info"), Optional),
                    a("instance_uid", Str, Recommended),
                    a("interface_name", Str, Recommended),
                    a("interface_uid", Str, Recommended),
                    many("intermediate_ips", Ip, Optional),
                    a("ip", Ip, Recommended),
                    a("location", Obj("location"), Optional),
                    a("mac", Str, Optional),
                    a("name", Str, Recommended),
                    from("container", "namespace_pid", Int, Recommended),
                    a("os", Obj("os"), Optional),
                    a("port", Port, Recommended),
                    a("proxy_endpoint", Obj("network_proxy"), Optional),
                    a("subnet_uid", Str, Optional),
                    a("svc_name", Str, Recommended),
                    a("type", Str, Optional),
                    a("type_id", Int, Recommended),
                    a("uid", Str, Recommended),
                    a("vlan_uid", Str, Optional),
                    a("vpc_uid", Str, Optional),
                    a("zone", Str, Optional),
                ],
                at_least_one: &[
                    "ip",
                    "uid",
                    "name",
                    "hostname",
                    "svc_name",
                    "instance_uid",
                    "interface_uid",
                    "interface_name",
                ],
                enums: &[(
                    "type_id",
                    "type",
                    &[
                        (0, "Unknown"),
                        (1, "Server"),
                        (2, "Desktop"),
                        (3, "Laptop"),
                        (4, "Tablet"),
                        (5, "Mobile"),
                        (6, "Virtual"),
                        (7, "IOT"),
                        (8, "Browser"),
                        (9, "Firewall"),
                        (10, "Switch"),
                        (11, "Hub"),
                        (99, "Other"),
                    ],
                )],
            },
        ];
        OBJECTS.iter().find(|o| o.name == name)
    }

    /// What is wrong with `event` as an OCSF 1.1.0 API Activity event, one
    /// sentence each; empty when nothing is.
    pub fn problems(event: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let profiles: Vec<&str> = event["metadata"]["profiles"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for profile in &profiles {
            if !CLASS_PROFILES.contains(profile) {
                problems.push(format!(
                    "metadata.profiles lists `{profile}`, which is not a profile of API Activity in {VERSION}"
                ));
            }
        }
        check_object("", &API_ACTIVITY, event, &profiles, &mut problems);
        let int = |name: &str| event[name].as_i64();
        if int("class_uid") != Some(CLASS_UID) {
            problems.push(format!(
                "class_uid is {}, not {CLASS_UID}",
                event["class_uid"]
            ));
        }
        if int("category_uid") != Some(CATEGORY_UID) {
            problems.push(format!(
                "category_uid is {}, not {CATEGORY_UID}",
                event["category_uid"]
            ));
        }
        for (name, expected) in [("class_name", CLASS_NAME), ("category_name", CATEGORY_NAME)] {
            if event.get(name).is_some_and(|v| v != expected) {
                problems.push(format!("{name} is {}, not `{expected}`", event[name]));
            }
        }
        if let (Some(class), Some(activity)) = (int("class_uid"), int("activity_id")) {
            if int("type_uid") != Some(class * 100 + activity) {
                problems.push(format!(
                    "type_uid is {}, not class_uid × 100 + activity_id = {}",
                    event["type_uid"],
                    class * 100 + activity
                ));
            }
            if let (Some(type_name), Some(activity_name)) =
                (event["type_name"].as_str(), event["activity_name"].as_str())
                && type_name != format!("{CLASS_NAME}: {activity_name}")
            {
                problems.push(format!(
                    "type_name is `{type_name}`, not `{CLASS_NAME}: {activity_name}`"
                ));
            }
        }
        if event["metadata"]["version"] != VERSION {
            problems.push(format!(
                "metadata.version is {}, not the version these events follow, {VERSION}",
                event["metadata"]["version"]
            ));
        }
        problems
    }

    fn check_object(
        path: &str,
        object: &Object,
        value: &Value,
        profiles: &[&str],
        problems: &mut Vec<String>,
    ) {
        let at = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        };
        let Some(members) = value.as_object() else {
            problems.push(format!(
                "`{}` is {value}, not a `{}` object",
                if path.is_empty() { "the event" } else { path },
                object.name
            ));
            return;
        };
        let applies = |attr: &Attr| attr.profile.is_none_or(|p| profiles.contains(&p));
        for (name, member) in members {
            let Some(attr) = object.attributes.iter().find(|a| a.name == *name) else {
                problems.push(format!(
                    "`{}` is not an attribute of `{}` in OCSF {VERSION}",
                    at(name),
                    object.name
                ));
                continue;
            };
            if !applies(attr) {
                problems.push(format!(
                    "`{}` belongs to the {} profile, which metadata.profiles does not list",
                    at(name),
                    attr.profile.unwrap_or_default()
                ));
            }
            if attr.array {
                match member.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            check_value(
                                &format!("{}[{i}]", at(name)),
                                attr.ty,
                                item,
                                profiles,
                                problems,
                            );
                        }
                    }
                    None => problems.push(format!("`{}` is {member}, not an array", at(name))),
                }
            } else {
                check_value(&at(name), attr.ty, member, profiles, problems);
            }
        }
        for attr in object.attributes {
            if attr.req == Required && applies(attr) && !members.contains_key(attr.name) {
                problems.push(format!(
                    "`{}` is missing: `{}` requires it",
                    at(attr.name),
                    object.name
                ));
            }
        }
        if !object.at_least_one.is_empty()
            && !object.at_least_one.iter().any(|n| members.contains_key(*n))
        {
            problems.push(format!(
                "`{}` has none of {}: `{}` needs at least one",
                if path.is_empty() { "the event" } else { path },
                object.at_least_one.join(", "),
                object.name
            ));
        }
        for (id, caption, values) in object.enums {
            let Some(given) = members.get(*id) else {
                continue;
            };
            match values.iter().find(|(v, _)| given.as_i64() == Some(*v)) {
                None => problems.push(format!(
                    "`{}` is {given}, not one of the values `{}` defines",
                    at(id),
                    object.name
                )),
                Some((99, _)) => {}
                Some((_, expected)) => {
                    if let Some(named) = members.get(*caption)
                        && named != expected
                    {
                        problems.push(format!(
                            "`{}` is {named}, not `{expected}`, the caption of {} {given}",
                            at(caption),
                            at(id)
                        ));
                    }
                }
            }
        }
    }

    fn check_value(
        path: &str,
        ty: Ty,
        value: &Value,
        profiles: &[&str],
        problems: &mut Vec<String>,
    ) {
        let ok = match ty {
            Str => value.as_str().is_some_and(|s| s.len() <= 65_535),
            Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Long | Timestamp => value.as_i64().is_some(),
            Port => value.as_u64().is_some_and(|n| n <= 65_535),
            Ip => value
                .as_str()
                .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
            Hostname => value.as_str().is_some_and(is_hostname),
            AnyObject => value.is_object(),
            Obj(name) => {
                match object(name) {
                    Some(object) => check_object(path, object, value, profiles, problems),
                    None => problems.push(format!(
                        "`{path}` is a `{name}` object, which this test does not describe yet: write it down from the OCSF {VERSION} schema"
                    )),
                }
                return;
            }
        };
        if !ok {
            problems.push(format!("`{path}` is {value}, not of the type {ty:?}"));
        }
    }

    /// `hostname_t`'s pattern: labels of letters and digits, with dashes
    /// inside, joined by dots.
    fn is_hostname(name: &str) -> bool {
        name.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
    }

    #[test]
    fn the_description_catches_what_1_1_0_does_not_allow() {
        let good = serde_json::json!({
            "class_uid": 6003, "category_uid": 6, "activity_id": 1, "type_uid": 600301,
            "time": 1, "severity_id": 1,
            "actor": { "invoked_by": "x" },
            "api": { "operation": "x" },
            "src_endpoint": { "name": "x" },
            "metadata": { "version": VERSION, "product": { "vendor_name": "x", "name": "x" } },
        });
        assert_eq!(problems(&good), Vec::<String>::new());
        let with = |pointer: &str, value: Value| {
            let mut event = good.clone();
            let (parent, name) = pointer.rsplit_once('/').unwrap();
            event.pointer_mut(parent).unwrap()[name] = value;
            problems(&event)
        };
        let without = |pointer: &str| {
            let mut event = good.clone();
            let (parent, name) = pointer.rsplit_once('/').unwrap();
            event
                .pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(name);
            problems(&event)
        };
        for (pointer, value) in [
            ("/actor/app_name", serde_json::json!("salve")),
            ("/device", serde_json::json!({ "name": "pc" })),
            ("/metadata/profiles", serde_json::json!(["host"])),
            ("/cloud", serde_json::json!({ "provider": "x" })),
            ("/time", serde_json::json!("2026-01-01T00:00:00Z")),
            ("/activity_id", serde_json::json!(7)),
            ("/type_uid", serde_json::json!(600399)),
            ("/src_endpoint/port", serde_json::json!(70_000)),
            (
                "/src_endpoint/hostname",
                serde_json::json!("local:uid=0(root)"),
            ),
            ("/actor/user", serde_json::json!({ "type_id": 0 })),
            (
                "/actor/user",
                serde_json::json!({ "name": "x", "type_id": 1, "type": "Admin" }),
            ),
            ("/metadata/sequence", serde_json::json!(1u64 << 40)),
        ] {
            assert!(
                !with(pointer, value.clone()).is_empty(),
                "{pointer} = {value}"
            );
        }
        for pointer in [
            "/time",
            "/api/operation",
            "/src_endpoint",
            "/metadata/product/vendor_name",
        ] {
            assert!(!without(pointer).is_empty(), "without {pointer}");
        }
        let mut no_actor = good.clone();
        no_actor["actor"] = serde_json::json!({});
        assert!(!problems(&no_actor).is_empty());
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The log in `dir` exported with `--format` `format`, one JSON value a line.
fn export(dir: &Path, format: &str) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(["audit", "export", "--format", format, "--log"])
        .arg(dir)
        .env_remove("SALVE_LOG")
        .env_remove("SALVE_AUDIT_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exports the log in `dir` as OCSF and holds every event to API Activity
/// 1.1.0 and to where each of its record's values belongs; returns the
/// kinds of the records exported.
fn check_log(dir: &Path) -> BTreeSet<String> {
    let records = export(dir, "jsonl");
    let events = export(dir, "ocsf");
    assert_eq!(records.len(), events.len());
    let mut problems = BTreeMap::<String, Vec<String>>::new();
    let mut kinds = BTreeSet::new();
    for (record, event) in records.iter().zip(&events) {
        let kind = record["kind"].as_str().unwrap().to_string();
        kinds.insert(kind.clone());
        let mut found = ocsf::problems(event);
        found.extend(placement(record, event));
        if !found.is_empty() {
            problems
                .entry(format!("#{} {kind}", record["seq"]))
                .or_default()
                .extend(found);
        }
    }
    assert!(
        problems.is_empty(),
        "events that are not OCSF {} API Activity, or put a value where the schema does not mean it:\n{}",
        ocsf::VERSION,
        problems
            .iter()
            .map(|(record, found)| format!("{record}:\n  {}", found.join("\n  ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    kinds
}

/// Where the record's values went, checked against what each attribute
/// means: the principal is the user who acted (and `actor.user.uid` holds
/// nothing but principal ids); a local user is a Linux account, never an
/// endpoint's id; the endpoint is the destination, or the source of what
/// it does by itself; nothing happened at the epoch.
fn placement(record: &Value, event: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    fn expect(wrong: &mut Vec<String>, what: &str, got: &Value, want: &Value) {
        if got != want {
            wrong.push(format!("{what} is {got}, expected {want}"));
        }
    }
    let principal = &record["principal"];
    let source = record["source"].as_str();
    let local = source.and_then(|s| s.strip_prefix("local:uid="));
    let user = &event["actor"]["user"];
    expect(&mut wrong, "actor.user.uid", &user["uid"], principal);
    match (principal.as_str(), local) {
        (Some(_), _) => {}
        (None, Some(local)) => {
            let (uid, name) = local.split_once('(').unwrap();
            let name = name.strip_suffix(')').unwrap();
            expect(
                &mut wrong,
                "actor.user.account (the local user)",
                &user["account"],
                &json!({ "type_id": 9, "type": "Linux Account", "uid": uid, "name": name }),
            );
            expect(&mut wrong, "actor.user.name", &user["name"], &json!(name));
        }
        (None, None) if source.is_some() => {}
        (None, None) => expect(
            &mut wrong,
            "actor (no request behind the record)",
            &event["actor"],
            &json!({ "invoked_by": "salve" }),
        ),
    }
    let endpoint = &event["src_endpoint"];
    match source {
        Some(source) if local.is_none() => {
            let address: std::net::SocketAddr = source.parse().unwrap();
            expect(
                &mut wrong,
                "src_endpoint",
                endpoint,
                &json!({ "ip": address.ip().to_string(), "port": address.port() }),
            );
        }
        _ => {
            for attribute in ["uid", "name", "hostname"] {
                if endpoint[attribute]
                    .as_str()
                    .is_some_and(|v| v.contains("uid=") || local.is_some_and(|l| l.starts_with(v)))
                {
                    wrong.push(format!(
                        "src_endpoint.{attribute} is {}: a local user is no endpoint",
                        endpoint[attribute]
                    ));
                }
            }
        }
    }
    if let Some(id) = record["endpoint"].as_str() {
        expect(
            &mut wrong,
            "dst_endpoint (the endpoint)",
            &event["dst_endpoint"],
            &json!({ "name": id, "svc_name": "salve" }),
        );
        if source.is_none() {
            expect(
                &mut wrong,
                "src_endpoint (the endpoint itself)",
                endpoint,
                &event["dst_endpoint"],
            );
        }
    }
    let time = humantime::parse_rfc3339(record["time"].as_str().unwrap()).unwrap();
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    expect(&mut wrong, "time", &event["time"], &json!(ms));
    expect(
        &mut wrong,
        "metadata.original_time",
        &event["metadata"]["original_time"],
        &record["time"],
    );
    expect(
        &mut wrong,
        "metadata.uid",
        &event["metadata"]["uid"],
        &record["hash"],
    );
    expect(
        &mut wrong,
        "metadata.sequence",
        &event["metadata"]["sequence"],
        &record["seq"],
    );
    wrong
}

/// A record about session `s-0123…`, on endpoint pc-0421.
fn about(kind: Kind, who: Option<&str>, source: Option<&str>) -> Record {
    let mut record = Record::event(kind);
    record.session = Some("s-0123456789abcdef01234567".to_string());
    record.ticket = Some("INC0012345".to_string());
    record.endpoint = Some("pc-0421".to_string());
    record.principal = who.map(str::to_string);
    record.source = source.map(str::to_string);
    record
}

/// A refusal as the endpoint writes it.
fn refused(kind: Kind, who: Option<&str>, source: Option<&str>, code: &str) -> Record {
    let mut record = about(kind, who, source);
    record.session = None;
    record.ticket = None;
    record.decision = Some("refused".to_string());
    record.reason_code = Some(code.to_string());
    record.reason = Some(format!("refused: {code}"));
    record
}

/// A record about an invocation as the endpoint writes it.
fn invocation(kind: Kind, decision: &str) -> Record {
    let mut record = about(kind, Some("tom"), Some("[2001:db8::7]:50123"));
    record.action = Some("restart-service".to_string());
    record.version = Some("1.0.0".to_string());
    record.digest = Some("cd".repeat(32));
    record.input_digest = Some("ab".repeat(32));
    record.decision = Some(decision.to_string());
    record
}

/// One record of every kind, with the fields the endpoint gives it and the
/// sources it comes from: a principal over the local socket (run as root)
/// or the network, a local user, an unauthenticated client, or nothing (what
/// the endpoint does by itself).
fn every_kind() -> Vec<Record> {
    let root = Some("local:uid=0(root)");
    let alice = Some("local:uid=1000(alice)");
    let network = Some("192.0.2.9:40000");
    let mut started = about(Kind::ServiceStarted, None, None);
    started.session = None;
    started.ticket = None;
    started.reason = Some("salve 1.0.0 started".to_string());
    let mut stopped = started.clone();
    stopped.kind = Kind::ServiceStopped;
    stopped.reason = Some("stopped on SIGTERM".to_string());
    let mut requested = about(Kind::SessionRequested, Some("alice"), root);
    requested.other = Some("tom".to_string());
    requested.details = Some(json!({"problem": "Slow.", "scope": {"allowed": ["echo"]}}));
    let mut approved = about(Kind::SessionApproved, Some("ann"), root);
    approved.other = Some("alice".to_string());
    let mut consented = about(Kind::SessionConsented, None, alice);
    consented.details = Some(json!({"uid": 1000, "user": "alice"}));
    let mut escalated = invocation(Kind::InvocationEscalated, "escalated");
    escalated.escalation = Some("e-0123456789abcdef01234567".to_string());
    let escalation = |kind: Kind, by: Option<&str>| {
        let mut record = invocation(kind, "escalated");
        record.kind = kind;
        record.decision = None;
        record.principal = by.map(str::to_string);
        record.source = by.and(root).map(str::to_string);
        record.other = Some("tom".to_string());
        record.escalation = Some("e-0123456789abcdef01234567".to_string());
        record
    };
    let approved_escalation = escalation(Kind::EscalationApproved, Some("carol"));
    let denied_escalation = escalation(Kind::EscalationDenied, Some("carol"));
    let voided = escalation(Kind::EscalationVoided, Some("tom"));
    let expired = escalation(Kind::EscalationExpired, None);
    let mut run = invocation(Kind::InvocationStarted, "allowed");
    run.invocation = Some("i-1".to_string());
    let mut finished = run.clone();
    finished.kind = Kind::InvocationFinished;
    finished.outcome = Some("succeeded".to_string());
    finished.duration_us = Some(1234);
    finished.output_digest = Some("ef".repeat(32));
    let mut host_call = run.clone();
    host_call.kind = Kind::HostCallDenied;
    host_call.decision = Some("denied".to_string());
    host_call.reason = Some("`/etc/shadow` is outside the paths granted".to_string());
    host_call.details =
        Some(json!({"capability": "files-read", "function": "read", "target": "/etc/shadow"}));
    let mut denied = invocation(Kind::InvocationDenied, "denied");
    denied.reason_code = Some("out-of-scope".to_string());
    denied.reason = Some("restart-service is outside the session's scope".to_string());
    let mut closed = about(Kind::SessionClosed, None, None);
    closed.details = Some(json!({"how": "idle-timeout", "resolved": false}));
    let mut reported = about(Kind::SessionReported, Some("tom"), root);
    reported.details = Some(json!({"resolved": true, "summary": "Restarted the spooler."}));
    let mut counted = refused(Kind::RequestRefused, None, network, "bad-signature");
    counted.details = Some(json!({"count": 120}));
    let mut busy = refused(Kind::RequestRefused, None, None, "busy");
    busy.details = Some(json!({"count": 3}));
    vec![
        started,
        refused(Kind::RequestRefused, None, network, "malformed-request"),
        refused(Kind::RequestRefused, None, alice, "no-key"),
        refused(Kind::RequestRefused, Some("tom"), root, "stale-request"),
        counted,
        busy,
        requested,
        refused(
            Kind::SessionRefused,
            Some("tom"),
            network,
            "category-not-allowed",
        ),
        approved,
        refused(
            Kind::ChangeRefused,
            Some("alice"),
            root,
            "separation-of-duties",
        ),
        consented,
        denied,
        escalated,
        approved_escalation,
        denied_escalation,
        run,
        finished,
        host_call,
        voided,
        expired,
        closed,
        reported,
        stopped,
    ]
}

#[test]
fn every_record_kind_exports_as_ocsf_1_1_0_api_activity() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit");
    let key = Arc::new(KeyPair::generate().unwrap());
    let config = || {
        let mut config = AuditConfig::new(&log);
        config.checkpoint_every = 8;
        config.checkpoint_key = Some(key.clone());
        config
    };
    let audit = AuditLog::open(config()).unwrap();
    for record in every_kind() {
        audit.append(record).unwrap();
    }
    audit.close();
    // A torn last line, as a crash leaves it: opening the log repairs it and
    // says so in a `log.recovered` record.
    let last = segment::list(&log).unwrap().last().unwrap().path.clone();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    file.write_all(br#"{"seq":99,"time":"20"#).unwrap();
    drop(file);
    AuditLog::open(config()).unwrap().close();

    let kinds = check_log(&log);
    let all: BTreeSet<String> = Kind::ALL.iter().map(|k| k.name().to_string()).collect();
    assert_eq!(kinds, all, "one record of every kind");
}

fn key_file(service: &support::Service, who: &str) -> String {
    let path = service.dir.path().join(format!("{who}.key"));
    if !path.exists() {
        service.keys[who]
            .write(&path, Some(&who.parse().unwrap()))
            .unwrap();
    }
    path.to_str().unwrap().to_string()
}

/// `salve` with `args`, against the service's socket.
fn cli(service: &support::Service, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_salve"))
        .args(args)
        .env("SALVE_SOCKET", service.socket())
        .env_remove("SALVE_LOG")
        .output()
        .unwrap()
}

#[test]
fn the_log_of_a_real_service_exports_as_ocsf_1_1_0_api_activity() {
    // This test's user may consent (under a real policy, root may not).
    let uid = nix::unistd::getuid().as_raw();
    let mut service = support::stage_with_policy(
        Path::new(env!("CARGO_BIN_EXE_salve")),
        "",
        &format!("consent-min-uid = {uid}"),
    );
    let socket = service.socket();
    // Unauthenticated: not a signed request.
    let (status, _) = support::http(&socket, "POST", "/v1/requests", b"not json").unwrap();
    assert_eq!(status, 400);
    // A session refused, one requested, a self-approval refused, approval.
    let (status, _) = service.request("tom", "tom", "curiosity", &["echo"], &[], false);
    assert_eq!(status, 403);
    let session = service.privileged_session();
    // Consent at the endpoint, from a local user.
    let (_, answer) = service.ask(
        "tom",
        &Operation::RequestSession {
            request: salve::session::SessionRequest {
                ticket: "INC7".parse().unwrap(),
                problem: "Printer.".into(),
                category: "incident".into(),
                endpoint: "pc-test".into(),
                technician: "tom".parse().unwrap(),
                scope: salve::session::Scope {
                    allowed: vec!["echo".parse().unwrap()],
                    prohibited: Default::default(),
                    privileged: false,
                },
                attended: true,
                idle_minutes: 30,
                duration_minutes: 60,
            },
        },
    );
    let attended = answer.result::<salve::session::Session>().id;
    let (status, answer) = service.ask("tom", &service.approval(&attended));
    assert_ne!(status, 200, "{answer}");
    let (status, _) = service.ask("ann", &service.approval(&attended));
    assert_eq!(status, 200);
    let body = serde_json::to_vec(&json!({ "session": attended })).unwrap();
    let (status, answer) = support::http(&socket, "POST", "/v1/consent", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    // Over TLS, from the network: an invocation, and a consent refused.
    let (_, health) = support::http(&socket, "GET", "/v1/health", b"").unwrap();
    let pin = health.health().tls_fingerprint.unwrap();
    let url = format!("127.0.0.1:{}", service.port);
    let tom = key_file(&service, "tom");
    let out = cli(
        &service,
        &[
            "invoke",
            attended.as_str(),
            "echo",
            "--input",
            "{}",
            "--url",
            &url,
            "--pin",
            &pin,
            "--key",
            &tom,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cli(
        &service,
        &[
            "session",
            "consent",
            attended.as_str(),
            "--url",
            &url,
            "--pin",
            &pin,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // Denied; escalated, approved, run with a host call refused; escalated
    // and denied; escalated and voided by the closure.
    let invoke_as = |who: &str, action: &str, input: Value| {
        let (status, answer) = service.ask(
            who,
            &Operation::Invoke {
                session: session.clone(),
                action: action.parse().unwrap(),
                input,
            },
        );
        assert_eq!(status, 200, "{answer}");
        answer.result::<InvokeAnswer>()
    };
    let invoke = |action: &str, input: Value| invoke_as("tom", action, input);
    assert!(matches!(
        invoke_as("carol", "echo", json!({})),
        InvokeAnswer::Denied { .. }
    ));
    let outside = json!({"mode": "read", "path": "/etc/passwd"});
    let operation = service.approve_hostile(&session, &outside);
    let (status, answer) = service.ask("tom", &operation);
    assert_eq!(status, 200, "{answer}");
    let InvokeAnswer::Escalated {
        escalation: held, ..
    } = invoke("hostile", json!({"mode": "hostname"}))
    else {
        panic!("hostname was not held for approval");
    };
    let escalation = held.id;
    let deny = Operation::DenyEscalation {
        escalation,
        reason: "not today".into(),
    };
    assert_eq!(service.ask("carol", &deny).0, 200);
    assert!(matches!(
        invoke("hostile", json!({"mode": "status", "service": "cron"})),
        InvokeAnswer::Escalated { .. }
    ));
    let (status, answer) = service.ask(
        "tom",
        &Operation::CloseSession {
            session: session.clone(),
            report: salve::session::ClosureReport {
                resolved: Some(true),
                summary: Some("Looked around.".into()),
                follow_up: None,
            },
        },
    );
    assert_eq!(status, 200, "{answer}");
    service.signal(nix::sys::signal::Signal::SIGTERM);
    // A torn last line, as a crash leaves it: the next start repairs it.
    let log = service.dir.path().join("data/audit");
    let last = segment::list(&log).unwrap().last().unwrap().path.clone();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    file.write_all(br#"{"seq":"#).unwrap();
    drop(file);
    service.start();
    service.signal(nix::sys::signal::Signal::SIGTERM);

    let kinds = check_log(&log);
    // All but what takes minutes to happen (an escalation expiring, the
    // write-up of a session that closed by itself): the test above has
    // those.
    let expected: BTreeSet<String> = Kind::ALL
        .iter()
        .filter(|k| !matches!(k, Kind::EscalationExpired | Kind::SessionReported))
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(
        kinds, expected,
        "the walk gives every kind a service writes in seconds"
    );
}
