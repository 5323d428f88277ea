//! The event schema publishers send, and its validation.
//!
//! Input is parsed strictly: an unknown field, an unknown category or severity, a
//! missing `source` or an oversized body is an error that names the field, because a
//! typo such as `severty` silently falling back to a default would page nobody.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{FieldError, from_slice};
use crate::limits::{
    MAX_EVENTS_PER_REQUEST, MAX_SHORT_TEXT_CHARS, MAX_TITLE_CHARS, MAX_URL_CHARS, check_chars,
    check_labels,
};
use crate::scope::Scope;

/// The largest event Herald accepts, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The kinds a `job` event may have; other categories take any kind.
pub const JOB_KINDS: [&str; 5] = ["started", "running", "succeeded", "failed", "aborted"];

macro_rules! closed_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        // By hand rather than derived: serde_json reads a derived enum given a
        // number, `true` or `null` as broken JSON, which named the whole body
        // instead of this field and did not say what it takes.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} (one of {})", $what, [$($text),+].join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        match v {
                            $($text => Ok($name::$variant),)+
                            other => Err(E::unknown_variant(other, &[$($text),+])),
                        }
                    }
                }
                d.deserialize_str(Visitor)
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
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

closed_enum!(
    /// What an event is about.
    Category, "category" {
        System = "system",
        Configuration = "configuration",
        Job = "job",
        Deployment = "deployment",
        Spending = "spending",
    }
);

closed_enum!(
    /// How urgent an event is. Critical events travel in their own lane.
    Severity, "severity" {
        Critical = "critical",
        Warning = "warning",
        Info = "info",
    }
);

/// A validated event, as routed, stored and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Assigned when absent; also the idempotency key of the event.
    pub id: Uuid,
    pub source: String,
    pub category: Category,
    pub kind: String,
    pub severity: Severity,
    pub scope: Scope,
    pub title: String,
    pub message: String,
    pub labels: BTreeMap<String, String>,
    pub data: serde_json::Value,
    pub dedup_key: Option<String>,
    pub resolved: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub url: Option<String>,
}

impl Event {
    /// The AMQP routing key of the event on the events exchange.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.category, self.severity)
    }

    /// Whether `other` is this event again, as a publisher's retry sends it:
    /// equal but for `occurred_at`, which an event published without one
    /// gets anew on every try.
    pub fn same_content(&self, other: &Event) -> bool {
        Event {
            occurred_at: other.occurred_at,
            ..self.clone()
        } == *other
    }
}

/// What a publisher may send: everything but `source` and `category` is optional.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    #[serde(default)]
    pub(crate) id: Option<Uuid>,
    pub(crate) source: String,
    pub(crate) category: Category,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default = "default_severity")]
    pub(crate) severity: Severity,
    #[serde(default)]
    pub(crate) scope: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) data: serde_json::Value,
    #[serde(default)]
    pub(crate) dedup_key: Option<String>,
    #[serde(default)]
    pub(crate) resolved: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) occurred_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub(crate) url: Option<String>,
}

pub(crate) fn default_severity() -> Severity {
    Severity::Info
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("{0}")]
    Invalid(FieldError),
    /// Over [`MAX_EVENT_BYTES`].
    #[error("{0}")]
    TooLarge(FieldError),
}

impl EventError {
    pub fn field_error(&self) -> &FieldError {
        match self {
            EventError::Invalid(e) | EventError::TooLarge(e) => e,
        }
    }

    fn within(self, parent: &str) -> EventError {
        match self {
            EventError::Invalid(e) => EventError::Invalid(e.within(parent)),
            EventError::TooLarge(e) => EventError::TooLarge(e.within(parent)),
        }
    }
}

impl From<FieldError> for EventError {
    fn from(e: FieldError) -> Self {
        EventError::Invalid(e)
    }
}

/// Parses and validates one event. `now` stamps events that carry no `occurred_at`.
pub fn parse_event(bytes: &[u8], now: OffsetDateTime) -> Result<Event, EventError> {
    check_json_form(bytes)?;
    Ok(from_slice::<EventInput>(bytes)?.validate(now)?)
}

/// Refuses an event's JSON over [`MAX_EVENT_BYTES`] or holding a NUL character.
fn check_json_form(bytes: &[u8]) -> Result<(), EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge(FieldError::new(
            "",
            format!(
                "the event is {} bytes; the limit is {MAX_EVENT_BYTES} bytes",
                bytes.len()
            ),
        )));
    }
    // PostgreSQL cannot store NUL in text or jsonb; refusing it here keeps one
    // such event from failing a whole batch downstream.
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        return Err(
            FieldError::new("", "strings may not contain the NUL character (\\u0000)").into(),
        );
    }
    Ok(())
}

/// Refuses an event read from another format (CloudEvents, Alertmanager's
/// webhook) that the router would refuse once it is published as Herald's
/// JSON: decoded data can grow past the limit or carry a NUL character.
pub(crate) fn check_published_form(event: &Event) -> Result<(), EventError> {
    check_json_form(&serde_json::to_vec(event).expect("an event is JSON"))
}

/// Parses one event or a JSON array of events; errors in an array are named by
/// index (`[3].severity`).
pub fn parse_events(bytes: &[u8], now: OffsetDateTime) -> Result<Vec<Event>, EventError> {
    let bodies = event_bodies(bytes)?;
    let in_array = is_array(bytes);
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            parse_event(body, now).map_err(|e| match in_array {
                true => e.within(&format!("[{i}]")),
                false => e,
            })
        })
        .collect()
}

fn is_array(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// The event bodies in a message: the message itself, or each element of a
/// JSON array, unparsed, so that each can be read (or refused) on its own.
pub fn event_bodies(bytes: &[u8]) -> Result<Vec<&[u8]>, EventError> {
    if !is_array(bytes) {
        return Ok(vec![bytes]);
    }
    let raw: Vec<&RawValue> = from_slice(bytes)?;
    if raw.is_empty() {
        return Err(FieldError::new("", "expected at least one event").into());
    }
    check_count(raw.len(), "", "events", "")?;
    Ok(raw.iter().map(|r| r.get().as_bytes()).collect())
}

/// Refuses more than [`MAX_EVENTS_PER_REQUEST`] `things` in one request,
/// naming `field`; `hint` says how to send fewer.
pub(crate) fn check_count(
    count: usize,
    field: &str,
    things: &str,
    hint: &str,
) -> Result<(), EventError> {
    if count <= MAX_EVENTS_PER_REQUEST {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!("{count} {things}; at most {MAX_EVENTS_PER_REQUEST} are accepted at once{hint}"),
    )
    .into())
}

impl EventInput {
    pub(crate) fn validate(self, now: OffsetDateTime) -> Result<Event, FieldError> {
        let source = self.source.trim().to_owned();
        if source.is_empty() {
            return Err(FieldError::new("source", "must not be empty"));
        }
        check_chars("source", &source, MAX_SHORT_TEXT_CHARS)?;
        let kind = self.kind.trim().to_owned();
        check_chars("kind", &kind, MAX_SHORT_TEXT_CHARS)?;
        check_chars("title", &self.title, MAX_TITLE_CHARS)?;
        check_labels("labels", self.labels.iter())?;
        if let Some(key) = &self.dedup_key {
            check_chars("dedup_key", key, MAX_SHORT_TEXT_CHARS)?;
        }
        if self.category == Category::Job && !JOB_KINDS.contains(&kind.as_str()) {
            return Err(FieldError::new(
                "kind",
                format!(
                    "a job event's kind must be one of {}, not `{kind}`",
                    JOB_KINDS.join(", ")
                ),
            ));
        }
        let scope = Scope::parse(&self.scope).map_err(|m| FieldError::new("scope", m))?;
        if let Some(url) = &self.url {
            check_chars("url", url, MAX_URL_CHARS)?;
            url::Url::parse(url).map_err(|e| FieldError::new("url", format!("{e}: `{url}`")))?;
        }
        let title = match self.title.trim() {
            "" => default_title(&source, self.category, &kind),
            t => t.to_owned(),
        };
        Ok(Event {
            id: self.id.unwrap_or_else(Uuid::now_v7),
            source,
            category: self.category,
            kind,
            severity: self.severity,
            scope,
            title,
            message: self.message,
            labels: self.labels,
            data: self.data,
            dedup_key: self.dedup_key.filter(|k| !k.is_empty()),
            resolved: self.resolved,
            occurred_at: self.occurred_at.unwrap_or(now),
            url: self.url,
        })
    }
}

/// Checks that `event`, accepted from another format, is what the router
/// reads back from its published JSON.
#[cfg(test)]
pub(crate) fn assert_reads_back(event: &Event) {
    let json = serde_json::to_vec(event).expect("an event is JSON");
    let read = parse_event(&json, event.occurred_at).expect("the router reads the event");
    assert_eq!(&read, event, "the event reads back as published");
}

fn default_title(source: &str, category: Category, kind: &str) -> String {
    if kind.is_empty() {
        format!("{source}: {category} event")
    } else {
        format!("{source}: {category} {kind}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-21 10:00 UTC)
    }

    fn parse(v: serde_json::Value) -> Result<Event, FieldError> {
        parse_event(v.to_string().as_bytes(), now()).map_err(|e| e.field_error().clone())
    }

    #[test]
    fn a_minimal_event_gets_an_id_a_time_a_severity_and_a_title() {
        let e = parse(json!({"source": "ci", "category": "job", "kind": "failed"})).unwrap();
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.occurred_at, now());
        assert_eq!(e.title, "ci: job failed");
        assert_eq!(e.routing_key(), "job.info");
        assert_eq!(e.id.get_version_num(), 7);
    }

    #[test]
    fn a_full_event_keeps_every_field() {
        let id = Uuid::now_v7();
        let e = parse(json!({
            "id": id, "source": "deployer", "category": "deployment", "kind": "finished",
            "severity": "critical", "scope": "/acme/web/", "title": "Deploy failed",
            "message": "step 3", "labels": {"env": "prod"}, "data": {"n": 1},
            "dedup_key": "deploy-web", "resolved": true,
            "occurred_at": "2026-11-20T08:00:00+01:00", "url": "https://ci.example/1"
        }))
        .unwrap();
        assert_eq!(e.id, id);
        assert_eq!(e.scope.as_str(), "acme/web");
        assert_eq!(e.labels["env"], "prod");
        assert_eq!(e.dedup_key.as_deref(), Some("deploy-web"));
        assert!(e.resolved);
        assert_eq!(e.occurred_at, time::macros::datetime!(2026-11-20 07:00 UTC));
    }

    #[test]
    fn bad_events_are_rejected_naming_the_field() {
        let cases = [
            (json!({"category": "job", "kind": "failed"}), "source"),
            (
                json!({"source": " ", "category": "job", "kind": "failed"}),
                "source",
            ),
            (json!({"source": "ci"}), "category"),
            (json!({"source": "ci", "category": "jobs"}), "category"),
            (
                json!({"source": "ci", "category": "job", "kind": "failed", "severity": "high"}),
                "severity",
            ),
            (
                json!({"source": "ci", "category": "job", "kind": "exploded"}),
                "kind",
            ),
            (
                json!({"source": "ci", "category": "system", "severty": "info"}),
                "severty",
            ),
            (
                json!({"source": "ci", "category": "system", "scope": "a//b"}),
                "scope",
            ),
            (
                json!({"source": "ci", "category": "system", "labels": {"env": 1}}),
                "labels.env",
            ),
            (
                json!({"source": "ci", "category": "system", "id": "nope"}),
                "id",
            ),
            (
                json!({"source": "ci", "category": "system", "occurred_at": "yesterday"}),
                "occurred_at",
            ),
            (
                json!({"source": "ci", "category": "system", "url": "not a url"}),
                "url",
            ),
            (json!({"source": "ci", "category": 3}), "category"),
            (json!({"source": "ci", "category": null}), "category"),
            (
                json!({"source": "ci", "category": "system", "severity": 3}),
                "severity",
            ),
            (
                json!({"source": "ci", "category": "system", "severity": true}),
                "severity",
            ),
            (
                json!({"source": "ci", "category": "system", "kind": "k".repeat(257)}),
                "kind",
            ),
            (
                json!({"source": "ci", "category": "system", "title": "t".repeat(1025)}),
                "title",
            ),
            (
                json!({"source": "ci", "category": "system", "dedup_key": "d".repeat(257)}),
                "dedup_key",
            ),
            (
                json!({"source": "ci", "category": "system", "scope": "a/".repeat(17)}),
                "scope",
            ),
        ];
        for (input, field) in cases {
            let err = parse(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input} gave {err}");
        }
    }

    #[test]
    fn unknown_values_are_listed_in_the_message() {
        let err =
            parse(json!({"source": "ci", "category": "system", "severity": "high"})).unwrap_err();
        assert!(err.message.contains("critical"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_for_an_enum_lists_the_valid_values() {
        let err = parse(json!({"source": "ci", "category": "system", "severity": 3})).unwrap_err();
        assert!(err.message.contains("critical, warning, info"), "{err}");
        assert!(!err.message.contains("JSON"), "{err}");
        let err = parse(json!({"source": "ci", "category": null})).unwrap_err();
        assert!(err.message.contains("system, configuration, job"), "{err}");
    }

    #[test]
    fn a_batch_over_the_limit_is_refused_before_its_events_are_read() {
        let one = json!({"source": "ci", "category": "system"});
        let body = json!(vec![one; crate::limits::MAX_EVENTS_PER_REQUEST + 1]).to_string();
        let err = parse_events(body.as_bytes(), now()).unwrap_err();
        assert_eq!(err.field_error().field, "");
        assert!(err.to_string().contains("at most 1000"), "{err}");
    }

    #[test]
    fn an_event_over_the_limit_is_rejected() {
        let body =
            json!({"source": "ci", "category": "system", "message": "x".repeat(MAX_EVENT_BYTES)});
        let err = parse_event(body.to_string().as_bytes(), now()).unwrap_err();
        assert!(matches!(err, EventError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn nul_characters_are_refused_before_they_reach_the_database() {
        let err =
            parse(json!({"source": "ci", "category": "system", "message": "a\u{0}b"})).unwrap_err();
        assert!(err.message.contains("NUL"), "{err}");
    }

    #[test]
    fn arrays_are_parsed_and_their_errors_indexed() {
        let ok =
            json!([{"source": "a", "category": "system"}, {"source": "b", "category": "spending"}]);
        assert_eq!(
            parse_events(ok.to_string().as_bytes(), now())
                .unwrap()
                .len(),
            2
        );
        let bad = json!([{"source": "a", "category": "system"}, {"source": "b", "category": "x"}]);
        let err = parse_events(bad.to_string().as_bytes(), now()).unwrap_err();
        assert_eq!(err.field_error().field, "[1].category");
        assert!(parse_events(b"[]", now()).is_err());
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        for body in [&b"{"[..], b"", b"null", b"42", b"\xff\xfe"] {
            assert!(parse_events(body, now()).is_err());
        }
    }

    #[test]
    fn a_retried_event_has_the_same_content_and_a_reused_id_does_not() {
        let id = Uuid::now_v7();
        let first = parse(json!({"id": id, "source": "ci", "category": "system"})).unwrap();
        let mut retried = first.clone();
        retried.occurred_at += time::Duration::seconds(5);
        assert!(first.same_content(&retried));
        let reused = parse(json!({"id": id, "source": "billing", "category": "system"})).unwrap();
        assert!(!first.same_content(&reused));
    }

    #[test]
    fn an_event_survives_a_round_trip_through_its_stored_form() {
        let e =
            parse(json!({"source": "ci", "category": "job", "kind": "started", "data": [1, 2]}))
                .unwrap();
        let back: Event = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
