//! Rule policies end to end: thresholds, throttles, resolve tracking, quiet
//! hours, groups and digests, each decision visible on the notification (and
//! in explain) with its reason, against the real broker and database.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, TestApp, eventually, spawn_app};

/// Long enough for a digest scheduled at the next minute, and its delivery.
const NEXT_MINUTE: Duration = Duration::from_secs(90);

async fn hook(app: &TestApp, sink: &HttpSink, extra: Value) -> Uuid {
    let name = format!("hook-{}", Uuid::new_v4());
    app.webhook(&name, &sink.url("/hook"), extra).await
}

fn failed(n: usize) -> Value {
    json!({"source": "ci", "category": "job", "kind": "failed", "severity": "warning",
           "scope": "acme/web", "title": format!("run {n} failed")})
}

/// Waits until every notification of `events` to `notifier` left `pending`;
/// answers them in the order of `events`.
async fn settled(app: &TestApp, events: &[Uuid], notifier: Uuid) -> Vec<Value> {
    let mut out = Vec::new();
    for event in events {
        let query = format!("event_id={event}&notifier_id={notifier}");
        let n = eventually(
            &format!("notification of {event} settled"),
            SOON,
            || async {
                match app.notifications(&query).await.first() {
                    Some(n) if n["status"] != "pending" => Ok(n.clone()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
        out.push(n);
    }
    out
}

fn reason(n: &Value) -> &str {
    n["reason"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_third_failure_in_a_window_notifies_and_the_first_two_do_not() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(
        json!({"categories": ["job"], "kinds": ["failed"], "notifiers": [notifier],
                    "threshold": {"count": 3, "window": "1h"}}),
    )
    .await;
    let mut events = Vec::new();
    for n in 1..=4 {
        let id = app.publish(failed(n)).await[0];
        settled(&app, &[id], notifier).await;
        events.push(id);
    }
    let got = settled(&app, &events, notifier).await;
    let statuses: Vec<&str> = got.iter().map(|n| n["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["suppressed", "suppressed", "sent", "suppressed"]);
    assert!(
        reason(&got[0]).contains("1 of 3 matching events within 1h"),
        "{}",
        got[0]
    );
    assert!(reason(&got[1]).contains("2 of 3"), "{}", got[1]);
    assert!(
        reason(&got[3]).contains("1 of 3"),
        "the count starts again after a notification: {}",
        got[3]
    );
    let delivered = sink.wait_delivered("/hook", 1, SOON).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].json()["event"]["id"], events[2].to_string());
    let (_, explain) = app.get(&format!("/events/{}/explain", events[0])).await;
    assert_eq!(explain["outcomes"], json!({"suppressed": 1}), "{explain}");
    let shown = &explain["notifications"][0];
    assert_eq!(shown["status"], "suppressed", "{explain}");
    assert!(reason(shown).starts_with("threshold of rule"), "{explain}");
    assert!(
        app.metric("herald_suppressed_total{reason=\"threshold\"}")
            .await
            >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_sends_one_of_twenty_and_counts_the_rest_on_it() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(json!({"categories": ["job"], "notifiers": [notifier],
                    "throttle": {"window": "10m", "key": "{{ event.source }}"}}))
        .await;
    let batch: Vec<Value> = (1..=20).map(failed).collect();
    let events = app.publish(json!(batch)).await;
    let got = settled(&app, &events, notifier).await;
    let sent: Vec<&Value> = got.iter().filter(|n| n["status"] == "sent").collect();
    assert_eq!(sent.len(), 1, "{got:?}");
    assert_eq!(sent[0]["suppressed"], 19, "{}", sent[0]);
    let throttled = got.iter().find(|n| n["status"] == "suppressed").unwrap();
    assert!(
        reason(throttled).starts_with("throttled by rule"),
        "{throttled}"
    );
    assert!(reason(throttled).contains("for key ci"), "{throttled}");
    assert_eq!(sink.wait_delivered("/hook", 1, SOON).await.len(), 1);
    assert_eq!(
        app.metric("herald_suppressed_total{reason=\"throttle\"}")
            .await,
        19.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_reaches_pagerduty_as_resolve_with_the_same_dedup_key_even_when_no_rule_matches_it()
 {
    let app = spawn_app().await;
    let pd = HttpSink::start().await;
    pd.reply(
        "/v2/enqueue",
        Reply::json(202, json!({"status": "success", "dedup_key": "k"})),
    );
    let config = json!({"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF", "api_url": pd.url("")});
    let pager = app.notifier("pager", "pagerduty", config).await;
    let sink = HttpSink::start().await;
    let quiet = hook(&app, &sink, json!({})).await;
    app.rule(json!({"severities": ["critical"], "notifiers": [pager]}))
        .await;
    app.rule(json!({"severities": ["critical"], "notifiers": [quiet], "send_resolved": false}))
        .await;
    let firing = json!({"source": "db-01", "category": "system", "kind": "disk_full",
        "severity": "critical", "title": "Disk full", "dedup_key": "db-01-disk",
        "labels": {"mount": "/var"}});
    let fired = app.publish(firing).await[0];
    app.wait_notification(fired, pager, "sent", SOON).await;
    app.wait_notification(fired, quiet, "sent", SOON).await;
    let (_, problems) = app.get("/problems").await;
    let open = problems["items"].as_array().unwrap();
    assert!(
        open.iter().any(|p| p["key"] == "db-01-disk"
            && p["event_id"] == fired.to_string()
            && p["title"] == "Disk full"
            && p["labels"] == json!({"mount": "/var"})),
        "the problem keeps its opener's title and labels: {problems}"
    );
    // Info: no rule selects it by itself.
    let resolving = json!({"source": "db-01", "category": "system", "kind": "disk_full",
        "severity": "info", "title": "Disk fine", "dedup_key": "db-01-disk", "resolved": true});
    let resolved = app.publish(resolving).await[0];
    let n = app.wait_notification(resolved, pager, "sent", SOON).await;
    assert!(
        n["notes"]
            .to_string()
            .contains(&format!("resolves the problem notified by event {fired}")),
        "{n}"
    );
    let got = pd.wait_delivered("/v2/enqueue", 2, SOON).await;
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["event_action"], "trigger");
    assert_eq!(bodies[1]["event_action"], "resolve");
    assert_eq!(bodies[1]["dedup_key"], bodies[0]["dedup_key"]);
    assert_eq!(bodies[1]["dedup_key"], "db-01-disk");
    let (_, problems) = app.get("/problems").await;
    assert!(
        !problems.to_string().contains("db-01-disk"),
        "the resolve closed it: {problems}"
    );
    let quiet_ones = app
        .notifications(&format!("event_id={resolved}&notifier_id={quiet}"))
        .await;
    assert!(
        quiet_ones.is_empty(),
        "send_resolved: false: {quiet_ones:?}"
    );
    assert_eq!(sink.delivered_count("/hook"), 1);
}

/// `HH:MM` of `t`, in UTC.
fn hhmm(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_a_warning_until_the_window_ends_and_let_a_critical_through() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    // A window of the current minute: far enough from its end to see the hold.
    let now = eventually(
        "a minute with 10 s left",
        Duration::from_secs(15),
        || async {
            let now = OffsetDateTime::now_utc();
            match now.second() < 50 {
                true => Ok(now),
                false => Err(format!("{now}")),
            }
        },
    )
    .await;
    let end = now + time::Duration::minutes(1);
    let quiet = json!({"timezone": "UTC", "from": hhmm(now), "to": hhmm(end)});
    let (status, body) = app
        .post(
            "/notifiers",
            json!({"name": "night", "kind": "webhook", "config": {"url": sink.url("/hook")},
                   "quiet_hours": quiet}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["quiet_hours"]["from"], quiet["from"], "{body}");
    assert_eq!(body["quiet_hours"]["critical"], "deliver", "{body}");
    let notifier: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    app.rule(json!({"notifiers": [notifier]})).await;
    let warning = app.publish(failed(1)).await[0];
    let mut critical = failed(2);
    critical["severity"] = json!("critical");
    let critical = app.publish(critical).await[0];
    app.wait_notification(critical, notifier, "sent", SOON)
        .await;
    let held = app
        .notifications(&format!("event_id={warning}&notifier_id={notifier}"))
        .await;
    assert_eq!(held[0]["status"], "pending", "{held:?}");
    assert!(
        reason(&held[0]).starts_with("held by the quiet hours of notifier"),
        "{held:?}"
    );
    let sent = app
        .wait_notification(warning, notifier, "sent", NEXT_MINUTE)
        .await;
    let sent_at = OffsetDateTime::parse(
        sent["sent_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let window_end = end
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap();
    assert!(
        sent_at >= window_end,
        "sent at {sent_at}, window ends {window_end}"
    );
    assert!(
        app.metric("herald_deferred_total{reason=\"quiet_hours\"}")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_fifty_events_yields_one_message_listing_them() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(json!({"categories": ["job"], "notifiers": [notifier],
                    "group": {"by": ["source", "labels.env"], "wait": "1s", "interval": "1m"}}))
        .await;
    let batch: Vec<Value> = (1..=50)
        .map(|n| {
            let mut e = failed(n);
            e["labels"] = json!({"env": "prod"});
            e
        })
        .collect();
    let events = app.publish(json!(batch)).await;
    let delivered = sink.wait_delivered("/hook", 1, SOON).await;
    let body = delivered[0].json();
    let listed: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let mut want: Vec<String> = events.iter().map(Uuid::to_string).collect();
    let mut got: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "one message lists every event of the group");
    let notes = settled(&app, &events, notifier).await;
    let leaders: Vec<&Value> = notes.iter().filter(|n| n["status"] == "sent").collect();
    assert_eq!(leaders.len(), 1);
    let group = &leaders[0]["group_id"];
    assert!(group.is_string());
    assert!(
        notes
            .iter()
            .filter(|n| n["status"] == "grouped")
            .all(|n| &n["group_id"] == group && reason(n).starts_with("grouped into notification")),
        "{notes:?}"
    );
    assert_eq!(
        notes.iter().filter(|n| n["status"] == "grouped").count(),
        49
    );
    // The next event of the group opens the next group: no second message
    // before the interval.
    let late = app.publish(failed(51)).await[0];
    let n = app
        .notifications(&format!("event_id={late}&notifier_id={notifier}"))
        .await;
    let n = if n.is_empty() {
        settled_or_held(&app, late, notifier).await
    } else {
        n[0].clone()
    };
    assert!(reason(&n).contains("opens the group"), "{n}");
    assert_eq!(sink.delivered_count("/hook"), 1);
}

/// The notification of `event` to `notifier` once routing recorded it.
async fn settled_or_held(app: &TestApp, event: Uuid, notifier: Uuid) -> Value {
    let query = format!("event_id={event}&notifier_id={notifier}");
    eventually("the notification recorded", SOON, || async {
        app.notifications(&query)
            .await
            .first()
            .cloned()
            .ok_or_else(|| "none yet".to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_goes_out_once_per_period_however_often_its_events_are_published() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    let rule = app
        .rule(json!({"categories": ["job"], "notifiers": [notifier],
                     "digest": {"cron": "* * * * *", "timezone": "Europe/Berlin"}}))
        .await;
    let batch: Vec<Value> = (1..=3)
        .map(|n| {
            let mut e = failed(n);
            e["id"] = json!(Uuid::new_v4());
            e
        })
        .collect();
    let events = app.publish(json!(batch)).await;
    // Published again (a publisher's retry): the same events, nothing new.
    assert_eq!(app.publish(json!(batch)).await, events);
    let delivered = sink.wait_delivered("/hook", 1, NEXT_MINUTE).await;
    assert_eq!(delivered[0].json()["events"].as_array().unwrap().len(), 3);
    assert_eq!(app.publish(json!(batch)).await, events);
    let notes = settled(&app, &events, notifier).await;
    assert_eq!(notes.iter().filter(|n| n["status"] == "sent").count(), 1);
    assert_eq!(notes.iter().filter(|n| n["status"] == "grouped").count(), 2);
    assert!(reason(&notes[0]).contains("digest"), "{}", notes[0]);
    let (status, body) = app.get(&format!("/rules/{rule}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["digest"]["cron"], "* * * * *");
    assert_eq!(sink.delivered_count("/hook"), 1, "one digest per period");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    let cases = [
        (
            json!({"threshold": {"count": 0, "window": "1h"}}),
            "threshold.count",
        ),
        (
            json!({"threshold": {"count": 3, "window": "soon"}}),
            "threshold.window",
        ),
        (
            json!({"throttle": {"window": "10m", "key": "{{ x"}}),
            "throttle.key",
        ),
        (json!({"group": {"by": ["colour"]}}), "group.by[0]"),
        (json!({"digest": {"cron": "every day"}}), "digest.cron"),
        (
            json!({"quiet_hours": {"timezone": "Mars/Olympus", "from": "22:00", "to": "07:00"}}),
            "quiet_hours.timezone",
        ),
        (
            json!({"quiet_hours": {"timezone": "UTC", "from": "25:00", "to": "07:00"}}),
            "quiet_hours.from",
        ),
    ];
    for (policy, field) in cases {
        let mut spec = json!({"name": format!("r-{}", Uuid::new_v4()), "notifiers": [notifier]});
        for (k, v) in policy.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let (status, body) = app.post("/rules", spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with(field),
            "{field} not named first in {error}"
        );
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_suppresses_names_itself_in_explain_and_expires() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(json!({"notifiers": [notifier]})).await;
    let now = OffsetDateTime::now_utc();
    let (status, silence) = app
        .post(
            "/silences",
            json!({"matchers": {"source": "db", "severity": ["warning", "info"]},
                   "ends_at": rfc3339(now + time::Duration::hours(1)),
                   "comment": "db maintenance"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    let short_end = OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let (status, short) = app
        .post(
            "/silences",
            json!({"matchers": {"source": "cache"}, "ends_at": rfc3339(short_end),
                   "comment": "cache restart"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let event = |source: &str, severity: &str| json!({"source": source, "category": "system", "kind": "restart", "severity": severity});
    let muted = app.publish(event("db", "warning")).await[0];
    let loud = app.publish(event("db", "critical")).await[0];
    let cache = app.publish(event("cache", "info")).await[0];
    let got = settled(&app, &[muted, loud, cache], notifier).await;
    assert_eq!(got[0]["status"], "suppressed", "{}", got[0]);
    assert!(
        reason(&got[0]).starts_with("suppressed by silence 'db maintenance'"),
        "{}",
        got[0]
    );
    assert!(reason(&got[0]).contains(silence["id"].as_str().unwrap()));
    assert_eq!(
        got[1]["status"], "sent",
        "the silence matches warning and info only"
    );
    assert_eq!(got[2]["status"], "suppressed");
    let (_, explain) = app.get(&format!("/events/{muted}/explain")).await;
    assert!(
        explain["notifications"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("db maintenance"),
        "{explain}"
    );
    // Expired by time: the silence ends by itself.
    eventually(
        "the short silence ended",
        Duration::from_secs(10),
        || async {
            match OffsetDateTime::now_utc() > short_end {
                true => Ok(()),
                false => Err("not yet".to_owned()),
            }
        },
    )
    .await;
    let after = app.publish(event("cache", "info")).await[0];
    app.wait_notification(after, notifier, "sent", SOON).await;
    // Expired by hand: kept for the record, no longer muting.
    let id = silence["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/silences/{id}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, kept) = app.get(&format!("/silences/{id}")).await;
    assert_eq!(kept["state"], "expired", "{kept}");
    let unmuted = app.publish(event("db", "warning")).await[0];
    app.wait_notification(unmuted, notifier, "sent", SOON).await;
    assert_eq!(
        app.metric("herald_suppressed_total{reason=\"silence\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inhibited_warning_is_not_sent_while_its_source_problem_is_open() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(json!({"notifiers": [notifier]})).await;
    let (status, inhibition) = app
        .post(
            "/inhibitions",
            json!({"name": "cluster down", "equal": ["labels.cluster"],
                   "source_match": {"kind": "cluster_down", "severity": "critical"},
                   "target_match": {"severity": "warning"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inhibition}");
    let event = |kind: &str, severity: &str, cluster: &str, resolved: bool| {
        json!({"source": "k8s", "category": "system", "kind": kind, "severity": severity,
               "title": format!("{kind} in {cluster}"), "labels": {"cluster": cluster},
               "resolved": resolved})
    };
    let down = app
        .publish(event("cluster_down", "critical", "eu1", false))
        .await[0];
    app.wait_notification(down, notifier, "sent", SOON).await;
    let inhibited = app
        .publish(event("pod_restarts", "warning", "eu1", false))
        .await[0];
    let elsewhere = app
        .publish(event("pod_restarts", "warning", "us1", false))
        .await[0];
    let got = settled(&app, &[inhibited, elsewhere], notifier).await;
    assert_eq!(got[0]["status"], "suppressed", "{}", got[0]);
    assert!(
        reason(&got[0]).starts_with("inhibited by inhibition 'cluster down'"),
        "{}",
        got[0]
    );
    assert!(
        reason(&got[0]).contains("cluster_down in eu1"),
        "{}",
        got[0]
    );
    assert_eq!(got[1]["status"], "sent", "another cluster: {}", got[1]);
    let up = app
        .publish(event("cluster_down", "critical", "eu1", true))
        .await[0];
    app.wait_notification(up, notifier, "sent", SOON).await;
    let again = app
        .publish(event("pod_restarts", "warning", "eu1", false))
        .await[0];
    app.wait_notification(again, notifier, "sent", SOON).await;
    assert_eq!(
        app.metric("herald_suppressed_total{reason=\"inhibition\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_is_sent_once_when_one_of_two_senders_is_killed_before_it_is_due() {
    let app = crate::support::spawn_roles(
        herald::Roles {
            api: true,
            router: true,
            ..herald::Roles::NONE
        },
        &[],
    )
    .await;
    let sink = HttpSink::start().await;
    let notifier = hook(&app, &sink, json!({})).await;
    app.rule(json!({"categories": ["job"], "notifiers": [notifier],
                    "digest": {"cron": "* * * * *", "by": ["source"]}}))
        .await;
    let mut first = crate::support::load::start(&app, "sender");
    let mut second = crate::support::load::start(&app, "sender");
    let batch: Vec<Value> = (1..=5).map(failed).collect();
    let events = app.publish(json!(batch)).await;
    settled_or_held(&app, events[4], notifier).await;
    first.kill().await;
    let delivered = sink.wait_delivered("/hook", 1, NEXT_MINUTE).await;
    assert_eq!(delivered[0].json()["events"].as_array().unwrap().len(), 5);
    let notes = settled(&app, &events, notifier).await;
    assert_eq!(notes.iter().filter(|n| n["status"] == "sent").count(), 1);
    assert_eq!(
        sink.delivered_count("/hook"),
        1,
        "one digest for the period"
    );
    second.kill().await;
}
