//! Clones: a notifier or a rule copied under a new name. A notifier's secrets
//! are sealed anew for the copy (a sealed value opens only for its notifier)
//! and masked in the answer; a rule keeps its notifiers, conditions and
//! templates. Both are audited as `clone`, naming the copy and its source.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::secrets::{hook_with_token, stored_config};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TestApp, eventually, spawn_app};

/// Clones `what` (`notifiers/<id>` or `rules/<id>`) as `name`: the answer.
async fn clone(app: &TestApp, what: &str, name: &str) -> Value {
    let (status, body) = app
        .post(&format!("/{what}/clone"), json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// `object` without what a copy does not share with its original.
fn shared(object: &Value) -> Value {
    let mut object = object.clone();
    for key in ["id", "name", "created_at", "updated_at"] {
        object.as_object_mut().unwrap().remove(key);
    }
    object
}

/// The audit entry of the clone that made `copy`.
async fn audited_clone(app: &TestApp, copy: &str) -> Value {
    let (_, audit) = app.get("/audit?limit=100").await;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "clone" && e["object_id"] == copy)
        .cloned()
        .unwrap_or_else(|| panic!("no clone of {copy} audited: {audit}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_webhook_delivers_with_the_secret_sealed_anew_and_masked() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let (source, read) = hook_with_token(&app, &sink).await;
    let copy = clone(&app, &format!("notifiers/{source}"), "copy").await;
    let id: Uuid = copy["id"].as_str().unwrap().parse().unwrap();
    assert_ne!(id, source);
    assert_eq!(copy["name"], "copy");
    assert_eq!(shared(&copy), shared(&read), "everything else is copied");
    assert_eq!(copy["config"]["headers"]["Authorization"], "********");

    let sealed = |config: Value| {
        config["headers"]["Authorization"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let original = sealed(stored_config(&app, source).await);
    let copied = sealed(stored_config(&app, id).await);
    assert!(copied.starts_with("$herald$"), "{copied}");
    assert_ne!(copied, original, "sealed for the copy, not copied sealed");

    app.rule(json!({"notifiers": [id]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    app.wait_notification(event, id, "sent", SOON).await;
    let got = sink.wait_delivered("/in", 1, SOON).await;
    assert_eq!(got[0].header("authorization"), Some("Bearer t0p-s3cr3t"));

    let entry = audited_clone(&app, &id.to_string()).await;
    assert_eq!(entry["object"], "notifier");
    assert_eq!(entry["detail"]["source"], source.to_string(), "{entry}");
    assert_eq!(entry["detail"]["name"], "copy", "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_rule_routes_and_renders_like_the_original() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app
        .webhook(
            "hook",
            &sink.url("/in"),
            json!({"content_type": "text/plain; charset=utf-8"}),
        )
        .await;
    let (status, original) = app
        .post(
            "/rules",
            json!({"name": "nightly", "categories": ["job"], "kinds": ["failed"],
                   "labels": {"job": "nightly"}, "condition": "event.title != 'skip'",
                   "templates": {"body": "{{ rule.name }}: {{ event.title }}"},
                   "notifiers": [hook]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{original}");
    let source = original["id"].as_str().unwrap();
    let copy = clone(&app, &format!("rules/{source}"), "nightly copy").await;
    let id = copy["id"].as_str().unwrap();
    assert_ne!(id, source);
    assert_eq!(
        shared(&copy),
        shared(&original),
        "everything else is copied"
    );
    let (_, read) = app.get(&format!("/rules/{id}")).await;
    assert_eq!(read, copy);

    // With the original switched off, the copy alone selects and shapes.
    let mut off = shared(&original);
    off["name"] = json!("nightly");
    off["enabled"] = json!(false);
    let (status, body) = app.put(&format!("/rules/{source}"), off).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = |title: &str| {
        json!({"source": "ci", "category": "job", "kind": "failed", "title": title,
               "labels": {"job": "nightly"}})
    };
    let skipped = app.publish(job("skip")).await[0];
    let event = app.publish(job("broke")).await[0];
    let sent = app.wait_notification(event, hook, "sent", SOON).await;
    assert_eq!(sent["rule_ids"], json!([id]));
    let got = sink.wait_delivered("/in", 1, SOON).await;
    assert_eq!(String::from_utf8_lossy(&got[0].body), "nightly copy: broke");
    eventually(
        "the skipped event to be routed, unmatched",
        SOON,
        || async {
            match app.get(&format!("/events/{skipped}")).await {
                (StatusCode::OK, recorded) if recorded["matched"] == false => Ok(()),
                (_, other) => Err(other.to_string()),
            }
        },
    )
    .await;

    assert_eq!(audited_clone(&app, id).await["detail"]["source"], source);
}

#[tokio::test]
async fn a_clone_needs_a_new_name_and_an_existing_original() {
    let app = spawn_app().await;
    let hook = app
        .webhook("hook", "http://127.0.0.1:9/in", json!({}))
        .await;
    let rule = app.rule(json!({"name": "rule", "notifiers": [hook]})).await;
    for (collection, id, taken) in [("notifiers", hook, "hook"), ("rules", rule, "rule")] {
        let cases = [
            (json!({}), StatusCode::BAD_REQUEST),
            (json!({"name": " "}), StatusCode::BAD_REQUEST),
            (json!({"name": taken}), StatusCode::CONFLICT),
        ];
        for (body, status) in cases {
            let path = format!("/{collection}/{id}/clone");
            let (got, answer) = app.post(&path, body.clone()).await;
            assert_eq!(got, status, "{path} {body}: {answer}");
            assert_eq!(answer["field"], "name", "{path} {body}: {answer}");
        }
        let unknown = format!("/{collection}/{}/clone", Uuid::now_v7());
        let (status, answer) = app.post(&unknown, json!({"name": "n"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {answer}");
    }
}
