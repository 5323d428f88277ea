//! What the benchmark and the soak run share: a Herald deployment of separate
//! `herald` processes on loopback, with its own database and broker prefix,
//! and helpers to drive it through its API; the HTTP load and the arrival
//! tracking the benchmark gives Herald and its peer, Prometheus Alertmanager.
//!
//! Measurement tooling only; it never targets anything but loopback.

pub mod alertmanager;
pub mod arrivals;
pub mod deployment;
pub mod load;
pub mod raw;

pub use deployment::Deployment;
