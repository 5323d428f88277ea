//! Load for the fault tests, from `herald-loadkit`, bound to a [`TestApp`].

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

pub use herald_loadkit::publish::{events, ids};
pub use herald_loadkit::{HeraldProcess, Tally, duplicates, rss_mib, tally};
use serde_json::Value;
use uuid::Uuid;

use super::{HttpSink, TestApp, eventually};

/// Posts `events` through `app`'s API, `batch` at a time every `pace`.
pub async fn publish_paced(
    app: &TestApp,
    events: &[Value],
    batch: usize,
    pace: Duration,
) -> HashMap<Uuid, Instant> {
    herald_loadkit::publish::paced(&app.http, &app.url("/api/v1/events"), events, batch, pace).await
}

/// Waits until every event reached the sink, then tallies.
pub async fn wait_all(sink: &HttpSink, path: &str, ids: &[Uuid], deadline: Duration) -> Tally {
    eventually("every event to be delivered", deadline, || async {
        let t = tally(sink, path, ids);
        if t.lost == 0 {
            Ok(t)
        } else {
            Err(t.to_string())
        }
    })
    .await
}

/// `herald <role>` as its own process against `app`'s database and broker.
pub fn start(app: &TestApp, role: &str) -> HeraldProcess {
    let mut env = app.env();
    env.push(("HERALD_METRICS_ADDR".into(), "127.0.0.1:0".into()));
    env.push(("HERALD_LOG".into(), "warn".into()));
    HeraldProcess::start(Path::new(env!("CARGO_BIN_EXE_herald")), role, &env)
}
