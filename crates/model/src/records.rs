//! What Herald records: notifiers, one notification per (event, notifier), and the
//! failures that wait for a replay.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::calendar::QuietHours;
use crate::error::{FieldError, from_value};
use crate::limits::{MAX_CONFIG_BYTES, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, check_chars};

/// `as_str` and `FromStr` for a status enum stored as text.
macro_rules! text_enum {
    ($name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " `{}`, expected one of {}"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// A notifier as an administrator writes it. `config` is checked by the channel
/// named by `kind`.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifierSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: String,
    pub config: serde_json::Value,
    /// Where the event goes when a delivery to this notifier fails for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Uuid>,
    /// When non-critical deliveries to this notifier wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl NotifierSpec {
    pub fn from_json(value: serde_json::Value) -> Result<NotifierSpec, FieldError> {
        let mut spec: NotifierSpec = from_value(value)?;
        spec.name = checked_name(&spec.name)?;
        check_chars("description", &spec.description, MAX_DESCRIPTION_CHARS)?;
        let config_bytes = spec.config.to_string().len();
        if config_bytes > MAX_CONFIG_BYTES {
            return Err(FieldError::new(
                "config",
                format!("is {config_bytes} bytes of JSON; at most {MAX_CONFIG_BYTES} are accepted"),
            ));
        }
        if let Some(q) = &spec.quiet_hours {
            q.validate("quiet_hours")?;
        }
        Ok(spec)
    }
}

/// A notifier's or a rule's name as given: trimmed, not empty, bounded.
pub(crate) fn checked_name(given: &str) -> Result<String, FieldError> {
    let name = given.trim();
    if name.is_empty() {
        return Err(FieldError::new("name", "must not be empty"));
    }
    check_chars("name", name, MAX_NAME_CHARS)?;
    Ok(name.to_owned())
}

/// What a clone of a notifier or a rule is given: its name. Everything else
/// is the original's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneSpec {
    pub name: String,
}

impl CloneSpec {
    pub fn from_json(value: serde_json::Value) -> Result<CloneSpec, FieldError> {
        let spec: CloneSpec = from_value(value)?;
        Ok(CloneSpec {
            name: checked_name(&spec.name)?,
        })
    }
}

/// A stored notifier. Its `config` is sealed in the store and masked in the API.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notifier {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub config: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Notifier {
    /// The notifier as it would be written: what a copy of it is made from.
    pub fn into_spec(self) -> NotifierSpec {
        NotifierSpec {
            name: self.name,
            description: self.description,
            kind: self.kind,
            config: self.config,
            fallback: self.fallback,
            quiet_hours: self.quiet_hours,
        }
    }
}

/// Settings may hold secrets in plain text (as given, or opened to send):
/// `Debug` never shows them.
const SETTINGS_HIDDEN: &str = "(settings not shown: they may hold secrets)";

impl std::fmt::Debug for NotifierSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("config", &SETTINGS_HIDDEN)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("config", &SETTINGS_HIDDEN)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Routed, not delivered yet (possibly being retried or replayed).
    Pending,
    Sent,
    /// Given up on; a failure record waits for a replay.
    Failed,
    /// Not delivered, on purpose: `reason` says which silence, inhibition,
    /// threshold or throttle decided so.
    Suppressed,
    /// Delivered as part of its group's notification (`group_id`).
    Grouped,
}

text_enum!(NotificationStatus, "notification status" {
    Pending = "pending",
    Sent = "sent",
    Failed = "failed",
    Suppressed = "suppressed",
    Grouped = "grouped",
});

/// One delivery of one event to one notifier, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub event_id: Uuid,
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// When a pending notification that is waiting will be tried again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// What routing noted, such as a condition that errored and was ignored.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Each target's outcome, for channels that send to several (Slack
    /// channels, Telegram chats, phone numbers, IRC targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<serde_json::Value>,
    /// Why it was suppressed, held or grouped, or why it exists (a resolve,
    /// a fallback).
    #[serde(default)]
    pub reason: Option<String>,
    /// The group it joined, or, on a group's leader, the group it sends.
    #[serde(default)]
    pub group_id: Option<Uuid>,
    /// Notifications a throttle suppressed in favour of this one.
    #[serde(default)]
    pub suppressed: i32,
    /// The notification this one falls back from.
    #[serde(default)]
    pub fallback_of: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// An event as Herald recorded it when routing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedEvent {
    #[serde(flatten)]
    pub event: crate::Event,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Whether any rule selected it; unknown for events routed before Herald
    /// kept it.
    pub matched: Option<bool>,
    /// The configuration (rules) version it was routed at.
    pub config_version: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureStatus {
    /// Waiting for the next scheduled or manual replay.
    Pending,
    /// Its delivery job is queued again.
    Replaying,
    /// A replay delivered it.
    Resolved,
    /// Replayed too often; only an operator replays or discards it.
    Dead,
    /// An operator gave up on it.
    Discarded,
}

text_enum!(FailureStatus, "failure status" {
    Pending = "pending",
    Replaying = "replaying",
    Resolved = "resolved",
    Dead = "dead",
    Discarded = "discarded",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayedBy {
    Scheduler,
    Api,
}

text_enum!(ReplayedBy, "replayer" {
    Scheduler = "scheduler",
    Api = "api",
});

/// One final failure of a delivery round, kept in the failure's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub error: String,
    pub attempts: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: ReplayedBy,
}

/// A notification that failed for good, waiting in the error table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub event_id: Uuid,
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub status: FailureStatus,
    /// The last error.
    pub error: String,
    /// Attempts over every round, replays included.
    pub attempts: i32,
    pub replay_count: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub first_failed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_failed_at: OffsetDateTime,
    pub errors: Vec<FailureEntry>,
    pub replays: Vec<ReplayEntry>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn debug_never_shows_a_notifiers_settings() {
        let spec = NotifierSpec {
            name: "hook".into(),
            description: String::new(),
            kind: "webhook".into(),
            config: json!({"headers": {"Authorization": "Bearer t0p-s3cr3t"}}),
            fallback: None,
            quiet_hours: None,
        };
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("hook"),
            "{shown}"
        );
    }

    #[test]
    fn notifier_names_descriptions_and_configs_are_bounded() {
        let cases = [
            (
                json!({"name": "n".repeat(201), "kind": "webhook", "config": {}}),
                "name",
            ),
            (
                json!({"name": "n", "description": "d".repeat(2001), "kind": "webhook", "config": {}}),
                "description",
            ),
            (
                json!({"name": "n", "kind": "webhook", "config": {"x": "x".repeat(MAX_CONFIG_BYTES)}}),
                "config",
            ),
        ];
        for (input, field) in cases {
            let err = NotifierSpec::from_json(input).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn a_clone_needs_a_name_and_nothing_else() {
        let spec = CloneSpec::from_json(json!({"name": "  copy "})).unwrap();
        assert_eq!(spec.name, "copy");
        let cases = [
            json!({}),
            json!({"name": " "}),
            json!({"name": 3}),
            json!({"name": "n".repeat(201)}),
        ];
        for input in cases {
            let err = CloneSpec::from_json(input.clone()).unwrap_err();
            assert_eq!(err.field, "name", "{input}: {err}");
        }
        let err = CloneSpec::from_json(json!({"name": "copy", "kind": "slack"})).unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
    }

    #[test]
    fn an_unknown_status_is_named_in_the_apis_words() {
        let err = "done".parse::<NotificationStatus>().unwrap_err();
        assert_eq!(
            err,
            "unknown notification status `done`, expected one of pending, sent, failed, suppressed, grouped"
        );
        let err = "open".parse::<FailureStatus>().unwrap_err();
        assert!(err.starts_with("unknown failure status `open`"), "{err}");
    }
}
