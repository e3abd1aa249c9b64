//! The only code that touches `kube::Client`: kubeconfig resolution, the read-only gate, sources and
//! the executor.

pub mod context;
pub mod credentials;
pub mod executor;
pub mod gate;
pub mod sources;

pub use context::{KubeSetup, Target, resolve};

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A Kubernetes timestamp as chrono (the model's clock type).
pub fn to_chrono(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}
