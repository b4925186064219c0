//! The contract every transport carries unchanged: the operations a signed
//! request may ask for and every answer the endpoint gives, as serde types.
//!
//! The service's HTTP routes, the CLI, the demo and the tests all speak
//! [`v1`]; a later transport (a fleet broker, a browser console) carries the
//! same types, byte for byte. docs/reference/api.md describes them, and a test
//! reads its examples back through these types.

pub mod v1;
