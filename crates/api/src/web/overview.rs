//! The overview: events per minute, the last hour's deliveries by outcome,
//! open failures, and whether the broker and the database answer.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use herald_model::FailureStatus;
use maud::{Markup, html};

use super::Web;
use super::layout::{Notice, badge, page};
use super::session::Session;

/// `GET /`.
pub async fn show(State(web): State<Arc<Web>>, session: Session) -> Response {
    let state = &web.state;
    let broker = state.broker().is_connected();
    let database = state.store.ping().await.is_ok();
    let (counts, notice) = match (
        state.store.overview().await,
        state.store.count_failures().await,
    ) {
        (Ok(overview), Ok(failures)) => (Some((overview, failures)), Notice::None),
        (Err(e), _) | (_, Err(e)) => (
            None,
            Notice::Error(format!("the counts could not be read: {e}")),
        ),
    };
    let body = html! {
        section.tiles {
            (tile("Broker", if broker { "up" } else { "down" }, broker))
            (tile("Database", if database { "up" } else { "down" }, database))
            @if let Some((overview, failures)) = &counts {
                (tile("Events / min", &overview.events_last_minute.to_string(), true))
                (tile("Events, last hour", &overview.events_last_hour.to_string(), true))
                (tile("Pending failures", &failures.get(&FailureStatus::Pending).copied().unwrap_or(0).to_string(),
                    failures.get(&FailureStatus::Pending).is_none_or(|n| *n == 0)))
                (tile("Dead failures", &failures.get(&FailureStatus::Dead).copied().unwrap_or(0).to_string(),
                    failures.get(&FailureStatus::Dead).is_none_or(|n| *n == 0)))
            }
        }
        @if let Some((overview, _)) = &counts {
            h2 { "Deliveries of the last hour's events" }
            @if overview.outcomes_last_hour.is_empty() {
                p.empty { "No notification for the last hour's events." }
            } @else {
                table.compact {
                    thead { tr { th { "Outcome" } th.num { "Notifications" } } }
                    tbody {
                        @for (status, count) in &overview.outcomes_last_hour {
                            tr { td { (badge(status)) } td.num { (count) } }
                        }
                    }
                }
            }
        }
    };
    page(&session, "/", "Overview", &notice, body).into_response()
}

fn tile(label: &str, value: &str, good: bool) -> Markup {
    html! {
        div class={"tile " (if good { "good" } else { "bad" })} {
            div.value { (value) }
            div.label { (label) }
        }
    }
}
