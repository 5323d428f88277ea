//! Events published through Herald's API at a pace, as a careful client does:
//! ids chosen beforehand, a refused batch retried with the same ids.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::eventually;

/// `n` job events with ids chosen here and `labels` on each.
pub fn events(n: usize, labels: Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": Uuid::now_v7(), "source": "load", "category": "job", "kind": "running",
                   "title": format!("event {i}"), "labels": labels})
        })
        .collect()
}

pub fn ids(events: &[Value]) -> Vec<Uuid> {
    events
        .iter()
        .map(|e| {
            e["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("events carry ids")
        })
        .collect()
}

/// Posts `events` to `events_url` in batches, one batch every `pace`, retrying
/// a refused batch (for up to two minutes) until the broker confirms it.
/// Returns when each event was accepted, by id.
pub async fn paced(
    http: &reqwest::Client,
    events_url: &str,
    events: &[Value],
    batch: usize,
    pace: Duration,
) -> HashMap<Uuid, Instant> {
    let mut accepted = HashMap::new();
    let mut ticks = tokio::time::interval(pace);
    for chunk in events.chunks(batch) {
        ticks.tick().await;
        let sent_at = Instant::now();
        eventually(
            "the API to accept a batch",
            Duration::from_secs(120),
            || async {
                match http.post(events_url).json(&chunk).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
        for id in ids(chunk) {
            accepted.insert(id, sent_at);
        }
    }
    accepted
}
