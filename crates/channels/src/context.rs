use std::time::Duration;

use herald_model::Event;
use uuid::Uuid;

/// What is being delivered: an event, to a named notifier, as one notification.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: &'a Event,
    pub notification_id: Uuid,
    pub notifier: &'a str,
}

/// What a send may use: the shared HTTP client, and how long the attempt may take.
#[derive(Debug, Clone, Copy)]
pub struct SendContext<'a> {
    pub http: &'a reqwest::Client,
    pub timeout: Duration,
}
