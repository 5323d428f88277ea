//! Silences and inhibitions as an administrator writes them: parsed from API
//! input, validated with errors that name the field, and the one decision that
//! needs no event, whether a silence is in force at a given moment.
//!
//! A silence keeps the events its `matchers` match from notifying between
//! `starts_at` and `ends_at`; an inhibition keeps events matching
//! `target_match` from notifying while an event matching `source_match`, equal
//! on the `equal` fields, is open. Applying them to events is the router's
//! work; keeping them is the store's. This module does no I/O: callers pass
//! the time.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{FieldError, from_value};
use crate::limits::{
    MAX_COMMENT_CHARS, MAX_LABELS, MAX_NAME_CHARS, MAX_SHORT_TEXT_CHARS, check_chars, check_count,
};
use crate::policy::{EventMatch, check_field_paths};
use crate::records::text_enum;

/// A silence as stored: the events `matchers` match notify nobody from
/// `starts_at` until `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// Optional; what `herald apply` knows the silence by.
    #[serde(default)]
    pub name: String,
    pub matchers: EventMatch,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub comment: String,
    /// Who asked for it: the token's name unless the request named someone.
    pub created_by: String,
}

/// A stored silence. Expiring one ends it now; it stays, for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: SilenceSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where a silence stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// `starts_at` is still to come.
    Pending,
    /// In force: from `starts_at`, up to (not including) `ends_at`.
    Active,
    /// `ends_at` has passed (or it was expired).
    Expired,
}

text_enum!(SilenceState, "silence state" {
    Pending = "pending",
    Active = "active",
    Expired = "expired",
});

/// An inhibition as stored: while an event matching `source_match` is open,
/// events matching `target_match` that are equal to it on every `equal` field
/// notify nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InhibitionSpec {
    /// Optional, for people: nothing refers to an inhibition by name.
    #[serde(default)]
    pub name: String,
    pub source_match: EventMatch,
    pub target_match: EventMatch,
    /// Event field paths (`labels.cluster`, `source`) both events must share.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A stored inhibition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Inhibition {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: InhibitionSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Silence {
    /// Where this silence stands at `now`. An expired silence may have its
    /// `starts_at` ahead (one expired before it began), so the end is looked
    /// at first.
    pub fn state(&self, now: OffsetDateTime) -> SilenceState {
        if now >= self.spec.ends_at {
            SilenceState::Expired
        } else if now < self.spec.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether it silences the events it matches at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.state(now) == SilenceState::Active
    }
}

/// A silence as a client writes it: what is left out takes a default only
/// the caller knows (the time, the token's name).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceInput {
    #[serde(default)]
    name: String,
    matchers: EventMatch,
    #[serde(default, deserialize_with = "some_moment")]
    starts_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "moment")]
    ends_at: OffsetDateTime,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    created_by: Option<String>,
}

/// An RFC 3339 time, refused with an example of one: `time`'s own message
/// names only the part it could not read (`the 'year' component`).
fn moment<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    parse_moment(&String::deserialize(d)?)
}

/// The same, where `null` means "not given".
fn some_moment<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| parse_moment(&text))
        .transpose()
}

fn parse_moment<E: serde::de::Error>(text: &str) -> Result<OffsetDateTime, E> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        E::custom(format!(
            "`{text}` is not an RFC 3339 time such as 2026-11-22T09:00:00Z ({e})"
        ))
    })
}

impl SilenceSpec {
    /// Parses a silence from API input, naming the field at fault.
    /// `starts_at` defaults to `now`, a missing or blank `created_by` to
    /// `caller`. An `ends_at` already past is accepted: such a silence is a
    /// record (imported, or written after the fact) and silences nothing.
    pub fn from_json(
        value: serde_json::Value,
        now: OffsetDateTime,
        caller: &str,
    ) -> Result<SilenceSpec, FieldError> {
        let input: SilenceInput = from_value(value)?;
        let mut matchers = input.matchers;
        check_matcher("matchers", &mut matchers)?;
        let starts_at = input.starts_at.unwrap_or(now);
        if input.ends_at <= starts_at {
            return Err(FieldError::new("ends_at", "must be after starts_at"));
        }
        let name = input.name.trim().to_owned();
        check_chars("name", &name, MAX_NAME_CHARS)?;
        check_chars("comment", &input.comment, MAX_COMMENT_CHARS)?;
        let created_by = match input.created_by.as_deref().map(str::trim) {
            Some(by) if !by.is_empty() => by.to_owned(),
            _ => caller.to_owned(),
        };
        check_chars("created_by", &created_by, MAX_NAME_CHARS)?;
        Ok(SilenceSpec {
            name,
            matchers,
            starts_at,
            ends_at: input.ends_at,
            comment: input.comment,
            created_by,
        })
    }
}

impl InhibitionSpec {
    /// Parses an inhibition from API input, naming the field at fault.
    pub fn from_json(value: serde_json::Value) -> Result<InhibitionSpec, FieldError> {
        let mut spec: InhibitionSpec = from_value(value)?;
        spec.name = spec.name.trim().to_owned();
        check_chars("name", &spec.name, MAX_NAME_CHARS)?;
        check_matcher("source_match", &mut spec.source_match)?;
        check_matcher("target_match", &mut spec.target_match)?;
        // Six named fields and the labels an event may carry.
        check_count("equal", spec.equal.len(), MAX_LABELS)?;
        for (i, path) in spec.equal.iter().enumerate() {
            check_chars(&format!("equal[{i}]"), path, MAX_SHORT_TEXT_CHARS)?;
        }
        check_field_paths("equal", &spec.equal)?;
        Ok(spec)
    }
}

/// Validates a matcher and refuses one that matches every event: a silence
/// of everything mutes pages too, and is far more often a mistake (a
/// misspelt or forgotten field) than an intent.
fn check_matcher(field: &str, matcher: &mut EventMatch) -> Result<(), FieldError> {
    matcher.validate(field)?;
    let everything = matcher.source.0.is_empty()
        && matcher.scope.as_ref().is_none_or(|s| s.is_root())
        && matcher.category.0.is_empty()
        && matcher.severity.0.is_empty()
        && matcher.kind.0.is_empty()
        && matcher.labels.is_empty();
    if everything {
        return Err(FieldError::new(
            field,
            "must not be empty: give at least one of source, scope, category, severity, kind or labels",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn silence(input: serde_json::Value) -> Result<SilenceSpec, FieldError> {
        SilenceSpec::from_json(input, NOW, "ops")
    }

    #[test]
    fn a_silence_starts_now_and_is_created_by_the_caller_unless_told() {
        let spec =
            silence(json!({"matchers": {"source": "ci"}, "ends_at": "2026-03-01T14:00:00Z"}))
                .unwrap();
        assert_eq!(spec.starts_at, NOW);
        assert_eq!(spec.ends_at, datetime!(2026-03-01 14:00 UTC));
        assert_eq!(spec.created_by, "ops");
        assert_eq!(spec.comment, "");
        let spec = silence(json!({
            "matchers": {"labels": {"env": "staging"}},
            "starts_at": "2026-03-02T10:00:00+02:00", "ends_at": "2026-03-02T12:00:00+02:00",
            "comment": "migration", "created_by": " alice ", "name": " staging ",
        }))
        .unwrap();
        assert_eq!(spec.name, "staging");
        assert_eq!(spec.starts_at, datetime!(2026-03-02 08:00 UTC));
        assert_eq!(spec.created_by, "alice");
        assert_eq!(spec.comment, "migration");
        let unset = silence(
            json!({"matchers": {"source": "ci"}, "ends_at": "2026-03-02T00:00:00Z",
                                   "starts_at": null}),
        );
        assert_eq!(unset.unwrap().starts_at, NOW);
        let err =
            silence(json!({"matchers": {"source": "ci"}, "ends_at": "tomorrow"})).unwrap_err();
        assert!(err.message.contains("RFC 3339 time such as"), "{err}");
        let blank = silence(
            json!({"matchers": {"source": "ci"}, "ends_at": "2026-03-02T00:00:00Z",
                                   "created_by": ""}),
        );
        assert_eq!(blank.unwrap().created_by, "ops");
    }

    #[test]
    fn bad_silences_name_the_field() {
        let end = "2026-03-01T14:00:00Z";
        let cases = [
            (json!({"matchers": {"source": "ci"}}), "ends_at"),
            (json!({"ends_at": end}), "matchers"),
            (json!({"matchers": {}, "ends_at": end}), "matchers"),
            (
                json!({"matchers": {"source": [], "labels": {}}, "ends_at": end}),
                "matchers",
            ),
            (
                json!({"matchers": {"scope": "/"}, "ends_at": end}),
                "matchers",
            ),
            (
                json!({"matchers": {"severity": "high"}, "ends_at": end}),
                "matchers.severity",
            ),
            (
                json!({"matchers": {"scope": "a//b"}, "ends_at": end}),
                "matchers.scope",
            ),
            (
                json!({"matchers": {"env": "prod"}, "ends_at": end}),
                "matchers.env",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": "2026-03-01T11:00:00Z"}),
                "ends_at",
            ),
            (
                json!({"matchers": {"source": "ci"}, "starts_at": end, "ends_at": end}),
                "ends_at",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": "tomorrow"}),
                "ends_at",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": null}),
                "ends_at",
            ),
            (
                json!({"matchers": {"source": "ci"}, "starts_at": 1, "ends_at": end}),
                "starts_at",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": end, "comment": "c".repeat(2001)}),
                "comment",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": end, "created_by": "n".repeat(201)}),
                "created_by",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": end, "name": "n".repeat(201)}),
                "name",
            ),
            (
                json!({"matchers": {"source": "ci"}, "ends_at": end, "until": end}),
                "until",
            ),
        ];
        for (input, field) in cases {
            let err = silence(input.clone()).unwrap_err();
            assert_eq!(err.field, field, "{input}: {err}");
        }
    }

    #[test]
    fn a_silence_is_pending_then_active_then_expired() {
        let s = Silence {
            id: Uuid::nil(),
            spec: silence(json!({"matchers": {"source": "ci"},
                                 "starts_at": "2026-03-01T13:00:00Z",
                                 "ends_at": "2026-03-01T14:00:00Z"}))
            .unwrap(),
            created_at: NOW,
            updated_at: NOW,
        };
        let cases = [
            (datetime!(2026-03-01 12:59:59 UTC), SilenceState::Pending),
            (datetime!(2026-03-01 13:00 UTC), SilenceState::Active),
            (datetime!(2026-03-01 13:59:59 UTC), SilenceState::Active),
            (datetime!(2026-03-01 14:00 UTC), SilenceState::Expired),
        ];
        for (at, want) in cases {
            assert_eq!(s.state(at), want, "{at}");
            assert_eq!(s.is_active(at), want == SilenceState::Active, "{at}");
        }
        // Expired before it began: its end decides.
        let mut early = s.clone();
        early.spec.ends_at = datetime!(2026-03-01 12:30 UTC);
        assert_eq!(
            early.state(datetime!(2026-03-01 12:45 UTC)),
            SilenceState::Expired
        );
    }

    #[test]
    fn a_silence_reads_as_written_with_its_id_and_times_alongside() {
        let s = Silence {
            id: Uuid::nil(),
            spec: silence(
                json!({"matchers": {"source": "ci", "severity": ["warning", "info"]},
                                 "ends_at": "2026-03-01T14:00:00Z", "comment": "deploy"}),
            )
            .unwrap(),
            created_at: NOW,
            updated_at: NOW,
        };
        let shown = serde_json::to_value(&s).unwrap();
        assert_eq!(
            shown,
            json!({
                "id": Uuid::nil(), "name": "",
                "matchers": {"source": "ci", "severity": ["warning", "info"]},
                "starts_at": "2026-03-01T12:00:00Z", "ends_at": "2026-03-01T14:00:00Z",
                "comment": "deploy", "created_by": "ops",
                "created_at": "2026-03-01T12:00:00Z", "updated_at": "2026-03-01T12:00:00Z",
            })
        );
        assert_eq!(serde_json::from_value::<Silence>(shown).unwrap(), s);
    }

    #[test]
    fn silence_states_parse_from_their_names_only() {
        assert_eq!("expired".parse::<SilenceState>(), Ok(SilenceState::Expired));
        let err = "done".parse::<SilenceState>().unwrap_err();
        assert_eq!(
            err,
            "unknown silence state `done`, expected one of pending, active, expired"
        );
    }

    #[test]
    fn inhibitions_parse_and_bad_ones_name_the_field() {
        let spec = InhibitionSpec::from_json(json!({
            "name": " cluster down ",
            "source_match": {"kind": "cluster_down", "severity": "critical"},
            "target_match": {"severity": ["warning", "info"]},
            "equal": ["labels.cluster", "scope"],
        }))
        .unwrap();
        assert_eq!(spec.name, "cluster down");
        assert_eq!(spec.equal, ["labels.cluster", "scope"]);
        let unnamed = InhibitionSpec::from_json(
            json!({"source_match": {"source": "a"}, "target_match": {"source": "b"}}),
        )
        .unwrap();
        assert_eq!((unnamed.name.as_str(), unnamed.equal.len()), ("", 0));

        let (s, t) = (json!({"source": "a"}), json!({"source": "b"}));
        let cases = [
            (
                json!({"source_match": {}, "target_match": t}),
                "source_match",
            ),
            (
                json!({"source_match": s, "target_match": {}}),
                "target_match",
            ),
            (json!({"source_match": s}), "target_match"),
            (
                json!({"source_match": s, "target_match": {"category": "nope"}}),
                "target_match.category",
            ),
            (
                json!({"source_match": s, "target_match": t, "equal": ["labels.env", "cluster"]}),
                "equal[1]",
            ),
            (
                json!({"source_match": s, "target_match": t, "equal": ["labels."]}),
                "equal[0]",
            ),
            (
                json!({"source_match": s, "target_match": t, "name": "n".repeat(201)}),
                "name",
            ),
            (
                json!({"source_match": s, "target_match": t, "enabled": true}),
                "enabled",
            ),
        ];
        for (input, field) in cases {
            let err = InhibitionSpec::from_json(input.clone()).unwrap_err();
            assert_eq!(err.field, field, "{input}: {err}");
        }
    }
}
