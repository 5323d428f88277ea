//! One file per channel kind: each checks the requests against what the
//! provider documents (method, path, headers, body) on a local server that
//! answers as the provider does: success, its documented errors, 429 with
//! `Retry-After`, 5xx.

mod discord;
mod googlechat;
mod mattermost;
mod pagerduty;
mod rocketchat;
mod slack;
mod teams;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Request, TestApp};

/// A notifier of `kind` with `config`, a rule sending it everything, and
/// `event` published; answers the notifier and event ids.
pub async fn route(app: &TestApp, kind: &str, config: Value, event: Value) -> (Uuid, Uuid) {
    let name = format!("{kind}-{}", Uuid::new_v4());
    let notifier = app.notifier(&name, kind, config).await;
    app.rule(json!({"notifiers": [notifier]})).await;
    let event = app.publish(event).await[0];
    (notifier, event)
}

/// The body of a request as JSON.
pub fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// The requests `sink` got at `path`, once `n` arrived.
pub async fn requests(sink: &HttpSink, path: &str, n: usize) -> Vec<Request> {
    sink.wait_requests(path, n, SOON).await
}
