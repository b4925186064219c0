//! The tamper-evident audit log.
//!
//! Every request, decision (with its reason), approval, consent, escalation,
//! invocation start and finish (with outcome and duration), refused host call
//! and session closure is appended as one JSON line to a hash chain
//! ([`record`]), durably and in batches ([`log`]), with periodic checkpoints
//! signed by the endpoint's key ([`checkpoint`]), across rotating segment
//! files ([`segment`]). [`verify`] checks a log without changing it; [`read`]
//! streams its records; [`export`] turns them into JSON lines or OCSF for a
//! SIEM; [`report`] builds post-session reviews and workflow metrics.

pub mod checkpoint;
mod config;
mod copy;
pub mod export;
pub mod log;
pub mod read;
pub mod record;
pub mod report;
pub mod segment;
pub mod verify;
mod writer;

pub use checkpoint::Checkpoint;
pub use log::{
    Appended, AuditConfig, AuditError, AuditLog, DEFAULT_CHECKPOINT_EVERY, MAX_RECORD_BYTES,
    SyncStats, last_signer,
};
pub use record::{Kind, Record};
pub use verify::{Corruption, Verified, VerifyError, verify_dir, verify_dir_with, verify_live};
