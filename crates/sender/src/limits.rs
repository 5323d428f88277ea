//! Per-notifier in-flight caps: a notifier whose endpoint hangs or keeps failing
//! holds at most its share of a sender's slots, so deliveries to the healthy
//! ones go on at full speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

pub(crate) struct InFlight {
    cap: usize,
    counts: Mutex<HashMap<Uuid, usize>>,
}

/// One slot of a notifier's share, given back on drop.
pub(crate) struct Held {
    owner: Arc<InFlight>,
    notifier: Uuid,
}

impl InFlight {
    pub(crate) fn new(cap: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            cap: cap.max(1),
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `notifier`, unless it already has `cap` deliveries in flight.
    pub(crate) fn try_hold(self: &Arc<Self>, notifier: Uuid) -> Option<Held> {
        let mut counts = self.counts.lock().expect("the lock is never poisoned");
        let n = counts.entry(notifier).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Held {
            owner: self.clone(),
            notifier,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self
            .owner
            .counts
            .lock()
            .expect("the lock is never poisoned");
        if let Some(n) = counts.get_mut(&self.notifier) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.notifier);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notifier_gets_at_most_its_cap_and_others_are_not_affected() {
        let limits = InFlight::new(2);
        let slow = Uuid::from_u128(1);
        let a = limits.try_hold(slow).unwrap();
        let _b = limits.try_hold(slow).unwrap();
        assert!(limits.try_hold(slow).is_none());
        assert!(limits.try_hold(Uuid::from_u128(2)).is_some());
        drop(a);
        assert!(limits.try_hold(slow).is_some());
    }

    #[test]
    fn released_notifiers_leave_no_entry_behind() {
        let limits = InFlight::new(1);
        drop(limits.try_hold(Uuid::from_u128(7)));
        assert!(limits.counts.lock().unwrap().is_empty());
    }
}
