//! Rule CRUD, clones, and the dry run: a rule tried against events before it
//! is saved.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_model::{CloneSpec, Decision, Event, Rule, RuleSpec, herald_context};
use herald_store::EventFilter;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::notifiers::{opened, render_parts, rule_templates};
use crate::{ApiError, AppState, params};

/// A rule from API input: its fields checked by the model, its template
/// parts against the channels.
fn spec(value: Value) -> Result<RuleSpec, ApiError> {
    let spec = RuleSpec::from_json(value)?;
    herald_channels::check_rule_parts(&spec.templates)?;
    Ok(spec)
}

#[utoipa::path(
    post,
    path = "/api/v1/rules",
    tag = "rules",
    summary = "Create a rule",
    request_body(content = herald_model::RuleSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = herald_model::Rule),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let spec = spec(params::json(body, state.max_request_bytes).await?)?;
    let rule = state.store.create_rule(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(
    get,
    path = "/api/v1/rules",
    tag = "rules",
    summary = "Every rule",
    responses(
        (status = 200, description = "The rules", body = crate::openapi::Items<herald_model::Rule>),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.store.list_rules().await? })))
}

#[utoipa::path(
    get,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    summary = "One rule",
    params(
        ("id" = uuid::Uuid, Path, description = "The rule's id"),
    ),
    responses(
        (status = 200, description = "The rule", body = herald_model::Rule),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Rule>, ApiError> {
    Ok(Json(state.store.get_rule(params::id(&id)?).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    summary = "Replace a rule",
    params(
        ("id" = uuid::Uuid, Path, description = "The rule's id"),
    ),
    request_body(content = herald_model::RuleSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = herald_model::Rule),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Rule>, ApiError> {
    let id = params::id(&id)?;
    let spec = spec(params::json(body, state.max_request_bytes).await?)?;
    Ok(Json(state.store.update_rule(id, &spec).await?))
}

/// `POST /api/v1/rules/{id}/clone` with `{"name": "..."}`: a new rule with
/// everything of `id` (matching, notifiers, policies, templates) but the name.
#[utoipa::path(
    post,
    path = "/api/v1/rules/{id}/clone",
    tag = "rules",
    summary = "Copy a rule under a new name",
    params(
        ("id" = uuid::Uuid, Path, description = "The rule's id"),
    ),
    request_body(content = crate::openapi::CloneRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The copy", body = herald_model::Rule),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn clone(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let id = params::id(&id)?;
    let request = CloneSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    let source = state.store.get_rule(id).await?;
    let spec = RuleSpec {
        name: request.name,
        ..source.spec
    };
    let rule = state.store.create_rule(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    summary = "Delete a rule",
    params(
        ("id" = uuid::Uuid, Path, description = "The rule's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_rule(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Recent events a dry run takes by default, and at most.
const DRY_RUN_DEFAULT: i64 = 1_000;
const DRY_RUN_MAX: i64 = 10_000;
/// Selected events a dry run renders a preview for.
const PREVIEWS: usize = 3;

/// `POST /api/v1/rules/dry-run`: a rule (not saved; at the top level or under
/// `rule`) and either `events` (a list to try) or `since`/`limit` (recently
/// routed events, newest first; the last 24 hours by default). Answers, for
/// each event, whether the rule would select it and why, with a rendered
/// preview for the first few it selects.
#[utoipa::path(
    post,
    path = "/api/v1/rules/dry-run",
    tag = "rules",
    summary = "Try a rule against events without saving it",
    request_body(content = crate::openapi::DryRunRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Each event's decision, with previews", body = crate::openapi::DryRun),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
        (status = 422, description = "A template did not render", body = crate::openapi::RenderErrorBody),
    )
)]
pub async fn dry_run(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(mut body) = params::json(body, state.max_request_bytes).await? else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let events = body.remove("events");
    let since = body.remove("since");
    let limit = body.remove("limit");
    let spec = draft(body)?;
    let events = match events {
        Some(events) => given_events(&events)?,
        None => recent_events(&state, since.as_ref(), limit.as_ref()).await?,
    };
    let herald = herald_context(&state.public_url);
    let mut results = Vec::with_capacity(events.len());
    let mut previews = Previews::new(&spec)?;
    for event in &events {
        let decision = decide(&spec, event, &herald);
        let mut result = json!({
            "event_id": event.id,
            "title": event.title,
            "selected": decision.selects(),
            "reason": decision.reason(),
        });
        if decision.selects()
            && let Some(preview) = previews.next(&state, event).await?
        {
            result["previews"] = preview;
        }
        results.push(result);
    }
    let selected = results.iter().filter(|r| r["selected"] == true).count();
    Ok(Json(json!({
        "total": events.len(),
        "selected": selected,
        "results": results,
    })))
}

/// The rule of a dry run: under `rule`, or the body itself. A draft needs no
/// name; errors are named as the rule's fields (`rule.condition`).
fn draft(mut body: Map<String, Value>) -> Result<RuleSpec, ApiError> {
    let (mut rule, field) = match body.remove("rule") {
        Some(Value::Object(rule)) => match body.keys().next() {
            Some(extra) => return Err(ApiError::invalid(extra, "unknown field")),
            None => (rule, "rule"),
        },
        Some(_) => return Err(ApiError::invalid("rule", "must be a JSON object")),
        None => (body, ""),
    };
    rule.entry("name").or_insert_with(|| json!("dry run"));
    spec(Value::Object(rule)).map_err(|e| match e {
        ApiError::Invalid(e) => ApiError::Invalid(e.within(field)),
        other => other,
    })
}

fn given_events(events: &Value) -> Result<Vec<Event>, ApiError> {
    let Value::Array(events) = events else {
        return Err(ApiError::invalid("events", "must be a list of events"));
    };
    events
        .iter()
        .enumerate()
        .map(|(i, e)| params::event(e, &format!("events[{i}]")))
        .collect()
}

async fn recent_events(
    state: &AppState,
    since: Option<&Value>,
    limit: Option<&Value>,
) -> Result<Vec<Event>, ApiError> {
    let since = match since {
        None => params::since("since", "24h")?,
        Some(Value::String(raw)) => params::since("since", raw)?,
        Some(_) => return Err(ApiError::invalid("since", "must be a string such as 24h")),
    };
    let limit = match limit {
        None => DRY_RUN_DEFAULT,
        Some(l) => l
            .as_i64()
            .filter(|l| (1..=DRY_RUN_MAX).contains(l))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("must be between 1 and {DRY_RUN_MAX}"))
            })?,
    };
    let filter = EventFilter {
        since: Some(since),
        limit,
        ..EventFilter::default()
    };
    let page = state.store.list_events(&filter).await?;
    Ok(page.items.into_iter().map(|r| r.event).collect())
}

fn decide(spec: &RuleSpec, event: &Event, herald: &herald_templates::Value) -> Decision {
    herald_model::decisions(event, [(Uuid::nil(), spec)], herald)
        .pop()
        .map(|(_, d)| d)
        .expect("one rule, one decision")
}

/// The previews of a dry run: the first [`PREVIEWS`] selected events rendered
/// for each notifier the rule names, loaded once.
struct Previews<'a> {
    spec: &'a RuleSpec,
    templates: Arc<herald_channels::RuleTemplates>,
    notifiers: Option<Vec<(herald_model::Notifier, herald_channels::NotifierConfig)>>,
    left: usize,
}

impl<'a> Previews<'a> {
    fn new(spec: &'a RuleSpec) -> Result<Previews<'a>, ApiError> {
        Ok(Previews {
            spec,
            templates: rule_templates(Uuid::nil(), spec)?,
            notifiers: None,
            left: PREVIEWS,
        })
    }

    async fn next(&mut self, state: &AppState, event: &Event) -> Result<Option<Value>, ApiError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        if self.notifiers.is_none() {
            let mut loaded = Vec::new();
            for (i, id) in self.spec.notifiers.iter().enumerate() {
                let notifier = opened(state, *id).await.map_err(|e| match e {
                    ApiError::NotFound(m) => ApiError::invalid(&format!("notifiers[{i}]"), m),
                    other => other,
                })?;
                loaded.push(notifier);
            }
            self.notifiers = Some(loaded);
        }
        let rules = [self.templates.clone()];
        let previews: Vec<Value> = self
            .notifiers
            .iter()
            .flatten()
            .map(|(n, config)| {
                let mut preview = json!({"notifier_id": n.id, "notifier": n.name});
                match render_parts(state, config, &n.name, event, &rules) {
                    Ok(parts) => preview["parts"] = json!(parts),
                    Err(ApiError::Render(e)) => {
                        preview["error"] = json!(format!("template {e}"));
                        preview["part"] = json!(e.part);
                        preview["line"] = json!(e.line);
                    }
                    Err(e) => preview["error"] = json!(e.to_string()),
                }
                preview
            })
            .collect();
        Ok(Some(json!(previews)))
    }
}
