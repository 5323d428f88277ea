//! No-activity monitors: "tell me when nothing from `billing` arrived for
//! 30 minutes". This module holds what an administrator writes, validated,
//! and the event a monitor raises when it goes silent (and resolves when
//! matching events return), built as a pure function of the monitor.
//!
//! It does not keep time: when a monitor was last fed, whether it is due and
//! the transition itself live in the store, run by the flush role.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{FieldError, from_value};
use crate::event::{Category, Event, Severity};
use crate::limits::{MAX_LABELS, MAX_NAME_CHARS, MAX_TITLE_CHARS, check_chars, check_count};
use crate::policy::EventMatch;
use crate::span::Span;

/// The `source` of the events monitors raise.
pub const MONITOR_SOURCE: &str = "herald";
/// The `kind` of the events monitors raise (category `system`).
pub const NO_ACTIVITY_KIND: &str = "no_activity";

/// The shortest and longest `silent_for` accepted. A second is also the
/// precision of the flush role's checks, and lets the router write a
/// monitor's last sighting at most about once a second.
pub const MIN_SILENT_FOR: Span = Span(std::time::Duration::from_secs(1));
pub const MAX_SILENT_FOR: Span = Span(std::time::Duration::from_secs(30 * 86_400));

/// Labels a monitor adds to its events; the match's own labels leave room for them.
const OWN_LABELS: usize = 2;

/// What an administrator writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    pub name: String,
    /// The events whose absence is watched; empty watches every event.
    #[serde(rename = "match", default)]
    pub matcher: EventMatch,
    /// How long nothing matching may arrive before the monitor raises.
    pub silent_for: Span,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Whether a monitor is fed, or has raised its no-activity event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MonitorState {
    Active,
    Silent,
}

impl MonitorState {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorState::Active => "active",
            MonitorState::Silent => "silent",
        }
    }
}

impl std::str::FromStr for MonitorState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(MonitorState::Active),
            "silent" => Ok(MonitorState::Silent),
            other => Err(format!(
                "unknown monitor state `{other}`, expected one of active, silent"
            )),
        }
    }
}

/// A stored monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Monitor {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    pub state: MonitorState,
    /// When a matching event last arrived (or the monitor's clock started:
    /// created, enabled again).
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// When the monitor last went silent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub raised_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl MonitorSpec {
    /// Parses a monitor from API input, naming the field at fault.
    pub fn from_json(value: serde_json::Value) -> Result<MonitorSpec, FieldError> {
        let mut spec: MonitorSpec = from_value(value)?;
        spec.name = spec.name.trim().to_owned();
        if spec.name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        check_chars("name", &spec.name, MAX_NAME_CHARS)?;
        spec.matcher.validate("match")?;
        // The raised event carries the match's labels and the monitor's own;
        // it must stay within what an event may carry, or the router would
        // refuse it.
        check_count(
            "match.labels",
            spec.matcher.labels.len(),
            MAX_LABELS - OWN_LABELS,
        )?;
        if spec.silent_for < MIN_SILENT_FOR || spec.silent_for > MAX_SILENT_FOR {
            return Err(FieldError::new(
                "silent_for",
                format!("must be between {MIN_SILENT_FOR} and {MAX_SILENT_FOR}"),
            ));
        }
        Ok(spec)
    }
}

/// Whether `event` is one a monitor raised: the router does not count these
/// as activity, so a monitor watching `category: system` cannot feed itself.
pub fn raised_by_monitor(event: &Event) -> bool {
    event.source == MONITOR_SOURCE && event.kind == NO_ACTIVITY_KIND
}

/// The namespace of the ids of monitors' events (UUID v5).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_4f0e_93b2_4d57_8e11_52c7_a0d4_9b36);

/// A description of a match longer than this is cut: it is part of a title.
const MAX_WHAT_CHARS: usize = 300;

impl Monitor {
    /// The event this monitor raises (`resolved: false`) when it went silent
    /// at `raised_at`, or that resolves that one. Both share the `dedup_key`
    /// `monitor:<id>`, so resolve tracking and incident channels pair them.
    ///
    /// The id is derived from the monitor, `raised_at` and `resolved`: a
    /// transition published again after a crash (before its state was
    /// committed) is the same event, which the router records once.
    pub fn event(&self, raised_at: OffsetDateTime, resolved: bool) -> Event {
        let name = &self.spec.name;
        let what = describe(&self.spec.matcher);
        let silent_for = self.spec.silent_for;
        let title = if resolved {
            format!("Activity again from {what} (monitor '{name}')")
        } else {
            format!("No activity from {what} for {silent_for} (monitor '{name}')")
        };
        let mut labels: BTreeMap<String, String> = self.spec.matcher.labels.clone();
        labels.insert("monitor".into(), name.clone());
        labels.insert("monitor_id".into(), self.id.to_string());
        let message = if resolved {
            format!("Events matching monitor '{name}' arrive again.")
        } else {
            format!("Nothing matching monitor '{name}' arrived for {silent_for}.")
        };
        Event {
            id: event_id(self.id, raised_at, resolved),
            source: MONITOR_SOURCE.to_owned(),
            category: Category::System,
            kind: NO_ACTIVITY_KIND.to_owned(),
            severity: Severity::Warning,
            scope: self.spec.matcher.scope.clone().unwrap_or_default(),
            title: truncate(&title, MAX_TITLE_CHARS),
            message,
            labels,
            // Only what does not move between two tries of one transition:
            // the router compares a repeated id's content.
            data: serde_json::json!({
                "monitor": {
                    "id": self.id,
                    "name": name,
                    "match": self.spec.matcher,
                    "silent_for": silent_for,
                },
                "raised_at": raised_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("a stored time formats"),
            }),
            dedup_key: Some(format!("monitor:{}", self.id)),
            resolved,
            // A resolve happened when activity came back.
            occurred_at: if resolved {
                self.last_seen_at.max(raised_at)
            } else {
                raised_at
            },
            url: None,
        }
    }
}

fn event_id(monitor: Uuid, raised_at: OffsetDateTime, resolved: bool) -> Uuid {
    let name = format!("{monitor}/{}/{resolved}", raised_at.unix_timestamp_nanos());
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

/// The events a match is about, in words: `billing`, `billing or payments
/// job failed in acme/web (env=prod)`; `any source` for an empty match.
fn describe(m: &EventMatch) -> String {
    let or = |items: Vec<String>| items.join(" or ");
    let mut parts = Vec::new();
    if !m.source.0.is_empty() {
        parts.push(or(m.source.0.clone()));
    }
    if !m.category.0.is_empty() {
        parts.push(or(m.category.0.iter().map(ToString::to_string).collect()));
    }
    if !m.kind.0.is_empty() {
        parts.push(or(m.kind.0.clone()));
    }
    if !m.severity.0.is_empty() {
        parts.push(or(m.severity.0.iter().map(ToString::to_string).collect()));
    }
    if let Some(scope) = m.scope.as_ref().filter(|s| !s.is_root()) {
        parts.push(format!("in {scope}"));
    }
    if !m.labels.is_empty() {
        let pairs: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("({})", pairs.join(", ")));
    }
    match parts.is_empty() {
        true => "any source".to_owned(),
        false => truncate(&parts.join(" "), MAX_WHAT_CHARS),
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use time::macros::datetime;

    use super::*;

    fn monitor(spec: Value) -> Monitor {
        Monitor {
            id: Uuid::from_u128(42),
            spec: MonitorSpec::from_json(spec).unwrap(),
            state: MonitorState::Active,
            last_seen_at: datetime!(2026-11-21 10:00 UTC),
            raised_at: None,
            created_at: datetime!(2026-11-20 10:00 UTC),
            updated_at: datetime!(2026-11-20 10:00 UTC),
        }
    }

    #[test]
    fn a_raised_event_names_its_monitor_and_passes_validation() {
        let m = monitor(json!({
            "name": "billing heartbeat", "silent_for": "30m",
            "match": {"source": "billing", "scope": "/acme/pay/", "labels": {"env": "prod"}}
        }));
        let at = datetime!(2026-11-21 10:30 UTC);
        let e = m.event(at, false);
        assert_eq!(e.source, "herald");
        assert_eq!(e.category, Category::System);
        assert_eq!(e.kind, "no_activity");
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.scope.as_str(), "acme/pay");
        assert_eq!(
            e.dedup_key.as_deref(),
            Some(format!("monitor:{}", m.id).as_str())
        );
        assert!(!e.resolved);
        assert_eq!(e.occurred_at, at);
        assert_eq!(
            e.title,
            "No activity from billing in acme/pay (env=prod) for 30m (monitor 'billing heartbeat')"
        );
        let labels: Vec<(&str, &str)> = e
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("env", "prod"),
                ("monitor", "billing heartbeat"),
                ("monitor_id", m.id.to_string().as_str()),
            ]
        );
        assert!(raised_by_monitor(&e));
        // What the router reads back is what was built.
        let parsed =
            crate::parse_event(&serde_json::to_vec(&e).unwrap(), OffsetDateTime::now_utc())
                .unwrap();
        assert_eq!(parsed, e);
    }

    #[test]
    fn the_resolve_pairs_with_the_raise() {
        let m = monitor(json!({"name": "quiet", "silent_for": "2s", "match": {}}));
        let at = datetime!(2026-11-21 10:00:02 UTC);
        let (raised, resolved) = (m.event(at, false), m.event(at, true));
        assert!(resolved.resolved);
        assert_eq!(resolved.dedup_key, raised.dedup_key);
        assert_eq!(resolved.kind, raised.kind);
        assert!(resolved.scope.is_root());
        assert_eq!(
            resolved.title,
            "Activity again from any source (monitor 'quiet')"
        );
        assert_ne!(resolved.id, raised.id);
    }

    #[test]
    fn event_ids_are_deterministic() {
        let m = monitor(json!({"name": "m", "silent_for": "1m", "match": {"source": "ci"}}));
        let at = datetime!(2026-11-21 10:01 UTC);
        assert_eq!(m.event(at, false).id, m.event(at, false).id);
        assert_eq!(m.event(at, false).id.get_version_num(), 5);
        let later = at + time::Duration::microseconds(1);
        let ids = [
            m.event(at, false).id,
            m.event(at, true).id,
            m.event(later, false).id,
            Monitor {
                id: Uuid::from_u128(43),
                ..m.clone()
            }
            .event(at, false)
            .id,
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // A resolve tried again once more events arrived is the same event.
        let fed = Monitor {
            last_seen_at: at + time::Duration::seconds(5),
            ..m.clone()
        };
        assert!(fed.event(at, true).same_content(&m.event(at, true)));
    }

    #[test]
    fn bad_monitors_are_refused_naming_the_field() {
        let many: serde_json::Map<String, Value> = (0..MAX_LABELS - 1)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let cases = [
            (json!({"silent_for": "30m"}), "name"),
            (json!({"name": " ", "silent_for": "30m"}), "name"),
            (
                json!({"name": "x".repeat(201), "silent_for": "30m"}),
                "name",
            ),
            (json!({"name": "m"}), "silent_for"),
            (json!({"name": "m", "silent_for": "soon"}), "silent_for"),
            (json!({"name": "m", "silent_for": "999ms"}), "silent_for"),
            (json!({"name": "m", "silent_for": "31d"}), "silent_for"),
            (
                json!({"name": "m", "silent_for": "1m", "match": {"scope": "a//b"}}),
                "match.scope",
            ),
            (
                json!({"name": "m", "silent_for": "1m", "match": {"category": "jobs"}}),
                "match.category",
            ),
            (
                json!({"name": "m", "silent_for": "1m", "match": {"sauce": "ci"}}),
                "match.sauce",
            ),
            (
                json!({"name": "m", "silent_for": "1m", "match": {"labels": many}}),
                "match.labels",
            ),
            (
                json!({"name": "m", "silent_for": "1m", "enabled": "yes"}),
                "enabled",
            ),
            (
                json!({"name": "m", "silent_for": "1m", "state": "silent"}),
                "state",
            ),
        ];
        for (spec, field) in cases {
            let err = MonitorSpec::from_json(spec.clone()).unwrap_err();
            assert_eq!(err.field, field, "{spec}: {err}");
        }
    }

    #[test]
    fn a_monitor_reads_back_as_written() {
        let spec = MonitorSpec::from_json(json!({
            "name": " billing ", "silent_for": "1m30s", "match": {"source": "billing"}
        }))
        .unwrap();
        assert_eq!(spec.name, "billing");
        assert!(spec.enabled);
        assert_eq!(spec.silent_for, Span::from_secs(90));
        let m = Monitor {
            spec,
            ..monitor(json!({"name": "x", "silent_for": "1s"}))
        };
        let shown = serde_json::to_value(&m).unwrap();
        assert_eq!(shown["match"], json!({"source": "billing"}));
        assert_eq!(shown["silent_for"], "1m30s");
        assert_eq!(shown["state"], "active");
        assert_eq!(shown["raised_at"], Value::Null);
        assert_eq!(serde_json::from_value::<Monitor>(shown).unwrap(), m);
    }

    #[test]
    fn long_descriptions_are_cut() {
        let sources: Vec<String> = (0..40).map(|i| format!("source-{i}")).collect();
        let m = monitor(json!({"name": "n".repeat(200), "silent_for": "1s",
                               "match": {"source": sources}}));
        let title = m.event(OffsetDateTime::UNIX_EPOCH, false).title;
        assert!(title.chars().count() <= MAX_TITLE_CHARS);
        assert!(title.contains("…"), "{title}");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
    }
}
