//! Notifier CRUD, clones and test sends. Settings are validated by their
//! channel, sealed before they are stored, and masked in every answer; a
//! masked secret sent back in an update keeps the stored one. A fallback must
//! be another notifier (the store's foreign key checks that it exists).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_channels::{
    Delivery, NotifierConfig, RuleTemplates, SendContext, TargetLog, secret_fields,
};
use herald_model::secret::{destination, find_sealed, keep_masked, mask_config};
use herald_model::{Category, CloneSpec, Event, Notifier, NotifierSpec, RuleSpec, Scope, Severity};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ApiError, AppState, params};

/// The notifier as answered: secrets masked (shown only as far as the mask
/// allows, e.g. a URL's origin).
fn view(state: &AppState, mut n: Notifier) -> Notifier {
    let fields = secret_fields(&n.kind);
    if let Err(error) = state.key.open_config(&mut n.config, fields, n.id) {
        tracing::warn!(notifier = %n.id, %error, "notifier secrets cannot be opened");
    }
    mask_config(&mut n.config, fields);
    n
}

/// Validates `spec` by its channel and the outbound guard, then seals its
/// secrets, bound to the notifier `id`.
fn sealed(state: &AppState, id: Uuid, mut spec: NotifierSpec) -> Result<NotifierSpec, ApiError> {
    if spec.fallback == Some(id) {
        return Err(ApiError::invalid(
            "fallback",
            "must be another notifier, not this one",
        ));
    }
    let config = NotifierConfig::parse(&spec.kind, &spec.config)?;
    config.check_bounds()?;
    config.check_destinations(state.outbound.guard())?;
    state
        .key
        .seal_config(&mut spec.config, secret_fields(&spec.kind), id)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(spec)
}

/// Sealed values are Herald's own: one given as input was copied from
/// somewhere, and storing it would let it be opened for this notifier.
fn refuse_sealed(spec: &NotifierSpec) -> Result<(), ApiError> {
    match find_sealed(&spec.config) {
        Some(path) => Err(ApiError::invalid(
            &format!("config.{path}"),
            "this is a sealed value; enter the secret itself",
        )),
        None => Ok(()),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/notifiers",
    tag = "notifiers",
    summary = "Create a notifier",
    request_body(content = herald_model::NotifierSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; secrets masked", body = herald_model::Notifier),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Notifier>), ApiError> {
    let spec = NotifierSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    refuse_sealed(&spec)?;
    let id = Uuid::now_v7();
    let spec = sealed(&state, id, spec)?;
    let created = state.store.create_notifier(id, &spec).await?;
    Ok((StatusCode::CREATED, Json(view(&state, created))))
}

#[utoipa::path(
    get,
    path = "/api/v1/notifiers",
    tag = "notifiers",
    summary = "Every notifier",
    responses(
        (status = 200, description = "The notifiers; secrets masked", body = crate::openapi::Items<herald_model::Notifier>),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let items: Vec<Notifier> = state
        .store
        .list_notifiers()
        .await?
        .into_iter()
        .map(|n| view(&state, n))
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(
    get,
    path = "/api/v1/notifiers/{id}",
    tag = "notifiers",
    summary = "One notifier",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    responses(
        (status = 200, description = "The notifier; secrets masked", body = herald_model::Notifier),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Notifier>, ApiError> {
    let n = state.store.get_notifier(params::id(&id)?).await?;
    Ok(Json(view(&state, n)))
}

#[utoipa::path(
    put,
    path = "/api/v1/notifiers/{id}",
    tag = "notifiers",
    summary = "Replace a notifier",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    request_body(content = herald_model::NotifierSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced; a masked secret sent back keeps the stored one", body = herald_model::Notifier),
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
) -> Result<Json<Notifier>, ApiError> {
    let id = params::id(&id)?;
    let mut spec = NotifierSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    refuse_sealed(&spec)?;
    let mut stored = state.store.get_notifier(id).await?;
    if stored.kind == spec.kind {
        let fields = secret_fields(&stored.kind);
        state
            .key
            .open_config(&mut stored.config, fields, id)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let kept = keep_masked(&mut spec.config, &stored.config, fields);
        if let Some(path) = kept.first()
            && destination(&spec.config) != destination(&stored.config)
        {
            return Err(ApiError::invalid(
                &format!("config.{path}"),
                "enter the secret again: the destination changed",
            ));
        }
    }
    let spec = sealed(&state, id, spec)?;
    let updated = state.store.update_notifier(id, &spec).await?;
    Ok(Json(view(&state, updated)))
}

/// `POST /api/v1/notifiers/{id}/clone` with `{"name": "..."}`: a new
/// notifier with the settings of `id`. Its secrets are opened for `id` and
/// sealed again for the copy, since a sealed value opens only for the notifier
/// it was sealed for; the settings are checked as a create checks them.
#[utoipa::path(
    post,
    path = "/api/v1/notifiers/{id}/clone",
    tag = "notifiers",
    summary = "Copy a notifier under a new name",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    request_body(content = crate::openapi::CloneRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The copy", body = herald_model::Notifier),
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
) -> Result<(StatusCode, Json<Notifier>), ApiError> {
    let id = params::id(&id)?;
    let request = CloneSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    let (source, _) = opened(&state, id).await?;
    let spec = NotifierSpec {
        name: request.name,
        ..source.into_spec()
    };
    let copy = Uuid::now_v7();
    let spec = sealed(&state, copy, spec)?;
    let created = state.store.create_notifier(copy, &spec).await?;
    Ok((StatusCode::CREATED, Json(view(&state, created))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/notifiers/{id}",
    tag = "notifiers",
    summary = "Delete a notifier",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "Still in use: rules send to it or notifiers fall back to it", body = crate::openapi::InUseBody),
    )
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_notifier(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stored notifier with its settings opened and parsed.
pub(crate) async fn opened(
    state: &AppState,
    id: Uuid,
) -> Result<(Notifier, NotifierConfig), ApiError> {
    let mut n = state.store.get_notifier(id).await?;
    state
        .key
        .open_config(&mut n.config, secret_fields(&n.kind), id)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let config = NotifierConfig::parse(&n.kind, &n.config)?;
    Ok((n, config))
}

/// Every part of the message `config` would send for `event`, rendered.
pub(crate) fn render_parts(
    state: &AppState,
    config: &NotifierConfig,
    notifier: &str,
    event: &Event,
    rules: &[Arc<RuleTemplates>],
) -> Result<BTreeMap<String, String>, ApiError> {
    let delivery = Delivery {
        event,
        notification_id: Uuid::nil(),
        notifier,
        attempt: 1,
        rules,
        public_url: &state.public_url,
        group: &[],
    };
    config.preview(&delivery).map_err(|e| match e.template {
        Some(template) => ApiError::Render(template),
        None => ApiError::invalid("config", e.message),
    })
}

/// A rule's name and templates, as rendering takes them.
pub(crate) fn rule_templates(id: Uuid, spec: &RuleSpec) -> Result<Arc<RuleTemplates>, ApiError> {
    RuleTemplates::new(id, spec.name.clone(), &spec.templates)
        .map(Arc::new)
        .map_err(ApiError::Render)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    event_id: Option<Uuid>,
    #[serde(default)]
    rule_id: Option<Uuid>,
}

/// `POST /api/v1/notifiers/{id}/preview` with `{"event": {...}}` or
/// `{"event_id": "..."}`, and optionally `"rule_id"`: the rendered parts,
/// nothing sent; `422` with the part and line when a template fails.
#[utoipa::path(
    post,
    path = "/api/v1/notifiers/{id}/preview",
    tag = "notifiers",
    summary = "Render a message without sending it",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    request_body(content = crate::openapi::PreviewRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The rendered parts", body = crate::openapi::Preview),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
        (status = 422, description = "A template did not render", body = crate::openapi::RenderErrorBody),
    )
)]
pub async fn preview(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let id = params::id(&id)?;
    let request: PreviewRequest =
        herald_model::from_value(params::json(body, state.max_request_bytes).await?)?;
    let event = match (request.event, request.event_id) {
        (Some(event), None) => params::event(&event, "event")?,
        (None, Some(event_id)) => state.store.get_event(event_id).await?,
        _ => {
            return Err(ApiError::invalid(
                "event",
                "give either `event` (an event to try) or `event_id` (a recorded one)",
            ));
        }
    };
    let (n, config) = opened(&state, id).await?;
    let rules = match request.rule_id {
        Some(rule_id) => {
            let rule = state.store.get_rule(rule_id).await?;
            vec![rule_templates(rule.id, &rule.spec)?]
        }
        None => Vec::new(),
    };
    let parts = render_parts(&state, &config, &n.name, &event, &rules)?;
    Ok(Json(json!({ "parts": parts })))
}

/// `POST /api/v1/notifiers/{id}/test`: sends a test notification now, once,
/// and answers with the outcome: 200 when the endpoint accepted it, 502 with
/// its status and error code otherwise (never what it answered besides, so
/// that a test send cannot be used to read an address), 400 naming the
/// setting when it names an address the outbound guard forbids (saved before
/// the guard, or under another allow list).
#[utoipa::path(
    post,
    path = "/api/v1/notifiers/{id}/test",
    tag = "notifiers",
    summary = "Send a test notification now",
    params(
        ("id" = uuid::Uuid, Path, description = "The notifier's id"),
    ),
    responses(
        (status = 200, description = "The endpoint accepted it", body = crate::openapi::TestSent),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 422, description = "A template did not render", body = crate::openapi::RenderErrorBody),
        (status = 502, description = "The endpoint refused the test notification", body = crate::openapi::UpstreamBody),
    )
)]
pub async fn test(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (n, config) = opened(&state, params::id(&id)?).await?;
    config.check_destinations(state.outbound.guard())?;
    let event = test_event(&n.name);
    let notification_id = Uuid::now_v7();
    let timeout = config.options.timeout_or(state.test_timeout);
    let target = Delivery {
        event: &event,
        notification_id,
        notifier: &n.name,
        attempt: 1,
        rules: &[],
        public_url: &state.public_url,
        group: &[],
    };
    let targets = TargetLog::default();
    let cx = SendContext {
        outbound: &state.outbound,
        timeout,
        targets: &targets,
    };
    config
        .deliver(&target, &cx)
        .await
        .map_err(|e| match e.template {
            Some(template) => ApiError::Render(template),
            None => ApiError::Upstream {
                retryable: e.retryable(),
                message: format!("the test notification was not delivered: {}", e.summary()),
            },
        })?;
    Ok(Json(
        json!({"status": "sent", "notification_id": notification_id, "event_id": event.id, "targets": targets.outcomes()}),
    ))
}

fn test_event(notifier: &str) -> Event {
    Event {
        id: Uuid::now_v7(),
        source: "herald".into(),
        category: Category::System,
        kind: "test".into(),
        severity: Severity::Info,
        scope: Scope::default(),
        title: format!("Herald test notification for \"{notifier}\""),
        message: "If you can read this, the notifier's settings work.".into(),
        labels: Default::default(),
        data: Value::Null,
        dedup_key: None,
        resolved: false,
        occurred_at: OffsetDateTime::now_utc(),
        url: None,
    }
}
