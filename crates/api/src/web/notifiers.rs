//! Notifiers: the list, a form per kind built from its settings' schema
//! (create, edit), and the Test, Clone and Delete buttons.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::call::{Problem, items, query_value, text};
use super::form::{Setting, config_from, inputs, settings};
use super::layout::{Notice, csrf, empty, page, post_button, time};
use super::session::{Fields, Posted, Session};
use super::{Done, Web};

const NAV: &str = "/notifiers";

/// `GET /notifiers`.
pub async fn list(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    let (listing, notice) = web.listing(&session, "/notifiers?limit=500", &done).await;
    let body = html! {
        @if session.can_change() {
            p.actions { a.button href="/notifiers/new" { "New notifier" } }
        }
        @if items(&listing).is_empty() {
            (empty("No notifier yet."))
        } @else {
            table {
                thead { tr { th { "Name" } th { "Kind" } th { "Description" } th { "Updated" } } }
                tbody {
                    @for n in items(&listing) {
                        tr {
                            td { a href={"/notifiers/" (text(n, "id"))} { (text(n, "name")) } }
                            td { code { (text(n, "kind")) } }
                            td { (text(n, "description")) }
                            td { (time(&n["updated_at"])) }
                        }
                    }
                }
            }
        }
    };
    page(&session, NAV, "Notifiers", &notice, body).into_response()
}

#[derive(Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

/// `GET /notifiers/new?kind=`: pick a kind, then its form.
pub async fn new(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(query): Query<NewQuery>,
) -> Response {
    let kind = query.kind.unwrap_or_else(|| "webhook".into());
    let draft = json!({"name": "", "description": "", "kind": kind, "config": {}});
    render_form(&web, &session, None, &draft, Notice::None).await
}

/// The kinds and, for `kind`, its settings.
async fn kinds_and_settings(
    web: &Web,
    session: &Session,
    kind: &str,
) -> Result<(Vec<String>, Vec<Setting>), Problem> {
    let channels = web.get(session, "/channels").await?;
    let kinds = items(&channels)
        .iter()
        .map(|c| text(c, "kind").to_owned())
        .collect();
    let settings = items(&channels)
        .iter()
        .find(|c| text(c, "kind") == kind)
        .map(|c| {
            let secrets = c["secret_fields"].as_array().map_or(&[][..], Vec::as_slice);
            settings(&c["config_schema"], secrets)
        })
        .unwrap_or_default();
    Ok((kinds, settings))
}

/// The create or edit form of `notifier` (a stored one when `id` is given).
async fn render_form(
    web: &Web,
    session: &Session,
    id: Option<&str>,
    notifier: &Value,
    notice: Notice,
) -> Response {
    let kind = text(notifier, "kind");
    let (kinds, settings) = match kinds_and_settings(web, session, kind).await {
        Ok(found) => found,
        Err(e) => {
            return page(
                session,
                NAV,
                "Notifier",
                &Notice::Error(e.message),
                html! {},
            )
            .into_response();
        }
    };
    let title = match id {
        Some(_) => format!("Notifier {}", text(notifier, "name")),
        None => "New notifier".to_owned(),
    };
    let action = id.map_or_else(|| "/notifiers".to_owned(), |id| format!("/notifiers/{id}"));
    let body = html! {
        @if id.is_none() {
            form.inline.kind-picker method="get" action="/notifiers/new" {
                label for="kind-picker" { "Kind " }
                select #kind-picker name="kind" data-autosubmit {
                    @for k in &kinds { option value=(k) selected[k == kind] { (k) } }
                }
                noscript { button type="submit" { "Choose" } }
            }
        }
        form.card #notifier-form method="post" action=(action) {
            (csrf(session))
            input type="hidden" name="kind" value=(kind);
            div.field {
                label for="name" { "name" span.required { " *" } }
                input #name type="text" name="name" value=(text(notifier, "name")) required;
            }
            div.field {
                label for="description" { "description" }
                input #description type="text" name="description" value=(text(notifier, "description"));
            }
            fieldset.settings {
                legend { code { (kind) } " settings" }
                (inputs(&settings, &notifier["config"]))
            }
            @if session.can_change() {
                button #save type="submit" { (if id.is_some() { "Save" } else { "Create" }) }
            }
        }
        @if let (Some(id), true) = (id, session.can_change()) {
            (actions(session, id, notifier))
        }
    };
    page(session, NAV, &title, &notice, body).into_response()
}

fn actions(session: &Session, id: &str, notifier: &Value) -> Markup {
    html! {
        section.card.actions-row {
            (post_button(session, &format!("/notifiers/{id}/test"), "Test", None))
            form.inline method="post" action={"/notifiers/" (id) "/clone"} {
                (csrf(session))
                input type="text" name="name" aria-label="name of the copy" value={(text(notifier, "name")) "-copy"};
                button type="submit" { "Clone" }
            }
            (post_button(session, &format!("/notifiers/{id}/delete"), "Delete", Some("Delete this notifier?")))
        }
    }
}

/// The notifier the form describes, as the API takes it; `stored` gives
/// what the form does not edit (fallback, quiet hours).
async fn spec_from(
    web: &Web,
    session: &Session,
    fields: &Fields,
    stored: Option<&Value>,
) -> Result<Value, Problem> {
    let kind = fields.text("kind");
    let (_, settings) = kinds_and_settings(web, session, kind).await?;
    let mut spec = json!({
        "name": fields.text("name"),
        "description": fields.text("description"),
        "kind": kind,
        "config": config_from(&settings, fields),
    });
    for kept in ["fallback", "quiet_hours"] {
        if let Some(value) = stored.and_then(|s| s.get(kept)).filter(|v| !v.is_null()) {
            spec[kept] = value.clone();
        }
    }
    Ok(spec)
}

/// `POST /notifiers`.
pub async fn create(State(web): State<Arc<Web>>, Posted { session, fields }: Posted) -> Response {
    let spec = match spec_from(&web, &session, &fields, None).await {
        Ok(spec) => spec,
        Err(e) => {
            return page(
                &session,
                NAV,
                "New notifier",
                &Notice::Error(e.message),
                html! {},
            )
            .into_response();
        }
    };
    match web.post(&session, "/notifiers", &spec).await {
        Ok(created) => Redirect::to(&format!("/notifiers/{}?done=created", text(&created, "id")))
            .into_response(),
        Err(e) => render_form(&web, &session, None, &spec, Notice::Error(e.message)).await,
    }
}

/// `GET /notifiers/{id}`.
pub async fn edit(
    State(web): State<Arc<Web>>,
    session: Session,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    show(&web, &session, &id, Notice::done(done.done.as_deref())).await
}

async fn show(web: &Web, session: &Session, id: &str, notice: Notice) -> Response {
    match web
        .get(session, &format!("/notifiers/{}", query_value(id)))
        .await
    {
        Ok(notifier) => render_form(web, session, Some(id), &notifier, notice).await,
        Err(e) => page(
            session,
            NAV,
            "Notifier",
            &Notice::Error(e.message),
            html! {},
        )
        .into_response(),
    }
}

/// `POST /notifiers/{id}`: save.
pub async fn update(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, fields }: Posted,
) -> Response {
    let path = format!("/notifiers/{}", query_value(&id));
    let stored = match web.get(&session, &path).await {
        Ok(stored) => stored,
        Err(e) => {
            return page(
                &session,
                NAV,
                "Notifier",
                &Notice::Error(e.message),
                html! {},
            )
            .into_response();
        }
    };
    let spec = match spec_from(&web, &session, &fields, Some(&stored)).await {
        Ok(spec) => spec,
        Err(e) => {
            return render_form(&web, &session, Some(&id), &stored, Notice::Error(e.message)).await;
        }
    };
    match web.put(&session, &path, &spec).await {
        Ok(_) => Redirect::to(&format!("/notifiers/{id}?done=saved")).into_response(),
        Err(e) => render_form(&web, &session, Some(&id), &spec, Notice::Error(e.message)).await,
    }
}

/// `POST /notifiers/{id}/test`: sends a test notification and shows how it went.
pub async fn test(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    let answer = web
        .post(
            &session,
            &format!("/notifiers/{}/test", query_value(&id)),
            &json!({}),
        )
        .await;
    let notice = match answer {
        Ok(sent) => Notice::Done(format!("Test {}.", text(&sent, "status"))),
        Err(e) => Notice::Error(format!("Test failed: {}", e.message)),
    };
    show(&web, &session, &id, notice).await
}

/// `POST /notifiers/{id}/clone`.
pub async fn clone(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, fields }: Posted,
) -> Response {
    let body = json!({"name": fields.text("name")});
    match web
        .post(
            &session,
            &format!("/notifiers/{}/clone", query_value(&id)),
            &body,
        )
        .await
    {
        Ok(copy) => {
            Redirect::to(&format!("/notifiers/{}?done=cloned", text(&copy, "id"))).into_response()
        }
        Err(e) => show(&web, &session, &id, Notice::Error(e.message)).await,
    }
}

/// `POST /notifiers/{id}/delete`.
pub async fn delete(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match web
        .delete(&session, &format!("/notifiers/{}", query_value(&id)))
        .await
    {
        Ok(_) => Redirect::to("/notifiers?done=deleted").into_response(),
        Err(e) => show(&web, &session, &id, Notice::Error(e.message)).await,
    }
}
