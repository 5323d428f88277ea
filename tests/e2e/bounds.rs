//! Bounds and bad input: every limit is a 400 naming the field, no input
//! reaches a 500, wrong values are answered with the valid ones, a huge
//! `Retry-After` is held to the retry budget, a notifier in use is not deleted,
//! reused event ids are counted, old events are deleted but what an open
//! failure needs is kept, and the server bounds its requests.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, Reply, TestApp, eventually, spawn_app, spawn_app_with};

/// Asserts a 400 naming `field`, and returns the error text.
fn refused(status: StatusCode, body: &Value, field: &str, case: &str) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["field"], field, "{case}: {body}");
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn event(extra: Value) -> Value {
    let mut e = json!({"source": "ci", "category": "system"});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let hook = app
        .webhook("bounded", "http://127.0.0.1:9/hook", json!({}))
        .await;
    let labels: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/events", event(json!({"scope": "s".repeat(513)})), "scope"),
        ("/events", event(json!({"scope": "a/".repeat(17)})), "scope"),
        ("/events", event(json!({"labels": labels})), "labels"),
        (
            "/events",
            event(json!({"title": "t".repeat(1025)})),
            "title",
        ),
        (
            "/events",
            json!([
                event(json!({})),
                event(json!({})),
                event(json!({"scope": "s".repeat(513)}))
            ]),
            "[2].scope",
        ),
        ("/events", json!(vec![event(json!({})); 1001]), "body"),
        (
            "/rules",
            json!({"name": "r".repeat(1 << 20), "notifiers": [hook]}),
            "name",
        ),
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "labels": labels}),
            "labels",
        ),
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "condition": "x".repeat(5000)}),
            "condition",
        ),
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "scope": "a/".repeat(17)}),
            "scope",
        ),
        (
            "/notifiers",
            json!({"name": "n".repeat(100 * 1024), "kind": "webhook", "config": {"url": "http://x/"}}),
            "name",
        ),
        (
            "/notifiers",
            json!({"name": "n", "description": "d".repeat(2001), "kind": "webhook", "config": {"url": "http://x/"}}),
            "description",
        ),
        (
            "/notifiers",
            json!({"name": "n", "kind": "webhook", "config": {"url": "http://x/", "timeout": "200000000d"}}),
            "config.timeout",
        ),
        (
            "/notifiers",
            json!({"name": "n", "kind": "webhook", "config": {"url": "http://x/", "max_elapsed": "200000000d"}}),
            "config.max_elapsed",
        ),
        (
            "/notifiers",
            json!({"name": "n", "kind": "webhook", "config": {"url": "http://x/", "max_attempts": 1000}}),
            "config.max_attempts",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = app.post(path, body).await;
        let case = format!("{path} {field}");
        let error = refused(status, &answer, field, &case);
        assert!(
            error.contains("at most"),
            "{case}: the limit is said: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enum_given_a_number_a_boolean_or_null_names_the_field_and_lists_the_valid_values() {
    let app = spawn_app().await;
    let severities = "critical, warning, info";
    let categories = "system, configuration, job, deployment, spending";
    let cases = [
        (
            json!({"source": "ci", "category": "system", "severity": 3}),
            "severity",
            severities,
        ),
        (
            json!({"source": "ci", "category": "system", "severity": true}),
            "severity",
            severities,
        ),
        (
            json!({"source": "ci", "category": 3}),
            "category",
            categories,
        ),
        (
            json!({"source": "ci", "category": null}),
            "category",
            categories,
        ),
        (
            json!([{"source": "ci", "category": "system"}, {"source": "ci", "category": "system", "severity": 3}]),
            "[1].severity",
            severities,
        ),
    ];
    for (body, field, valid) in cases {
        let (status, answer) = app.post("/events", body.clone()).await;
        let error = refused(status, &answer, field, &body.to_string());
        assert!(error.contains(valid), "{body}: {error}");
        assert!(!error.contains("JSON"), "the JSON is valid: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_choice_is_answered_with_every_valid_one_in_the_apis_words() {
    let app = spawn_app().await;
    let cases = [
        (
            "/notifications?status=done",
            "status",
            "pending, sent, failed",
        ),
        (
            "/failures?status=open",
            "status",
            "pending, replaying, resolved, dead, discarded",
        ),
        (
            "/events?severity=high",
            "severity",
            "critical, warning, info",
        ),
        (
            "/events?category=jobs",
            "category",
            "system, configuration, job, deployment, spending",
        ),
    ];
    for (path, field, valid) in cases {
        let (status, body) = app.get(path).await;
        let error = refused(status, &body, field, path);
        assert!(error.contains(valid), "{path}: {error}");
        assert!(!error.contains("Status"), "no internal type name: {error}");
    }
    let (status, body) = app
        .post(
            "/notifiers",
            json!({"name": "n", "kind": "webhook", "config": {"url": "http://x/", "retries": {}}}),
        )
        .await;
    let error = refused(status, &body, "config.retries", "config.retries");
    for field in [
        "url",
        "method",
        "headers",
        "max_elapsed",
        "max_attempts",
        "timeout",
        "templates",
    ] {
        assert!(error.contains(field), "{field} is listed: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_notifier_that_rules_use_is_refused_with_409_naming_the_rules() {
    let app = spawn_app().await;
    let hook = app
        .webhook("in-use", "http://127.0.0.1:9/hook", json!({}))
        .await;
    let first = app
        .rule(json!({"name": "first", "notifiers": [hook]}))
        .await;
    let second = app
        .rule(json!({"name": "second", "notifiers": [hook]}))
        .await;

    let (status, body) = app.delete_answer(&format!("/notifiers/{hook}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let named: Vec<(String, String)> = body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (first.to_string(), "first".to_owned()),
            (second.to_string(), "second".to_owned())
        ]
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("first") && error.contains(&second.to_string()),
        "{error}"
    );
    let (status, _) = app.get(&format!("/notifiers/{hook}")).await;
    assert_eq!(status, StatusCode::OK, "the notifier is still there");

    for rule in [first, second] {
        assert_eq!(
            app.delete(&format!("/rules/{rule}")).await,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.delete(&format!("/notifiers/{hook}")).await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_left_without_notifiers_can_still_be_disabled_and_edited() {
    let app = spawn_app().await;
    let hook = app
        .webhook("gone", "http://127.0.0.1:9/hook", json!({}))
        .await;
    let rule = app
        .rule(json!({"name": "orphan", "notifiers": [hook]}))
        .await;
    // As the cascade of earlier versions left such rules.
    let (db, connection) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.execute("DELETE FROM rule_notifiers WHERE rule_id = $1", &[&rule])
        .await
        .unwrap();
    let (_, stored) = app.get(&format!("/rules/{rule}")).await;
    assert_eq!(stored["notifiers"], json!([]));

    let mut edited = json!({"name": "orphan, parked", "enabled": false, "notifiers": []});
    let (status, body) = app.put(&format!("/rules/{rule}"), edited.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["name"], "orphan, parked");

    edited["enabled"] = json!(true);
    let (status, body) = app.put(&format!("/rules/{rule}"), edited).await;
    refused(
        status,
        &body,
        "notifiers",
        "an enabled rule needs a notifier",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_u64_max_is_held_to_the_budget_and_other_deliveries_go_on() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.reply(
        "/huge",
        Reply::text(503, "busy").with_header("retry-after", "18446744073709551615"),
    );
    let huge = app
        .webhook(
            "huge-wait",
            &sink.url("/huge"),
            json!({"max_elapsed": "2s"}),
        )
        .await;
    let fine = app.webhook("fine", &sink.url("/fine"), json!({})).await;
    app.rule(json!({"notifiers": [huge, fine]})).await;

    let first = app.publish(event(json!({}))).await[0];
    app.wait_notification(first, fine, "sent", SOON).await;
    let failed = app.wait_notification(first, huge, "failed", SOON).await;
    assert!(
        failed["attempts"].as_i64().unwrap() >= 2,
        "a last attempt is made as the budget ends: {failed}"
    );
    let failures = app.failures(&format!("notifier_id={huge}")).await;
    assert_eq!(failures.len(), 1, "the failure waits in the error table");

    // The sender is alive and delivering.
    let second = app.publish(event(json!({}))).await[0];
    app.wait_notification(second, fine, "sent", SOON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_reused_with_other_content_is_counted_and_the_first_copy_kept() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    app.publish(event(json!({"id": id}))).await;
    eventually("the first copy to be recorded", SOON, || async {
        match app.get(&format!("/events/{id}")).await {
            (StatusCode::OK, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (status, body) = app
        .post(
            "/events",
            json!({"id": id, "source": "billing", "category": "spending"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "idempotent: {body}");
    eventually("the conflict to be counted", SOON, || async {
        match app.metric("herald_event_id_conflicts_total").await {
            1.0 => Ok(()),
            n => Err(format!("{n}")),
        }
    })
    .await;
    let (_, recorded) = app.get(&format!("/events/{id}")).await;
    assert_eq!(recorded["source"], "ci", "the first copy stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_past_their_retention_are_deleted_but_an_open_failure_keeps_its_own() {
    let app = spawn_app_with(&[("HERALD_RETENTION", "1s")]).await;
    let sink = HttpSink::start().await;
    sink.reply("/refuses", Reply::text(400, "no"));
    let ok = app
        .webhook("accepts", &sink.url("/accepts"), json!({}))
        .await;
    let refuses = app
        .webhook("refuses", &sink.url("/refuses"), json!({}))
        .await;
    app.rule(json!({"categories": ["system"], "notifiers": [ok]}))
        .await;
    app.rule(json!({"categories": ["spending"], "notifiers": [refuses]}))
        .await;

    let ids = app
        .publish(json!([
            {"source": "ci", "category": "system"},
            {"source": "billing", "category": "spending"},
        ]))
        .await;
    let (expired, kept) = (ids[0], ids[1]);
    app.wait_notification(kept, refuses, "failed", SOON).await;
    gone(&app, expired).await;
    assert!(
        app.notifications(&format!("event_id={expired}"))
            .await
            .is_empty()
    );
    eventually("the problem it opened to go too", SOON, || async {
        let (_, problems) = app.get("/problems").await;
        match problems.to_string().contains(&expired.to_string()) {
            false => Ok(()),
            true => Err(problems.to_string()),
        }
    })
    .await;

    // Past its retention too, but its failure is open.
    let (status, _) = app.get(&format!("/events/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    let failure = app.failures(&format!("notifier_id={refuses}")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(&format!("/failures/{failure}/discard"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gone(&app, kept).await;
    let (status, _) = app.get(&format!("/failures/{failure}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a closed failure goes with its event"
    );
}

async fn gone(app: &TestApp, event: Uuid) {
    eventually(&format!("event {event} to be deleted"), SOON, || async {
        match app.get(&format!("/events/{event}")).await {
            (StatusCode::NOT_FOUND, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_server_timeout_is_answered_503() {
    let app = spawn_app_with(&[("HERALD_HTTP_TIMEOUT", "1s")]).await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Hold);
    let hook = app
        .webhook("held", &sink.url("/held"), json!({"timeout": "1m"}))
        .await;
    let (status, body) = app
        .post(&format!("/notifiers/{hook}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HERALD_HTTP_TIMEOUT"),
        "{body}"
    );
    sink.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_concurrency_limit_wait_for_a_turn() {
    let app = spawn_app_with(&[("HERALD_HTTP_CONCURRENCY", "1")]).await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Hold);
    let hook = app
        .webhook("held", &sink.url("/held"), json!({"timeout": "1m"}))
        .await;
    let test_send = format!("/notifiers/{hook}/test");
    let held = app.post(&test_send, json!({}));
    let waiting = async {
        sink.wait_requests("/held", 1, SOON).await;
        let mut next = std::pin::pin!(app.get("/channels"));
        // Proving that something does not happen takes a bounded look.
        let early = tokio::time::timeout(Duration::from_millis(300), &mut next).await;
        assert!(
            early.is_err(),
            "a second request waits while the only turn is taken"
        );
        sink.release();
        next.await
    };
    let ((held_status, _), (next_status, _)) = tokio::join!(held, waiting);
    assert_eq!(held_status, StatusCode::OK);
    assert_eq!(next_status, StatusCode::OK);
}
