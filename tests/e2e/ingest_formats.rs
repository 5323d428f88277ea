//! Standard ingest formats end to end: CloudEvents in each HTTP mode on `POST
//! /api/v1/events`, and Alertmanager's webhook on `POST
//! /api/v1/ingest/alertmanager`, each routed by a rule and delivered to a
//! webhook, errors naming the attribute, idempotent on a resend; and a real
//! Alertmanager notifying Herald, firing then resolved.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use herald_loadkit::alertmanager::{self, Alertmanager};

use crate::support::app::client_with_token;
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TestApp, eventually, spawn_app};

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

/// A webhook notifier at `sink`'s `/hook` and a rule sending it every event
/// under `scope` of `categories`.
async fn hook_rule(app: &TestApp, sink: &HttpSink, categories: Value, scope: &str) -> Uuid {
    let hook = app.webhook("hook", &sink.url("/hook"), json!({})).await;
    app.rule(json!({"categories": categories, "scope": scope, "notifiers": [hook]}))
        .await;
    hook
}

/// Posts `body` to `path` with `headers`; the status and the answer.
async fn post_with(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = client.post(app.url(&format!("/api/v1{path}"))).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(answer: &Value) -> Vec<String> {
    answer["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("ids in {answer}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The event of each delivery `sink` has at `/hook`, by id, once there are `n`.
async fn delivered_events(sink: &HttpSink, n: usize) -> Vec<Value> {
    sink.wait_delivered("/hook", n, SOON)
        .await
        .iter()
        .map(|r| r.json()["event"].clone())
        .collect()
}

fn find<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("event {id} delivered among {events:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_in_each_mode_are_routed_and_delivered() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    hook_rule(&app, &sink, json!(["job", "deployment"]), "acme").await;

    let structured = json!({
        "specversion": "1.0", "id": "run-1", "source": "/ci/runner-7",
        "type": "com.example.job.failed", "subject": "acme/web/deploy-app",
        "time": "2026-11-20T08:00:00Z", "datacontenttype": "application/json",
        "data": {"duration_s": 900}, "severity": "critical", "title": "Deploy of web failed",
        "env": "prod"
    });
    let (status, answer) = post_with(
        &app.http,
        &app,
        "/events",
        &[("content-type", STRUCTURED)],
        structured.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let structured_id = ids(&answer).remove(0);

    let binary_id = Uuid::now_v7().to_string();
    let (status, answer) = post_with(
        &app.http,
        &app,
        "/events",
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", &binary_id),
            ("ce-source", "https://deploy.example/pipelines/9"),
            ("ce-type", "org.acme.deployment.finished"),
            ("ce-subject", "acme/api"),
            ("ce-time", "2026-11-20T09:00:00Z"),
            ("ce-severity", "warning"),
            ("ce-title", "API deployed at 100%25"),
            ("content-type", "application/json"),
        ],
        br#"{"version": "1.4.2"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        ids(&answer),
        std::slice::from_ref(&binary_id),
        "a UUID id is kept"
    );

    let batch = json!([
        {"specversion": "1.0", "id": "b-1", "source": "/nightly", "type": "job.succeeded",
         "subject": "acme/etl"},
        {"specversion": "1.0", "id": "b-2", "source": "/nightly", "type": "job.aborted",
         "subject": "acme/etl", "datacontenttype": "text/plain", "data_base64": "c3RvcHBlZA=="}
    ]);
    let (status, answer) = post_with(
        &app.http,
        &app,
        "/events",
        &[("content-type", BATCH)],
        batch.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let batch_ids = ids(&answer);
    assert_eq!(batch_ids.len(), 2);

    let events = delivered_events(&sink, 4).await;
    let e = find(&events, &structured_id);
    assert_eq!(e["source"], "/ci/runner-7");
    assert_eq!(
        (&e["category"], &e["kind"]),
        (&json!("job"), &json!("failed"))
    );
    assert_eq!(e["scope"], "acme/web/deploy-app");
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["title"], "Deploy of web failed");
    assert_eq!(e["labels"], json!({"env": "prod"}));
    assert_eq!(e["data"], json!({"duration_s": 900}));
    assert_eq!(e["occurred_at"], "2026-11-20T08:00:00Z");

    let e = find(&events, &binary_id);
    assert_eq!(e["source"], "https://deploy.example/pipelines/9");
    assert_eq!(
        (&e["category"], &e["kind"]),
        (&json!("deployment"), &json!("finished"))
    );
    assert_eq!(e["scope"], "acme/api");
    assert_eq!(e["severity"], "warning");
    assert_eq!(e["title"], "API deployed at 100%");
    assert_eq!(e["data"], json!({"version": "1.4.2"}));

    assert_eq!(find(&events, &batch_ids[0])["kind"], "succeeded");
    let aborted = find(&events, &batch_ids[1]);
    assert_eq!(aborted["kind"], "aborted");
    assert_eq!(aborted["data"], "stopped");

    // Herald's own format on the same route is unchanged.
    let own = app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed", "scope": "acme"}))
        .await;
    let events = delivered_events(&sink, 5).await;
    assert_eq!(find(&events, &own[0].to_string())["source"], "ci");
}

#[tokio::test]
async fn bad_cloudevents_get_a_400_naming_the_attribute() {
    let app = spawn_app().await;
    let good = json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "job.failed"});
    let without = |name: &str| {
        let mut e = good.clone();
        e.as_object_mut().unwrap().remove(name);
        e
    };
    let with = |name: &str, value: Value| {
        let mut e = good.clone();
        e[name] = value;
        e
    };
    let structured = [
        (without("id"), "id"),
        (without("source"), "source"),
        (without("specversion"), "specversion"),
        (with("specversion", json!("0.3")), "specversion"),
        (with("type", json!("com.example.job.exploded")), "type"),
        (with("time", json!("yesterday")), "time"),
        (with("severity", json!("high")), "severity"),
        (with("Env", json!("prod")), "Env"),
        (json!("an event"), "body"),
    ];
    for (event, field) in structured {
        let (status, answer) = post_with(
            &app.http,
            &app,
            "/events",
            &[("content-type", STRUCTURED)],
            event.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event}: {answer}");
        assert_eq!(answer["field"], field, "{event}: {answer}");
    }
    let batch = json!([good, with("type", json!("job.nope"))]);
    let (status, answer) = post_with(
        &app.http,
        &app,
        "/events",
        &[("content-type", BATCH)],
        batch.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "[1].type", "{answer}");

    /// Headers, body, the field named.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], &'a str);
    let binary: [Case; 4] = [
        (
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-type", "job.failed"),
            ],
            b"",
            "ce-source",
        ),
        (
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "job.failed"),
                ("content-type", "application/json"),
            ],
            b"{not json",
            "body",
        ),
        (
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "job.failed"),
                ("ce-subject", "a//b"),
            ],
            b"",
            "ce-subject",
        ),
        (
            &[("content-type", "application/cloudevents+xml")],
            b"<event/>",
            "content-type",
        ),
    ];
    for (headers, body, field) in binary {
        let (status, answer) = post_with(&app.http, &app, "/events", headers, body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}: {answer}");
        assert_eq!(answer["field"], field, "{headers:?}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with(field), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudevent_published_twice_is_one_event_and_one_delivery() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = hook_rule(&app, &sink, json!(["job"]), "").await;
    let event = json!({"specversion": "1.0", "id": "deploy-77", "source": "/ci",
                       "type": "job.failed", "severity": "critical"});
    let mut answers = Vec::new();
    for mode in [STRUCTURED, "binary"] {
        let (status, answer) = match mode {
            "binary" => {
                let headers = [
                    ("ce-specversion", "1.0"),
                    ("ce-id", "deploy-77"),
                    ("ce-source", "/ci"),
                    ("ce-type", "job.failed"),
                    ("ce-severity", "critical"),
                ];
                post_with(&app.http, &app, "/events", &headers, Vec::new()).await
            }
            _ => {
                let headers = [("content-type", STRUCTURED)];
                let body = event.to_string().into_bytes();
                post_with(&app.http, &app, "/events", &headers, body).await
            }
        };
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answers.push(ids(&answer).remove(0));
    }
    assert_eq!(
        answers[0], answers[1],
        "the same source and id: the same event"
    );
    let id: Uuid = answers[0].parse().unwrap();

    // A marker behind the copies in the same lane: once it is delivered,
    // both copies were routed.
    let marker = app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed",
                        "severity": "critical", "title": "marker"}))
        .await[0];
    app.wait_notification(marker, hook, "sent", SOON).await;
    app.wait_notification(id, hook, "sent", SOON).await;
    let copies = sink
        .delivered("/hook")
        .into_iter()
        .filter(|r| r.json()["event"]["id"] == id.to_string())
        .count();
    assert_eq!(copies, 1, "one delivery for the event");
    assert_eq!(app.notifications(&format!("event_id={id}")).await.len(), 1);
}

/// An Alertmanager webhook body (version 4) with one alert.
fn alertmanager_payload(status: &str, starts_at: &str, ends_at: &str) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "herald",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-01"},
            "annotations": {"summary": "Disk full on db-01", "description": "/var is 99% full"},
            "startsAt": starts_at, "endsAt": ends_at,
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk",
            "fingerprint": "5ca1ab1e00c0ffee"
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_notifications_are_events_and_the_resolve_closes_the_problem() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/hook"), json!({})).await;
    app.rule(json!({"severities": ["critical"], "notifiers": [hook]}))
        .await;
    let publisher = client_with_token(&token(&app, "alertmanager", "publisher").await);
    let post = |body: Value, query: &'static str| {
        let publisher = publisher.clone();
        let app = &app;
        async move {
            let path = format!("/ingest/alertmanager{query}");
            post_with(&publisher, app, &path, &[], body.to_string().into_bytes()).await
        }
    };

    let firing = alertmanager_payload("firing", "2026-11-21T09:00:00Z", "0001-01-01T00:00:00Z");
    let (status, answer) = post(firing.clone(), "?scope=acme/infra").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let fired = ids(&answer).remove(0);
    // Alertmanager sends a group again (a retry, a repeat): the same event.
    let (status, again) = post(firing, "?scope=acme/infra").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(ids(&again), std::slice::from_ref(&fired));

    let events = delivered_events(&sink, 1).await;
    let e = find(&events, &fired);
    assert_eq!(e["source"], "alertmanager");
    assert_eq!(
        (&e["category"], &e["kind"]),
        (&json!("system"), &json!("DiskFull"))
    );
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["scope"], "acme/infra");
    assert_eq!(e["title"], "Disk full on db-01");
    assert_eq!(e["message"], "/var is 99% full");
    assert_eq!(e["labels"]["instance"], "db-01");
    assert_eq!(e["dedup_key"], "alertmanager:5ca1ab1e00c0ffee");
    assert_eq!(e["resolved"], false);
    assert_eq!(e["data"]["annotations"]["summary"], "Disk full on db-01");
    let (_, problems) = app.get("/problems").await;
    assert!(
        problems
            .to_string()
            .contains("alertmanager:5ca1ab1e00c0ffee"),
        "the firing alert opened a problem: {problems}"
    );

    let resolved = alertmanager_payload("resolved", "2026-11-21T09:00:00Z", "2026-11-21T09:30:00Z");
    let (status, answer) = post(resolved, "?scope=acme/infra").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let resolve = ids(&answer).remove(0);
    assert_ne!(resolve, fired);
    let events = delivered_events(&sink, 2).await;
    let e = find(&events, &resolve);
    assert_eq!(e["resolved"], true);
    assert_eq!(e["occurred_at"], "2026-11-21T09:30:00Z");
    eventually("the resolve to close the problem", SOON, || async {
        let (_, problems) = app.get("/problems").await;
        match problems.to_string().contains("5ca1ab1e00c0ffee") {
            false => Ok(()),
            true => Err(problems.to_string()),
        }
    })
    .await;
    assert_eq!(
        sink.delivered("/hook").len(),
        2,
        "the resend was not delivered again"
    );

    let bad = alertmanager_payload("firing", "soon", "0001-01-01T00:00:00Z");
    let (status, answer) = post(bad, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "alerts[0].startsAt", "{answer}");
    let mut old = alertmanager_payload("firing", "2026-11-21T09:00:00Z", "0001-01-01T00:00:00Z");
    old["version"] = json!("3");
    let (status, answer) = post(old, "").await;
    assert_eq!(answer["field"], "version", "{status}: {answer}");
    let firing = alertmanager_payload("firing", "2026-11-21T09:00:00Z", "0001-01-01T00:00:00Z");
    let (status, answer) = post(firing, "?category=alerts").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "category", "{answer}");
}

/// Makes a token with `role` through the API and returns it.
async fn token(app: &TestApp, name: &str, role: &str) -> String {
    let (status, body) = app
        .post("/tokens", json!({"name": name, "role": role}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Alertmanager's configuration: every alert to Herald's receiver with a
/// bearer token, at once, resolves included.
fn alertmanager_config(receiver: &str, token: &str) -> String {
    format!(
        "route:
  receiver: herald
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: herald
    webhook_configs:
      - url: '{receiver}'
        send_resolved: true
        http_config:
          authorization:
            credentials: '{token}'
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_notifies_herald_of_an_alert_and_of_its_resolve() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/hook"), json!({})).await;
    app.rule(json!({"severities": ["critical"], "scope": "acme", "notifiers": [hook]}))
        .await;
    let token = token(&app, "alertmanager", "publisher").await;
    let receiver = app.url("/api/v1/ingest/alertmanager?scope=acme/infra&source=am-test");
    let binary = alertmanager::binary(None)
        .expect("the Alertmanager binary (ops/services.sh --alertmanager installs it)");
    let am = Alertmanager::start(&binary, &alertmanager_config(&receiver, &token))
        .await
        .expect("Alertmanager starts");

    let started = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let alert = |ends: Option<OffsetDateTime>| {
        let mut alert = json!({
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-01"},
            "annotations": {"summary": "Disk full on db-01", "description": "/var is 99% full"},
            "startsAt": started.format(&Rfc3339).unwrap(),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk"
        });
        if let Some(ends) = ends {
            alert["endsAt"] = json!(ends.format(&Rfc3339).unwrap());
        }
        json!([alert])
    };
    let http = reqwest::Client::new();
    let post_alert = |body: Value| {
        let request = http
            .post(am.alerts_url())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        async move {
            let response = request.send().await.expect("Alertmanager answers");
            assert!(response.status().is_success(), "{response:?}");
        }
    };

    post_alert(alert(None)).await;
    let first = eventually("the firing alert delivered", SOON, || async {
        match sink.delivered("/hook").first() {
            Some(r) => Ok(r.json()["event"].clone()),
            None => Err(format!("nothing yet; Alertmanager's log: {}", am.log())),
        }
    })
    .await;
    assert_eq!(first["source"], "am-test");
    assert_eq!(first["kind"], "DiskFull");
    assert_eq!(first["scope"], "acme/infra");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["title"], "Disk full on db-01");
    assert_eq!(first["resolved"], false);
    assert_eq!(first["labels"]["instance"], "db-01");
    assert_eq!(
        first["url"],
        "http://prometheus.example:9090/graph?g0.expr=disk"
    );
    let dedup_key = first["dedup_key"].as_str().unwrap().to_owned();
    assert!(dedup_key.starts_with("alertmanager:"), "{dedup_key}");

    post_alert(alert(Some(OffsetDateTime::now_utc()))).await;
    let last = eventually("the resolve delivered", SOON, || async {
        let events: Vec<Value> = sink
            .delivered("/hook")
            .iter()
            .map(|r| r.json()["event"].clone())
            .collect();
        match events.iter().find(|e| e["resolved"] == true) {
            Some(e) => Ok(e.clone()),
            None => Err(format!("{events:?}; Alertmanager's log: {}", am.log())),
        }
    })
    .await;
    assert_eq!(last["dedup_key"], dedup_key.as_str());
    assert_eq!(last["kind"], "DiskFull");
    assert_ne!(last["id"], first["id"]);
    let (_, problems) = app.get("/problems").await;
    assert!(
        !problems.to_string().contains(&dedup_key),
        "the resolve closed the problem: {problems}"
    );
    let (_, audit) = app.get("/audit?actor=alertmanager").await;
    assert_eq!(audit["items"], json!([]), "publishing is not a change");
    am.stop().await;
}
