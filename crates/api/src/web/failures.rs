//! Failures: the error table, with replay and discard of the ones ticked, or
//! the replay of every pending one.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::{Value, json};

use super::call::{items, query_value, text};
use super::layout::{Notice, badge, csrf, empty, page, time};
use super::session::{Posted, Session};
use super::{Done, Web};

const NAV: &str = "/failures";

/// `GET /failures`: the open ones (pending, replaying, dead).
pub async fn list(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(done): Query<Done>,
) -> Response {
    render(&web, &session, Notice::done(done.done.as_deref())).await
}

async fn render(web: &Web, session: &Session, notice: Notice) -> Response {
    let (listing, notice) = match web.get(session, "/failures?limit=200").await {
        Ok(listing) => (listing, notice),
        Err(e) => (Value::Null, Notice::Error(e.message)),
    };
    let failures = items(&listing);
    let body = html! {
        @if failures.is_empty() { (empty("No open failure: every delivery went out, or is still being tried.")) } @else {
            form #failures-form method="post" action="/failures" {
                (csrf(session))
                @if session.can_change() {
                    p.actions {
                        button type="submit" name="action" value="replay" { "Replay selected" }
                        button type="submit" name="action" value="discard" data-confirm="Discard the selected failures?" { "Discard selected" }
                        button type="submit" name="action" value="replay-all" { "Replay every pending failure" }
                    }
                }
                table {
                    thead { tr {
                        th { input type="checkbox" data-check-all="ids" aria-label="select all"; }
                        th { "Last failed" } th { "Notifier" } th { "Status" } th.num { "Attempts" } th.num { "Replays" } th { "Error" } th { "Event" }
                    } }
                    tbody {
                        @for f in failures {
                            tr {
                                td { input type="checkbox" name="ids" value=(text(f, "id")) aria-label="select"; }
                                td { (time(&f["last_failed_at"])) }
                                td { a href={"/notifiers/" (text(f, "notifier_id"))} { (text(f, "notifier_name")) } }
                                td { (badge(text(f, "status"))) }
                                td.num { (f["attempts"]) }
                                td.num { (f["replay_count"]) }
                                td.wrap { (text(f, "error")) }
                                td { a href={"/activity/" (text(f, "event_id"))} { "explain" } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(session, NAV, "Failures", &notice, body).into_response()
}

/// `POST /failures` with `action` (`replay`, `discard`, `replay-all`) and the
/// `ids` ticked.
pub async fn act(State(web): State<Arc<Web>>, Posted { session, fields }: Posted) -> Response {
    let action = fields.text("action");
    if action == "replay-all" {
        return match web.post(&session, "/failures/replay", &json!({})).await {
            Ok(_) => Redirect::to("/failures?done=replayed").into_response(),
            Err(e) => render(&web, &session, Notice::Error(e.message)).await,
        };
    }
    let (verb, done) = match action {
        "replay" => ("replay", "replayed"),
        "discard" => ("discard", "discarded"),
        _ => {
            return render(
                &web,
                &session,
                Notice::Error("action: must be replay, discard or replay-all".into()),
            )
            .await;
        }
    };
    let ids: Vec<&str> = fields.all("ids").collect();
    if ids.is_empty() {
        return render(
            &web,
            &session,
            Notice::Error("ids: tick at least one failure".into()),
        )
        .await;
    }
    let mut errors = Vec::new();
    for id in ids {
        if let Err(e) = web
            .post(
                &session,
                &format!("/failures/{}/{verb}", query_value(id)),
                &json!({}),
            )
            .await
        {
            errors.push(format!("{id}: {e}"));
        }
    }
    if errors.is_empty() {
        Redirect::to(&format!("/failures?done={done}")).into_response()
    } else {
        render(&web, &session, Notice::Error(errors.join("; "))).await
    }
}
