//! Load tooling shared by Herald's integration tests, its benchmark and its
//! soak run: a local HTTP sink that records what Herald delivers and answers as
//! told, `herald` processes to start, kill and stop, Prometheus Alertmanager, paced publishing through
//! the API, and tallies of what was lost or doubled.
//!
//! It is test and measurement equipment, never part of a deployment; it talks
//! to loopback only.

pub mod alertmanager;
pub mod process;
pub mod publish;
pub mod services;
pub mod sink;
pub mod tally;

use std::future::Future;
use std::time::Duration;

pub use alertmanager::Alertmanager;
pub use process::{HeraldProcess, cpu_seconds, pids_matching, rss_mib};
pub use services::{PgCluster, RabbitNode};
pub use sink::{Behaviour, Request, Sink};
pub use tally::{Tally, duplicates, tally};

/// How often conditions are checked.
const POLL: Duration = Duration::from_millis(25);

/// Checks `probe` until it yields a value or the deadline passes, then panics
/// naming what was awaited and the last state seen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let end = tokio::time::Instant::now() + deadline;
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        let last = match probe().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
        }
    }
}
