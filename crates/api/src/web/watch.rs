//! Silences and no-activity monitors: lists, a form to create one, expire a
//! silence, delete a monitor.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::call::{items, query_value, text};
use super::layout::{Notice, badge, csrf, empty, page, post_button, time};
use super::session::{Fields, Posted, Session};
use super::{Done, Web};

/// The single-valued matchers of the forms.
const MATCHERS: [(&str, &str); 5] = [
    ("source", "ci"),
    ("scope", "acme/staging"),
    ("category", "job"),
    ("severity", "warning"),
    ("kind", "job_failed"),
];

fn matcher_inputs() -> Markup {
    html! {
        @for (name, hint) in MATCHERS {
            label { (name) input type="text" name=(name) placeholder=(hint); }
        }
        label { "labels" input type="text" name="labels" placeholder="env=staging, team=web"; }
    }
}

/// The matchers the form names, as the API takes them.
fn matchers_from(fields: &Fields) -> Value {
    let mut out = Map::new();
    for (name, _) in MATCHERS {
        let value = fields.text(name);
        if !value.is_empty() {
            out.insert(name.to_owned(), json!(value));
        }
    }
    let labels: BTreeMap<&str, &str> = fields
        .text("labels")
        .split(',')
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    if !labels.is_empty() {
        out.insert("labels".into(), json!(labels));
    }
    Value::Object(out)
}

/// A matcher as one line: `source=ci · labels.env=staging`.
fn describe(matcher: &Value) -> String {
    let mut out = Vec::new();
    for (name, value) in matcher.as_object().into_iter().flatten() {
        match value {
            Value::Object(labels) => {
                out.extend(
                    labels
                        .iter()
                        .map(|(k, v)| format!("labels.{k}={}", v.as_str().unwrap_or(""))),
                );
            }
            Value::String(s) => out.push(format!("{name}={s}")),
            other => out.push(format!("{name}={other}")),
        }
    }
    out.join(" · ")
}

/// `GET /silences`.
pub async fn silences(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    render_silences(&web, &session, Notice::done(done.done.as_deref())).await
}

async fn render_silences(web: &Web, session: &Session, notice: Notice) -> Response {
    let (listing, notice) = match web.get(session, "/silences?limit=200").await {
        Ok(listing) => (listing, notice),
        Err(e) => (Value::Null, Notice::Error(e.message)),
    };
    let in_two_hours = (OffsetDateTime::now_utc() + time::Duration::hours(2))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let body = html! {
        @if session.can_change() {
            form.card.filters #silence-form method="post" action="/silences" {
                (csrf(session))
                label { "name" input type="text" name="name" placeholder="optional"; }
                (matcher_inputs())
                label { "ends_at" input type="text" name="ends_at" value=(in_two_hours) required; }
                label { "comment" input type="text" name="comment" placeholder="why"; }
                button type="submit" { "Create silence" }
            }
        }
        @if items(&listing).is_empty() { (empty("No silence.")) } @else {
            table {
                thead { tr { th { "Name" } th { "State" } th { "Matchers" } th { "Starts" } th { "Ends" } th { "Comment" } th { "By" } th {} } }
                tbody {
                    @for s in items(&listing) {
                        tr {
                            td { (text(s, "name")) }
                            td { (badge(text(s, "state"))) }
                            td { (describe(&s["matchers"])) }
                            td { (time(&s["starts_at"])) }
                            td { (time(&s["ends_at"])) }
                            td { (text(s, "comment")) }
                            td { (text(s, "created_by")) }
                            td { @if session.can_change() && text(s, "state") != "expired" {
                                (post_button(session, &format!("/silences/{}/expire", text(s, "id")), "Expire", None))
                            } }
                        }
                    }
                }
            }
        }
    };
    page(session, "/silences", "Silences", &notice, body).into_response()
}

/// `POST /silences`.
pub async fn create_silence(
    State(web): State<Arc<Web>>,
    Posted { session, fields }: Posted,
) -> Response {
    let body = json!({
        "name": fields.text("name"),
        "matchers": matchers_from(&fields),
        "ends_at": fields.text("ends_at"),
        "comment": fields.text("comment"),
    });
    match web.post(&session, "/silences", &body).await {
        Ok(_) => Redirect::to("/silences?done=created").into_response(),
        Err(e) => render_silences(&web, &session, Notice::Error(e.message)).await,
    }
}

/// `POST /silences/{id}/expire`.
pub async fn expire_silence(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match web
        .delete(&session, &format!("/silences/{}", query_value(&id)))
        .await
    {
        Ok(_) => Redirect::to("/silences?done=expired").into_response(),
        Err(e) => render_silences(&web, &session, Notice::Error(e.message)).await,
    }
}

/// `GET /monitors`.
pub async fn monitors(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    render_monitors(&web, &session, Notice::done(done.done.as_deref())).await
}

async fn render_monitors(web: &Web, session: &Session, notice: Notice) -> Response {
    let (listing, notice) = match web.get(session, "/monitors?limit=200").await {
        Ok(listing) => (listing, notice),
        Err(e) => (Value::Null, Notice::Error(e.message)),
    };
    let body = html! {
        @if session.can_change() {
            form.card.filters #monitor-form method="post" action="/monitors" {
                (csrf(session))
                label { "name" input type="text" name="name" required; }
                (matcher_inputs())
                label { "silent_for" input type="text" name="silent_for" placeholder="30m" required; }
                button type="submit" { "Create monitor" }
            }
        }
        @if items(&listing).is_empty() { (empty("No monitor.")) } @else {
            table {
                thead { tr { th { "Name" } th { "State" } th { "Matches" } th { "Silent for" } th { "Last seen" } th { "Went silent" } th {} } }
                tbody {
                    @for m in items(&listing) {
                        tr {
                            td { (text(m, "name")) }
                            td { (badge(if m["enabled"] == false { "disabled" } else { text(m, "state") })) }
                            td { (describe(&m["match"])) }
                            td { (text(m, "silent_for")) }
                            td { (time(&m["last_seen_at"])) }
                            td { (time(&m["raised_at"])) }
                            td { @if session.can_change() {
                                (post_button(session, &format!("/monitors/{}/delete", text(m, "id")), "Delete", Some("Delete this monitor?")))
                            } }
                        }
                    }
                }
            }
        }
    };
    page(session, "/monitors", "Monitors", &notice, body).into_response()
}

/// `POST /monitors`.
pub async fn create_monitor(
    State(web): State<Arc<Web>>,
    Posted { session, fields }: Posted,
) -> Response {
    let body = json!({
        "name": fields.text("name"),
        "match": matchers_from(&fields),
        "silent_for": fields.text("silent_for"),
    });
    match web.post(&session, "/monitors", &body).await {
        Ok(_) => Redirect::to("/monitors?done=created").into_response(),
        Err(e) => render_monitors(&web, &session, Notice::Error(e.message)).await,
    }
}

/// `POST /monitors/{id}/delete`.
pub async fn delete_monitor(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match web
        .delete(&session, &format!("/monitors/{}", query_value(&id)))
        .await
    {
        Ok(_) => Redirect::to("/monitors?done=deleted").into_response(),
        Err(e) => render_monitors(&web, &session, Notice::Error(e.message)).await,
    }
}
