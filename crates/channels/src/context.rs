use std::sync::Arc;
use std::time::Duration;

use herald_model::Event;
use uuid::Uuid;

use crate::{Outbound, RuleTemplates, TargetLog};

/// What is being delivered: an event, to a named notifier, as one notification,
/// and what its templates need besides.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: &'a Event,
    pub notification_id: Uuid,
    pub notifier: &'a str,
    /// This attempt's number, the first being 1.
    pub attempt: u32,
    /// The rules that selected the notification, oldest first: their
    /// templates come before the notifier's.
    pub rules: &'a [Arc<RuleTemplates>],
    /// Herald's public base URL, for links back to it.
    pub public_url: &'a str,
    /// The events of the group this notification sends, oldest first; empty
    /// when it sends its event alone.
    pub group: &'a [Event],
}

impl Delivery<'_> {
    /// The events this notification sends: its group's, or its own.
    pub fn events(&self) -> &[Event] {
        match self.group {
            [] => std::slice::from_ref(self.event),
            group => group,
        }
    }
}

/// What a send may use: the instance's outbound guard and HTTP clients, how
/// long the attempt may take, and its targets' log.
#[derive(Debug, Clone, Copy)]
pub struct SendContext<'a> {
    pub outbound: &'a Outbound,
    pub timeout: Duration,
    /// The targets earlier attempts delivered to, and this attempt's outcomes.
    pub targets: &'a TargetLog,
}

impl SendContext<'_> {
    /// The shared HTTP client (it resolves through the guard).
    pub fn http(&self) -> &reqwest::Client {
        self.outbound.http()
    }
}
