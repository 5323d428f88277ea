use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

fn accepted() -> Reply {
    Reply::json(
        202,
        json!({"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c"}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opsgenie_creates_an_alert_by_alias_and_closes_it_when_resolved() {
    let app = spawn_app().await;
    let og = HttpSink::start().await;
    og.script(
        "/v2/alerts",
        [Reply::json(429, json!({"message": "Rate limit"})).with_header("retry-after", "1")],
    );
    og.reply("/v2/alerts", accepted());
    og.reply("/v2/alerts/deploy%2Facme%2Fweb%2Fprod-7/close", accepted());
    let config = json!({"api_key": "eb243592-faa2-4ba2-a551q-1afdf565c889", "api_url": og.url(""),
        "responders": [{"type": "team", "name": "ops"}]});
    let firing = json!({"source": "deploy", "category": "deployment", "kind": "failed",
        "severity": "warning", "scope": "acme/web", "title": "Deploy failed", "message": "rollout stuck",
        "labels": {"env": "prod"}, "dedup_key": "deploy/acme/web/prod-7"});
    let (notifier, first) = route(&app, "opsgenie", config, firing).await;
    let sent = app.wait_notification(first, notifier, "sent", SOON).await;
    assert_eq!(sent["attempts"], 2, "a 429 waits and is retried");
    let resolved = app
        .publish(
            json!({"source": "deploy", "category": "deployment", "kind": "failed",
            "scope": "acme/web", "title": "Deploy fixed", "resolved": true,
            "dedup_key": "deploy/acme/web/prod-7"}),
        )
        .await[0];
    app.wait_notification(resolved, notifier, "sent", SOON)
        .await;
    let created = requests(&og, "/v2/alerts", 2).await;
    let create = &created[1];
    assert_eq!(
        create.header("authorization"),
        Some("GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889")
    );
    assert_eq!(
        body(create),
        json!({
            "message": "[WARNING] Deploy failed",
            "alias": "deploy/acme/web/prod-7",
            "description": "rollout stuck\ndeploy · deployment/failed · acme/web · env=prod",
            "priority": "P3",
            "source": "deploy",
            "entity": "acme/web",
            "tags": ["deployment", "failed", "warning"],
            "details": {"env": "prod", "event_id": first},
            "responders": [{"type": "team", "name": "ops"}],
        })
    );
    let close = &requests(&og, "/v2/alerts/deploy%2Facme%2Fweb%2Fprod-7/close", 1).await[0];
    assert_eq!(close.method, "POST");
    assert_eq!(close.query, "identifierType=alias");
    assert_eq!(
        close.header("authorization"),
        Some("GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889")
    );
    assert_eq!(
        body(close),
        json!({"source": "Herald", "note": "[RESOLVED] Deploy fixed"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_opsgenie_calls_invalid_fails_for_good() {
    let app = spawn_app().await;
    let og = HttpSink::start().await;
    og.reply(
        "/v2/alerts",
        Reply::json(
            422,
            json!({"message": "Request body is not processable", "took": 0.001}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "opsgenie",
        json!({"api_key": "k", "region": "eu", "api_url": og.url("")}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "not processable").await;
}
