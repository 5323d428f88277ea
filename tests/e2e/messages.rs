//! Messages people shape and the answers to "why did (or didn't) this
//! notify?": templates that reach the real SMTP server and the HTTP sink,
//! conditions, render errors, preview, explain, dry-run, event listing, and a
//! notification's progress while it is retrying.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, SmtpSink, TestApp, eventually, spawn_app};

/// Waits until `event` is recorded (routed), and answers its explain.
async fn explain(app: &TestApp, event: Uuid) -> Value {
    eventually("the event to be routed", SOON, || async {
        match app.get(&format!("/events/{event}/explain")).await {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await
}

/// The explain reason of the rule named `name`.
fn reason<'a>(explained: &'a Value, name: &str) -> &'a str {
    explained["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {explained}"))["reason"]
        .as_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_selects_only_matching_events_and_a_failing_one_sends_anyway() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let long = app
        .webhook("long-prod", &sink.url("/long"), json!({}))
        .await;
    let control = app
        .webhook("control", &sink.url("/control"), json!({}))
        .await;
    app.rule(json!({"name": "long prod jobs", "notifiers": [long],
        "condition": "event.labels.env == \"prod\" and event.data.duration_s > 600"}))
        .await;
    app.rule(json!({"name": "everything", "notifiers": [control]}))
        .await;
    let events = [
        (json!({"env": "prod"}), 900, true),
        (json!({"env": "prod"}), 100, false),
        (json!({"env": "staging"}), 900, false),
        (json!({}), 900, true),
    ];
    let errors_before = app.metric("herald_condition_errors_total").await;
    let mut ids = Vec::new();
    for (labels, duration, _) in &events {
        let id = app
            .publish(
                json!({"source": "ci", "category": "job", "kind": "succeeded",
                "labels": labels, "data": {"duration_s": duration}}),
            )
            .await[0];
        ids.push(id);
    }
    for id in &ids {
        app.wait_notification(*id, control, "sent", SOON).await;
    }
    for (id, (labels, duration, selected)) in ids.iter().zip(&events) {
        let got = app
            .notifications(&format!("event_id={id}&notifier_id={long}"))
            .await;
        assert_eq!(!got.is_empty(), *selected, "{labels} {duration}");
        let why = explain(&app, *id).await;
        let expected = match (selected, labels.get("env")) {
            (true, Some(_)) => "matched",
            (true, None) => {
                "condition error: undefined value: `event.labels.env` is undefined (line 1) (sent anyway)"
            }
            (false, _) => "condition false",
        };
        assert_eq!(reason(&why, "long prod jobs"), expected, "{why}");
        assert_eq!(reason(&why, "everything"), "matched");
    }
    // The condition that failed is on the notification and counted.
    let noted = app.wait_notification(ids[3], long, "sent", SOON).await;
    assert_eq!(
        noted["notes"],
        json!([
            "rule \"long prod jobs\": condition error: undefined value: `event.labels.env` is undefined (line 1) (sent anyway)"
        ])
    );
    assert_eq!(
        app.metric("herald_condition_errors_total").await,
        errors_before + 1.0
    );
}

/// Part by part: the oldest selecting rule that defines it, then the
/// notifier, then the kind's default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_shape_the_email_and_the_webhook_body_and_the_oldest_rule_wins() {
    let app = spawn_app_with_url().await;
    let smtp = SmtpSink::start().await;
    let sink = HttpSink::start().await;
    let mail = app
        .email("ops-mail", &smtp, json!({"subject_prefix": "[herald]", "templates": {
            "subject": "{{ event.kind | upper }}: {{ event.title }}",
            "body": "{{ event.title }} ({{ event.source }})\nSee {{ herald.url }}/events/{{ event.id }}\n",
        }}))
        .await;
    let hook = app
        .webhook("chat", &sink.url("/chat"), json!({
            "content_type": "text/plain; charset=utf-8",
            "templates": {"body": "{{ notifier.name }}: {{ event.title | truncate(9, leeway=0) }}"},
        }))
        .await;
    app.rule(json!({"name": "failed jobs", "kinds": ["failed"], "notifiers": [mail, hook],
        "templates": {"body": "FAILED {{ event.labels.job }} (rule {{ rule.name }}, attempt {{ notification.attempt }})"}}))
        .await;
    app.rule(
        json!({"name": "all jobs", "categories": ["job"], "notifiers": [mail, hook],
        "templates": {"subject": "Job: {{ event.title }}", "body": "JOB {{ event.title }}"}}),
    )
    .await;
    app.rule(json!({"name": "system", "categories": ["system"], "notifiers": [mail, hook]}))
        .await;
    let published = [
        json!({"source": "ci", "category": "job", "kind": "failed", "title": "Nightly build broke",
            "labels": {"job": "nightly"}}),
        json!({"source": "ci", "category": "job", "kind": "succeeded", "title": "Nightly build ok"}),
        json!({"source": "ops", "category": "system", "kind": "changed", "title": "Disk replaced"}),
    ];
    let mut ids = Vec::new();
    for event in published {
        let id = app.publish(event).await[0];
        app.wait_notification(id, mail, "sent", SOON).await;
        app.wait_notification(id, hook, "sent", SOON).await;
        ids.push(id);
    }
    let mails = smtp.wait_for(3, SOON).await;
    let mut got: Vec<(String, String)> = mails
        .iter()
        .map(|m| (m.subject.clone(), m.body.trim_end().replace("\r\n", "\n")))
        .collect();
    got.sort();
    let mut want = vec![
        (
            "[herald] Job: Nightly build broke".to_owned(),
            "FAILED nightly (rule failed jobs, attempt 1)".to_owned(),
        ),
        (
            "[herald] Job: Nightly build ok".to_owned(),
            "JOB Nightly build ok".to_owned(),
        ),
        (
            "[herald] CHANGED: Disk replaced".to_owned(),
            format!(
                "Disk replaced (ops)\nSee https://herald.example/events/{}",
                ids[2]
            ),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let mut bodies: Vec<String> = sink
        .wait_delivered("/chat", 3, SOON)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            String::from_utf8(r.body.clone()).unwrap()
        })
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            "FAILED nightly (rule failed jobs, attempt 1)",
            "JOB Nightly build ok",
            "chat: Disk...",
        ]
    );
}

async fn spawn_app_with_url() -> TestApp {
    crate::support::spawn_app_with(&[("HERALD_PUBLIC_URL", "https://herald.example/")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_fails_to_render_fails_the_delivery_for_good_with_its_error() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app
        .webhook("strict", &sink.url("/strict"), json!({"templates": {
            "body": "{\"text\": \"{{ event.title }}\",\n \"team\": \"{{ event.labels.team }}\"}",
        }}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let before = app
        .metric("herald_render_errors_total{channel=\"webhook\"}")
        .await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "title": "no team label"}))
        .await[0];
    let failed = app.wait_notification(event, hook, "failed", SOON).await;
    let error = "template body: undefined value: `event.labels.team` is undefined (line 2)";
    assert_eq!(failed["last_error"], error);
    let failures = app.failures(&format!("notifier_id={hook}")).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["error"], error);
    assert_eq!(
        app.metric("herald_render_errors_total{channel=\"webhook\"}")
            .await,
        before + 1.0
    );
    assert!(
        sink.requests().is_empty(),
        "nothing, not an empty message, was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_or_condition_that_does_not_compile_is_refused_on_save() {
    let app = spawn_app().await;
    let hook = app.webhook("h", "http://127.0.0.1:9/h", json!({})).await;
    let cases = [
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "templates": {"subject": "{{ event.title"}}),
            "templates.subject",
        ),
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "templates": {"colour": "x"}}),
            "templates.colour",
        ),
        (
            "/rules",
            json!({"name": "r", "notifiers": [hook], "condition": "event.labels.env =="}),
            "condition",
        ),
        (
            "/notifiers",
            json!({"name": "n", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/",
                "templates": {"body": "{% for x in y %}"}}}),
            "config.templates.body",
        ),
        (
            "/notifiers",
            json!({"name": "n", "kind": "email", "config": {"host": "h", "from": "a@b.c",
                "to": ["d@e.f"], "templates": {"title": "x"}}}),
            "config.templates.title",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = app.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{answer}"
        );
    }
    let (_, answer) = app
        .post(
            "/rules",
            json!({"name": "r", "notifiers": [hook], "templates": {"subject": "{{ event.title"}}),
        )
        .await;
    assert_eq!(
        answer["error"],
        "templates.subject: syntax error: unexpected end of input, expected end of variable block (line 1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_renders_the_parts_without_sending_and_names_a_failing_line() {
    let app = spawn_app().await;
    let smtp = SmtpSink::start().await;
    let mail = app
        .email(
            "preview",
            &smtp,
            json!({"templates": {"subject": "{{ event.title }} on {{ event.labels.env }}"}}),
        )
        .await;
    let rule = app
        .rule(
            json!({"name": "worded", "notifiers": [mail], "categories": ["deployment"],
            "templates": {"body": "Deployed by {{ rule.name }}"}}),
        )
        .await;
    let event = json!({"source": "deploy", "category": "deployment", "title": "web v2",
        "labels": {"env": "prod"}});
    let (status, body) = app
        .post(
            &format!("/notifiers/{mail}/preview"),
            json!({"event": event}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parts"]["subject"], "web v2 on prod");
    assert!(
        body["parts"]["body"]
            .as_str()
            .unwrap()
            .starts_with("web v2\n")
    );
    assert_eq!(body["parts"]["html_body"], "");
    let (_, body) = app
        .post(
            &format!("/notifiers/{mail}/preview"),
            json!({"event": event, "rule_id": rule}),
        )
        .await;
    assert_eq!(body["parts"]["body"], "Deployed by worded");
    // A recorded event, by id.
    let id = app.publish(event.clone()).await[0];
    app.wait_notification(id, mail, "sent", SOON).await;
    let (status, body) = app
        .post(
            &format!("/notifiers/{mail}/preview"),
            json!({"event_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parts"]["subject"], "web v2 on prod");
    // A template that cannot render: 422 with the part and the line.
    let (status, body) = app
        .post(
            &format!("/notifiers/{mail}/preview"),
            json!({"event": {"source": "deploy", "category": "deployment", "title": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["part"], "subject");
    assert_eq!(body["line"], 1);
    assert_eq!(
        body["error"],
        "template subject: undefined value: `event.labels.env` is undefined (line 1)"
    );
    let (status, body) = app
        .post(&format!("/notifiers/{mail}/preview"), json!({}))
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("event"))
    );
    let (status, body) = app
        .post(
            &format!("/notifiers/{mail}/preview"),
            json!({"event": {"source": "x", "category": "nope"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "event.category");
    assert!(smtp.mails().len() == 1, "previews send nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_why_each_rule_did_or_did_not_select_an_event() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("h", &sink.url("/h"), json!({})).await;
    for (name, spec) in [
        ("deployments", json!({"categories": ["deployment"]})),
        ("acme", json!({"scope": "acme"})),
        ("staging", json!({"labels": {"env": "staging"}})),
        ("critical", json!({"severities": ["critical", "warning"]})),
        ("off", json!({"enabled": false})),
        ("jobs", json!({"categories": ["job"], "kinds": ["failed"]})),
    ] {
        let mut spec = spec;
        spec["name"] = json!(name);
        spec["notifiers"] = json!([hook]);
        app.rule(spec).await;
    }
    let event = app
        .publish(
            json!({"source": "ci", "category": "job", "kind": "failed", "severity": "info",
            "scope": "acme-old/web", "labels": {"env": "prod"}}),
        )
        .await[0];
    app.wait_notification(event, hook, "sent", SOON).await;
    let why = explain(&app, event).await;
    let cases = [
        ("deployments", "category job not in [deployment]"),
        ("acme", "scope acme-old/web not under acme"),
        ("staging", "label env: prod != staging"),
        ("critical", "severity info not in [critical, warning]"),
        ("off", "disabled"),
        ("jobs", "matched"),
    ];
    for (name, expected) in cases {
        assert_eq!(reason(&why, name), expected, "{why}");
    }
    assert_eq!(why["matched"], true);
    assert_eq!(why["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(
        why["summary"],
        "1 of 6 rules selected the event; 1 notifications"
    );

    // Rules changed later do not change the answer for an event routed before.
    let (status, _) = app.get("/rules").await;
    assert_eq!(status, StatusCode::OK);
    let unmatched = app
        .publish(json!({"source": "cron", "category": "system", "scope": "other"}))
        .await[0];
    let why = eventually("the unmatched event to be recorded", SOON, || async {
        let (status, body) = app.get(&format!("/events/{unmatched}/explain")).await;
        match status {
            StatusCode::OK => Ok(body),
            s => Err(format!("{s}")),
        }
    })
    .await;
    assert_eq!(why["summary"], "no rule matched");
    assert_eq!(why["matched"], false);
    assert!(why["notifications"].as_array().unwrap().is_empty());
    let (status, _) = app
        .get(&format!("/events/{}/explain", Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_answers_with_the_rules_as_they_were_when_the_event_was_routed() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("h", &sink.url("/h"), json!({})).await;
    let rule = app
        .rule(json!({"name": "prod only", "labels": {"env": "prod"}, "notifiers": [hook]}))
        .await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "labels": {"env": "prod"}}))
        .await[0];
    app.wait_notification(event, hook, "sent", SOON).await;
    let (status, body) = app
        .put(
            &format!("/rules/{rule}"),
            json!({"name": "prod only", "labels": {"env": "staging"}, "notifiers": [hook]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(reason(&explain(&app, event).await, "prod only"), "matched");
    assert_eq!(
        app.delete(&format!("/rules/{rule}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(reason(&explain(&app, event).await, "prod only"), "matched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_tries_an_unsaved_rule_on_given_and_recent_events() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app
        .webhook(
            "h",
            &sink.url("/h"),
            json!({"templates": {"body": "{{ event.title }}!"}}),
        )
        .await;
    let rule = json!({"name": "slow prod", "notifiers": [hook], "categories": ["job"],
        "condition": "event.data.duration_s > 600"});
    let mut body = rule.clone();
    body["events"] = json!([
        {"source": "ci", "category": "job", "kind": "succeeded", "title": "slow", "data": {"duration_s": 900}},
        {"source": "ci", "category": "job", "kind": "succeeded", "title": "fast", "data": {"duration_s": 10}},
        {"source": "ci", "category": "system", "title": "other"},
        {"source": "ci", "category": "job", "kind": "succeeded", "title": "no data"},
    ]);
    let (status, answer) = app.post("/rules/dry-run", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["total"].clone(), answer["selected"].clone()),
        (json!(4), json!(2))
    );
    let results = answer["results"].as_array().unwrap();
    let reasons: Vec<&str> = results
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "matched",
            "condition false",
            "category system not in [job]",
            "condition error: undefined value: `event.data.duration_s` is undefined (line 1) (sent anyway)",
        ]
    );
    assert_eq!(results[0]["previews"][0]["parts"]["body"], "slow!");
    assert_eq!(results[0]["previews"][0]["notifier"], "h");
    assert!(results[1].get("previews").is_none());
    assert!(
        app.get("/rules").await.1["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "not saved"
    );

    // Recently routed events, under `rule`.
    let control = app.webhook("control", &sink.url("/c"), json!({})).await;
    app.rule(json!({"notifiers": [control]})).await;
    let slow = app
        .publish(json!({"source": "ci", "category": "job", "kind": "succeeded", "title": "routed slow", "data": {"duration_s": 700}}))
        .await[0];
    app.wait_notification(slow, control, "sent", SOON).await;
    let (status, answer) = app
        .post(
            "/rules/dry-run",
            json!({"rule": rule, "since": "1h", "limit": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["total"], 1);
    assert_eq!(answer["results"][0]["event_id"], json!(slow));
    assert_eq!(
        answer["results"][0]["previews"][0]["parts"]["body"],
        "routed slow!"
    );

    for (body, field) in [
        (
            json!({"rule": {"notifiers": [hook], "condition": "x =="}}),
            "rule.condition",
        ),
        (
            json!({"notifiers": [hook], "events": [{"source": "ci", "category": "x"}]}),
            "events[0].category",
        ),
        (json!({"notifiers": [hook], "since": "yesterday"}), "since"),
        (json!({"notifiers": [hook], "limit": 0}), "limit"),
        (
            json!({"rule": {"notifiers": [hook]}, "colour": 1}),
            "colour",
        ),
    ] {
        let (status, answer) = app.post("/rules/dry-run", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_events_are_listed_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("h", &sink.url("/h"), json!({})).await;
    app.rule(json!({"categories": ["job"], "notifiers": [hook]}))
        .await;
    let mut ids = Vec::new();
    for (i, (category, scope)) in [
        ("job", "acme/web"),
        ("system", "acme"),
        ("job", "acme_x"),
        ("system", "other/acme"),
    ]
    .iter()
    .enumerate()
    {
        let kind = if *category == "job" {
            "failed"
        } else {
            "changed"
        };
        let id = app
            .publish(json!({"source": format!("s{i}"), "category": category, "kind": kind, "scope": scope}))
            .await[0];
        // One at a time, so that "newest first" has an order to check.
        explain(&app, id).await;
        ids.push(id);
    }
    let list = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/events?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let ids_of = |body: &Value| -> Vec<Uuid> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let all = list("").await;
    assert_eq!(ids_of(&all), [ids[3], ids[2], ids[1], ids[0]]);
    assert_eq!(all["items"][0]["matched"], false);
    assert_eq!(all["items"][1]["matched"], true);
    assert_eq!(ids_of(&list("matched=true").await), [ids[2], ids[0]]);
    assert_eq!(ids_of(&list("matched=false").await), [ids[3], ids[1]]);
    assert_eq!(ids_of(&list("scope=acme").await), [ids[1], ids[0]]);
    assert_eq!(ids_of(&list("category=system&source=s1").await), [ids[1]]);
    assert_eq!(ids_of(&list("since=1h&severity=info").await).len(), 4);
    let first = list("limit=3").await;
    assert_eq!(ids_of(&first), [ids[3], ids[2], ids[1]]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = app.get(&format!("/events?limit=3&cursor={cursor}")).await;
    assert_eq!(ids_of(&rest), [ids[0]]);
    assert!(rest["next_cursor"].is_null());
    let (status, one) = app.get(&format!("/events/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["source"], "s0");
    for (query, field) in [
        ("category=jobs", "category"),
        ("matched=yes", "matched"),
        ("since=soon", "since"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = app.get(&format!("/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_notification_shows_its_attempts_error_and_next_attempt() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(503));
    let hook = app
        .webhook(
            "down",
            &sink.url("/down"),
            json!({"max_elapsed": "1h", "max_attempts": 100}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let n = eventually("two attempts recorded", SOON, || async {
        let found = app.notifications(&format!("event_id={event}")).await;
        match found.first() {
            Some(n) if n["attempts"].as_i64() >= Some(2) && n["next_attempt_at"].is_string() => {
                Ok(n.clone())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(n["status"], "pending");
    assert!(n["last_error"].as_str().unwrap().contains("503"), "{n}");
}

#[tokio::test]
async fn the_channels_list_each_kind_with_its_schema_secrets_and_default_templates() {
    let app = spawn_app().await;
    let (status, body) = app.get("/channels").await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&Value> = body["items"].as_array().unwrap().iter().collect();
    let kind = |k: &str| *kinds.iter().find(|c| c["kind"] == k).unwrap();
    let email = kind("email");
    assert_eq!(
        email["templates"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["body", "html_body", "subject", "trace"]
    );
    assert!(
        email["templates"]["subject"]
            .as_str()
            .unwrap()
            .contains("event.title")
    );
    assert_eq!(email["secret_fields"], json!(["password", "client_secret"]));
    assert!(email["config_schema"]["properties"]["host"].is_object());
    let webhook = kind("webhook");
    assert_eq!(
        webhook["secret_fields"],
        json!(["url", "headers.*", "signing_secret"])
    );
    assert!(webhook["config_schema"]["properties"]["templates"]["properties"]["body"].is_object());
    assert!(
        webhook["templates"]["body"]
            .as_str()
            .unwrap()
            .contains("tojson")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_failure_is_rendered_with_the_templates_of_the_rule_that_selected_it() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(404));
    let hook = app.webhook("h", &sink.url("/h"), json!({})).await;
    app.rule(json!({"name": "worded", "notifiers": [hook],
        "templates": {"body": "{{ rule.name }}: {{ event.title }} (attempt {{ notification.attempt }})"}}))
        .await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "title": "disk full"}))
        .await[0];
    app.wait_notification(event, hook, "failed", SOON).await;
    sink.set(Behaviour::Ok);
    let failure = &app.failures(&format!("notifier_id={hook}")).await[0];
    let (status, body) = app
        .post(
            &format!("/failures/{}/replay", failure["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_notification(event, hook, "sent", SOON).await;
    let delivered = sink.wait_delivered("/h", 1, SOON).await;
    assert_eq!(
        String::from_utf8(delivered[0].body.clone()).unwrap(),
        "worded: disk full (attempt 1)"
    );
}
