//! Sessions: a ticket-linked, approved scope in which a technician may invoke
//! actions on one endpoint, for a limited time.
//!
//! ```text
//! requested ──approve──▶ approved ──consent (attended)──▶ active ──close / idle / expiry──▶ closed
//!                           └──────────(unattended)──────────┘
//! ```
//!
//! [`ids`] names sessions, invocations, escalations and tickets; [`scope`]
//! says what may run; [`request`] is what a requester asks for; [`state`] is
//! the session and its transitions — pure: every transition takes the time
//! and the policy, checks who may make it, and changes the session or says
//! why not (storing the result is the caller's job). [`consent`] asks the
//! operating system who the end user is.

pub mod consent;
pub mod ids;
pub mod request;
pub mod scope;
pub mod state;

pub use consent::ConsentingUser;
pub use ids::{EscalationId, InvocationId, SessionId, TicketId, UnixMillis};
pub use request::SessionRequest;
pub use scope::{ActionRule, Scope};
pub use state::{ClosedBy, Closure, ClosureReport, Session, SessionRefusal, SessionState};
