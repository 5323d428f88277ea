//! Request pieces parsed with errors that name the parameter.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::{Body, Bytes};
use herald_model::{Event, EventError, FieldError, Span};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::ApiError;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Query parameters, each taken at most once; leftovers are an error, so a
/// misspelt filter is reported instead of silently ignored.
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn new(raw: HashMap<String, String>) -> Query {
        Query(raw)
    }

    pub fn parse<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.0
            .remove(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::invalid(name, format!("`{v}`: {e}")))
            })
            .transpose()
    }

    pub fn limit(&mut self) -> Result<i64, ApiError> {
        let limit = self.parse::<i64>("limit")?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(limit)
    }

    /// Fails on any parameter not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.keys().min() {
            Some(name) => Err(ApiError::invalid(name, "unknown query parameter")),
            None => Ok(()),
        }
    }
}

/// An event given inside a request, checked like a published one; errors
/// are named below `field` (`events[2].severity`).
pub fn event(value: &serde_json::Value, field: &str) -> Result<Event, ApiError> {
    let bytes = serde_json::to_vec(value).expect("a JSON value is JSON");
    herald_model::parse_event(&bytes, OffsetDateTime::now_utc()).map_err(|e| {
        let (EventError::Invalid(e) | EventError::TooLarge(e)) = e;
        ApiError::Invalid(e.within(field))
    })
}

/// A moment given as RFC 3339 (`2026-11-22T09:00:00Z`) or as a time ago
/// (`24h`, `30m`).
pub fn since(field: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    if let Ok(at) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(at);
    }
    let ago: Span = raw.parse().map_err(|_| {
        ApiError::invalid(
            field,
            format!(
                "`{raw}`: expected a time such as 2026-11-22T09:00:00Z or a duration such as 24h"
            ),
        )
    })?;
    Ok(OffsetDateTime::now_utc() - ago.get())
}

pub fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|e| ApiError::invalid("id", format!("`{raw}` is not a UUID: {e}")))
}

/// The request body, refused with a 413 past `limit` bytes.
pub async fn body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::TooLarge(FieldError::new(
            "body",
            format!("the request body is over the limit of {limit} bytes"),
        ))
    })
}

/// The request body as JSON, naming the position of a syntax error.
pub async fn json(raw: Body, limit: usize) -> Result<serde_json::Value, ApiError> {
    let bytes = body(raw, limit).await?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid("body", format!("not valid JSON: {e}")))?;
    refuse_nul(&value, "")?;
    Ok(value)
}

/// Refuses text holding U+0000 anywhere in `value`, naming where: valid
/// JSON, but no PostgreSQL text or `jsonb` can store it, so accepting it
/// would only fail later, as an internal error.
fn refuse_nul(value: &serde_json::Value, at: &str) -> Result<(), ApiError> {
    let below = |key: &str| match at {
        "" => key.to_owned(),
        _ => format!("{at}.{key}"),
    };
    let refused = |field: &str| Err(ApiError::invalid(field, "must not contain U+0000 (NUL)"));
    match value {
        serde_json::Value::String(s) if s.contains('\0') => {
            refused(if at.is_empty() { "body" } else { at })
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| refuse_nul(v, &format!("{at}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return refused(&below(k.replace('\0', "\\u0000").as_str()));
            }
            refuse_nul(v, &below(k))
        }),
        _ => Ok(()),
    }
}
