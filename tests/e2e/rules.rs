//! Which events go where: categories, severities, kinds, scope inheritance,
//! labels, disabled rules, and rule changes taking effect at once.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TestApp, spawn_app};

/// The notifiers an event was routed to, by name, once a catch-all `control`
/// notifier has it: the router records all of an event's notifications at once.
async fn routed_to(app: &TestApp, event: Uuid, control: Uuid) -> BTreeSet<String> {
    app.wait_notification(event, control, "sent", SOON).await;
    app.notifications(&format!("event_id={event}"))
        .await
        .iter()
        .map(|n| n["notifier_name"].as_str().unwrap().to_owned())
        .filter(|n| n != "control")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_rules_that_match_an_event_send_it() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let mut ids = Vec::new();
    for name in [
        "category", "severity", "kind", "scope", "labels", "disabled", "control",
    ] {
        ids.push((
            name,
            app.webhook(name, &sink.url(&format!("/{name}")), json!({}))
                .await,
        ));
    }
    let id = |name: &str| ids.iter().find(|(n, _)| *n == name).unwrap().1;
    app.rule(json!({"categories": ["deployment"], "notifiers": [id("category")]}))
        .await;
    app.rule(json!({"severities": ["warning"], "notifiers": [id("severity")]}))
        .await;
    app.rule(
        json!({"categories": ["job"], "kinds": ["failed", "aborted"], "notifiers": [id("kind")]}),
    )
    .await;
    app.rule(json!({"scope": "acme", "notifiers": [id("scope")]}))
        .await;
    app.rule(json!({"labels": {"env": "prod", "team": "web"}, "notifiers": [id("labels")]}))
        .await;
    app.rule(json!({"enabled": false, "notifiers": [id("disabled")]}))
        .await;
    app.rule(json!({"notifiers": [id("control")]})).await;

    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"category": "job", "kind": "succeeded", "severity": "critical",
                "scope": "acme-old/web", "labels": {"env": "prod"}}),
            &[],
        ),
        (
            json!({"category": "deployment", "severity": "info", "scope": "other"}),
            &["category"],
        ),
        (
            json!({"category": "job", "kind": "failed", "severity": "warning",
                "scope": "acme/web/deploy-app", "labels": {"env": "prod", "team": "web", "x": "y"}}),
            &["kind", "labels", "scope", "severity"],
        ),
        (
            json!({"category": "system", "severity": "info", "scope": "acme"}),
            &["scope"],
        ),
        (
            json!({"category": "spending", "labels": {"env": "prod", "team": "data"}}),
            &[],
        ),
    ];
    for (mut event, want) in cases {
        event["source"] = json!("tests");
        let event_id = app.publish(event.clone()).await[0];
        let got = routed_to(&app, event_id, id("control")).await;
        let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, want, "routing of {event}");
        for name in &want {
            app.wait_notification(event_id, id(name), "sent", SOON)
                .await;
        }
    }
    assert!(
        sink.delivered("/disabled").is_empty(),
        "a disabled rule sends nothing"
    );
    assert_eq!(sink.delivered("/control").len(), 5);
    assert_eq!(sink.delivered("/scope").len(), 2);
    assert!(
        app.notifications(&format!("notifier_id={}", id("disabled")))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_rule_change_applies_to_the_very_next_event() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let target = app.webhook("target", &sink.url("/target"), json!({})).await;
    let control = app
        .webhook("control", &sink.url("/control"), json!({}))
        .await;
    app.rule(json!({"notifiers": [control]})).await;
    let rule = app
        .rule(json!({"name": "deploys", "enabled": false, "categories": ["deployment"], "notifiers": [target]}))
        .await;
    let event = json!({"source": "deployer", "category": "deployment"});

    let first = app.publish(event.clone()).await[0];
    assert!(routed_to(&app, first, control).await.is_empty());

    let (status, body) = app
        .put(
            &format!("/rules/{rule}"),
            json!({"name": "deploys", "categories": ["deployment"], "notifiers": [target]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], true);
    let second = app.publish(event.clone()).await[0];
    assert_eq!(
        routed_to(&app, second, control).await,
        BTreeSet::from(["target".to_owned()])
    );

    assert_eq!(
        app.delete(&format!("/rules/{rule}")).await,
        StatusCode::NO_CONTENT
    );
    let third = app.publish(event).await[0];
    assert!(routed_to(&app, third, control).await.is_empty());
    assert_eq!(sink.delivered("/target").len(), 1);
}

#[tokio::test]
async fn rules_are_validated_and_a_notifier_is_deleted_only_once_no_rule_names_it() {
    let app = spawn_app().await;
    let a = app.webhook("a", "http://127.0.0.1:9/a", json!({})).await;
    let b = app.webhook("b", "http://127.0.0.1:9/b", json!({})).await;
    let unknown = Uuid::now_v7();
    let cases = [
        (
            json!({"name": "r", "notifiers": [unknown]}),
            StatusCode::BAD_REQUEST,
            "notifiers",
        ),
        (
            json!({"name": "r", "notifiers": [a], "severities": ["high"]}),
            StatusCode::BAD_REQUEST,
            "severities[0]",
        ),
        (
            json!({"name": "r", "notifiers": [a], "scope": "a//b"}),
            StatusCode::BAD_REQUEST,
            "scope",
        ),
        (json!({"notifiers": [a]}), StatusCode::BAD_REQUEST, "name"),
    ];
    for (spec, status, field) in cases {
        let (got, body) = app.post("/rules", spec.clone()).await;
        assert_eq!(got, status, "{spec}: {body}");
        assert_eq!(body["field"], field, "{spec}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
    }
    let rule = app.rule(json!({"name": "both", "notifiers": [a, b]})).await;
    let (status, body) = app
        .post("/rules", json!({"name": "both", "notifiers": [a]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "name");

    // A notifier in use stays (bounds.rs tests the 409 in full); once the rule
    // no longer names it, it goes.
    assert_eq!(
        app.delete(&format!("/notifiers/{a}")).await,
        StatusCode::CONFLICT
    );
    let (status, body) = app
        .put(
            &format!("/rules/{rule}"),
            json!({"name": "both", "notifiers": [b]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.delete(&format!("/notifiers/{a}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, got) = app.get(&format!("/rules/{rule}")).await;
    assert_eq!(got["notifiers"], json!([b]));
    let (_, all) = app.get("/rules").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.delete(&format!("/rules/{}", Uuid::now_v7())).await,
        StatusCode::NOT_FOUND
    );
}
