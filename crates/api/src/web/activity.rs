//! The activity feed: recent events and notifications with the API's filters,
//! and each event with why it did or did not notify (its explain view).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::Web;
use super::call::{items, query_value, text};
use super::layout::{Notice, badge, empty, json_block, page, time};
use super::session::Session;

const NAV: &str = "/activity";
/// The events' filters the feed passes on, with their placeholders.
const EVENT_FILTERS: [(&str, &str); 6] = [
    ("source", "ci"),
    ("category", "job"),
    ("severity", "critical"),
    ("scope", "acme/web"),
    ("matched", "true / false"),
    ("since", "24h"),
];
/// The statuses a notification can have, for the filter.
const STATUSES: [&str; 5] = ["pending", "sent", "failed", "suppressed", "grouped"];
const LIMIT: u32 = 50;

/// `GET /activity?source=&category=&severity=&scope=&matched=&since=&status=`.
pub async fn feed(
    State(web): State<Arc<Web>>,
    session: Session,
    Query(filters): Query<HashMap<String, String>>,
) -> Response {
    let given = |name: &str| {
        filters
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut events_query = format!("/events?limit={LIMIT}");
    for (name, _) in EVENT_FILTERS {
        if let Some(value) = given(name) {
            events_query.push_str(&format!("&{name}={}", query_value(value)));
        }
    }
    let mut notifications_query = format!("/notifications?limit={LIMIT}");
    if let Some(status) = given("status") {
        notifications_query.push_str(&format!("&status={}", query_value(status)));
    }
    let mut errors = Vec::new();
    let events = web.get(&session, &events_query).await.unwrap_or_else(|e| {
        errors.push(e.message);
        Value::Null
    });
    let notifications = web
        .get(&session, &notifications_query)
        .await
        .unwrap_or_else(|e| {
            errors.push(e.message);
            Value::Null
        });
    let notice = if errors.is_empty() {
        Notice::None
    } else {
        Notice::Error(errors.join("; "))
    };
    let body = html! {
        form.filters method="get" action="/activity" {
            @for (name, hint) in EVENT_FILTERS {
                label { (name) input type="text" name=(name) value=[given(name)] placeholder=(hint); }
            }
            label { "notification status"
                select name="status" {
                    option value="" { "any" }
                    @for s in STATUSES { option value=(s) selected[given("status") == Some(s)] { (s) } }
                }
            }
            button type="submit" { "Filter" }
            a href="/activity" { "Clear" }
        }
        h2 { "Events" }
        (events_table(items(&events)))
        h2 { "Notifications" }
        (notifications_table(items(&notifications)))
    };
    page(&session, NAV, "Activity", &notice, body).into_response()
}

fn events_table(events: &[Value]) -> Markup {
    html! {
        @if events.is_empty() { (empty("No event.")) } @else {
            table #events {
                thead { tr { th { "Received" } th { "Title" } th { "Source" } th { "Category / kind" } th { "Severity" } th { "Scope" } th { "Matched" } } }
                tbody {
                    @for r in events {
                        // The event's fields are the record's, beside `received_at`.
                        @let e = r;
                        tr {
                            td { (time(&r["received_at"])) }
                            td { a href={"/activity/" (text(e, "id"))} { (text(e, "title")) } }
                            td { (text(e, "source")) }
                            td { (text(e, "category")) " / " (text(e, "kind")) }
                            td { (badge(text(e, "severity"))) }
                            td { code { (text(e, "scope")) } }
                            td { (badge(match r["matched"].as_bool() { Some(true) => "yes", Some(false) => "no", None => "unknown" })) }
                        }
                    }
                }
            }
        }
    }
}

fn notifications_table(notifications: &[Value]) -> Markup {
    html! {
        @if notifications.is_empty() { (empty("No notification.")) } @else {
            table #notifications {
                thead { tr { th { "Updated" } th { "Notifier" } th { "Status" } th.num { "Attempts" } th { "Reason or last error" } th { "Event" } } }
                tbody {
                    @for n in notifications {
                        tr {
                            td { (time(&n["updated_at"])) }
                            td { a href={"/notifiers/" (text(n, "notifier_id"))} { (text(n, "notifier_name")) } }
                            td { (badge(text(n, "status"))) }
                            td.num { (n["attempts"]) }
                            td.wrap { (n["last_error"].as_str().or(n["reason"].as_str()).unwrap_or("")) }
                            td { a href={"/activity/" (text(n, "event_id"))} { "explain" } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /activity/{id}`: the event and its explain view.
pub async fn event(
    State(web): State<Arc<Web>>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let id = query_value(&id);
    let recorded = web.get(&session, &format!("/events/{id}")).await;
    let explained = web.get(&session, &format!("/events/{id}/explain")).await;
    let (recorded, explained) = match (recorded, explained) {
        (Ok(r), Ok(x)) => (r, x),
        (Err(e), _) | (_, Err(e)) => {
            return page(&session, NAV, "Event", &Notice::Error(e.message), html! {})
                .into_response();
        }
    };
    let event = &recorded;
    let title = format!("Event: {}", text(event, "title"));
    let body = html! {
        section.card #explain {
            h2 { "Why it did or did not notify" }
            p.summary { (text(&explained, "summary")) }
            @if let Some(outcomes) = explained["outcomes"].as_object().filter(|o| !o.is_empty()) {
                p { @for (status, count) in outcomes { (badge(status)) " " (count) "  " } }
            }
            @let rules = explained["rules"].as_array().map_or(&[][..], Vec::as_slice);
            @if rules.is_empty() { (empty("No rule existed when it was routed.")) } @else {
                table.compact {
                    thead { tr { th { "Rule" } th { "Selected" } th { "Reason" } } }
                    tbody {
                        @for r in rules {
                            tr {
                                td { a href={"/rules/" (text(r, "rule_id"))} { (text(r, "name")) } }
                                td { (badge(if r["selected"] == true { "yes" } else { "no" })) }
                                td { (text(r, "reason")) }
                            }
                        }
                    }
                }
            }
            h3 { "Notifications" }
            (notifications_table(explained["notifications"].as_array().map_or(&[][..], Vec::as_slice)))
        }
        section.card {
            h2 { "The event" }
            p { "Received " (time(&recorded["received_at"])) }
            (json_block(event))
        }
    };
    page(&session, NAV, &title, &Notice::None, body).into_response()
}
