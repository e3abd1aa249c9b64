//! ktriage — a terminal console for live Kubernetes incident triage.
//!
//! (architecture map: filled in by the foundation change)

pub mod sim;
