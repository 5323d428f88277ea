//! Events: publishing them, listing and reading what was recorded, and
//! explaining why each rule did or did not select one.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use herald_model::{RecordedEvent, herald_context};
use herald_store::{EventCursor, EventFilter, NotificationFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, Caller, ingest_formats, params};

/// How many events each token may publish per second (governor's GCRA, keyed
/// by token): a burst of a second's worth, and never less than one largest
/// request, is let through at once.
pub struct IngestLimit {
    limiter: Option<DefaultKeyedRateLimiter<Uuid>>,
    per_second: u32,
}

/// The fewest events a token may send at once, whatever the rate: one full
/// request.
const MIN_BURST: u32 = 1000;

impl IngestLimit {
    /// `per_second` events per token; 0 for no limit.
    pub fn new(per_second: u32) -> IngestLimit {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.max(MIN_BURST)).expect("at least MIN_BURST");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        IngestLimit {
            limiter,
            per_second,
        }
    }

    fn check(&self, caller: &Caller, events: usize) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let n = u32::try_from(events)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&caller.token_id, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(ApiError::RateLimited {
                message: format!(
                    "the token `{}` may publish {} events per second; publish these again later",
                    caller.name, self.per_second
                ),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
            Err(_) => Err(ApiError::invalid(
                "body",
                format!(
                    "{events} events are more than the token `{}` may ever publish at once",
                    caller.name
                ),
            )),
        }
    }
}

/// `POST /api/v1/events`: one event or an array, or CloudEvents
/// ([`ingest_formats`]). 202 only once the broker has confirmed every event.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    summary = "Publish one event or a list",
    request_body(content(
        (crate::openapi::Publish = "application/json"),
        (crate::openapi::CloudEvent = "application/cloudevents+json"),
        (Vec<crate::openapi::CloudEvent> = "application/cloudevents-batch+json"),
    )),
    responses(
        (status = 202, description = "Accepted: the broker confirmed every event", body = crate::openapi::Published),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
        (status = 429, description = "Over the token's publishing rate; see `Retry-After`", body = crate::openapi::RateLimitedBody),
    )
)]
pub async fn publish(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = params::body(body, state.max_request_bytes).await?;
    let events = ingest_formats::read_events(&headers, &bytes)?;
    accept(&state, &caller, events).await
}

/// Publishes events read from a request, within the caller's rate: `202
/// {"ids": [...]}` once the broker confirmed them all.
pub(crate) async fn accept(
    state: &AppState,
    caller: &Caller,
    events: Vec<herald_model::Event>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if events.is_empty() {
        return Ok((StatusCode::ACCEPTED, Json(json!({ "ids": [] }))));
    }
    state.ingest_limit.check(caller, events.len())?;
    state.ingest.publish(&events).await.map_err(|e| {
        ApiError::Unavailable(format!("events not accepted, publish them again: {e}"))
    })?;
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "ids": ids }))))
}

/// `GET /api/v1/events?source=&category=&severity=&scope=&matched=&since=&limit=&cursor=`:
/// recorded events, newest first. `scope` is a prefix (`acme` lists
/// `acme/web` too); `since` a time or a duration ago (`24h`).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    summary = "Recorded events, newest first",
    params(
        ("source" = Option<String>, Query, description = "Events of this source"),
        ("category" = Option<herald_model::Category>, Query, description = "Events of this category"),
        ("severity" = Option<herald_model::Severity>, Query, description = "Events of this severity"),
        ("scope" = Option<String>, Query, description = "Events in this scope or below it"),
        ("matched" = Option<bool>, Query, description = "Whether a rule selected them"),
        ("since" = Option<String>, Query, description = "A time (RFC 3339) or a duration ago (`24h`)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events", body = crate::openapi::EventPage),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut q = params::Query::new(raw);
    let since: Option<String> = q.parse("since")?;
    let cursor: Option<String> = q.parse("cursor")?;
    let filter = EventFilter {
        source: q.parse("source")?,
        category: q.parse("category")?,
        severity: q.parse("severity")?,
        scope: q.parse("scope")?,
        matched: q.parse("matched")?,
        since: since.map(|s| params::since("since", &s)).transpose()?,
        limit: q.limit()?,
        cursor: cursor
            .map(|c| {
                EventCursor::parse(&c).ok_or_else(|| {
                    ApiError::invalid("cursor", format!("`{c}` is not a cursor this API gave"))
                })
            })
            .transpose()?,
    };
    q.finish()?;
    let page = state.store.list_events(&filter).await?;
    Ok(Json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.token()),
    })))
}

/// `GET /api/v1/events/{id}`: the event as recorded.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "events",
    summary = "One recorded event",
    params(
        ("id" = uuid::Uuid, Path, description = "The event's id"),
    ),
    responses(
        (status = 200, description = "The event as recorded", body = herald_model::RecordedEvent),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<RecordedEvent>, ApiError> {
    Ok(Json(
        state.store.get_recorded_event(params::id(&id)?).await?,
    ))
}

/// How many notifications have each status (`{"sent": 1, "suppressed": 2}`);
/// each says why in its `reason`.
fn outcomes(notifications: &[herald_model::Notification]) -> Value {
    let mut counts = serde_json::Map::new();
    for n in notifications {
        let count = counts.entry(n.status.as_str()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    Value::Object(counts)
}

/// `GET /api/v1/events/{id}/explain`: for each rule as it was when the event
/// was routed, whether it selected the event or the first reason it did not,
/// and the notifications that resulted.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}/explain",
    tag = "events",
    summary = "Why an event did or did not notify",
    params(
        ("id" = uuid::Uuid, Path, description = "The event's id"),
    ),
    responses(
        (status = 200, description = "Each rule's decision and the notifications that resulted", body = crate::openapi::Explanation),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn explain(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = params::id(&id)?;
    let recorded = state.store.get_recorded_event(id).await?;
    let notifications = state
        .store
        .list_notifications(&NotificationFilter {
            event_id: Some(id),
            limit: 500,
            ..NotificationFilter::default()
        })
        .await?
        .items;
    let rules = match recorded.config_version {
        Some(version) => state.store.rules_at(version).await?,
        None => Vec::new(),
    };
    let herald = herald_context(&state.public_url);
    let decisions = herald_model::decisions(
        &recorded.event,
        rules.iter().map(|r| (r.id, &r.spec)),
        &herald,
    );
    let selected = decisions.iter().filter(|(_, d)| d.selects()).count();
    let summary = match (recorded.config_version, rules.len(), selected) {
        (None, _, _) => "routed before Herald kept routing decisions".to_owned(),
        (Some(_), 0, _) => "no rule matched: there were no rules".to_owned(),
        (Some(_), _, 0) => "no rule matched".to_owned(),
        (Some(_), total, n) => format!(
            "{n} of {total} rules selected the event; {} notifications",
            notifications.len()
        ),
    };
    let explained: Vec<Value> = rules
        .iter()
        .zip(&decisions)
        .map(|(rule, (_, decision))| {
            json!({
                "rule_id": rule.id,
                "name": rule.spec.name,
                "selected": decision.selects(),
                "reason": decision.reason(),
            })
        })
        .collect();
    Ok(Json(json!({
        "event_id": id,
        "received_at": recorded.received_at.format(&time::format_description::well_known::Rfc3339).ok(),
        "config_version": recorded.config_version,
        "matched": recorded.matched,
        "summary": summary,
        "rules": explained,
        "outcomes": outcomes(&notifications),
        "notifications": notifications,
    })))
}
