//! Version 1 of the contract: what `/v1/...` carries.
//!
//! A signed request ([`crate::identity::SignedRequest`]) carries one
//! [`Operation`]; the endpoint answers it with one of the answer types here,
//! wrapped in a [`Reply`]. Which answer type goes with which operation is
//! listed on [`Answer`].
//!
//! Within a version, answers may gain fields: their types ignore fields
//! they do not know, and so should every client. Operations may not: the
//! endpoint refuses an operation with a field it does not know.

mod answers;
mod envelope;
mod operation;
mod signed;

pub use answers::{
    Activity, Answer, AuditPage, AuditVerification, CatalogCapability, CatalogEntry, CatalogInput,
    Category, DenialAnswer, EscalationView, InvokeAnswer, Presence, QueuedEscalation,
};
pub use envelope::{
    ActivityRequest, AuditSyncs, ConsentRequest, ErrorBody, Health, HealthStatus, Reply,
    StreamEvent, StreamLine,
};
pub use operation::Operation;
pub use signed::{
    ANSWER_DOMAIN, AnswerError, FRAME_DOMAIN, FramePayload, ReplyPayload, SignedFrame, SignedReply,
};

/// The contract's version, the first segment of every route (`/v1/...`).
pub const VERSION: &str = "v1";
