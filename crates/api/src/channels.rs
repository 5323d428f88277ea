//! `GET /api/v1/channels`: every kind Herald delivers to, what its settings
//! are (JSON Schema), which of them are secrets, and its message parts with
//! their default templates.

use axum::Json;
use herald_channels::{KINDS, config_schema, parts_of, secret_fields};
use serde_json::{Map, Value, json};

#[utoipa::path(
    get,
    path = "/api/v1/channels",
    tag = "channels",
    summary = "Every kind of notifier and its settings",
    responses(
        (status = 200, description = "The kinds", body = crate::openapi::Items<crate::openapi::ChannelKind>),
    )
)]
pub async fn list() -> Json<Value> {
    let items: Vec<Value> = KINDS.iter().map(|kind| describe(kind)).collect();
    Json(json!({ "items": items }))
}

fn describe(kind: &str) -> Value {
    let secrets: Vec<&str> = secret_fields(kind).iter().map(|f| f.path).collect();
    let parts = parts_of(kind);
    let templates: Map<String, Value> = parts
        .iter()
        .map(|p| (p.name.to_owned(), json!(p.default)))
        .collect();
    let about: Vec<Value> = parts
        .iter()
        .map(|p| json!({"name": p.name, "about": p.about}))
        .collect();
    json!({
        "kind": kind,
        "config_schema": config_schema(kind),
        "secret_fields": secrets,
        "templates": templates,
        "parts": about,
    })
}
