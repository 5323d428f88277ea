//! `/api/v1/silences` and `/api/v1/inhibitions`: their CRUD.
//!
//! A silence is answered with its `state` at the moment of answering;
//! `DELETE` expires it (ends it now) and keeps it, for the record. An
//! inhibition is deleted for real. What they do to routing is the router's
//! business; the model checks the input, the store keeps it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use herald_model::{Inhibition, InhibitionSpec, Silence, SilenceSpec, SilenceState};
use herald_store::{Page, SilenceFilter};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ApiError, AppState, Caller, params};

/// A silence as answered: with where it stands now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Shown {
    #[serde(flatten)]
    silence: Silence,
    state: SilenceState,
}

fn shown(silence: Silence, now: OffsetDateTime) -> Shown {
    let state = silence.state(now);
    Shown { silence, state }
}

/// A silence from the request body; what it leaves out is the caller's now
/// and name.
async fn silence_spec(
    state: &AppState,
    caller: &Caller,
    body: Body,
) -> Result<SilenceSpec, ApiError> {
    let value = params::json(body, state.max_request_bytes).await?;
    Ok(SilenceSpec::from_json(
        value,
        OffsetDateTime::now_utc(),
        &caller.name,
    )?)
}

/// `POST /api/v1/silences`.
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "silences",
    summary = "Create a silence",
    request_body(content = herald_model::SilenceSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Shown),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Shown>), ApiError> {
    let spec = silence_spec(&state, &caller, body).await?;
    let silence = state.store.create_silence(Uuid::now_v7(), &spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(shown(silence, OffsetDateTime::now_utc())),
    ))
}

/// `GET /api/v1/silences?state=&limit=&cursor=`: newest first, expired ones
/// included unless `state` says otherwise.
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "silences",
    summary = "Silences, newest first",
    params(
        ("state" = Option<herald_model::SilenceState>, Query, description = "Silences in this state"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of silences", body = herald_store::Page<Shown>),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Page<Shown>>, ApiError> {
    let mut q = params::Query::new(raw);
    let filter = SilenceFilter {
        state: q.parse("state")?,
        now: OffsetDateTime::now_utc(),
        limit: q.limit()?,
        cursor: q.parse("cursor")?,
    };
    q.finish()?;
    let page = state.store.list_silences(&filter).await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|s| shown(s, filter.now))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/silences/{id}",
    tag = "silences",
    summary = "One silence",
    params(
        ("id" = uuid::Uuid, Path, description = "The silence's id"),
    ),
    responses(
        (status = 200, description = "The silence", body = Shown),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Shown>, ApiError> {
    let silence = state.store.get_silence(params::id(&id)?).await?;
    Ok(Json(shown(silence, OffsetDateTime::now_utc())))
}

/// `PUT /api/v1/silences/{id}`: replaces it, with the same defaults as a
/// creation.
#[utoipa::path(
    put,
    path = "/api/v1/silences/{id}",
    tag = "silences",
    summary = "Replace a silence",
    params(
        ("id" = uuid::Uuid, Path, description = "The silence's id"),
    ),
    request_body(content = herald_model::SilenceSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = Shown),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Shown>, ApiError> {
    let id = params::id(&id)?;
    let spec = silence_spec(&state, &caller, body).await?;
    let silence = state.store.update_silence(id, &spec).await?;
    Ok(Json(shown(silence, OffsetDateTime::now_utc())))
}

/// `DELETE /api/v1/silences/{id}`: expires it, keeping the record.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "silences",
    summary = "Expire a silence (it stays, ended)",
    params(
        ("id" = uuid::Uuid, Path, description = "The silence's id"),
    ),
    responses(
        (status = 204, description = "Expired"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn expire(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.expire_silence(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inhibition_spec(state: &AppState, body: Body) -> Result<InhibitionSpec, ApiError> {
    let value = params::json(body, state.max_request_bytes).await?;
    Ok(InhibitionSpec::from_json(value)?)
}

/// `POST /api/v1/inhibitions`.
#[utoipa::path(
    post,
    path = "/api/v1/inhibitions",
    tag = "silences",
    summary = "Create an inhibition",
    request_body(content = herald_model::InhibitionSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = herald_model::Inhibition),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_inhibition(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Inhibition>), ApiError> {
    let spec = inhibition_spec(&state, body).await?;
    let inhibition = state.store.create_inhibition(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(inhibition)))
}

/// `GET /api/v1/inhibitions`: all of them, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/inhibitions",
    tag = "silences",
    summary = "Every inhibition",
    responses(
        (status = 200, description = "The inhibitions", body = crate::openapi::Items<herald_model::Inhibition>),
    )
)]
pub async fn list_inhibitions(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": state.store.list_inhibitions().await? }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/inhibitions/{id}",
    tag = "silences",
    summary = "One inhibition",
    params(
        ("id" = uuid::Uuid, Path, description = "The inhibition's id"),
    ),
    responses(
        (status = 200, description = "The inhibition", body = herald_model::Inhibition),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_inhibition(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Inhibition>, ApiError> {
    Ok(Json(state.store.get_inhibition(params::id(&id)?).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/inhibitions/{id}",
    tag = "silences",
    summary = "Replace an inhibition",
    params(
        ("id" = uuid::Uuid, Path, description = "The inhibition's id"),
    ),
    request_body(content = herald_model::InhibitionSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = herald_model::Inhibition),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_inhibition(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Inhibition>, ApiError> {
    let id = params::id(&id)?;
    let spec = inhibition_spec(&state, body).await?;
    Ok(Json(state.store.update_inhibition(id, &spec).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/inhibitions/{id}",
    tag = "silences",
    summary = "Delete an inhibition",
    params(
        ("id" = uuid::Uuid, Path, description = "The inhibition's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_inhibition(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_inhibition(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
