//! The fleet: endpoints that dial out to a NATS broker and answer there, and
//! the people who reach them by name through it.
//!
//! The broker carries; it never decides. Requests stay signed by people and
//! are checked by the endpoint as over any other transport; answers are
//! signed by the endpoint ([`crate::api::v1::SignedReply`]) and checked by
//! clients against the [`inventory`], the endpoints' keys as a fleet admin
//! signed them. A broker, or anyone who can publish on it, can delay or drop
//! messages, not make an endpoint do anything or a client believe anything.
//!
//! [`subjects`] names where each endpoint listens and what it keeps in the
//! broker's buckets; [`permissions`] what each broker user may touch.

pub mod inventory;
pub mod permissions;
pub mod subjects;

pub use inventory::{Inventory, InventoryEntry, InventoryError, InventoryFile};
pub use subjects::{EndpointName, request_subject, stream_subject};
