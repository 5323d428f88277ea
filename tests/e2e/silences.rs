//! The silences and inhibitions API: creating, reading, listing, replacing,
//! expiring (silences, kept for the record) and deleting (inhibitions), the
//! state a silence is shown in, and input refused naming the field. What
//! they do to routing is tested with the router.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{TestApp, spawn_app};

/// Now moved by `offset`, as RFC 3339.
fn at(offset: Duration) -> String {
    (OffsetDateTime::now_utc() + offset)
        .format(&Rfc3339)
        .unwrap()
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).unwrap()
}

/// Creates a silence, expecting it to be accepted.
async fn silence(app: &TestApp, spec: Value) -> Value {
    let (status, body) = app.post("/silences", spec.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{spec}: {body}");
    body
}

/// The ids `GET /silences?{query}` lists, in order.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/silences?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_is_created_read_replaced_and_expired_and_its_record_kept() {
    let app = spawn_app().await;
    let before = OffsetDateTime::now_utc() - Duration::seconds(1);
    let created = silence(
        &app,
        json!({"matchers": {"source": "ci", "labels": {"env": "staging"}},
               "ends_at": at(Duration::hours(2)), "comment": "migrating staging"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "active", "{created}");
    assert_eq!(
        created["created_by"], "bootstrap",
        "the calling token's name"
    );
    assert_eq!(
        created["matchers"],
        json!({"source": "ci", "labels": {"env": "staging"}})
    );
    assert_eq!(created["comment"], "migrating staging");
    let starts_at = time_of(&created["starts_at"]);
    assert!(
        starts_at >= before && starts_at <= OffsetDateTime::now_utc(),
        "starts now: {created}"
    );
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    let (status, got) = app.get(&format!("/silences/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);
    assert_eq!(listed(&app, "").await, std::slice::from_ref(&id));

    let (status, replaced) = app
        .put(
            &format!("/silences/{id}"),
            json!({"matchers": {"severity": ["warning", "info"]}, "starts_at": at(Duration::hours(1)),
                   "ends_at": at(Duration::hours(3)), "created_by": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["state"], "pending");
    assert_eq!(replaced["created_by"], "alice");
    assert_eq!(replaced["comment"], "", "a replacement, not a patch");
    assert_eq!(
        replaced["matchers"],
        json!({"severity": ["warning", "info"]})
    );
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert!(time_of(&replaced["updated_at"]) >= time_of(&created["updated_at"]));

    assert_eq!(
        app.delete(&format!("/silences/{id}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, expired) = app.get(&format!("/silences/{id}")).await;
    assert_eq!(expired["state"], "expired", "{expired}");
    let ends_at = time_of(&expired["ends_at"]);
    assert!(ends_at <= OffsetDateTime::now_utc(), "{expired}");
    assert!(
        time_of(&expired["starts_at"]) <= ends_at,
        "a pending silence expired starts when it ends: {expired}"
    );
    assert_eq!(
        expired["matchers"], replaced["matchers"],
        "the record stays"
    );
    // Expiring it again changes nothing.
    assert_eq!(
        app.delete(&format!("/silences/{id}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, again) = app.get(&format!("/silences/{id}")).await;
    assert_eq!(again["ends_at"], expired["ends_at"]);

    let unknown = format!("/silences/{}", Uuid::now_v7());
    assert_eq!(app.delete(&unknown).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&unknown).await.0, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &unknown,
            json!({"matchers": {"source": "ci"}, "ends_at": at(Duration::hours(1))}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/silences/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "id");

    let (_, audit) = app.get("/audit?object=silence").await;
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["object_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("create", id.as_str()),
            ("update", &id),
            ("expire", &id),
            ("expire", &id)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_is_pending_active_or_expired_by_its_window_and_listed_by_state() {
    let app = spawn_app().await;
    let matchers = json!({"category": "job"});
    let mut ids = Vec::new();
    for (name, starts, ends) in [
        ("expired", Duration::hours(-2), Duration::hours(-1)),
        ("active", Duration::hours(-1), Duration::hours(1)),
        ("pending", Duration::hours(1), Duration::hours(2)),
    ] {
        let created = silence(
            &app,
            json!({"matchers": matchers, "starts_at": at(starts), "ends_at": at(ends)}),
        )
        .await;
        assert_eq!(created["state"], name, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let [expired, active, pending] = <[String; 3]>::try_from(ids).unwrap();

    assert_eq!(
        listed(&app, "").await,
        [pending.clone(), active.clone(), expired.clone()],
        "newest first, expired ones included"
    );
    assert_eq!(
        listed(&app, "state=expired").await,
        std::slice::from_ref(&expired)
    );
    assert_eq!(
        listed(&app, "state=active").await,
        std::slice::from_ref(&active)
    );
    assert_eq!(
        listed(&app, "state=pending").await,
        std::slice::from_ref(&pending)
    );

    // Pages: pass `next_cursor` back as `cursor`.
    let (_, first) = app.get("/silences?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(
        listed(&app, &format!("limit=2&cursor={cursor}")).await,
        std::slice::from_ref(&expired)
    );

    // A pending silence expired is expired, and listed so.
    assert_eq!(
        app.delete(&format!("/silences/{pending}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        listed(&app, "state=expired").await,
        [pending.clone(), expired.clone()]
    );
    assert!(listed(&app, "state=pending").await.is_empty());

    for (query, field) in [
        ("state=done", "state"),
        ("state=Active", "state"),
        ("sate=active", "sate"),
        ("limit=0", "limit"),
    ] {
        let (status, body) = app.get(&format!("/silences?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (_, body) = app.get("/silences?state=done").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("pending, active, expired"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_silences_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let end = at(Duration::hours(1));
    let m = json!({"source": "ci"});
    let cases = [
        (json!({"matchers": m}), "ends_at"),
        (
            json!({"matchers": m, "starts_at": at(Duration::hours(2)), "ends_at": end}),
            "ends_at",
        ),
        (json!({"matchers": m, "ends_at": "in an hour"}), "ends_at"),
        (
            json!({"matchers": m, "starts_at": "2026-13-01T00:00:00Z", "ends_at": end}),
            "starts_at",
        ),
        (json!({"ends_at": end}), "matchers"),
        (json!({"matchers": {}, "ends_at": end}), "matchers"),
        (
            json!({"matchers": {"source": [], "labels": {}}, "ends_at": end}),
            "matchers",
        ),
        (
            json!({"matchers": {"severity": "high"}, "ends_at": end}),
            "matchers.severity",
        ),
        (
            json!({"matchers": {"severity": ["info", "high"]}, "ends_at": end}),
            "matchers.severity[1]",
        ),
        (
            json!({"matchers": {"scope": "a//b"}, "ends_at": end}),
            "matchers.scope",
        ),
        (
            json!({"matchers": {"labels": {"env": "x".repeat(1025)}}, "ends_at": end}),
            "matchers.labels.env",
        ),
        (
            json!({"matchers": {"env": "prod"}, "ends_at": end}),
            "matchers.env",
        ),
        (
            json!({"matchers": m, "ends_at": end, "comment": "c".repeat(2001)}),
            "comment",
        ),
        (
            json!({"matchers": m, "ends_at": end, "until": end}),
            "until",
        ),
    ];
    for (spec, field) in cases {
        let (status, body) = app.post("/silences", spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {body}");
        assert_eq!(body["field"], field, "{spec}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
    }
    let (_, body) = app
        .post(
            "/silences",
            json!({"matchers": {"severity": "high"}, "ends_at": end}),
        )
        .await;
    assert!(
        body["error"].as_str().unwrap().contains("`high`"),
        "the value is named: {body}"
    );
    // A replacement is checked the same way, and nothing was stored.
    let id = silence(&app, json!({"matchers": m, "ends_at": end})).await["id"].clone();
    let (status, body) = app
        .put(
            &format!("/silences/{}", id.as_str().unwrap()),
            json!({"matchers": {}, "ends_at": end}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "matchers");
    assert_eq!(listed(&app, "").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inhibition_is_created_read_listed_replaced_and_deleted() {
    let app = spawn_app().await;
    let spec = json!({
        "name": "cluster down",
        "source_match": {"kind": "cluster_down", "severity": "critical"},
        "target_match": {"severity": ["warning", "info"]},
        "equal": ["labels.cluster"],
    });
    let (status, created) = app.post("/inhibitions", spec.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    for field in ["name", "source_match", "target_match", "equal"] {
        assert_eq!(created[field], spec[field], "{field}");
    }
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let (status, got) = app.get(&format!("/inhibitions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    let (status, unnamed) = app
        .post(
            "/inhibitions",
            json!({"source_match": {"source": "db"}, "target_match": {"source": "api"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{unnamed}");
    assert_eq!(unnamed["name"], "");
    assert_eq!(unnamed["equal"], json!([]));
    let (_, all) = app.get("/inhibitions").await;
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [unnamed["id"].as_str().unwrap(), &id], "newest first");

    let (status, replaced) = app
        .put(
            &format!("/inhibitions/{id}"),
            json!({"source_match": {"kind": "cluster_down"}, "target_match": {"category": "job"},
                   "equal": ["labels.cluster", "scope"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"], "");
    assert_eq!(replaced["target_match"], json!({"category": "job"}));
    assert_eq!(replaced["equal"], json!(["labels.cluster", "scope"]));
    assert_eq!(replaced["created_at"], created["created_at"]);

    assert_eq!(
        app.delete(&format!("/inhibitions/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/inhibitions/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/inhibitions/{id}")).await,
        StatusCode::NOT_FOUND
    );
    let (status, _) = app
        .put(
            &format!("/inhibitions/{id}"),
            json!({"source_match": {"source": "a"}, "target_match": {"source": "b"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = app.get("/inhibitions").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inhibitions_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let (s, t) = (json!({"source": "db"}), json!({"source": "api"}));
    let cases = [
        (
            json!({"source_match": {}, "target_match": t}),
            "source_match",
        ),
        (
            json!({"source_match": s, "target_match": {}}),
            "target_match",
        ),
        (json!({"target_match": t}), "source_match"),
        (
            json!({"source_match": s, "target_match": {"severity": "urgent"}}),
            "target_match.severity",
        ),
        (
            json!({"source_match": s, "target_match": t, "equal": ["labels.cluster", "cluster"]}),
            "equal[1]",
        ),
        (
            json!({"source_match": s, "target_match": t, "equal": "labels.cluster"}),
            "equal",
        ),
        (
            json!({"source_match": s, "target_match": t, "name": "n".repeat(201)}),
            "name",
        ),
        (
            json!({"source_match": s, "target_match": t, "enabled": true}),
            "enabled",
        ),
    ];
    for (spec, field) in cases {
        let (status, body) = app.post("/inhibitions", spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {body}");
        assert_eq!(body["field"], field, "{spec}: {body}");
    }
    let (_, body) = app
        .post(
            "/inhibitions",
            json!({"source_match": s, "target_match": t, "equal": ["cluster"]}),
        )
        .await;
    assert!(
        body["error"].as_str().unwrap().contains("labels.<name>"),
        "the message says what is valid: {body}"
    );
    let (_, all) = app.get("/inhibitions").await;
    assert_eq!(all["items"], json!([]), "nothing was stored");
}
