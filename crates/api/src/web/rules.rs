//! Rules: the list and a form for the fields one edits most (scope,
//! matchers, condition, templates, notifiers), the rest (policies) as JSON;
//! a live preview of the message on a sample event and a dry run against the
//! recent events, both through `POST /api/v1/rules/dry-run`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::call::{Problem, items, query_value, text};
use super::layout::{Notice, badge, csrf, empty, page, post_button};
use super::session::{Fields, Posted, Session};
use super::{Done, Web};

const NAV: &str = "/rules";
/// The fields the form edits; the others are shown and edited as JSON.
const FORM_FIELDS: [&str; 10] = [
    "name",
    "enabled",
    "scope",
    "categories",
    "kinds",
    "severities",
    "labels",
    "condition",
    "templates",
    "notifiers",
];
/// An event to preview with when none was recorded yet.
const SAMPLE: &str = r#"{"source": "ci", "category": "job", "kind": "failed", "severity": "critical", "scope": "acme/web", "title": "Build 42 failed", "data": {"url": "https://ci.example/42"}}"#;

/// `GET /rules`.
pub async fn list(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    let (listing, notice) = web.listing(&session, "/rules?limit=500", &done).await;
    let body = html! {
        @if session.can_change() {
            p.actions { a.button href="/rules/new" { "New rule" } }
        }
        @if items(&listing).is_empty() {
            (empty("No rule yet."))
        } @else {
            table {
                thead { tr { th { "Name" } th { "Enabled" } th { "Scope" } th { "Matches" } th { "Notifiers" } } }
                tbody {
                    @for r in items(&listing) {
                        tr {
                            td { a href={"/rules/" (text(r, "id"))} { (text(r, "name")) } }
                            td { (badge(if r["enabled"] == true { "enabled" } else { "disabled" })) }
                            td { code { (text(r, "scope")) } }
                            td { (matchers(r)) }
                            td.num { (r["notifiers"].as_array().map_or(0, Vec::len)) }
                        }
                    }
                }
            }
        }
    };
    page(&session, NAV, "Rules", &notice, body).into_response()
}

fn matchers(rule: &Value) -> String {
    let mut out = Vec::new();
    for field in ["categories", "kinds", "severities"] {
        let values = joined(&rule[field]);
        if !values.is_empty() {
            out.push(format!("{field}: {values}"));
        }
    }
    if rule["condition"].is_string() {
        out.push("condition".into());
    }
    if out.is_empty() {
        "any event".into()
    } else {
        out.join(" · ")
    }
}

fn joined(list: &Value) -> String {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `GET /rules/new`.
pub async fn new(State(web): State<Arc<Web>>, session: Session) -> Response {
    let draft = json!({"name": "", "enabled": true, "scope": "", "templates": {}, "notifiers": []});
    render_form(&web, &session, None, &draft, Notice::None).await
}

/// `GET /rules/{id}`.
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
        .get(session, &format!("/rules/{}", query_value(id)))
        .await
    {
        Ok(rule) => render_form(web, session, Some(id), &rule, notice).await,
        Err(e) => page(session, NAV, "Rule", &Notice::Error(e.message), html! {}).into_response(),
    }
}

async fn render_form(
    web: &Web,
    session: &Session,
    id: Option<&str>,
    rule: &Value,
    notice: Notice,
) -> Response {
    let notifiers = web
        .get(session, "/notifiers?limit=500")
        .await
        .unwrap_or(Value::Null);
    let sample = web
        .get(session, "/events?limit=1")
        .await
        .ok()
        .and_then(|l| items(&l).first().map(event_of))
        .unwrap_or_else(|| SAMPLE.to_owned());
    let chosen: Vec<&str> = rule["notifiers"]
        .as_array()
        .map(|n| n.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let more: Map<String, Value> = rule
        .as_object()
        .map(|r| {
            r.iter()
                .filter(|(k, v)| {
                    !FORM_FIELDS.contains(&k.as_str()) && !v.is_null() && !is_answer_only(k)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let labels: String = rule["labels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}\n", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let title = id.map_or_else(
        || "New rule".to_owned(),
        |_| format!("Rule {}", text(rule, "name")),
    );
    let action = id.map_or_else(|| "/rules".to_owned(), |id| format!("/rules/{id}"));
    let body = html! {
        form.card #rule-form method="post" action=(action) data-preview-url="/rules/preview" {
            (csrf(session))
            div.grid {
                div {
                    (field("name", "name", html! { input #name type="text" name="name" value=(text(rule, "name")) required; }, ""))
                    div.field {
                        label for="enabled" { "enabled" }
                        input type="hidden" name="enabled" value="false";
                        input #enabled type="checkbox" name="enabled" value="true" checked[rule["enabled"] != false];
                    }
                    (field("scope", "scope", html! { input #scope type="text" name="scope" value=(text(rule, "scope")) placeholder="acme/web"; }, "a prefix: acme covers acme/web, not acme-old; empty: every scope"))
                    (field("categories", "categories", html! { input #categories type="text" name="categories" value=(joined(&rule["categories"])); }, "comma-separated; empty: any"))
                    (field("kinds", "kinds", html! { input #kinds type="text" name="kinds" value=(joined(&rule["kinds"])); }, "comma-separated; empty: any"))
                    (field("severities", "severities", html! { input #severities type="text" name="severities" value=(joined(&rule["severities"])); }, "comma-separated: info, warning, critical; empty: any"))
                    (field("labels", "labels", html! { textarea #labels name="labels" rows="2" placeholder="env=production" { (labels) } }, "one name=value a line; all must be equal"))
                    (field("condition", "condition", html! { input #condition type="text" name="condition" value=(text(rule, "condition")) placeholder="event.data.duration > 600"; }, "an expression over the event; empty: none"))
                    (field("templates", "templates", html! { textarea #templates name="templates" rows="4" placeholder=r#"{"title": "{{ event.title }}"}"# { (json_text(&rule["templates"])) } }, "JSON: message part → template"))
                    div.field {
                        span.label { "notifiers" }
                        @if items(&notifiers).is_empty() { p.empty { "No notifier yet: " a href="/notifiers/new" { "create one" } " first." } }
                        @for n in items(&notifiers) {
                            label.check {
                                input type="checkbox" name="notifiers" value=(text(n, "id")) checked[chosen.contains(&text(n, "id"))];
                                " " (text(n, "name")) " " small { "(" (text(n, "kind")) ")" }
                            }
                        }
                    }
                    (field("more", "policies and the rest", html! { textarea #more name="more" rows="3" placeholder=r#"{"throttle": {"limit": 1, "per": "10m"}}"# { (if more.is_empty() { String::new() } else { Value::Object(more).to_string() }) } }, "JSON: threshold, throttle, group, digest, quiet_hours, send_resolved…"))
                    @if session.can_change() {
                        button #save type="submit" { (if id.is_some() { "Save" } else { "Create" }) }
                    }
                }
                div {
                    (field("sample", "sample event", html! { textarea #sample name="sample" rows="10" { (sample) } }, "the preview renders the message for this event, live"))
                    p.actions {
                        button type="button" data-preview="sample" { "Preview" }
                        button type="button" data-preview="recent" { "Dry run on the last 24 h" }
                    }
                    div #preview aria-live="polite" {}
                }
            }
        }
        @if let (Some(id), true) = (id, session.can_change()) {
            section.card.actions-row {
                (post_button(session, &format!("/rules/{id}/delete"), "Delete", Some("Delete this rule?")))
            }
        }
    };
    page(session, NAV, &title, &notice, body).into_response()
}

/// A recorded event as an event to preview with: the record's own fields
/// (`received_at`, `matched`, `config_version`) left out.
fn event_of(recorded: &Value) -> String {
    let mut event = recorded.clone();
    if let Some(fields) = event.as_object_mut() {
        for recorded_only in ["received_at", "matched", "config_version"] {
            fields.remove(recorded_only);
        }
    }
    serde_json::to_string_pretty(&event).unwrap_or_default()
}

/// Fields the API answers with that are not the rule's to set.
fn is_answer_only(field: &str) -> bool {
    matches!(field, "id" | "created_at" | "updated_at" | "version")
}

fn field(id: &str, label: &str, input: Markup, about: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            (input)
            @if !about.is_empty() { small.about { (about) } }
        }
    }
}

fn json_text(value: &Value) -> String {
    match value {
        Value::Object(o) if !o.is_empty() => {
            serde_json::to_string_pretty(value).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// The rule the form describes, as the API takes it. Text that should be
/// JSON and is not is an error naming the field.
fn spec_from(fields: &Fields) -> Result<Value, Problem> {
    let list = |name: &str| -> Vec<String> {
        fields
            .text(name)
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let labels: BTreeMap<&str, &str> = fields
        .text("labels")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let mut spec = match json_field(fields, "more")? {
        Value::Object(more) => more,
        Value::Null => Map::new(),
        _ => return Err(invalid("more: must be a JSON object")),
    };
    spec.insert("name".into(), json!(fields.text("name")));
    spec.insert(
        "enabled".into(),
        json!(fields.all("enabled").last() == Some("true")),
    );
    spec.insert("scope".into(), json!(fields.text("scope")));
    spec.insert("categories".into(), json!(list("categories")));
    spec.insert("kinds".into(), json!(list("kinds")));
    spec.insert("severities".into(), json!(list("severities")));
    spec.insert("labels".into(), json!(labels));
    let condition = fields.text("condition");
    spec.insert(
        "condition".into(),
        if condition.is_empty() {
            Value::Null
        } else {
            json!(condition)
        },
    );
    let templates = json_field(fields, "templates")?;
    spec.insert(
        "templates".into(),
        if templates.is_null() {
            json!({})
        } else {
            templates
        },
    );
    spec.insert(
        "notifiers".into(),
        json!(fields.all("notifiers").collect::<Vec<_>>()),
    );
    Ok(Value::Object(spec))
}

fn json_field(fields: &Fields, name: &str) -> Result<Value, Problem> {
    let raw = fields.text(name);
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(raw).map_err(|e| invalid(&format!("{name}: not JSON: {e}")))
}

fn invalid(message: &str) -> Problem {
    Problem {
        message: message.to_owned(),
    }
}

/// `POST /rules`.
pub async fn create(State(web): State<Arc<Web>>, Posted { session, fields }: Posted) -> Response {
    let result = match spec_from(&fields) {
        Ok(spec) => web
            .post(&session, "/rules", &spec)
            .await
            .map_err(|e| (e, spec)),
        Err(e) => Err((e, json!({"name": fields.text("name")}))),
    };
    match result {
        Ok(created) => {
            Redirect::to(&format!("/rules/{}?done=created", text(&created, "id"))).into_response()
        }
        Err((e, spec)) => render_form(&web, &session, None, &spec, Notice::Error(e.message)).await,
    }
}

/// `POST /rules/{id}`: save.
pub async fn update(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, fields }: Posted,
) -> Response {
    let result = match spec_from(&fields) {
        Ok(spec) => web
            .put(&session, &format!("/rules/{}", query_value(&id)), &spec)
            .await
            .map_err(|e| (e, spec)),
        Err(e) => Err((e, json!({"name": fields.text("name")}))),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/rules/{id}?done=saved")).into_response(),
        Err((e, spec)) => {
            render_form(&web, &session, Some(&id), &spec, Notice::Error(e.message)).await
        }
    }
}

/// `POST /rules/{id}/delete`.
pub async fn delete(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    match web
        .delete(&session, &format!("/rules/{}", query_value(&id)))
        .await
    {
        Ok(_) => Redirect::to("/rules?done=deleted").into_response(),
        Err(e) => show(&web, &session, &id, Notice::Error(e.message)).await,
    }
}

/// `POST /rules/preview` (the form, `mode` = `sample` or `recent`): an HTML
/// fragment the script puts under the form. A dry run needs no saved rule,
/// so it previews what is being typed.
pub async fn preview(State(web): State<Arc<Web>>, Posted { session, fields }: Posted) -> Response {
    let outcome = async {
        let mut body = spec_from(&fields)?;
        if fields.text("mode") == "recent" {
            body["since"] = json!("24h");
        } else {
            let sample = json_field(&fields, "sample")?;
            body["events"] = json!([sample]);
        }
        web.post(&session, "/rules/dry-run", &body).await
    }
    .await;
    match outcome {
        Ok(result) => dry_run_markup(&result, fields.text("mode") == "recent"),
        Err(e) => html! { div.notice.error role="alert" { (e.message) } },
    }
    .into_response()
}

fn dry_run_markup(result: &Value, recent: bool) -> Markup {
    let results = result["results"].as_array().map_or(&[][..], Vec::as_slice);
    html! {
        @if recent {
            p.summary { "Selects " strong { (result["selected"]) } " of the " (result["total"]) " events of the last 24 h." }
            @if !results.is_empty() {
                table.compact {
                    thead { tr { th { "Event" } th { "Selected" } th { "Why not" } } }
                    tbody {
                        @for r in results.iter().take(50) {
                            tr {
                                td { a href={"/activity/" (text(r, "event_id"))} { (text(r, "title")) } }
                                td { (badge(if r["selected"] == true { "yes" } else { "no" })) }
                                td { (text(r, "reason")) }
                            }
                        }
                    }
                }
            }
        }
        @for r in results.iter().filter(|r| r["previews"].is_array()).take(if recent { 1 } else { 3 }) {
            @for p in r["previews"].as_array().into_iter().flatten() {
                div.preview {
                    h3 { "Message to " (text(p, "notifier")) }
                    @if let Some(error) = p["error"].as_str() {
                        div.notice.error { (error) }
                    } @else {
                        @for (part, rendered) in p["parts"].as_object().into_iter().flatten() {
                            div.part { span.label { (part) } pre { (rendered.as_str().map_or_else(|| rendered.to_string(), str::to_owned)) } }
                        }
                    }
                }
            }
        }
        @if !recent {
            @for r in results.iter().filter(|r| r["selected"] != true) {
                p.notice.info { "The rule does not select this event: " (text(r, "reason")) }
            }
            @if results.iter().any(|r| r["selected"] == true && !r["previews"].is_array()) {
                p.notice.info { "The rule selects this event; pick a notifier to see its message." }
            }
        }
    }
}
