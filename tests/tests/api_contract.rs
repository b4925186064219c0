//! The contract's reference (docs/reference/api.md) against its types: every
//! example there is read through its type in `salve::api::v1` and written
//! back, and must come back as written — a field renamed, added or dropped in
//! the code fails here until the reference says so.

#![allow(clippy::unwrap_used)]

use salve::api::v1::{
    Activity, AuditPage, AuditVerification, CatalogEntry, Category, EscalationView, Health,
    InvokeAnswer, Operation, Reply, StreamEvent,
};
use salve::outcome::InvocationRecord;
use salve::session::Session;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const REFERENCE: &str = "docs/reference/api.md";

/// The examples of the reference: (type, JSON), from blocks opened with
/// ```` ```json v1:<Type> ````.
fn examples() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(REFERENCE);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut examples = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("```json v1:") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        examples.push((name.trim().to_string(), body.join("\n")));
    }
    examples
}

/// Reads `json` as `T` and writes it back: the same JSON, or why not.
fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> Result<(), String> {
    let typed: T = serde_json::from_str(json).map_err(|e| format!("does not read: {e}"))?;
    let written = serde_json::to_value(&typed).map_err(|e| format!("does not write: {e}"))?;
    let example: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if written == example {
        Ok(())
    } else {
        Err(format!(
            "comes back different:\n  as written: {example}\n  read back:  {written}"
        ))
    }
}

#[test]
fn every_example_in_the_reference_reads_and_writes_back_the_same() {
    let examples = examples();
    let mut seen = BTreeMap::<String, usize>::new();
    let mut wrong = Vec::new();
    for (name, json) in &examples {
        let checked = match name.as_str() {
            "Operation" => round_trip::<Operation>(json),
            "Reply" => round_trip::<Reply<Value>>(json),
            "Session" => round_trip::<Session>(json),
            "InvokeAnswer" => round_trip::<InvokeAnswer>(json),
            "EscalationView" => round_trip::<EscalationView>(json),
            "InvocationRecord" => round_trip::<InvocationRecord>(json),
            "CatalogEntry" => round_trip::<CatalogEntry>(json),
            "Category" => round_trip::<Category>(json),
            "AuditPage" => round_trip::<AuditPage>(json),
            "AuditVerification" => round_trip::<AuditVerification>(json),
            "StreamEvent" => round_trip::<StreamEvent>(json),
            "Activity" => round_trip::<Activity>(json),
            "Health" => round_trip::<Health>(json),
            other => Err(format!("`{other}` is not a type of the contract")),
        };
        *seen.entry(name.clone()).or_default() += 1;
        if let Err(why) = checked {
            wrong.push(format!("{name}: {why}"));
        }
    }
    assert!(wrong.is_empty(), "{REFERENCE}:\n{}", wrong.join("\n"));
    for name in [
        "Operation",
        "Reply",
        "Session",
        "InvokeAnswer",
        "EscalationView",
        "InvocationRecord",
        "CatalogEntry",
        "Category",
        "AuditPage",
        "AuditVerification",
        "StreamEvent",
        "Activity",
        "Health",
    ] {
        assert!(
            seen.contains_key(name),
            "{REFERENCE} has no example of {name}"
        );
    }
    // Each decision of an invocation is shown.
    let decisions: Vec<&str> = examples
        .iter()
        .filter(|(name, _)| name == "InvokeAnswer")
        .filter_map(|(_, json)| {
            ["\"ran\"", "\"denied\"", "\"escalated\""]
                .into_iter()
                .find(|d| json.contains(d))
        })
        .collect();
    assert!(decisions.contains(&"\"ran\"") && decisions.contains(&"\"denied\""));
}

/// The reference's examples are not all the checking: an answer read back
/// with a field it does not know still reads (answers may gain fields
/// within v1), while an operation with one is refused.
#[test]
fn answers_take_new_fields_and_operations_do_not() {
    let answer = r#"{"decision": "denied", "denial": {"code": "prohibited", "message": "m", "since": 2}, "reason": "m", "later": true}"#;
    let read: InvokeAnswer = serde_json::from_str(answer).unwrap();
    assert!(matches!(read, InvokeAnswer::Denied { .. }));
    let operation = r#"{"op": "list-catalog", "surprise": true}"#;
    assert!(serde_json::from_str::<Operation>(operation).is_err());
}
