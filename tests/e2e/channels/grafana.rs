use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_gets_an_annotation_and_a_region_when_resolved() {
    let app = spawn_app().await;
    let grafana = HttpSink::start().await;
    grafana.reply(
        "/api/annotations",
        Reply::json(200, json!({"message": "Annotation added", "id": 1})),
    );
    let (notifier, deploy) = route(
        &app,
        "grafana",
        json!({"url": grafana.url(""), "token": "glsa_secret", "dashboard_uid": "jcIIG-07z",
            "panel_id": 2, "tags": ["team-web"]}),
        json!({"source": "argo", "category": "deployment", "kind": "finished", "title": "web v42",
            "occurred_at": "2026-11-22T09:30:00Z"}),
    )
    .await;
    app.wait_notification(deploy, notifier, "sent", SOON).await;
    let resolved = app
        .publish(json!({"source": "argo", "category": "system", "kind": "degraded", "title": "web healthy",
            "severity": "warning", "resolved": true, "occurred_at": "2026-11-22T10:00:00Z",
            "data": {"started_at": "2026-11-22T09:45:00Z"}}))
        .await[0];
    app.wait_notification(resolved, notifier, "sent", SOON)
        .await;
    let got = requests(&grafana, "/api/annotations", 2).await;
    assert_eq!(got[0].header("authorization"), Some("Bearer glsa_secret"));
    assert_eq!(
        body(&got[0]),
        json!({"time": 1795339800000_i64, "text": "[INFO] web v42\nargo · deployment/finished",
            "tags": ["herald", "info", "deployment", "argo", "team-web"],
            "dashboardUID": "jcIIG-07z", "panelId": 2})
    );
    let region = body(&got[1]);
    assert_eq!(region["time"], 1795340700000_i64);
    assert_eq!(region["timeEnd"], 1795341600000_i64);
    assert_eq!(
        region["tags"],
        json!([
            "herald", "warning", "system", "argo", "team-web", "resolved"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_grafana_does_not_know_fails_for_good() {
    let app = spawn_app().await;
    let grafana = HttpSink::start().await;
    grafana.reply(
        "/api/annotations",
        Reply::json(404, json!({"message": "Dashboard not found"})),
    );
    let (notifier, event) = route(
        &app,
        "grafana",
        json!({"url": grafana.url(""), "token": "glsa_secret", "dashboard_uid": "nope"}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "Dashboard not found").await;
}
