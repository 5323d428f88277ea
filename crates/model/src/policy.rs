//! Rule policies and the matchers of silences, inhibitions and monitors: what
//! an administrator writes, validated, and the pure decisions over them (does
//! a matcher match an event, which key an event counts under, which field a
//! group is split by). The state these decisions need (counts, windows, open
//! groups and problems) lives in the store; this module does no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::event::{Category, Event, Severity};
use crate::limits::{MAX_SHORT_TEXT_CHARS, MAX_TEMPLATE_CHARS, check_chars, check_labels};
use crate::scope::Scope;
use crate::span::Span;

/// One value, or any of several: `"severity": "warning"` or
/// `"severity": ["warning", "info"]`. Empty matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "OneOrMany<T>")]
pub struct AnyOf<T: Clone>(pub Vec<T>);

// By hand: derived through an untagged enum, a bad value would only be "data
// did not match any variant"; this way it is the value's own error
// (`unknown variant `high`, expected one of ...`), at its index in a list.
impl<'de, T: Clone + Deserialize<'de>> Deserialize<'de> for AnyOf<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyOfVisitor(std::marker::PhantomData))
            .map(AnyOf)
    }
}

/// Matched values are text: a single one is a string, several a list.
struct AnyOfVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for AnyOfVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        T::deserialize(serde::de::value::StrDeserializer::new(v)).map(|t| vec![t])
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(value) = seq.next_element()? {
            values.push(value);
        }
        Ok(values)
    }
}

// By hand: derived, it would ask `T: Default`, which categories lack.
impl<T: Clone> Default for AnyOf<T> {
    fn default() -> Self {
        AnyOf(Vec::new())
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> From<AnyOf<T>> for OneOrMany<T> {
    fn from(v: AnyOf<T>) -> Self {
        match <[T; 1]>::try_from(v.0) {
            Ok([one]) => OneOrMany::One(one),
            Err(many) => OneOrMany::Many(many),
        }
    }
}

impl<T: Clone + PartialEq> AnyOf<T> {
    fn admits(&self, value: &T) -> bool {
        self.0.is_empty() || self.0.contains(value)
    }
}

/// An [`AnyOf`] as the document describes it: one value or a list of them.
fn one_or_many<T: utoipa::ToSchema>() -> utoipa::openapi::schema::Schema {
    let one = utoipa::openapi::Ref::from_schema_name(T::name());
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(one.clone())
        .item(utoipa::openapi::schema::ArrayBuilder::new().items(one))
        .build()
        .into()
}

fn one_or_many_strings() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(<String as utoipa::PartialSchema>::schema())
        .item(
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(<String as utoipa::PartialSchema>::schema()),
        )
        .build()
        .into()
}

fn one_or_many_categories() -> utoipa::openapi::schema::Schema {
    one_or_many::<Category>()
}

fn one_or_many_severities() -> utoipa::openapi::schema::Schema {
    one_or_many::<Severity>()
}

/// Which events a silence, an inhibition or a monitor is about. Every field
/// given must match: `scope` matches its path and below, `labels` must all be
/// equal on the event, the others are one value or a list of values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    #[serde(default, skip_serializing_if = "is_empty")]
    #[schema(schema_with = one_or_many_strings)]
    pub source: AnyOf<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "is_empty")]
    #[schema(schema_with = one_or_many_categories)]
    pub category: AnyOf<Category>,
    #[serde(default, skip_serializing_if = "is_empty")]
    #[schema(schema_with = one_or_many_severities)]
    pub severity: AnyOf<Severity>,
    #[serde(default, skip_serializing_if = "is_empty")]
    #[schema(schema_with = one_or_many_strings)]
    pub kind: AnyOf<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn is_empty<T: Clone>(v: &AnyOf<T>) -> bool {
    v.0.is_empty()
}

impl EventMatch {
    /// Checks sizes and normalises the scope; errors name the field below `field`.
    pub fn validate(&mut self, field: &str) -> Result<(), FieldError> {
        let within = |e: FieldError| e.within(field);
        for (i, s) in self.source.0.iter().enumerate() {
            check_chars(&format!("source[{i}]"), s, MAX_SHORT_TEXT_CHARS).map_err(within)?;
        }
        for (i, s) in self.kind.0.iter().enumerate() {
            check_chars(&format!("kind[{i}]"), s, MAX_SHORT_TEXT_CHARS).map_err(within)?;
        }
        if let Some(scope) = &self.scope {
            let parsed = Scope::parse(scope.as_str())
                .map_err(|m| FieldError::new("scope", m).within(field))?;
            self.scope = Some(parsed);
        }
        check_labels("labels", self.labels.iter()).map_err(within)
    }

    /// Whether `event` is one of the events this is about.
    pub fn matches(&self, event: &Event) -> bool {
        self.source.admits(&event.source)
            && self.category.admits(&event.category)
            && self.severity.admits(&event.severity)
            && self.kind.admits(&event.kind)
            && self.scope.as_ref().is_none_or(|s| s.contains(&event.scope))
            && self
                .labels
                .iter()
                .all(|(k, v)| event.labels.get(k) == Some(v))
    }
}

/// A field of an event by its path, as `group.by`, `inhibition.equal` and
/// keys name it: `source`, `scope`, `category`, `severity`, `kind`,
/// `dedup_key` or `labels.<name>`. A label the event lacks is the empty text.
pub fn event_field(event: &Event, path: &str) -> Option<String> {
    Some(match path {
        "source" => event.source.clone(),
        "scope" => event.scope.to_string(),
        "category" => event.category.to_string(),
        "severity" => event.severity.to_string(),
        "kind" => event.kind.clone(),
        "dedup_key" => event.dedup_key.clone().unwrap_or_default(),
        _ => event
            .labels
            .get(path.strip_prefix("labels.")?)
            .cloned()
            .unwrap_or_default(),
    })
}

/// Checks a list of event field paths (`group.by`, `equal`).
pub fn check_field_paths(field: &str, paths: &[String]) -> Result<(), FieldError> {
    const NAMED: [&str; 6] = [
        "source",
        "scope",
        "category",
        "severity",
        "kind",
        "dedup_key",
    ];
    for (i, path) in paths.iter().enumerate() {
        let label = path.strip_prefix("labels.").filter(|l| !l.is_empty());
        if !NAMED.contains(&path.as_str()) && label.is_none() {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "`{path}` is not an event field; use one of {} or labels.<name>",
                    NAMED.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The problem an event belongs to: its `dedup_key`, or its source, scope and
/// kind. A firing event opens it, a resolved one closes it.
pub fn problem_key(event: &Event) -> String {
    match &event.dedup_key {
        Some(key) => key.clone(),
        None => format!("{}\u{1f}{}\u{1f}{}", event.source, event.scope, event.kind),
    }
}

/// An open problem: opened by a firing event, closed by a resolving one of
/// the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    pub key: String,
    /// The firing event that opened it.
    pub event_id: uuid::Uuid,
    pub source: String,
    pub category: Category,
    pub severity: Severity,
    pub scope: Scope,
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    pub title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: time::OffsetDateTime,
}

impl Problem {
    /// The event that opened it, as far as matchers look at it.
    pub fn event(&self) -> Event {
        Event {
            id: self.event_id,
            source: self.source.clone(),
            category: self.category,
            kind: self.kind.clone(),
            severity: self.severity,
            scope: self.scope.clone(),
            title: self.title.clone(),
            message: String::new(),
            labels: self.labels.clone(),
            data: serde_json::Value::Null,
            dedup_key: None,
            resolved: false,
            occurred_at: self.opened_at,
            url: None,
        }
    }
}

/// Notify only at the `count`th matching event for a key within `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub window: Span,
    /// A template over `event`; the default is source + scope + kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// At most one notification per key within `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    pub window: Span,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One notification per group of events that share the `by` fields: the
/// first waits `wait` for company, the next no sooner than `interval` after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(default)]
    pub by: Vec<String>,
    #[serde(default = "default_group_wait")]
    pub wait: Span,
    #[serde(default = "default_group_interval")]
    pub interval: Span,
}

fn default_group_wait() -> Span {
    Span::from_secs(30)
}

fn default_group_interval() -> Span {
    Span::from_secs(300)
}

/// The longest threshold or throttle window and group interval accepted.
pub const MAX_POLICY_WINDOW: Span = Span(std::time::Duration::from_secs(7 * 86_400));

fn check_window(field: &str, span: Span, min: Span) -> Result<(), FieldError> {
    if span < min || span > MAX_POLICY_WINDOW {
        return Err(FieldError::new(
            field,
            format!("must be between {min} and {MAX_POLICY_WINDOW}"),
        ));
    }
    Ok(())
}

fn check_key(field: &str, key: Option<&String>) -> Result<(), FieldError> {
    if let Some(key) = key {
        check_chars(field, key, MAX_TEMPLATE_CHARS)?;
        herald_templates::check_template(field, key)
            .map_err(|e| FieldError::new(field, e.message))?;
    }
    Ok(())
}

impl Threshold {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if !(1..=20).contains(&self.count) {
            return Err(FieldError::new(
                format!("{field}.count"),
                "must be between 1 and 20",
            ));
        }
        check_window(&format!("{field}.window"), self.window, Span::from_secs(1))?;
        check_key(&format!("{field}.key"), self.key.as_ref())
    }
}

impl Throttle {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_window(&format!("{field}.window"), self.window, Span::from_secs(1))?;
        check_key(&format!("{field}.key"), self.key.as_ref())
    }
}

impl Group {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_field_paths(&format!("{field}.by"), &self.by)?;
        check_window(&format!("{field}.wait"), self.wait, Span::from_millis(0))?;
        check_window(
            &format!("{field}.interval"),
            self.interval,
            Span::from_millis(0),
        )
    }

    /// The group `event` falls in: the values of the `by` fields.
    pub fn key(&self, event: &Event) -> String {
        group_key(&self.by, event)
    }
}

/// The values of `paths` on `event`, joined: what events of one group share.
pub fn group_key(paths: &[String], event: &Event) -> String {
    paths
        .iter()
        .map(|p| format!("{p}={}", event_field(event, p).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;

    fn event(v: serde_json::Value) -> Event {
        crate::parse_event(v.to_string().as_bytes(), OffsetDateTime::now_utc()).unwrap()
    }

    #[test]
    fn event_match_table() {
        let e = event(json!({
            "source": "ci", "category": "job", "kind": "failed", "severity": "warning",
            "scope": "acme/web/deploy", "labels": {"env": "prod", "cluster": "eu1"}
        }));
        let cases = [
            (json!({}), true),
            (json!({"source": "ci"}), true),
            (json!({"source": ["cd", "ci"]}), true),
            (json!({"source": "cd"}), false),
            (json!({"severity": "warning"}), true),
            (json!({"severity": ["critical", "info"]}), false),
            (json!({"category": "job", "kind": "failed"}), true),
            (json!({"kind": ["succeeded"]}), false),
            (json!({"scope": "acme/web"}), true),
            (json!({"scope": "acme/api"}), false),
            (json!({"labels": {"env": "prod"}}), true),
            (json!({"labels": {"env": "prod", "cluster": "us1"}}), false),
        ];
        for (m, want) in cases {
            let mut matcher: EventMatch = serde_json::from_value(m.clone()).unwrap();
            matcher.validate("match").unwrap();
            assert_eq!(matcher.matches(&e), want, "{m}");
        }
    }

    #[test]
    fn a_single_value_reads_back_as_written() {
        let m: EventMatch =
            serde_json::from_value(json!({"source": "ci", "severity": ["warning", "info"]}))
                .unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"source": "ci", "severity": ["warning", "info"]})
        );
    }

    #[test]
    fn a_bad_matched_value_is_named_with_its_own_error() {
        let cases = [
            (
                json!({"severity": "high"}),
                "severity",
                "unknown variant `high`",
            ),
            (
                json!({"severity": ["info", "high"]}),
                "severity[1]",
                "unknown variant `high`",
            ),
            (
                json!({"source": 3}),
                "source",
                "a string or a list of strings",
            ),
            (json!({"kind": [3]}), "kind[0]", "expected a string"),
        ];
        for (m, field, message) in cases {
            let err = crate::from_value::<EventMatch>(m.clone()).unwrap_err();
            assert_eq!(err.field, field, "{m}: {err}");
            assert!(err.message.contains(message), "{m}: {err}");
        }
    }

    #[test]
    fn group_keys_name_their_fields() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed",
                             "labels": {"env": "prod"}}));
        let by = vec![
            "source".to_owned(),
            "labels.env".into(),
            "labels.team".into(),
        ];
        assert_eq!(group_key(&by, &e), "source=ci,labels.env=prod,labels.team=");
        assert_eq!(group_key(&[], &e), "");
    }

    #[test]
    fn bad_policies_name_the_field() {
        let t = Threshold {
            count: 21,
            window: Span::from_secs(60),
            key: None,
        };
        assert_eq!(
            t.validate("threshold").unwrap_err().field,
            "threshold.count"
        );
        let t = Threshold {
            count: 3,
            window: Span::from_millis(10),
            key: None,
        };
        assert_eq!(
            t.validate("threshold").unwrap_err().field,
            "threshold.window"
        );
        let t = Throttle {
            window: Span::from_secs(60),
            key: Some("{{ x".into()),
        };
        assert_eq!(t.validate("throttle").unwrap_err().field, "throttle.key");
        let g = Group {
            by: vec!["labels.".into()],
            wait: Span::from_secs(1),
            interval: Span::from_secs(1),
        };
        assert_eq!(g.validate("group").unwrap_err().field, "group.by[0]");
    }

    #[test]
    fn problem_keys_prefer_the_dedup_key() {
        let e = event(json!({"source": "ci", "category": "job", "kind": "failed", "scope": "a/b"}));
        assert_eq!(problem_key(&e), "ci\u{1f}a/b\u{1f}failed");
        let e =
            event(json!({"source": "ci", "category": "job", "kind": "failed", "dedup_key": "k1"}));
        assert_eq!(problem_key(&e), "k1");
    }
}
