//! The demo / simulated cluster: a Kubernetes HTTP API on loopback (issue 4).
