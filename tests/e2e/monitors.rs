//! No-activity monitors end to end: a source that goes quiet raises a
//! `system`/`no_activity` event routed like any other, its return resolves
//! it (same `dedup_key`), a disabled monitor never fires, two flush
//! processes raise a monitor once, and the API validates and answers as the
//! other resources do.

use std::net::SocketAddr;

use herald::Roles;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TestApp, eventually, spawn_app};

/// Creates a monitor and returns its answer.
async fn monitor(app: &TestApp, spec: Value) -> Value {
    let (status, body) = app.post("/monitors", spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// A webhook notifier at `path` on `sink`, sent every monitor's event.
async fn pager(app: &TestApp, sink: &HttpSink, path: &str) -> Uuid {
    let hook = app.webhook("pager", &sink.url(path), json!({})).await;
    app.rule(json!({"categories": ["system"], "kinds": ["no_activity"], "notifiers": [hook]}))
        .await;
    hook
}

/// The events delivered to `path`, each as the webhook sent it.
fn events_at(sink: &HttpSink, path: &str) -> Vec<Value> {
    sink.delivered(path)
        .iter()
        .map(|r| r.json()["event"].clone())
        .collect()
}

/// Waits until an event of monitor `name` with `resolved` reached `path`.
async fn wait_event(sink: &HttpSink, path: &str, name: &str, resolved: bool) -> Value {
    eventually(
        &format!("monitor {name}'s event (resolved: {resolved})"),
        SOON,
        || async {
            let events = events_at(sink, path);
            events
                .iter()
                .find(|e| e["labels"]["monitor"] == name && e["resolved"] == resolved)
                .cloned()
                .ok_or_else(|| format!("{events:?}"))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_source_raises_no_activity_and_its_return_resolves_it() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    pager(&app, &sink, "/pager").await;
    let created = monitor(
        &app,
        json!({"name": "billing", "match": {"source": "billing", "labels": {"env": "prod"}},
               "silent_for": "2s"}),
    )
    .await;
    assert_eq!(created["state"], "active");
    let id = created["id"].as_str().unwrap().to_owned();
    let billing = json!({"source": "billing", "category": "spending", "labels": {"env": "prod"}});
    app.publish(billing.clone()).await;

    let raised = wait_event(&sink, "/pager", "billing", false).await;
    assert_eq!(raised["source"], "herald");
    assert_eq!(raised["category"], "system");
    assert_eq!(raised["kind"], "no_activity");
    assert_eq!(raised["severity"], "warning");
    assert_eq!(raised["labels"]["monitor_id"], id.as_str());
    assert_eq!(raised["labels"]["env"], "prod");
    assert_eq!(raised["dedup_key"], format!("monitor:{id}"));
    let title = raised["title"].as_str().unwrap();
    assert_eq!(
        title,
        "No activity from billing (env=prod) for 2s (monitor 'billing')"
    );
    let (_, silent) = app.get(&format!("/monitors/{id}")).await;
    assert_eq!(silent["state"], "silent", "{silent}");
    assert!(silent["raised_at"].is_string(), "{silent}");

    app.publish(billing).await;
    let resolved = wait_event(&sink, "/pager", "billing", true).await;
    assert_eq!(resolved["dedup_key"], raised["dedup_key"]);
    assert_eq!(resolved["kind"], "no_activity");
    assert_ne!(resolved["id"], raised["id"]);
    assert!(
        resolved["title"]
            .as_str()
            .unwrap()
            .starts_with("Activity again from billing"),
        "{resolved}"
    );
    for transition in ["raised", "resolved"] {
        wait_transitions(&app, &[None], transition, 1.0).await;
    }
}

/// Waits until the processes at `addrs` (`None`: the app's own) counted at
/// least `n` monitor transitions of this kind in all; returns how many.
async fn wait_transitions(
    app: &TestApp,
    addrs: &[Option<SocketAddr>],
    transition: &str,
    n: f64,
) -> f64 {
    let sample = format!("herald_monitor_transitions_total{{transition=\"{transition}\"}}");
    eventually(&format!("{n} monitors {transition}"), SOON, || async {
        let mut total = 0.0;
        for addr in addrs {
            total += app.metric_at(*addr, &sample).await;
        }
        if total >= n {
            Ok(total)
        } else {
            Err(format!("{total}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_monitor_never_fires_and_enabling_it_starts_its_clock() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    pager(&app, &sink, "/pager").await;
    let quiet = json!({"source": "nobody"});
    let off = monitor(
        &app,
        json!({"name": "off", "match": quiet, "silent_for": "1s", "enabled": false}),
    )
    .await;
    monitor(
        &app,
        json!({"name": "control", "match": quiet, "silent_for": "1s"}),
    )
    .await;

    // The control monitor, as silent for as long, has fired: the watch has
    // looked at the disabled one too.
    wait_event(&sink, "/pager", "control", false).await;
    let names: Vec<Value> = events_at(&sink, "/pager")
        .iter()
        .map(|e| e["labels"]["monitor"].clone())
        .collect();
    assert!(!names.contains(&json!("off")), "{names:?}");
    let id = off["id"].as_str().unwrap();
    let (_, still) = app.get(&format!("/monitors/{id}")).await;
    assert_eq!(still["state"], "active");
    assert_eq!(still["raised_at"], Value::Null);

    let (status, on) = app
        .put(
            &format!("/monitors/{id}"),
            json!({"name": "off", "match": quiet, "silent_for": "1s"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["enabled"], true);
    assert!(
        time(&on["last_seen_at"]) > time(&off["last_seen_at"]),
        "{off} then {on}"
    );
    wait_event(&sink, "/pager", "off", false).await;
}

fn time(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flush_processes_raise_a_monitor_once() {
    let mut app = spawn_app().await;
    let second: SocketAddr = app
        .start_roles(Roles {
            flush: true,
            ..Roles::NONE
        })
        .await;
    let sink = HttpSink::start().await;
    pager(&app, &sink, "/pager").await;
    let names = ["a", "b", "c", "d"];
    for name in names {
        monitor(
            &app,
            json!({"name": name, "match": {"source": name}, "silent_for": "1s"}),
        )
        .await;
    }
    for name in names {
        wait_event(&sink, "/pager", name, false).await;
    }
    // A monitor raised twice would be counted twice (its events, sharing an
    // id, would be delivered once).
    let n = names.len() as f64;
    let total = wait_transitions(&app, &[None, Some(second)], "raised", n).await;
    assert_eq!(total, n);
    assert_eq!(events_at(&sink, "/pager").len(), names.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_are_validated_named_and_answered_like_other_resources() {
    let app = spawn_app().await;
    let cases = [
        (json!({"match": {}, "silent_for": "30m"}), "name"),
        (json!({"name": " ", "silent_for": "30m"}), "name"),
        (json!({"name": "m"}), "silent_for"),
        (json!({"name": "m", "silent_for": "soon"}), "silent_for"),
        (json!({"name": "m", "silent_for": "500ms"}), "silent_for"),
        (json!({"name": "m", "silent_for": "31d"}), "silent_for"),
        (
            json!({"name": "m", "silent_for": "1m", "match": {"scope": "a//b"}}),
            "match.scope",
        ),
        (
            json!({"name": "m", "silent_for": "1m", "match": {"category": "jobs"}}),
            "match.category",
        ),
        (
            json!({"name": "m", "silent_for": "1m", "match": {"sauce": "billing"}}),
            "match.sauce",
        ),
        (
            json!({"name": "m", "silent_for": "1m", "state": "silent"}),
            "state",
        ),
    ];
    for (spec, field) in cases {
        let (status, body) = app.post("/monitors", spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {body}");
        assert_eq!(body["field"], field, "{spec}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
    }

    let spec = json!({"name": "billing", "match": {"source": "billing", "scope": "/acme/"},
                      "silent_for": "30m"});
    let created = monitor(&app, spec.clone()).await;
    assert_eq!(created["name"], "billing");
    assert_eq!(
        created["match"],
        json!({"source": "billing", "scope": "acme"})
    );
    assert_eq!(created["silent_for"], "30m");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["state"], "active");
    assert_eq!(created["raised_at"], Value::Null);
    for field in ["last_seen_at", "created_at", "updated_at"] {
        assert!(created[field].is_string(), "{field}: {created}");
    }
    let id = created["id"].as_str().unwrap();
    let (status, body) = app.post("/monitors", spec.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "name");

    let (status, got) = app.get(&format!("/monitors/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);
    let (status, updated) = app
        .put(
            &format!("/monitors/{id}"),
            json!({"name": "billing", "match": {"source": "billing"}, "silent_for": "1h30m",
                   "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["silent_for"], "1h30m");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["last_seen_at"], created["last_seen_at"]);

    let other = monitor(&app, json!({"name": "ci", "silent_for": "1h"})).await;
    assert_eq!(other["match"], json!({}), "no match watches every event");
    let (status, body) = app
        .put(
            &format!("/monitors/{}", other["id"].as_str().unwrap()),
            spec,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, all) = app.get("/monitors").await;
    let names: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["name"])
        .collect();
    assert_eq!(names, [&json!("billing"), &json!("ci")]);

    let unknown = Uuid::now_v7();
    let (status, _) = app.get(&format!("/monitors/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &format!("/monitors/{unknown}"),
            json!({"name": "x", "silent_for": "1m"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/monitors/nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "id");
    assert_eq!(
        app.delete(&format!("/monitors/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/monitors/{id}")).await,
        StatusCode::NOT_FOUND
    );
}
