//! What the benchmark and the soak run share: a Herald deployment of separate
//! `herald` processes on loopback, with its own database and broker prefix,
//! and helpers to drive it through its API.
//!
//! Measurement tooling only; it never targets anything but loopback.

pub mod deployment;
pub mod raw;
pub mod services;

pub use deployment::Deployment;
