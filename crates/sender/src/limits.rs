//! Per-notifier in-flight caps, so one endpoint holds a bounded share of a
//! sender's slots.
//!
//! Every notifier may have at most `cap` deliveries in flight. Over the cap, a
//! job of a healthy notifier waits for one of that notifier's slots (they free
//! up in milliseconds), while a job of a notifier that is slow (its oldest
//! delivery in flight is older than [`SLOW`]) or failing (a delivery failed in
//! the last [`FAILING_FOR`]) is parked in the wait queue, so that it holds
//! neither a slot nor room in the prefetch window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;

/// A delivery in flight longer than this marks its notifier as slow.
pub(crate) const SLOW: Duration = Duration::from_millis(500);
/// How long a failed attempt marks its notifier as failing.
pub(crate) const FAILING_FOR: Duration = Duration::from_secs(30);
/// How long a job of a slow notifier waits outside.
const SLOW_WAIT: Duration = Duration::from_secs(1);
/// How long a job of a failing notifier waits outside.
const FAILING_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct InFlight {
    cap: usize,
    notifiers: Mutex<HashMap<Uuid, Notifier>>,
}

#[derive(Default)]
struct Notifier {
    /// Start of each delivery in flight, by handle.
    running: Vec<(u64, Instant)>,
    next_handle: u64,
    failing_until: Option<Instant>,
    /// Wakes a job waiting for one of this notifier's slots.
    freed: Arc<Notify>,
}

/// What a job may do now.
pub(crate) enum Share {
    Held(Held),
    /// The notifier is healthy but at its cap: wait for `Notify`, then ask again.
    Wait(Arc<Notify>),
    /// The notifier is slow or failing and at its cap: park the job this long.
    Defer(Duration),
}

/// One slot of a notifier's share, given back on drop.
pub(crate) struct Held {
    owner: Arc<InFlight>,
    notifier: Uuid,
    handle: u64,
}

impl InFlight {
    pub(crate) fn new(cap: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            cap: cap.max(1),
            notifiers: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a job of `notifier`. An `urgent` job (a critical event) never
    /// queues behind a healthy notifier's backlog: it may go over the cap.
    pub(crate) fn try_hold(self: &Arc<Self>, notifier: Uuid, urgent: bool) -> Share {
        self.try_hold_at(notifier, urgent, Instant::now())
    }

    fn try_hold_at(self: &Arc<Self>, notifier: Uuid, urgent: bool, now: Instant) -> Share {
        let mut all = self.notifiers.lock().expect("the lock is never poisoned");
        let n = all.entry(notifier).or_default();
        if n.running.len() >= self.cap {
            if n.failing_until.is_some_and(|t| now < t) {
                return Share::Defer(FAILING_WAIT);
            }
            if n.running.iter().any(|(_, started)| now - *started > SLOW) {
                return Share::Defer(SLOW_WAIT);
            }
            if !urgent {
                return Share::Wait(n.freed.clone());
            }
        }
        let handle = n.next_handle;
        n.next_handle += 1;
        n.running.push((handle, now));
        Share::Held(Held {
            owner: self.clone(),
            notifier,
            handle,
        })
    }

    /// A delivery to `notifier` failed or timed out.
    pub(crate) fn failed(&self, notifier: Uuid) {
        let mut all = self.notifiers.lock().expect("the lock is never poisoned");
        all.entry(notifier).or_default().failing_until = Some(Instant::now() + FAILING_FOR);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut all = self
            .owner
            .notifiers
            .lock()
            .expect("the lock is never poisoned");
        if let Some(n) = all.get_mut(&self.notifier) {
            n.running.retain(|(h, _)| *h != self.handle);
            n.freed.notify_one();
            let failing = n.failing_until.is_some_and(|t| Instant::now() < t);
            if n.running.is_empty() && !failing && Arc::strong_count(&n.freed) == 1 {
                all.remove(&self.notifier);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: Uuid = Uuid::from_u128(1);

    fn held(share: Share) -> Held {
        match share {
            Share::Held(h) => h,
            _ => panic!("expected a slot"),
        }
    }

    #[test]
    fn a_healthy_notifier_at_its_cap_waits_for_its_own_slots() {
        let limits = InFlight::new(2);
        let now = Instant::now();
        let a = held(limits.try_hold_at(BUSY, false, now));
        let _b = held(limits.try_hold_at(BUSY, false, now));
        assert!(matches!(
            limits.try_hold_at(BUSY, false, now),
            Share::Wait(_)
        ));
        assert!(matches!(
            limits.try_hold_at(Uuid::from_u128(2), false, now),
            Share::Held(_)
        ));
        drop(a);
        assert!(matches!(
            limits.try_hold_at(BUSY, false, now),
            Share::Held(_)
        ));
    }

    #[test]
    fn an_urgent_job_passes_a_healthy_notifiers_backlog_but_not_a_failing_one() {
        let limits = InFlight::new(1);
        let now = Instant::now();
        let _a = held(limits.try_hold_at(BUSY, false, now));
        assert!(matches!(
            limits.try_hold_at(BUSY, true, now),
            Share::Held(_)
        ));
        limits.failed(BUSY);
        assert!(matches!(
            limits.try_hold_at(BUSY, true, now),
            Share::Defer(_)
        ));
    }

    #[test]
    fn a_slow_notifier_at_its_cap_defers_briefly() {
        let limits = InFlight::new(1);
        let start = Instant::now();
        let _a = held(limits.try_hold_at(BUSY, false, start));
        let later = start + SLOW + Duration::from_millis(1);
        assert!(
            matches!(limits.try_hold_at(BUSY, false, later), Share::Defer(d) if d == SLOW_WAIT)
        );
    }

    #[test]
    fn a_failing_notifier_at_its_cap_defers_longer() {
        let limits = InFlight::new(1);
        limits.failed(BUSY);
        let _a = held(limits.try_hold(BUSY, false));
        assert!(matches!(limits.try_hold(BUSY, false), Share::Defer(d) if d == FAILING_WAIT));
    }

    #[tokio::test]
    async fn a_freed_slot_wakes_a_waiting_job() {
        let limits = InFlight::new(1);
        let a = held(limits.try_hold(BUSY, false));
        let Share::Wait(freed) = limits.try_hold(BUSY, false) else {
            panic!("expected to wait")
        };
        let waiting = tokio::spawn(async move { freed.notified().await });
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(limits.try_hold(BUSY, false), Share::Held(_)));
    }

    #[test]
    fn released_notifiers_leave_no_entry_behind() {
        let limits = InFlight::new(1);
        drop(limits.try_hold(Uuid::from_u128(7), false));
        assert!(limits.notifiers.lock().unwrap().is_empty());
    }
}
