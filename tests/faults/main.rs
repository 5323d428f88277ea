//! Fault tests: Herald under a RabbitMQ restart, a PostgreSQL outage, a killed
//! or terminated sender, and a hanging endpoint, with thousands of events in
//! flight. Broker and database faults hit disposable instances started for the
//! test (`herald_loadkit::services`), never the machine's own. The tests load
//! the machine, so they run one at a time, in their own test binary (cargo runs
//! test binaries one after another).
//!
//! Each prints one line: events sent, deliveries expected, received, lost,
//! duplicated. That line is the report, hence the printing.
#![allow(clippy::print_stdout)]

#[path = "../support/mod.rs"]
mod support;

mod backpressure;
mod isolation;
mod services;
mod workers;

use tokio::sync::{Mutex, MutexGuard};

/// Held for the whole of each test. Each test has its own runtime; tokio's
/// mutex does not mind, and a failed test does not poison it.
async fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::const_new(());
    SERIAL.lock().await
}
