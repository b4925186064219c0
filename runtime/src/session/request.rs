//! What a requester asks for: the ticket, the problem, the technician, the
//! scope, attended or not, and how long.

use super::{Scope, TicketId};
use crate::digest::Sha256Digest;
use crate::identity::PrincipalId;
use serde::{Deserialize, Serialize};

/// What a requester asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The ITSM ticket.
    pub ticket: TicketId,
    /// The problem, in the requester's words.
    pub problem: String,
    /// The request category; the policy says which justify remote access.
    pub category: String,
    /// The endpoint the session is for.
    pub endpoint: String,
    /// Who will work in it.
    pub technician: PrincipalId,
    /// What may run.
    pub scope: Scope,
    /// Whether the end user must consent at the endpoint first.
    pub attended: bool,
    /// Minutes without activity after which the session closes by itself.
    pub idle_minutes: u32,
    /// Minutes after the request after which the session closes by itself.
    pub duration_minutes: u32,
}

impl SessionRequest {
    /// The sha256 of the request as the contract writes it (its JSON, fields
    /// in order, no spaces): what an approval of the session carries, so
    /// that it approves exactly what the approver was shown.
    pub fn digest(&self) -> Sha256Digest {
        // A request of strings, numbers and lists always serializes.
        Sha256Digest::of(&serde_json::to_vec(self).unwrap_or_default())
    }
}
