//! What the endpoint answers to each operation, as the wire carries it.

use crate::audit::{Record, Verified};
use crate::capability::{Capability, CapabilityClass};
use crate::decision::Denial;
use crate::digest::Sha256Digest;
use crate::endpoint::InvokeOutcome;
use crate::escalation::{Escalation, EscalationStatus};
use crate::manifest::ActionId;
use crate::outcome::{Invocation, InvocationRecord};
use crate::session::{EscalationId, InvocationId, Session, TicketId, UnixMillis};
use serde::{Deserialize, Serialize};

/// The answer to an operation, as [`crate::endpoint::Endpoint::execute`]
/// gives it. It serializes as the answer it holds, with nothing around it:
/// a client knows from the operation it sent which type to read back.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `request-session`, `approve-session`, `close-session`,
    /// `show-session`.
    Session(Session),
    /// `list-sessions`.
    Sessions(Vec<Session>),
    /// `invoke`.
    Invoke(InvokeAnswer),
    /// `show-escalation`, `approve-escalation`, `deny-escalation`.
    Escalation(EscalationView),
    /// `list-escalations`.
    Escalations(Vec<EscalationView>),
    /// `show-invocation`, and the last line of `follow-invocation`.
    Invocation(InvocationRecord),
    /// `list-invocations`.
    Invocations(Vec<InvocationRecord>),
    /// `list-catalog`.
    Catalog(Vec<CatalogEntry>),
    /// `list-categories`.
    Categories(Vec<Category>),
    /// `export-audit`.
    AuditPage(AuditPage),
    /// `verify-audit`.
    AuditVerification(AuditVerification),
}

/// A denial as the wire carries it: its stable code and its sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialAnswer {
    /// The stable code, e.g. `out-of-scope` (docs/reference/errors.md).
    pub code: String,
    /// The sentence that says why.
    pub message: String,
}

impl From<&Denial> for DenialAnswer {
    fn from(denial: &Denial) -> DenialAnswer {
        DenialAnswer {
            code: denial.code().to_string(),
            message: denial.to_string(),
        }
    }
}

/// The answer to `invoke`: what became of the invocation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum InvokeAnswer {
    /// It was allowed and ran; how it ended is in the invocation.
    Ran {
        /// Its id, for `show-invocation`.
        id: InvocationId,
        /// The approval it used, for a privileged action.
        approval: Option<EscalationId>,
        /// What it did.
        invocation: Invocation,
    },
    /// It was denied; nothing ran.
    Denied {
        /// Why, as a code and a sentence.
        denial: DenialAnswer,
        /// The same sentence, for clients that print only this.
        reason: String,
    },
    /// It waits for a second approval; nothing ran.
    Escalated {
        /// The pending escalation.
        escalation: Escalation,
        /// Why an earlier approval does not apply, if one exists.
        note: Option<String>,
    },
}

impl From<&InvokeOutcome> for InvokeAnswer {
    fn from(outcome: &InvokeOutcome) -> InvokeAnswer {
        match outcome {
            InvokeOutcome::Ran {
                id,
                approval,
                invocation,
            } => InvokeAnswer::Ran {
                id: id.clone(),
                approval: approval.clone(),
                invocation: invocation.clone(),
            },
            InvokeOutcome::Denied { denial } => InvokeAnswer::Denied {
                denial: denial.into(),
                reason: denial.to_string(),
            },
            InvokeOutcome::Escalated { escalation, note } => InvokeAnswer::Escalated {
                escalation: escalation.clone(),
                note: note.clone(),
            },
        }
    }
}

impl<'de> Deserialize<'de> for InvokeAnswer {
    /// Read back through a plain struct: serde's tagged enums buffer their
    /// content, which the invocation's raw JSON output cannot go through.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Wire {
            decision: String,
            id: Option<InvocationId>,
            #[serde(default)]
            approval: Option<EscalationId>,
            invocation: Option<Invocation>,
            denial: Option<DenialAnswer>,
            reason: Option<String>,
            escalation: Option<Escalation>,
            #[serde(default)]
            note: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let missing = |field: &'static str| D::Error::missing_field(field);
        Ok(match wire.decision.as_str() {
            "ran" => InvokeAnswer::Ran {
                id: wire.id.ok_or_else(|| missing("id"))?,
                approval: wire.approval,
                invocation: wire.invocation.ok_or_else(|| missing("invocation"))?,
            },
            "denied" => InvokeAnswer::Denied {
                denial: wire.denial.ok_or_else(|| missing("denial"))?,
                reason: wire.reason.ok_or_else(|| missing("reason"))?,
            },
            "escalated" => InvokeAnswer::Escalated {
                escalation: wire.escalation.ok_or_else(|| missing("escalation"))?,
                note: wire.note,
            },
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["ran", "denied", "escalated"],
                ));
            }
        })
    }
}

/// An escalation with where it stands when it is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationView {
    /// The escalation: the exact action, digests and input it holds.
    #[serde(flatten)]
    pub escalation: Escalation,
    /// Where it stands now.
    pub status: EscalationStatus,
}

impl EscalationView {
    /// `escalation` as it stands at `now`.
    pub fn at(escalation: Escalation, now: UnixMillis) -> EscalationView {
        let status = escalation.status(now);
        EscalationView { escalation, status }
    }
}

/// One installed action, as `list-catalog` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The action's id.
    pub id: ActionId,
    /// Its version.
    pub version: semver::Version,
    /// What it does.
    pub description: String,
    /// Its component's sha256.
    pub digest: Sha256Digest,
    /// What it declares.
    pub capabilities: Vec<CatalogCapability>,
    /// What its input is, as its manifest says (absent from endpoints
    /// that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<CatalogInput>,
}

/// A request category the policy says justifies remote access, as
/// `list-categories` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Its name, as a session request gives it.
    pub name: String,
    /// What it means, as the policy says.
    pub description: String,
}

/// An installed action's input, as its manifest describes it: for a form
/// that helps a person write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogInput {
    /// The fields and their meaning, in prose.
    pub description: String,
    /// An example document (JSON text), if the manifest gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// A capability an installed action declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCapability {
    /// Which.
    pub name: Capability,
    /// Its class as this endpoint's policy has it (the policy may class
    /// more as privileged than the runtime does).
    pub class: CapabilityClass,
    /// Its parameters (paths, programs, services, hosts), as declared.
    pub parameters: Vec<String>,
}

/// One page of `export-audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The records after the one asked for, in order, each checked against
    /// the one before it.
    pub records: Vec<Record>,
    /// Whether more follow (ask again after the last one here).
    pub more: bool,
}

/// The answer to `verify-audit`. On the wire: `{"ok": true, "verified":
/// …}`, `{"ok": false, "file", "line", "seq", "error"}` for a corrupt log,
/// `{"ok": false, "error"}` when it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    /// The log verified.
    Verified(Box<Verified>),
    /// The first corrupt record.
    Corrupt {
        /// The segment file.
        file: String,
        /// The line (1-based) in that file.
        line: u64,
        /// The record's sequence number, when it could be read.
        seq: Option<u64>,
        /// What is wrong.
        error: String,
    },
    /// The log could not be verified (it could not be read).
    Failed {
        /// Why.
        error: String,
    },
}

impl Serialize for AuditVerification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            AuditVerification::Verified(verified) => {
                map.serialize_entry("ok", &true)?;
                map.serialize_entry("verified", verified)?;
            }
            AuditVerification::Corrupt {
                file,
                line,
                seq,
                error,
            } => {
                map.serialize_entry("ok", &false)?;
                map.serialize_entry("file", file)?;
                map.serialize_entry("line", line)?;
                map.serialize_entry("seq", seq)?;
                map.serialize_entry("error", error)?;
            }
            AuditVerification::Failed { error } => {
                map.serialize_entry("ok", &false)?;
                map.serialize_entry("error", error)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AuditVerification {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Wire {
            ok: bool,
            verified: Option<Verified>,
            file: Option<String>,
            line: Option<u64>,
            #[serde(default)]
            seq: Option<u64>,
            error: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let missing = |field: &'static str| D::Error::missing_field(field);
        Ok(match (wire.ok, wire.file) {
            (true, _) => AuditVerification::Verified(Box::new(
                wire.verified.ok_or_else(|| missing("verified"))?,
            )),
            (false, Some(file)) => AuditVerification::Corrupt {
                file,
                line: wire.line.ok_or_else(|| missing("line"))?,
                seq: wire.seq,
                error: wire.error.ok_or_else(|| missing("error"))?,
            },
            (false, None) => AuditVerification::Failed {
                error: wire.error.ok_or_else(|| missing("error"))?,
            },
        })
    }
}

/// What ran in a session, for the end user who consented to it
/// (`/v1/activity`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    /// The session, with the closure's write-up once closed.
    pub session: Session,
    /// What ran in it.
    pub invocations: Vec<InvocationRecord>,
}

/// An open escalation as an endpoint keeps it in the fleet's approval queue
/// (signed, under `<endpoint>.escalation.<id>`): what `escalation show`
/// gives, and the ticket of its session (for finding it by ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEscalation {
    /// The escalation, as `escalation show` gives it.
    #[serde(flatten)]
    pub escalation: EscalationView,
    /// Its session's ticket.
    pub ticket: TicketId,
}

/// An endpoint's presence on the fleet, as it publishes it (signed) to the
/// presence bucket every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The endpoint.
    pub endpoint: String,
    /// Its salve version.
    pub version: String,
    /// Its installed actions, `id@version`.
    pub actions: Vec<String>,
    /// The sequence number of its audit log's last record.
    pub audit_seq: u64,
    /// When it published this, by its clock.
    pub seen_ms: UnixMillis,
}
