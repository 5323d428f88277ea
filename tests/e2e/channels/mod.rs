//! One file per channel kind: each checks the requests against what the
//! provider documents (method, path, headers, body) on a local server that
//! answers as the provider does: success, its documented errors, 429 with
//! `Retry-After`, 5xx.

mod discord;
mod git;
mod googlechat;
mod grafana;
mod irc;
mod matrix;
mod mattermost;
mod ntfy;
mod opsgenie;
mod pagerduty;
mod pushover;
mod rocketchat;
mod slack;
mod teams;
mod telegram;
pub mod test_send;
mod twilio;
mod webex;
mod wecom;

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

/// Waits until the notification failed for good at its first attempt, with
/// `needle` in its error; answers it.
pub async fn fails_for_good(app: &TestApp, event: Uuid, notifier: Uuid, needle: &str) -> Value {
    let failed = fails_after_retries(app, event, notifier, needle).await;
    assert_eq!(failed["attempts"], 1, "{failed}");
    failed
}

/// Waits until the notification failed for good, with `needle` in its error;
/// answers it.
pub async fn fails_after_retries(
    app: &TestApp,
    event: Uuid,
    notifier: Uuid,
    needle: &str,
) -> Value {
    let failed = app.wait_notification(event, notifier, "failed", SOON).await;
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains(needle), "`{needle}` not in {failed}");
    failed
}

/// The body of a request as JSON.
pub fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// The requests `sink` got at `path`, once `n` arrived.
pub async fn requests(sink: &HttpSink, path: &str, n: usize) -> Vec<Request> {
    sink.wait_requests(path, n, SOON).await
}
