use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{Event, Severity};

/// The message the router queues for a sender: deliver `event` to one notifier.
/// It carries the whole event so that a sender needs no extra read to render it;
/// the notification row stays the single source of truth for its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub notification_id: Uuid,
    pub notifier_id: Uuid,
    /// When the router queued it, for the queue-to-delivery latency.
    #[serde(with = "time::serde::rfc3339")]
    pub routed_at: OffsetDateTime,
    pub event: Event,
}

impl DeliveryJob {
    /// The job as it travels on the queue.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job is JSON")
    }

    /// Jobs of critical events travel in the priority lane.
    pub fn is_critical(&self) -> bool {
        self.event.severity == Severity::Critical
    }
}
