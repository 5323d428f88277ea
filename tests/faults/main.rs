//! Fault tests: Herald under a RabbitMQ restart, a PostgreSQL outage, a killed
//! or terminated sender, and a hanging endpoint, with thousands of events in
//! flight. They stop shared services, so they run one at a time, in their own
//! test binary (cargo runs test binaries one after another).
//!
//! Each prints one line: events sent, deliveries expected, received, lost,
//! duplicated.

#[path = "../support/mod.rs"]
mod support;

mod isolation;
mod services;
mod workers;

use std::sync::{Mutex, MutexGuard};

/// Held for the whole of each test.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
