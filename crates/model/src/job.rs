use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::Event;

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
