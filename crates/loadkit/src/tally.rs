//! What reached a sink, against what was sent.

use std::collections::{HashMap, HashSet};
use std::fmt;

use uuid::Uuid;

use crate::{Request, Sink};

/// Deliveries of a set of events to one notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub events: usize,
    /// 2xx answers given.
    pub received: usize,
    /// Events delivered at least once.
    pub delivered: usize,
    pub lost: usize,
    /// Deliveries beyond the first of the same notification (`Idempotency-Key`).
    pub duplicated: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events sent {}, deliveries expected {}, received {}, lost {}, duplicated {}",
            self.events, self.events, self.received, self.lost, self.duplicated
        )
    }
}

/// Tallies the deliveries to `path` of the events `ids`.
pub fn tally(sink: &Sink, path: &str, ids: &[Uuid]) -> Tally {
    let wanted: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let mut events = HashSet::new();
    let mut notifications = HashSet::new();
    let mut received = 0;
    for r in sink.delivered(path) {
        let Some(event) = r.event_id() else { continue };
        if wanted.contains(&event) {
            received += 1;
            events.insert(event);
            notifications.insert(r.header("idempotency-key").unwrap_or_default().to_owned());
        }
    }
    Tally {
        events: ids.len(),
        received,
        delivered: events.len(),
        lost: ids.len() - events.len(),
        duplicated: received - notifications.len(),
    }
}

/// Notifications delivered to `path` more than once: the first copy of each.
pub fn duplicates(sink: &Sink, path: &str) -> Vec<Request> {
    let mut seen: HashMap<String, (Request, usize)> = HashMap::new();
    for r in sink.delivered(path) {
        let key = r.header("idempotency-key").unwrap_or_default().to_owned();
        let entry = seen.entry(key).or_insert_with(|| (r.clone(), 0));
        if r.at < entry.0.at {
            entry.0 = r;
        }
        entry.1 += 1;
    }
    seen.into_values()
        .filter(|(_, n)| *n > 1)
        .map(|(first, _)| first)
        .collect()
}
