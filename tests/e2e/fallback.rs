//! Fallback notifiers: a delivery that fails for good sends the event to the
//! notifier's fallback, as a notification linked to the failed one; the
//! fallback's own failure is a failure like any other and goes no further; a
//! replay does not fall back twice; the fallback must be another, existing
//! notifier, and one in use as a fallback is not deleted.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, TestApp, eventually, spawn_app};

/// A webhook to `path` on `sink` that falls back to `fallback`; `extra`
/// settings merged into its config.
async fn hook_falling_back(
    app: &TestApp,
    name: &str,
    url: &str,
    extra: Value,
    fallback: Uuid,
) -> Uuid {
    let mut config = json!({"url": url});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (status, body) = app
        .post(
            "/notifiers",
            json!({"name": name, "kind": "webhook", "config": config, "fallback": fallback}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["fallback"], fallback.to_string(), "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Publishes one event for the rule and returns its id.
async fn publish(app: &TestApp, severity: &str) -> Uuid {
    app.publish(json!({"source": "ci", "category": "job", "kind": "failed", "severity": severity}))
        .await[0]
}

/// Waits until the failure of `notification` is no longer being replayed.
async fn replayed(app: &TestApp, failure: &str) -> Value {
    eventually("the replayed delivery to end", SOON, || async {
        let (_, f) = app.get(&format!("/failures/{failure}")).await;
        if f["status"] == "replaying" {
            Err(f.to_string())
        } else {
            Ok(f)
        }
    })
    .await
}

/// The open failure of `notification`.
async fn failure_of(app: &TestApp, notification: &Value) -> Value {
    let id = &notification["id"];
    app.failures("")
        .await
        .into_iter()
        .find(|f| &f["notification_id"] == id)
        .unwrap_or_else(|| panic!("no failure for {notification}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_fails_for_good_goes_to_the_fallback_as_a_linked_notification() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.reply("/primary", Reply::text(500, "down"));
    let backup = app.webhook("backup", &sink.url("/backup"), json!({})).await;
    let primary = hook_falling_back(
        &app,
        "primary",
        &sink.url("/primary"),
        json!({"max_elapsed": "1s", "max_attempts": 2}),
        backup,
    )
    .await;
    app.rule(json!({"notifiers": [primary]})).await;
    // Critical: the fallback's job, queued by the scheduler, takes the
    // critical lane like the event's first job.
    let event = publish(&app, "critical").await;

    let failed = app.wait_notification(event, primary, "failed", SOON).await;
    assert_eq!(failed["attempts"], 2, "{failed}");
    let sent = app.wait_notification(event, backup, "sent", SOON).await;
    assert_eq!(sent["fallback_of"], failed["id"], "{sent}");
    let reason = sent["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("fallback: delivery to 'primary' failed for good: ")
            && reason.contains("HTTP 500"),
        "{reason}"
    );
    assert!(failed["fallback_of"].is_null(), "{failed}");

    let got = sink.wait_delivered("/backup", 1, SOON).await;
    assert_eq!(got[0].event_id(), Some(event.to_string()));
    assert_eq!(got[0].json()["event"]["severity"], "critical");
    assert_eq!(failure_of(&app, &failed).await["status"], "pending");
    assert_eq!(app.failures("").await.len(), 1, "the fallback did not fail");
    assert_eq!(app.metric("herald_fallbacks_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fallback_records_its_own_failure_and_falls_back_no_further() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.reply("/primary", Reply::text(400, "no"));
    sink.reply("/backup", Reply::text(400, "no either"));
    let third = app.webhook("third", &sink.url("/third"), json!({})).await;
    // The backup has a fallback of its own: used for its own events, never
    // for an event it got as a fallback (no chains).
    let backup = hook_falling_back(&app, "backup", &sink.url("/backup"), json!({}), third).await;
    let primary =
        hook_falling_back(&app, "primary", &sink.url("/primary"), json!({}), backup).await;
    app.rule(json!({"notifiers": [primary]})).await;
    let event = publish(&app, "warning").await;

    let failed = app.wait_notification(event, primary, "failed", SOON).await;
    let fallback = app.wait_notification(event, backup, "failed", SOON).await;
    assert_eq!(fallback["fallback_of"], failed["id"]);
    let own = failure_of(&app, &fallback).await;
    assert_eq!(own["status"], "pending", "{own}");
    assert!(own["error"].as_str().unwrap().contains("HTTP 400"), "{own}");
    assert_eq!(app.failures("").await.len(), 2);

    // The fallback's failure replays like any other.
    sink.reply("/backup", Reply::text(200, "ok"));
    let (status, body) = app
        .post(
            &format!("/failures/{}/replay", own["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    app.wait_notification(event, backup, "sent", SOON).await;
    assert_eq!(
        replayed(&app, own["id"].as_str().unwrap()).await["status"],
        "resolved"
    );

    let all = app.notifications(&format!("event_id={event}")).await;
    assert_eq!(all.len(), 2, "nothing went to the third: {all:?}");
    assert!(sink.requests().iter().all(|r| r.path != "/third"));
    assert_eq!(app.metric("herald_fallbacks_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_failure_that_fails_again_does_not_fall_back_twice() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.reply("/primary", Reply::text(400, "no"));
    let backup = app.webhook("backup", &sink.url("/backup"), json!({})).await;
    let primary =
        hook_falling_back(&app, "primary", &sink.url("/primary"), json!({}), backup).await;
    app.rule(json!({"notifiers": [primary]})).await;
    let event = publish(&app, "warning").await;
    let failed = app.wait_notification(event, primary, "failed", SOON).await;
    app.wait_notification(event, backup, "sent", SOON).await;

    // Even with another fallback named since, the notification fell back once.
    let other = app.webhook("other", &sink.url("/other"), json!({})).await;
    let (status, body) = app
        .put(
            &format!("/notifiers/{primary}"),
            json!({"name": "primary", "kind": "webhook", "config": {"url": sink.url("/primary")},
                   "fallback": other}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let failure = failure_of(&app, &failed).await;
    let id = failure["id"].as_str().unwrap();
    let (status, body) = app.post(&format!("/failures/{id}/replay"), json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let again = replayed(&app, id).await;
    assert_eq!(again["errors"].as_array().unwrap().len(), 2, "{again}");
    assert_eq!(sink.wait_requests("/primary", 2, SOON).await.len(), 2);

    let all = app.notifications(&format!("event_id={event}")).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(sink.delivered("/backup").len(), 1);
    assert!(sink.requests().iter().all(|r| r.path != "/other"));
    assert_eq!(app.metric("herald_fallbacks_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_that_already_has_the_event_gets_nothing_more() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.reply("/primary", Reply::text(400, "no"));
    let backup = app.webhook("backup", &sink.url("/backup"), json!({})).await;
    let primary =
        hook_falling_back(&app, "primary", &sink.url("/primary"), json!({}), backup).await;
    app.rule(json!({"notifiers": [primary, backup]})).await;
    let event = publish(&app, "warning").await;
    app.wait_notification(event, primary, "failed", SOON).await;
    let routed = app.wait_notification(event, backup, "sent", SOON).await;
    assert!(routed["fallback_of"].is_null(), "{routed}");
    let all = app.notifications(&format!("event_id={event}")).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(sink.delivered("/backup").len(), 1);
    assert_eq!(app.metric("herald_fallbacks_total").await, 0.0);
}

#[tokio::test]
async fn a_fallback_must_be_another_existing_notifier_and_is_not_deleted_while_used() {
    let app = spawn_app().await;
    let backup = app
        .webhook("backup", "http://127.0.0.1:9/b", json!({}))
        .await;
    let primary = app
        .webhook("primary", "http://127.0.0.1:9/p", json!({}))
        .await;
    let spec = |fallback: Value| {
        json!({"name": "primary", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/p"},
               "fallback": fallback})
    };
    let unknown = json!(Uuid::now_v7());
    let mut new = spec(unknown.clone());
    new["name"] = json!("new");
    let (status, body) = app.post("/notifiers", new).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "fallback", "{body}");
    for (fallback, why) in [
        (unknown, "unknown"),
        (json!(primary), "itself"),
        (json!("not-an-id"), "not an id"),
    ] {
        let (status, body) = app
            .put(&format!("/notifiers/{primary}"), spec(fallback))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["field"], "fallback", "{why}: {body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("fallback"),
            "{body}"
        );
    }
    let (status, body) = app
        .put(&format!("/notifiers/{primary}"), spec(json!(backup)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fallback"], backup.to_string());

    let (status, body) = app.delete_answer(&format!("/notifiers/{backup}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["notifiers"],
        json!([{"id": primary, "name": "primary"}]),
        "{body}"
    );
    assert_eq!(body["rules"], json!([]), "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("fallback of notifiers `primary`"), "{error}");

    let (status, body) = app
        .put(&format!("/notifiers/{primary}"), spec(Value::Null))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("fallback").is_none(), "{body}");
    assert_eq!(
        app.delete(&format!("/notifiers/{backup}")).await,
        StatusCode::NO_CONTENT
    );
}
