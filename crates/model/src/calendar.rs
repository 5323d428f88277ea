//! Quiet hours and digest schedules: local times in IANA time zones, turned
//! into instants (DST-correct). No I/O: the time zone database is compiled in.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::FieldError;
use crate::event::Severity;

/// What quiet hours do with a critical event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietCritical {
    /// Critical events go out inside the window too.
    #[default]
    Deliver,
    /// Critical events wait like the others.
    Hold,
}

/// `{"timezone": "Europe/Berlin", "days": ["mon", …], "from": "22:00",
/// "to": "07:00", "critical": "deliver"}`: non-critical deliveries inside the
/// window wait until it ends. A window whose `to` is not after `from` runs past
/// midnight; `days` are the days a window starts on (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub timezone: String,
    #[serde(default)]
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub critical: QuietCritical,
}

impl QuietHours {
    /// Checks the zone, days and times; errors name the field below `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let _ = field;
        unimplemented!()
    }

    /// When a delivery due at `now` of an event of `severity` may go: `None`
    /// now, `Some(t)` when the window it falls in ends.
    pub fn release(&self, now: OffsetDateTime, severity: Severity) -> Option<OffsetDateTime> {
        let _ = (now, severity);
        unimplemented!()
    }

    /// The window in words, as explain shows it: `22:00–07:00 Europe/Berlin`.
    pub fn describe(&self) -> String {
        unimplemented!()
    }
}

/// `{"cron": "0 9 * * mon-fri", "timezone": "Europe/Berlin"}`: one
/// notification per schedule, listing the events since the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub cron: String,
    #[serde(default = "utc")]
    pub timezone: String,
    /// Event fields that split the digest into several (as `group.by`).
    #[serde(default)]
    pub by: Vec<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Digest {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let _ = field;
        unimplemented!()
    }

    /// The first scheduled instant strictly after `now`.
    pub fn next_after(&self, now: OffsetDateTime) -> OffsetDateTime {
        let _ = now;
        unimplemented!()
    }
}
