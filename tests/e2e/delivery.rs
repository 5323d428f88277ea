//! An event goes in, a webhook and an email come out.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, SmtpSink, TestApp, amqp, spawn_app};

struct Setup {
    app: TestApp,
    sink: HttpSink,
    smtp: SmtpSink,
    hook: Uuid,
    mail: Uuid,
}

async fn webhook_and_email() -> Setup {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let hook = app
        .webhook(
            "ops-hook",
            &sink.url("/hooks/ops"),
            json!({"headers": {"X-Team": "platform"}}),
        )
        .await;
    let mail = app
        .email(
            "ops-mail",
            &smtp,
            json!({
                "to": ["ops@example.com", "oncall@example.com"],
                "cc": ["lead@example.com"],
                "subject_prefix": "[Herald]",
            }),
        )
        .await;
    app.rule(json!({
        "categories": ["job"], "severities": ["critical"], "scope": "acme",
        "notifiers": [hook, mail],
    }))
    .await;
    Setup {
        app,
        sink,
        smtp,
        hook,
        mail,
    }
}

fn deploy_failed() -> Value {
    json!({
        "source": "ci", "category": "job", "kind": "failed", "severity": "critical",
        "scope": "acme/web/deploy-app", "title": "Deploy of web failed",
        "message": "Step 3 of 5 exited with code 2.", "labels": {"env": "prod"},
        "data": {"exit_code": 2}, "url": "https://ci.example.com/runs/42",
    })
}

/// What both paths must produce: the webhook payload and headers, and the mail.
async fn assert_delivered(s: &Setup, event_id: Uuid) {
    let hook_n = s
        .app
        .wait_notification(event_id, s.hook, "sent", SOON)
        .await;
    let mail_n = s
        .app
        .wait_notification(event_id, s.mail, "sent", SOON)
        .await;
    assert_eq!(hook_n["attempts"], 1);
    assert_eq!(mail_n["attempts"], 1);

    let requests = s.sink.wait_delivered("/hooks/ops", 1, SOON).await;
    assert_eq!(requests.len(), 1, "exactly one webhook request");
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("idempotency-key"), hook_n["id"].as_str());
    assert_eq!(r.header("x-team"), Some("platform"));
    let body = r.json();
    assert_eq!(body["notification_id"], hook_n["id"]);
    assert_eq!(body["notifier"], "ops-hook");
    let event = &body["event"];
    assert_eq!(event["id"], event_id.to_string());
    assert_eq!(event["category"], "job");
    assert_eq!(event["kind"], "failed");
    assert_eq!(event["severity"], "critical");
    assert_eq!(event["scope"], "acme/web/deploy-app");
    assert_eq!(event["labels"], json!({"env": "prod"}));
    assert_eq!(event["data"], json!({"exit_code": 2}));

    let mails = s.smtp.wait_for(1, SOON).await;
    assert_eq!(mails.len(), 1, "exactly one mail");
    let m = &mails[0];
    assert_eq!(m.subject, "[Herald] [CRITICAL] Deploy of web failed");
    assert_eq!(m.mail_from, "herald@example.com");
    let mut rcpt = m.rcpt_tos.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        ["lead@example.com", "oncall@example.com", "ops@example.com"]
    );
    assert!(
        m.to.contains("ops@example.com") && m.to.contains("oncall@example.com"),
        "{}",
        m.to
    );
    assert_eq!(m.cc, "lead@example.com");
    assert_eq!(m.content_type, "text/plain");
    assert!(
        m.message_id.contains(mail_n["id"].as_str().unwrap()),
        "{}",
        m.message_id
    );
    for line in [
        "Deploy of web failed",
        "Step 3 of 5 exited with code 2.",
        "Scope:    acme/web/deploy-app",
        "Source:   ci",
        "Labels:   env=prod",
        "Link:     https://ci.example.com/runs/42",
        "\"exit_code\": 2",
        "notifier \"ops-mail\"",
    ] {
        assert!(
            m.body.contains(line),
            "mail body lacks {line:?}:\n{}",
            m.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_over_http_reaches_a_webhook_and_an_email() {
    let s = webhook_and_email().await;
    let ids = s.app.publish(deploy_failed()).await;
    assert_delivered(&s, ids[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_with_a_plain_amqp_client_reaches_a_webhook_and_an_email() {
    let s = webhook_and_email().await;
    let id = Uuid::now_v7();
    let mut event = deploy_failed();
    event["id"] = json!(id);
    let (_conn, ch) = amqp::channel().await;
    let exchange = format!("{}.events", s.app.prefix());
    amqp::publish(&ch, &exchange, "job.critical", event.to_string().as_bytes()).await;
    assert_delivered(&s, id).await;
}

#[tokio::test]
async fn a_webhook_can_use_put() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app
        .webhook("put-hook", &sink.url("/put"), json!({"method": "PUT"}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    app.publish(json!({"source": "ci", "category": "system"}))
        .await;
    let got = sink.wait_delivered("/put", 1, SOON).await;
    assert_eq!(got[0].method, "PUT");
}

#[tokio::test]
async fn an_array_of_events_is_accepted_and_each_is_delivered() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/many"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"source": "ci", "category": "deployment", "title": format!("deploy {i}")}))
        .collect();
    let ids = app.publish(Value::Array(events)).await;
    assert_eq!(ids.len(), 5);
    let got = sink.wait_delivered("/many", 5, SOON).await;
    let mut seen: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut want: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn the_same_event_id_published_twice_yields_one_notification_per_notifier() {
    let s = webhook_and_email().await;
    let id = Uuid::now_v7();
    let mut event = deploy_failed();
    event["id"] = json!(id);
    assert_eq!(s.app.publish(event.clone()).await, [id]);
    assert_eq!(s.app.publish(event.clone()).await, [id]);
    let (_conn, ch) = amqp::channel().await;
    amqp::publish(
        &ch,
        &format!("{}.events", s.app.prefix()),
        "job.critical",
        event.to_string().as_bytes(),
    )
    .await;

    // A marker behind the copies: once it is delivered, every copy was routed.
    let marker = s
        .app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed",
        "severity": "critical", "scope": "acme", "title": "marker"}))
        .await[0];
    s.app.wait_notification(marker, s.hook, "sent", SOON).await;
    s.app.wait_notification(marker, s.mail, "sent", SOON).await;
    s.app.wait_notification(id, s.mail, "sent", SOON).await;

    let copies: Vec<_> = s
        .sink
        .delivered("/hooks/ops")
        .into_iter()
        .filter(|r| r.json()["event"]["id"] == id.to_string())
        .collect();
    assert_eq!(copies.len(), 1, "one webhook delivery for the event");
    let mails = s.smtp.mails();
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.subject.contains("Deploy of web failed"))
            .count(),
        1
    );
    assert_eq!(
        s.app.notifications(&format!("event_id={id}")).await.len(),
        2
    );
}

#[tokio::test]
async fn notifications_can_be_listed_filtered_paged_and_inspected() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/p"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events: Vec<Value> = (0..3)
        .map(|_| json!({"source": "ci", "category": "system"}))
        .collect();
    let ids = app.publish(Value::Array(events)).await;
    sink.wait_delivered("/p", 3, SOON).await;
    for id in &ids {
        app.wait_notification(*id, hook, "sent", SOON).await;
    }

    let (status, first) = app.get("/notifications?limit=2&status=sent").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let (_, second) = app
        .get(&format!(
            "/notifications?limit=2&status=sent&cursor={cursor}"
        ))
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    assert!(app.notifications("status=failed").await.is_empty());

    let one = &first["items"][0];
    let (status, detail) = app
        .get(&format!("/notifications/{}", one["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["event"]["id"], one["event_id"]);
    assert_eq!(detail["status"], "sent");
    assert!(detail["sent_at"].is_string());

    let (status, body) = app.get("/notifications?status=done").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "status");
    let (status, body) = app.get("/notifications?stauts=sent").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "stauts");
    let (status, _) = app.get(&format!("/notifications/{}", Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
