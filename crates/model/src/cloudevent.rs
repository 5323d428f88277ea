//! CloudEvents 1.0 read as Herald events: the JSON event format (one event, or
//! a batch) and the attributes of the HTTP binary mode, mapped to Herald's
//! event and then checked exactly like one published in Herald's own format.
//!
//! The mapping (the README's "CloudEvents" section):
//!
//! | CloudEvents | Herald |
//! |---|---|
//! | `type` | `category` and `kind`: the last dot-separated segment naming a category, and what follows it (`com.example.job.failed` → `job` / `failed`); with no such segment, `system` and the whole type |
//! | `source` | `source` |
//! | `subject` | `scope` |
//! | `id` | `id`: the id itself when it is a UUID, else a UUID derived from `source` and `id`, so the same event published twice is one event |
//! | `time` | `occurred_at` |
//! | `data`, `data_base64`, an HTTP body | `data`: JSON as is; other content as text, or base64 when it is not UTF-8 |
//! | extensions `severity`, `title`, `message`, `dedupkey`, `resolved` | the fields of those names (`dedupkey` → `dedup_key`) |
//! | other extensions | `labels` |
//!
//! It speaks no HTTP: the API reads the headers and the body and hands the
//! attributes here. It writes no CloudEvents either.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{FieldError, from_slice};
use crate::event::{
    Category, Event, EventError, EventInput, MAX_EVENT_BYTES, Severity, check_count,
    check_published_form,
};

/// The only `specversion` Herald reads.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";

/// The namespace of the ids derived from a CloudEvent's `source` and `id`.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1e_5c0a_8f3d_4e27_9a41_c2d8_7f30_b915);

/// The attributes the specification defines; any other is an extension.
const CONTEXT_ATTRIBUTES: [&str; 8] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
];

/// Extensions read as the Herald fields of (about) the same name rather than
/// kept as labels.
const FIELD_EXTENSIONS: [&str; 5] = ["severity", "title", "message", "dedupkey", "resolved"];

/// How the event arrived, which decides how its parts are named in errors:
/// the binary mode's attributes are `ce-` headers and its data is the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Structured,
    Binary,
}

impl Mode {
    fn name(self, attribute: &str) -> String {
        match (self, attribute) {
            (Mode::Structured, a) => a.to_owned(),
            (Mode::Binary, "data") => "body".to_owned(),
            (Mode::Binary, a) => format!("ce-{a}"),
        }
    }
}

/// A CloudEvent's attributes and data, however it arrived.
#[derive(Debug, Clone, PartialEq)]
struct CloudEvent {
    mode: Mode,
    /// Every attribute but the data, as JSON: strings from headers, any JSON
    /// value from the event format (checked when read).
    attributes: Map<String, Value>,
    data: Value,
}

/// Reads one CloudEvent in the JSON event format
/// (`application/cloudevents+json`). `now` stamps events without `time`.
pub fn parse_cloudevent(bytes: &[u8], now: OffsetDateTime) -> Result<Event, EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge(FieldError::new(
            "",
            format!(
                "the event is {} bytes; the limit is {MAX_EVENT_BYTES} bytes",
                bytes.len()
            ),
        )));
    }
    let mut attributes: Map<String, Value> = from_slice(bytes)?;
    let data = take_data(&mut attributes)?;
    CloudEvent {
        mode: Mode::Structured,
        attributes,
        data,
    }
    .to_event(now)
}

/// Reads a batch of CloudEvents (`application/cloudevents-batch+json`): a
/// JSON array, possibly empty; errors are named by index (`[2].type`).
pub fn parse_cloudevent_batch(bytes: &[u8], now: OffsetDateTime) -> Result<Vec<Event>, EventError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Err(FieldError::new(
            "",
            "a batch of CloudEvents is a JSON array of events in the JSON event format",
        )
        .into());
    }
    let raw: Vec<&RawValue> = from_slice(bytes)?;
    check_count(raw.len(), "", "events", "")?;
    raw.iter()
        .enumerate()
        .map(|(i, event)| {
            parse_cloudevent(event.get().as_bytes(), now).map_err(|e| within(e, &format!("[{i}]")))
        })
        .collect()
}

/// Reads a CloudEvent in the HTTP binary mode: `attributes` are the `ce-`
/// headers (names without the prefix, lower case; values percent-decoded),
/// `body` the data and `content_type` its `datacontenttype`.
pub fn cloudevent_from_binary(
    attributes: impl IntoIterator<Item = (String, String)>,
    content_type: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Event, EventError> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge(FieldError::new(
            "body",
            format!(
                "the event's data is {} bytes; the limit is {MAX_EVENT_BYTES} bytes",
                body.len()
            ),
        )));
    }
    let mut map = Map::new();
    for (name, value) in attributes {
        if name == "datacontenttype" {
            return Err(FieldError::new(
                "ce-datacontenttype",
                "in binary mode the data's content type is the Content-Type header",
            )
            .into());
        }
        if map.insert(name.clone(), Value::String(value)).is_some() {
            return Err(FieldError::new(format!("ce-{name}"), "given more than once").into());
        }
    }
    if let Some(content_type) = content_type {
        map.insert("datacontenttype".into(), content_type.into());
    }
    let data = decode_data(content_type, body).map_err(|m| FieldError::new("body", m))?;
    CloudEvent {
        mode: Mode::Binary,
        attributes: map,
        data,
    }
    .to_event(now)
}

/// The category and kind a CloudEvent `type` names: the last segment that is
/// a category, and the segments after it; `system` and the whole type when no
/// segment is one.
pub fn category_and_kind(event_type: &str) -> (Category, String) {
    let segments: Vec<&str> = event_type.split('.').collect();
    let named = segments
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| s.parse::<Category>().ok().map(|c| (i, c)));
    match named {
        Some((i, category)) => (category, segments[i + 1..].join(".")),
        None => (Category::System, event_type.to_owned()),
    }
}

/// Takes `data` or `data_base64` out of an event in the JSON format.
fn take_data(attributes: &mut Map<String, Value>) -> Result<Value, FieldError> {
    let data = attributes.remove("data");
    let encoded = attributes.remove("data_base64");
    match (data, encoded) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "data_base64",
            "an event carries `data` or `data_base64`, not both",
        )),
        (Some(data), None) => Ok(data),
        (None, Some(Value::Null)) | (None, None) => Ok(Value::Null),
        (None, Some(Value::String(encoded))) => {
            let bytes = BASE64
                .decode(encoded.trim())
                .map_err(|e| FieldError::new("data_base64", format!("not valid base64: {e}")))?;
            let content_type = attributes.get("datacontenttype").and_then(Value::as_str);
            decode_data(content_type, &bytes).map_err(|m| FieldError::new("data_base64", m))
        }
        (None, Some(_)) => Err(FieldError::new("data_base64", "must be a string of base64")),
    }
}

/// Data given as bytes, as Herald carries it: JSON when its content type says
/// JSON, else text, else (not UTF-8) base64 text.
fn decode_data(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    if let Some(json_type) = content_type.filter(|t| is_json(t)) {
        return serde_json::from_slice(bytes).map_err(|e| {
            format!("not valid JSON although its content type is `{json_type}`: {e}")
        });
    }
    Ok(match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => Value::String(BASE64.encode(bytes)),
    })
}

/// Whether a media type is JSON: `application/json`, `text/json` or `…+json`,
/// whatever its parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn within(e: EventError, parent: &str) -> EventError {
    match e {
        EventError::Invalid(e) => EventError::Invalid(e.within(parent)),
        EventError::TooLarge(e) => EventError::TooLarge(e.within(parent)),
    }
}

impl CloudEvent {
    fn to_event(&self, now: OffsetDateTime) -> Result<Event, EventError> {
        let version = self.required("specversion")?;
        if version != CLOUDEVENTS_SPEC_VERSION {
            return Err(self
                .error(
                    "specversion",
                    format!("Herald reads CloudEvents {CLOUDEVENTS_SPEC_VERSION}, not `{version}`"),
                )
                .into());
        }
        let id = self.required("id")?;
        let source = self.required("source")?;
        let (category, kind) = category_and_kind(self.required("type")?);
        let occurred_at = self
            .string("time")?
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .map_err(|e| self.error("time", format!("`{t}` is not an RFC 3339 time: {e}")))
            })
            .transpose()?;
        self.string("datacontenttype")?;
        self.string("dataschema")?;
        let input = EventInput {
            id: Some(event_id(source, id)),
            source: source.to_owned(),
            category,
            kind,
            severity: self.severity()?,
            scope: self.string("subject")?.unwrap_or_default().to_owned(),
            title: self.string("title")?.unwrap_or_default().to_owned(),
            message: self.string("message")?.unwrap_or_default().to_owned(),
            labels: self.labels()?,
            data: self.data.clone(),
            dedup_key: self.string("dedupkey")?.map(str::to_owned),
            resolved: self.resolved()?,
            occurred_at: Some(occurred_at.unwrap_or(now)),
            url: None,
        };
        let event = input.validate(now).map_err(|e| self.rename(e))?;
        check_published_form(&event)?;
        Ok(event)
    }

    fn error(&self, attribute: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.mode.name(attribute), message)
    }

    /// An optional string attribute; `null` is absent, as the JSON format says.
    fn string(&self, name: &str) -> Result<Option<&str>, FieldError> {
        match self.attributes.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(name, format!("must be a string, not {other}"))),
        }
    }

    /// A required string attribute, not empty.
    fn required(&self, name: &str) -> Result<&str, FieldError> {
        match self.string(name)? {
            None => Err(self.error(name, "is required by CloudEvents 1.0")),
            Some("") => Err(self.error(name, "must not be empty")),
            Some(s) => Ok(s),
        }
    }

    fn severity(&self) -> Result<Severity, FieldError> {
        self.string("severity")?.map_or(Ok(Severity::Info), |s| {
            s.parse().map_err(|m: String| self.error("severity", m))
        })
    }

    fn resolved(&self) -> Result<bool, FieldError> {
        match self.attributes.get("resolved") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => {
                Err(self.error("resolved", format!("must be true or false, not {other}")))
            }
        }
    }

    /// The extensions Herald does not read as fields, as labels.
    fn labels(&self) -> Result<BTreeMap<String, String>, FieldError> {
        let mut labels = BTreeMap::new();
        for (name, value) in &self.attributes {
            if CONTEXT_ATTRIBUTES.contains(&name.as_str())
                || FIELD_EXTENSIONS.contains(&name.as_str())
            {
                continue;
            }
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(self.error(
                    name,
                    "not a CloudEvents attribute: names are lower-case letters and digits",
                ));
            }
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Bool(_) | Value::Number(_) => value.to_string(),
                _ => {
                    return Err(self.error(
                        name,
                        "an extension attribute is a string, a number or a boolean",
                    ));
                }
            };
            labels.insert(name.clone(), text);
        }
        Ok(labels)
    }

    /// A Herald field error named as the attribute it came from.
    fn rename(&self, e: FieldError) -> FieldError {
        let attribute = match e.field.as_str() {
            "kind" | "category" => "type".to_owned(),
            "scope" => "subject".to_owned(),
            "occurred_at" => "time".to_owned(),
            "dedup_key" => "dedupkey".to_owned(),
            field => match field.strip_prefix("labels.") {
                Some(extension) => extension.to_owned(),
                None => field.to_owned(),
            },
        };
        let message = match attribute.as_str() {
            "type" => format!("{} (from type `{}`)", e.message, self.type_text()),
            _ => e.message,
        };
        FieldError::new(self.mode.name(&attribute), message)
    }

    fn type_text(&self) -> &str {
        self.attributes
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// The Herald id of a CloudEvent: its `id` when that is a UUID, else one
/// derived from `source` and `id` (which together identify a CloudEvent), so
/// a CloudEvent published again is the same Herald event.
pub fn event_id(source: &str, id: &str) -> Uuid {
    id.parse()
        .unwrap_or_else(|_| Uuid::new_v5(&ID_NAMESPACE, format!("{source}\u{1f}{id}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::assert_reads_back;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-21 10:00 UTC)
    }

    /// The event read from `v`, checked to read back as the router reads it.
    fn structured(v: Value) -> Result<Event, FieldError> {
        let event = parse_cloudevent(v.to_string().as_bytes(), now())
            .map_err(|e| e.field_error().clone())?;
        assert_reads_back(&event);
        Ok(event)
    }

    fn minimal() -> Value {
        json!({"specversion": "1.0", "id": "run-42", "source": "/ci/runner-7",
               "type": "com.example.job.failed"})
    }

    fn with(extra: Value) -> Value {
        let mut v = minimal();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn types_name_a_category_and_a_kind() {
        let cases = [
            ("com.example.job.failed", Category::Job, "failed"),
            ("job.succeeded", Category::Job, "succeeded"),
            (
                "org.acme.deployment.rollout.finished",
                Category::Deployment,
                "rollout.finished",
            ),
            ("io.k8s.system.job.started", Category::Job, "started"),
            ("org.acme.spending", Category::Spending, ""),
            (
                "com.github.pull_request.opened",
                Category::System,
                "com.github.pull_request.opened",
            ),
            ("disk_full", Category::System, "disk_full"),
        ];
        for (ty, category, kind) in cases {
            assert_eq!(category_and_kind(ty), (category, kind.to_owned()), "{ty}");
        }
    }

    #[test]
    fn a_structured_event_maps_to_herald_fields() {
        let e = structured(with(json!({
            "subject": "acme/web/deploy-app", "time": "2026-11-20T08:00:00+01:00",
            "datacontenttype": "application/json", "data": {"duration_s": 900},
            "severity": "critical", "title": "Deploy failed", "message": "step 3",
            "dedupkey": "deploy-web", "resolved": false, "env": "prod", "attempt": 3,
            "retried": true, "traceparent": "00-abc-def-01"
        })))
        .unwrap();
        assert_eq!(e.source, "/ci/runner-7");
        assert_eq!((e.category, e.kind.as_str()), (Category::Job, "failed"));
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(e.scope.as_str(), "acme/web/deploy-app");
        assert_eq!(e.title, "Deploy failed");
        assert_eq!(e.message, "step 3");
        assert_eq!(e.dedup_key.as_deref(), Some("deploy-web"));
        assert!(!e.resolved);
        assert_eq!(e.data, json!({"duration_s": 900}));
        assert_eq!(e.occurred_at, time::macros::datetime!(2026-11-20 07:00 UTC));
        let labels: Vec<(&str, &str)> = e
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("attempt", "3"),
                ("env", "prod"),
                ("retried", "true"),
                ("traceparent", "00-abc-def-01")
            ]
        );
    }

    #[test]
    fn a_minimal_event_takes_herald_defaults() {
        let e = structured(minimal()).unwrap();
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.scope.as_str(), "");
        assert_eq!(e.occurred_at, now());
        assert_eq!(e.title, "/ci/runner-7: job failed");
        assert_eq!(e.data, Value::Null);
        assert!(e.labels.is_empty());
    }

    #[test]
    fn ids_are_kept_when_uuids_and_derived_from_source_and_id_otherwise() {
        let uuid = Uuid::now_v7();
        assert_eq!(event_id("/a", &uuid.to_string()), uuid);
        let derived = event_id("/a", "run-42");
        assert_eq!(derived, event_id("/a", "run-42"), "deterministic");
        assert_ne!(derived, event_id("/b", "run-42"), "another source");
        assert_ne!(derived, event_id("/a", "run-43"), "another id");
        assert_eq!(
            structured(minimal()).unwrap().id,
            event_id("/ci/runner-7", "run-42")
        );
    }

    #[test]
    fn data_base64_is_decoded_as_its_content_type_says() {
        let cases = [
            (
                json!("application/json"),
                BASE64.encode(br#"{"a":1}"#),
                json!({"a": 1}),
            ),
            (json!("text/plain"), BASE64.encode(b"hello"), json!("hello")),
            (Value::Null, BASE64.encode(b"hello"), json!("hello")),
            (
                json!("application/octet-stream"),
                BASE64.encode([0xff, 0xfe, 0x01]),
                json!(BASE64.encode([0xff, 0xfe, 0x01])),
            ),
        ];
        for (content_type, encoded, want) in cases {
            let e = structured(with(
                json!({"datacontenttype": content_type, "data_base64": encoded}),
            ))
            .unwrap();
            assert_eq!(e.data, want, "{content_type}");
        }
    }

    #[test]
    fn binary_mode_reads_headers_and_the_body() {
        let headers = [
            ("specversion", "1.0"),
            ("id", "run-42"),
            ("source", "/ci/runner-7"),
            ("type", "com.example.deployment.finished"),
            ("subject", "acme/web"),
            ("time", "2026-11-20T07:00:00Z"),
            ("severity", "warning"),
            ("env", "prod"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let cases = [
            (
                Some("application/json; charset=utf-8"),
                &br#"{"n": 1}"#[..],
                json!({"n": 1}),
            ),
            (Some("application/vnd.acme+json"), br#"[1]"#, json!([1])),
            (Some("text/plain"), b"deployed", json!("deployed")),
            (None, b"deployed", json!("deployed")),
            (Some("application/json"), b"", Value::Null),
        ];
        for (content_type, body, data) in cases {
            let e = cloudevent_from_binary(headers.clone(), content_type, body, now()).unwrap();
            assert_reads_back(&e);
            assert_eq!(e.data, data, "{content_type:?}");
            assert_eq!(
                (e.category, e.kind.as_str()),
                (Category::Deployment, "finished")
            );
            assert_eq!(e.severity, Severity::Warning);
            assert_eq!(e.scope.as_str(), "acme/web");
            assert_eq!(e.labels.get("env").map(String::as_str), Some("prod"));
            assert_eq!(e.occurred_at, time::macros::datetime!(2026-11-20 07:00 UTC));
        }
    }

    #[test]
    fn bad_structured_events_are_refused_naming_the_attribute() {
        let mut no_id = minimal();
        no_id.as_object_mut().unwrap().remove("id");
        let cases = [
            (no_id, "id", "required"),
            (with(json!({"specversion": "0.3"})), "specversion", "0.3"),
            (with(json!({"specversion": 1.0})), "specversion", "string"),
            (with(json!({"source": ""})), "source", "empty"),
            (with(json!({"type": null})), "type", "required"),
            (
                with(json!({"type": "com.example.job.exploded"})),
                "type",
                "exploded",
            ),
            (with(json!({"time": "yesterday"})), "time", "RFC 3339"),
            (with(json!({"subject": "a//b"})), "subject", ""),
            (with(json!({"severity": "high"})), "severity", "high"),
            (
                with(json!({"resolved": "yes"})),
                "resolved",
                "true or false",
            ),
            (with(json!({"Env": "prod"})), "Env", "lower-case"),
            (with(json!({"env": {"a": 1}})), "env", "extension"),
            (with(json!({"env": "x".repeat(2000)})), "env", "1024"),
            (
                with(json!({"data": 1, "data_base64": "AQ=="})),
                "data_base64",
                "not both",
            ),
            (with(json!({"data_base64": "%%%"})), "data_base64", "base64"),
            (
                with(json!({"datacontenttype": "application/json",
                            "data_base64": BASE64.encode(b"{nope")})),
                "data_base64",
                "JSON",
            ),
            (json!(["not", "an", "object"]), "", "map"),
        ];
        for (event, field, words) in cases {
            let e = structured(event.clone()).unwrap_err();
            assert_eq!(e.field, field, "{event}: {e}");
            assert!(e.message.contains(words), "{event}: {e}");
        }
    }

    #[test]
    fn bad_binary_events_name_the_header_or_the_body() {
        let base = [
            ("specversion", "1.0"),
            ("id", "1"),
            ("source", "/s"),
            ("type", "job.failed"),
        ];
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a [u8], &'a str);
        let cases: [Case; 5] = [
            (&[("type", "job.nope")], None, b"", "ce-type"),
            (&[("specversion", "2.0")], None, b"", "ce-specversion"),
            (&[("subject", "a//b")], None, b"", "ce-subject"),
            (
                &[("datacontenttype", "text/plain")],
                None,
                b"",
                "ce-datacontenttype",
            ),
            (&[], Some("application/json"), b"{oops", "body"),
        ];
        for (extra, content_type, body, field) in cases {
            let mut headers: BTreeMap<String, String> = base
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            for (k, v) in extra {
                headers.insert((*k).to_owned(), (*v).to_owned());
            }
            let e = cloudevent_from_binary(headers, content_type, body, now()).unwrap_err();
            assert_eq!(e.field_error().field, field, "{extra:?}: {e}");
        }
    }

    #[test]
    fn a_batch_is_an_array_with_errors_named_by_index() {
        let two = json!([
            minimal(),
            with(json!({"id": "run-43", "type": "system.disk_full"}))
        ]);
        let events = parse_cloudevent_batch(two.to_string().as_bytes(), now()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].kind, "disk_full");
        assert!(parse_cloudevent_batch(b"[]", now()).unwrap().is_empty());
        let bad = json!([minimal(), with(json!({"specversion": "0.3"}))]);
        let e = parse_cloudevent_batch(bad.to_string().as_bytes(), now()).unwrap_err();
        assert_eq!(e.field_error().field, "[1].specversion");
        let e = parse_cloudevent_batch(minimal().to_string().as_bytes(), now()).unwrap_err();
        assert!(e.field_error().message.contains("array"), "{e}");
    }

    #[test]
    fn decoded_data_is_held_to_the_event_limits() {
        let nul = BASE64.encode(b"a\0b");
        let e = structured(with(
            json!({"datacontenttype": "text/plain", "data_base64": nul}),
        ))
        .unwrap_err();
        assert!(e.message.contains("NUL"), "{e}");
        let big = vec![0xffu8; MAX_EVENT_BYTES];
        let e = cloudevent_from_binary(
            [
                ("specversion", "1.0"),
                ("id", "1"),
                ("source", "/s"),
                ("type", "system.x"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
            Some("application/octet-stream"),
            &big,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, EventError::TooLarge(_)), "{e}");
    }
}
