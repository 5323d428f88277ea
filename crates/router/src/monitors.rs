//! The router's part in no-activity monitors: once a batch is recorded, it
//! notes in the store which enabled monitors the batch's events fed
//! (`Store::touch_monitors`), so that the flush role sees which have gone
//! silent and which hear from their events again.
//!
//! At a high event rate that would be a write per batch; instead a monitor
//! is touched at most once a second (a quarter of its `silent_for` when that
//! is shorter), remembered across this process's lanes. Its last sighting in
//! the store thus lags by at most that much, well within its `silent_for`.
//!
//! The events monitors raise do not count: a monitor watching `system`
//! events cannot feed itself. It raises and resolves nothing; the flush
//! role does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_model::{Event, Monitor, raised_by_monitor};
use herald_store::{Store, StoreError};
use tracing::warn;
use uuid::Uuid;

/// How often one monitor is touched at most.
const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// When this process last touched each monitor, shared by its lanes.
#[derive(Clone, Default)]
pub(crate) struct Touches {
    last: Arc<Mutex<HashMap<Uuid, Instant>>>,
}

impl Touches {
    /// Touches the `monitors` that `events` match and that were not touched
    /// lately. Only an unreachable database is an error (the batch goes back
    /// to the queue with it); another failure is logged and the next batch
    /// tries again, as a monitor not touched is not remembered as touched.
    pub(crate) async fn feed<'a>(
        &self,
        store: &Store,
        monitors: &[Monitor],
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let ids = {
            let last = self.last.lock().expect("the touch times stay consistent");
            to_touch(monitors, events, &last, now)
        };
        if ids.is_empty() {
            return Ok(());
        }
        match store.touch_monitors(&ids).await {
            Ok(()) => {
                let mut last = self.last.lock().expect("the touch times stay consistent");
                // Forget monitors deleted or disabled since.
                if last.len() > monitors.len() {
                    let known: std::collections::HashSet<Uuid> =
                        monitors.iter().map(|m| m.id).collect();
                    last.retain(|id, _| known.contains(id));
                }
                last.extend(ids.into_iter().map(|id| (id, now)));
                Ok(())
            }
            Err(e) if e.is_unavailable() => Err(e),
            Err(error) => {
                warn!(%error, monitors = ids.len(), "cannot record monitors' activity; the next batch tries again");
                Ok(())
            }
        }
    }
}

/// The longest a monitor's last sighting may lag: it stays well within its
/// `silent_for`.
fn pause(monitor: &Monitor) -> Duration {
    TOUCH_EVERY.min(monitor.spec.silent_for.get() / 4)
}

/// The ids of the monitors to touch at `now`: those not touched within their
/// pause (checked first, as most are at a high rate) that an event matches.
fn to_touch<'a>(
    monitors: &[Monitor],
    events: impl IntoIterator<Item = &'a Event>,
    last: &HashMap<Uuid, Instant>,
    now: Instant,
) -> Vec<Uuid> {
    let stale: Vec<&Monitor> = monitors
        .iter()
        .filter(|m| {
            last.get(&m.id)
                .is_none_or(|at| now.saturating_duration_since(*at) >= pause(m))
        })
        .collect();
    if stale.is_empty() {
        return Vec::new();
    }
    let events: Vec<&Event> = events
        .into_iter()
        .filter(|e| !raised_by_monitor(e))
        .collect();
    stale
        .into_iter()
        .filter(|m| events.iter().any(|e| m.spec.matcher.matches(e)))
        .map(|m| m.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use herald_model::{MonitorSpec, MonitorState};
    use serde_json::{Value, json};
    use time::OffsetDateTime;

    use super::*;

    fn monitor(id: u128, silent_for: &str, matcher: Value) -> Monitor {
        let spec = json!({"name": format!("m{id}"), "silent_for": silent_for, "match": matcher});
        Monitor {
            id: Uuid::from_u128(id),
            spec: MonitorSpec::from_json(spec).unwrap(),
            state: MonitorState::Active,
            last_seen_at: OffsetDateTime::now_utc(),
            raised_at: None,
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        }
    }

    fn event(v: Value) -> Event {
        herald_model::parse_event(v.to_string().as_bytes(), OffsetDateTime::now_utc()).unwrap()
    }

    #[test]
    fn matched_monitors_are_touched_at_most_once_per_pause() {
        let monitors = [
            monitor(1, "30m", json!({"source": "billing"})),
            monitor(2, "30m", json!({"source": "ci"})),
            monitor(3, "2s", json!({"source": "billing"})),
            monitor(4, "30m", json!({})),
        ];
        let billing = event(json!({"source": "billing", "category": "spending"}));
        let now = Instant::now();
        let ago = |ms| now - Duration::from_millis(ms);
        let cases = [
            (vec![], vec![1, 3, 4]),
            (vec![(1, ago(300)), (3, ago(300)), (4, ago(300))], vec![]),
            // A 2s monitor is touched every half second.
            (vec![(1, ago(600)), (3, ago(600)), (4, ago(600))], vec![3]),
            (
                vec![(1, ago(1000)), (3, ago(100)), (4, ago(5000))],
                vec![1, 4],
            ),
        ];
        for (touched, want) in cases {
            let last = touched
                .iter()
                .map(|(id, at)| (Uuid::from_u128(*id), *at))
                .collect();
            let got = to_touch(&monitors, [&billing], &last, now);
            let want: Vec<Uuid> = want.iter().map(|id: &u128| Uuid::from_u128(*id)).collect();
            assert_eq!(got, want, "{touched:?}");
        }
    }

    #[test]
    fn a_monitor_is_not_fed_by_the_events_monitors_raise() {
        let all = monitor(1, "1m", json!({}));
        let raised = all.event(OffsetDateTime::now_utc(), false);
        let none = HashMap::new();
        assert!(to_touch(std::slice::from_ref(&all), [&raised], &none, Instant::now()).is_empty());
        let other = event(json!({"source": "herald", "category": "system", "kind": "started"}));
        assert_eq!(
            to_touch(&[all], [&raised, &other], &none, Instant::now()).len(),
            1
        );
    }
}
