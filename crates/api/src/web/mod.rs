//! The admin web page, served at `/` by the API role: an overview, notifiers,
//! rules, the activity feed with each event's explanation, failures,
//! silences and monitors. Server-rendered HTML (maud), a stylesheet and a
//! small script compiled into the binary; no front-end build.
//!
//! It signs in with an API token ([`session`]) and does everything through
//! the API's own router, in process ([`call`]): the token's role, the
//! validation (errors name the field) and the audit trail are the API's.
//! It does not read or write the store itself, except the overview's counts.

mod activity;
mod call;
mod failures;
mod form;
mod layout;
mod notifiers;
mod overview;
mod rules;
mod session;
mod watch;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;

/// What the page's handlers share: the API's state (for sign-in and the
/// overview) and the API's router (for everything else).
pub struct Web {
    state: Arc<AppState>,
    /// The `/api/v1` router, not nested: paths start at `/events`.
    api: Router,
}

/// `?done=<what>` after an action that redirected.
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The page's routes; `api` is the router served under `/api/v1`.
pub fn router(state: Arc<AppState>, api: Router) -> Router {
    let web = Arc::new(Web { state, api });
    Router::new()
        .route("/", get(overview::show))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/static/herald.css", get(css))
        .route("/static/herald.js", get(js))
        .route("/notifiers", get(notifiers::list).post(notifiers::create))
        .route("/notifiers/new", get(notifiers::new))
        .route(
            "/notifiers/{id}",
            get(notifiers::edit).post(notifiers::update),
        )
        .route("/notifiers/{id}/test", post(notifiers::test))
        .route("/notifiers/{id}/clone", post(notifiers::clone))
        .route("/notifiers/{id}/delete", post(notifiers::delete))
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/new", get(rules::new))
        .route("/rules/preview", post(rules::preview))
        .route("/rules/{id}", get(rules::edit).post(rules::update))
        .route("/rules/{id}/delete", post(rules::delete))
        .route("/activity", get(activity::feed))
        .route("/activity/{id}", get(activity::event))
        .route("/failures", get(failures::list).post(failures::act))
        .route(
            "/silences",
            get(watch::silences).post(watch::create_silence),
        )
        .route("/silences/{id}/expire", post(watch::expire_silence))
        .route(
            "/monitors",
            get(watch::monitors).post(watch::create_monitor),
        )
        .route("/monitors/{id}/delete", post(watch::delete_monitor))
        .with_state(web)
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        layout::CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        layout::JS,
    )
}
