//! Faults that can be shown without disturbing other tests: rate limits,
//! poison jobs, deleted notifiers, concurrent flushers, the error table's
//! lifecycle, timeouts, quorum queues.

use std::time::Duration;

use herald::Roles;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{
    Behaviour, HttpSink, SmtpSink, amqp, eventually, spawn_app, spawn_app_with, spawn_roles,
};

#[tokio::test]
async fn a_429_with_retry_after_is_not_retried_sooner() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::RetryAfter(2));
    let hook = app
        .webhook(
            "limited",
            &sink.url("/limited"),
            json!({"max_elapsed": "10s"}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    sink.wait_requests("/limited", 1, SOON).await;
    sink.set(Behaviour::Ok);
    app.wait_notification(event, hook, "sent", SOON).await;
    let requests = sink.requests();
    assert_eq!(requests.len(), 2, "one 429, then one delivery");
    assert_eq!(requests[0].answered, 429);
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, before Retry-After: 2"
    );
    assert!(gap < Duration::from_secs(4), "retried after {gap:?}");
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_ends_in_failures() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Hang);
    let hook = app
        .webhook(
            "hangs",
            &sink.url("/hang"),
            json!({"timeout": "300ms", "max_attempts": 2}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let n = app.wait_notification(event, hook, "failed", SOON).await;
    assert_eq!(n["attempts"], 2);
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 300ms"),
        "{n}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_jobs_on_each_delivery_queue_are_dead_lettered_and_the_next_job_is_delivered() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/ok"), json!({})).await;
    let mail = app.email("mail", &smtp, json!({})).await;
    app.rule(json!({"notifiers": [hook, mail]})).await;
    let (_conn, ch) = amqp::channel().await;
    let exchange = format!("{}.deliveries", app.prefix());
    let ghost = json!({
        "notification_id": Uuid::now_v7(), "notifier_id": hook, "routed_at": "2026-11-21T00:00:00Z",
        "event": {"id": Uuid::now_v7(), "source": "x", "category": "system", "kind": "", "severity": "info",
                  "scope": "", "title": "t", "message": "", "labels": {}, "data": null, "dedup_key": null,
                  "resolved": false, "occurred_at": "2026-11-21T00:00:00Z", "url": null}
    });
    for kind in ["webhook", "email"] {
        amqp::publish(&ch, &exchange, kind, b"not a job").await;
        amqp::publish(&ch, &exchange, kind, br#"{"notification_id": 1}"#).await;
        amqp::publish(&ch, &exchange, kind, ghost.to_string().as_bytes()).await;
    }
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    app.wait_notification(event, hook, "sent", SOON).await;
    app.wait_notification(event, mail, "sent", SOON).await;

    let dead_queue = format!("{}.dead", app.prefix());
    let letters = std::cell::RefCell::new(Vec::new());
    eventually("six dead letters", SOON, || async {
        if let Some(letter) = amqp::get(&ch, &dead_queue).await {
            letters.borrow_mut().push(letter);
        }
        let n = letters.borrow().len();
        if n >= 6 {
            Ok(())
        } else {
            Err(format!("{n} letters"))
        }
    })
    .await;
    for kind in ["webhook", "email"] {
        let queue = format!("{}.deliveries.{kind}", app.prefix());
        let reasons: Vec<String> = letters
            .borrow()
            .iter()
            .filter(|l| l.queue == queue)
            .map(|l| l.reason.clone())
            .collect();
        assert_eq!(reasons.len(), 3, "{kind}: {reasons:?}");
        assert_eq!(
            reasons
                .iter()
                .filter(|r| r.starts_with("invalid delivery job"))
                .count(),
            2,
            "{reasons:?}"
        );
        assert_eq!(
            reasons
                .iter()
                .filter(|r| r.contains("no notification"))
                .count(),
            1,
            "{reasons:?}"
        );
    }
    assert_eq!(sink.delivered("/ok").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_notifier_was_deleted_is_dead_lettered_and_its_failure_is_dead() {
    let mut app = spawn_roles(
        Roles {
            api: true,
            router: true,
            ..Roles::NONE
        },
        &[],
    )
    .await;
    let hook = app
        .webhook("doomed", "http://127.0.0.1:9/never", json!({}))
        .await;
    let rule = app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    app.wait_notification(event, hook, "pending", SOON).await;
    // A notifier that rules use cannot be deleted: the rule goes first.
    assert_eq!(
        app.delete(&format!("/rules/{rule}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/notifiers/{hook}")).await,
        StatusCode::NO_CONTENT
    );
    app.start_roles(Roles {
        sender: true,
        ..Roles::NONE
    })
    .await;

    let n = app.wait_notification(event, hook, "failed", SOON).await;
    assert!(n["last_error"].as_str().unwrap().contains("deleted"), "{n}");
    let failures = app.failures("status=dead").await;
    assert_eq!(failures.len(), 1);
    let (_conn, ch) = amqp::channel().await;
    let letter = eventually("a dead letter", SOON, || async {
        amqp::get(&ch, &format!("{}.dead", app.prefix()))
            .await
            .ok_or_else(|| "none".to_owned())
    })
    .await;
    assert!(letter.reason.contains("was deleted"), "{}", letter.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flushers_at_once_replay_each_failure_exactly_once() {
    let api_router_sender = Roles {
        api: true,
        router: true,
        sender: true,
        flush: false,
    };
    let mut app = spawn_roles(
        api_router_sender,
        &[
            ("HERALD_FLUSH_INTERVAL", "100ms"),
            ("HERALD_FLUSH_BATCH", "7"),
        ],
    )
    .await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(500));
    let hook = app
        .webhook("flaky", &sink.url("/f"), json!({"max_attempts": 1}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    const N: usize = 60;
    let events: Vec<_> = (0..N)
        .map(|i| json!({"source": "ci", "category": "system", "title": format!("e{i}")}))
        .collect();
    app.publish(json!(events)).await;
    eventually("every delivery to fail", SOON, || async {
        let (_, page) = app.get("/failures?limit=500").await;
        let n = page["items"].as_array().unwrap().len();
        if n == N {
            Ok(())
        } else {
            Err(format!("{n} failures"))
        }
    })
    .await;
    sink.set(Behaviour::Ok);
    let first = app
        .start_roles(Roles {
            flush: true,
            ..Roles::NONE
        })
        .await;
    let second = app
        .start_roles(Roles {
            flush: true,
            ..Roles::NONE
        })
        .await;
    sink.wait_delivered("/f", N, SOON).await;
    tokio::join!(
        app.wait_flush_runs(Some(first), 2.0),
        app.wait_flush_runs(Some(second), 2.0)
    );
    let replays = "herald_replays_total{by=\"scheduler\"}";
    let replayed_a = app.metric_at(Some(first), replays).await;
    let replayed_b = app.metric_at(Some(second), replays).await;
    assert_eq!(
        replayed_a + replayed_b,
        N as f64,
        "replays: {replayed_a} + {replayed_b}"
    );
    assert!(
        replayed_a > 0.0 && replayed_b > 0.0,
        "both flushers took part: {replayed_a} + {replayed_b}"
    );
    let delivered = sink.delivered("/f");
    let mut ids: Vec<_> = delivered
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (delivered.len(), ids.len()),
        (N, N),
        "each failure delivered exactly once"
    );
    let (_, resolved) = app.get("/failures?status=resolved&limit=500").await;
    let resolved = resolved["items"].as_array().unwrap();
    assert_eq!(resolved.len(), N);
    assert!(
        resolved.iter().all(|f| f["replay_count"] == 1),
        "every failure replayed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_replayed_too_often_is_dead_until_an_operator_replays_it() {
    let app = spawn_app_with(&[
        ("HERALD_FLUSH_INTERVAL", "150ms"),
        ("HERALD_MAX_REPLAYS", "2"),
    ])
    .await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(503));
    let hook = app
        .webhook("down", &sink.url("/down"), json!({"max_attempts": 2}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let dead = eventually("the failure to be dead", SOON, || async {
        let open = app.failures("").await;
        open.iter()
            .find(|f| f["status"] == "dead")
            .cloned()
            .ok_or_else(|| format!("{open:?}"))
    })
    .await;
    assert_eq!(dead["replay_count"], 2);
    assert_eq!(dead["attempts"], 6, "two attempts in each of three rounds");
    assert_eq!(
        dead["errors"].as_array().unwrap().len(),
        3,
        "every round's error is kept"
    );
    assert!(
        dead["replays"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["by"] == "scheduler" && r["at"].is_string())
    );

    app.wait_flush_runs(None, 2.0).await;
    assert_eq!(
        sink.requests().len(),
        6,
        "the scheduler leaves a dead failure alone"
    );
    assert_eq!(app.metric("herald_failures{status=\"dead\"}").await, 1.0);

    sink.set(Behaviour::Ok);
    let (status, body) = app
        .post(
            &format!("/failures/{}/replay", dead["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_notification(event, hook, "sent", SOON).await;
    let (_, after) = app
        .get(&format!("/failures/{}", dead["id"].as_str().unwrap()))
        .await;
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["replays"][2]["by"], "api");
}

#[tokio::test]
async fn quorum_queues_carry_events_end_to_end() {
    let app = spawn_app_with(&[("HERALD_QUEUE_TYPE", "quorum")]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/q"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    app.wait_notification(event, hook, "sent", SOON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_event_overtakes_a_backlog_of_others_to_the_same_notifier() {
    // One delivery at a time to a notifier, 100 ms each: 40 events queue up.
    let app = spawn_app_with(&[("HERALD_SENDER_PER_NOTIFIER", "1")]).await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Delay(100));
    let hook = app.webhook("busy", &sink.url("/busy"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let backlog: Vec<_> = (0..40)
        .map(|i| json!({"source": "batch", "category": "job", "kind": "succeeded", "title": format!("routine {i}")}))
        .collect();
    app.publish(json!(backlog)).await;
    sink.wait_delivered("/busy", 1, SOON).await;
    let alert = app
        .publish(json!({"source": "billing", "category": "spending", "severity": "critical", "title": "alert"}))
        .await[0];
    app.wait_notification(alert, hook, "sent", SOON).await;
    let order: Vec<String> = sink
        .delivered("/busy")
        .iter()
        .map(|r| r.json()["event"]["title"].as_str().unwrap().to_owned())
        .collect();
    let position = order.iter().position(|t| t == "alert").unwrap();
    assert!(
        position < 10,
        "the critical event was delivery {position} of {}: {order:?}",
        order.len()
    );
    sink.wait_delivered("/busy", 41, Duration::from_secs(30))
        .await;
}

/// A sender died holding a notification's lease; a copy of its job, meeting a
/// busy notifier, is put aside and acked. The database then owns the
/// notification (it becomes due when the dead lease and its grace end) and a
/// sender delivers it, though no copy of the job is left in the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_put_aside_under_a_dead_senders_lease_is_delivered_when_the_lease_ends() {
    let routing_only = Roles {
        api: true,
        router: true,
        ..Roles::NONE
    };
    let mut app = spawn_roles(routing_only, &[]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("orphan", &sink.url("/orphan"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let pending = app.wait_notification(event, hook, "pending", SOON).await;
    let id: Uuid = pending["id"].as_str().unwrap().parse().unwrap();

    let store = herald_store::Store::connect(&app.config.database_url, 2)
        .await
        .unwrap();
    let dead = herald_store::LeaseRequest {
        notification_id: id,
        token: Uuid::now_v7(),
        lease: Duration::from_secs(1),
    };
    let claimed = store.claim_many(&[dead]).await.unwrap();
    assert!(
        matches!(claimed[0], herald_store::Claim::Claimed(_)),
        "{claimed:?}"
    );
    let defer = herald_store::Defer {
        notification_id: id,
        wait: Duration::from_millis(100),
    };
    store.defer_many(&[defer]).await.unwrap();
    // The only copy of the job goes: the database is the owner now.
    let (_conn, ch) = amqp::channel_to(&app.config.amqp_url).await;
    let queue = format!("{}.deliveries.webhook", app.prefix());
    ch.queue_purge(queue.as_str().into(), Default::default())
        .await
        .unwrap();

    app.start_roles(Roles {
        sender: true,
        ..Roles::NONE
    })
    .await;
    let sent = app.wait_notification(event, hook, "sent", SOON).await;
    assert_eq!(sink.delivered("/orphan").len(), 1, "{sent}");
}

/// A replay has set a failed notification pending and queued its job, but not
/// committed yet, when a sender puts that job aside (its notifier is busy):
/// the put-aside waits for the replay and leaves the notification due, so the
/// job is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_put_aside_while_its_replay_commits_stays_owned_by_the_database() {
    let routing_only = Roles {
        api: true,
        router: true,
        ..Roles::NONE
    };
    let app = spawn_roles(routing_only, &[]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("replayed", &sink.url("/r"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let pending = app.wait_notification(event, hook, "pending", SOON).await;
    let id: Uuid = pending["id"].as_str().unwrap().parse().unwrap();
    let (db, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.execute(
        "UPDATE notifications SET status = 'failed' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();

    // The replay, as far as its jobs are queued.
    db.batch_execute("BEGIN").await.unwrap();
    db.execute(
        "SELECT id FROM notifications WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE notifications SET status = 'pending', due_at = NULL WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    let store = herald_store::Store::connect(&app.config.database_url, 2)
        .await
        .unwrap();
    let defer = herald_store::Defer {
        notification_id: id,
        wait: Duration::from_secs(1),
    };
    let deferring = tokio::spawn(async move { store.defer_many(&[defer]).await });
    // The put-aside must wait for the replay's commit (it holds the row).
    eventually(
        "the put-aside to wait on the replay's lock",
        SOON,
        || async {
            let row = db
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE NOT l.granted AND a.datname = current_database()",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            match row.get::<_, i64>(0) {
                0 => Err("not waiting yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    db.batch_execute("COMMIT").await.unwrap();
    deferring.await.unwrap().unwrap();
    let due: Option<time::OffsetDateTime> = db
        .query_one("SELECT due_at FROM notifications WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(due.is_some(), "the notification was left to no one");
}
