//! Events in standard formats: CloudEvents 1.0 over HTTP on `POST
//! /api/v1/events` (structured, batched and binary mode, told apart by the
//! request's headers), and Alertmanager's webhook on `POST
//! /api/v1/ingest/alertmanager`.
//!
//! Only the HTTP side is here: which format a request is in, the `ce-` headers
//! and the receiver's query parameters. What each format means as Herald
//! events is `herald_model`'s (`cloudevent.rs`, `alertmanager.rs`); publishing
//! is the same as for Herald's own format ([`crate::events::accept`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use herald_model::{AlertmanagerOptions, Event};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{ApiError, AppState, Caller, events, params};

/// The media type of one CloudEvent in the JSON event format.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// The media type of a batch of them.
pub const CLOUDEVENTS_BATCH_JSON: &str = "application/cloudevents-batch+json";

/// The headers that make a request a binary-mode CloudEvent: any of the
/// required attributes.
const BINARY_MODE_HEADERS: [&str; 4] = ["ce-specversion", "ce-id", "ce-source", "ce-type"];

/// How a `POST /api/v1/events` body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Herald's own event, or an array of them.
    Herald,
    /// `application/cloudevents+json`.
    CloudEvent,
    /// `application/cloudevents-batch+json`.
    CloudEventBatch,
    /// `ce-` headers, the body as data.
    CloudEventBinary,
}

/// The format a request's headers announce.
pub fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let essence = content_type(headers)
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        CLOUDEVENTS_JSON => Ok(Format::CloudEvent),
        CLOUDEVENTS_BATCH_JSON => Ok(Format::CloudEventBatch),
        other if other.starts_with("application/cloudevents") => Err(ApiError::invalid(
            "content-type",
            format!(
                "`{other}`: Herald reads CloudEvents as {CLOUDEVENTS_JSON}, {CLOUDEVENTS_BATCH_JSON} or in binary mode"
            ),
        )),
        _ if BINARY_MODE_HEADERS.iter().any(|h| headers.contains_key(*h)) => {
            Ok(Format::CloudEventBinary)
        }
        _ => Ok(Format::Herald),
    }
}

/// The events of a `POST /api/v1/events` body, in the format its headers say.
pub fn read_events(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Event>, ApiError> {
    let now = OffsetDateTime::now_utc();
    Ok(match format(headers)? {
        Format::Herald => herald_model::parse_events(body, now)?,
        Format::CloudEvent => vec![herald_model::parse_cloudevent(body, now)?],
        Format::CloudEventBatch => herald_model::parse_cloudevent_batch(body, now)?,
        Format::CloudEventBinary => vec![herald_model::cloudevent_from_binary(
            binary_attributes(headers)?,
            content_type(headers),
            body,
            now,
        )?],
    })
}

/// `POST /api/v1/ingest/alertmanager?source=&category=&scope=`: Alertmanager's
/// webhook, one event per alert; 202 once the broker confirmed them all.
#[utoipa::path(
    post,
    path = "/api/v1/ingest/alertmanager",
    tag = "events",
    summary = "Alertmanager's webhook: one event per alert",
    params(
        ("source" = Option<String>, Query, description = "The events' source (default `alertmanager`)"),
        ("category" = Option<herald_model::Category>, Query, description = "The events' category (default `system`)"),
        ("scope" = Option<String>, Query, description = "The events' scope (default none)"),
    ),
    request_body(content = herald_model::AlertmanagerPayload, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: the broker confirmed every event", body = crate::openapi::Published),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
        (status = 429, description = "Over the token's publishing rate; see `Retry-After`", body = crate::openapi::RateLimitedBody),
    )
)]
pub async fn alertmanager(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(raw): Query<HashMap<String, String>>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let options = alertmanager_options(raw)?;
    let bytes = params::body(body, state.max_request_bytes).await?;
    let events = herald_model::parse_alertmanager(&bytes, &options, OffsetDateTime::now_utc())?;
    events::accept(&state, &caller, events).await
}

/// The receiver's settings from its URL's query: each optional.
fn alertmanager_options(raw: HashMap<String, String>) -> Result<AlertmanagerOptions, ApiError> {
    let mut q = params::Query::new(raw);
    let defaults = AlertmanagerOptions::default();
    let options = AlertmanagerOptions {
        source: q.parse("source")?.unwrap_or(defaults.source),
        category: q.parse("category")?.unwrap_or(defaults.category),
        scope: q.parse("scope")?.unwrap_or(defaults.scope),
    };
    q.finish()?;
    Ok(options)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The `ce-` headers as attributes: names without the prefix (HTTP has them
/// in lower case already), values percent-decoded as the HTTP binding says.
fn binary_attributes(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str(), name.as_str().strip_prefix("ce-")?, value))
        })
        .map(|(header, attribute, value)| {
            let text = value
                .to_str()
                .ok()
                .and_then(|v| percent_decode_str(v).decode_utf8().ok())
                .ok_or_else(|| ApiError::invalid(header, "not percent-encoded UTF-8 text"))?;
            Ok((attribute.to_owned(), text.into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_headers_tell_the_format() {
        let cases = [
            (vec![("content-type", "application/json")], Format::Herald),
            (vec![], Format::Herald),
            (
                vec![(
                    "content-type",
                    "application/cloudevents+json; charset=UTF-8",
                )],
                Format::CloudEvent,
            ),
            (
                vec![("content-type", "Application/CloudEvents-Batch+JSON")],
                Format::CloudEventBatch,
            ),
            (
                vec![
                    ("content-type", "application/json"),
                    ("ce-specversion", "1.0"),
                ],
                Format::CloudEventBinary,
            ),
            (vec![("ce-type", "job.failed")], Format::CloudEventBinary),
            (vec![("ce-env", "prod")], Format::Herald),
        ];
        for (pairs, want) in cases {
            assert_eq!(format(&headers(&pairs)).unwrap(), want, "{pairs:?}");
        }
        let other = headers(&[("content-type", "application/cloudevents+xml")]);
        let err = format(&other).unwrap_err();
        assert!(
            matches!(err, ApiError::Invalid(ref e) if e.field == "content-type"),
            "{err}"
        );
    }

    #[test]
    fn binary_attributes_are_percent_decoded() {
        let map = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-subject", "acme/caf%C3%A9"),
            ("ce-title", "100%25 %22done%22"),
            ("content-type", "text/plain"),
        ]);
        let mut attributes = binary_attributes(&map).unwrap();
        attributes.sort();
        assert_eq!(
            attributes,
            [
                ("specversion".to_owned(), "1.0".to_owned()),
                ("subject".to_owned(), "acme/café".to_owned()),
                ("title".to_owned(), "100% \"done\"".to_owned()),
            ]
        );
        let bad = headers(&[("ce-subject", "%FF")]);
        let err = binary_attributes(&bad).unwrap_err();
        assert!(
            matches!(err, ApiError::Invalid(ref e) if e.field == "ce-subject"),
            "{err}"
        );
    }

    #[test]
    fn the_receivers_query_sets_source_category_and_scope() {
        let query = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            alertmanager_options(query(&[])).unwrap(),
            AlertmanagerOptions::default()
        );
        let set = alertmanager_options(query(&[
            ("source", "am-eu"),
            ("category", "deployment"),
            ("scope", "acme/infra"),
        ]))
        .unwrap();
        assert_eq!(set.source, "am-eu");
        assert_eq!(set.category, herald_model::Category::Deployment);
        assert_eq!(set.scope, "acme/infra");
        for (pairs, field) in [
            (query(&[("category", "alerts")]), "category"),
            (query(&[("sauce", "x")]), "sauce"),
        ] {
            let err = alertmanager_options(pairs).unwrap_err();
            assert!(
                matches!(err, ApiError::Invalid(ref e) if e.field == field),
                "{err}"
            );
        }
    }
}
