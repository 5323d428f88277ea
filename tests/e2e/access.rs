//! Who may do what: every `/api/v1` route needs a token (401 without), the
//! token's role must grant the route (403 naming the role needed), tokens are
//! shown once, revocable and expire, `/metrics` can need its own token, every
//! change lands in the audit trail, and each token's publishing is rate
//! limited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::app::client_with_token;
use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, TestApp, eventually, spawn_app, spawn_app_with};

/// Every route of the API, with `{id}` standing for a random id.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/events"),
    ("POST", "/events"),
    ("GET", "/events/{id}"),
    ("GET", "/events/{id}/explain"),
    ("POST", "/ingest/alertmanager"),
    ("GET", "/channels"),
    ("GET", "/notifiers"),
    ("POST", "/notifiers"),
    ("GET", "/notifiers/{id}"),
    ("PUT", "/notifiers/{id}"),
    ("DELETE", "/notifiers/{id}"),
    ("POST", "/notifiers/{id}/clone"),
    ("POST", "/notifiers/{id}/test"),
    ("POST", "/notifiers/{id}/preview"),
    ("GET", "/rules"),
    ("POST", "/rules"),
    ("POST", "/rules/dry-run"),
    ("GET", "/rules/{id}"),
    ("PUT", "/rules/{id}"),
    ("DELETE", "/rules/{id}"),
    ("GET", "/problems"),
    ("GET", "/silences"),
    ("POST", "/silences"),
    ("GET", "/silences/{id}"),
    ("PUT", "/silences/{id}"),
    ("DELETE", "/silences/{id}"),
    ("GET", "/inhibitions"),
    ("POST", "/inhibitions"),
    ("GET", "/inhibitions/{id}"),
    ("PUT", "/inhibitions/{id}"),
    ("DELETE", "/inhibitions/{id}"),
    ("GET", "/monitors"),
    ("POST", "/monitors"),
    ("GET", "/monitors/{id}"),
    ("PUT", "/monitors/{id}"),
    ("DELETE", "/monitors/{id}"),
    ("POST", "/rules/{id}/clone"),
    ("GET", "/notifications"),
    ("GET", "/notifications/{id}"),
    ("GET", "/failures"),
    ("POST", "/failures/replay"),
    ("GET", "/failures/{id}"),
    ("POST", "/failures/{id}/replay"),
    ("POST", "/failures/{id}/discard"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/{id}"),
    ("GET", "/audit"),
];

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
}

async fn call(app: &TestApp, client: &reqwest::Client, method: &str, route: &str) -> Answer {
    let path = route.replace("{id}", &Uuid::new_v4().to_string());
    let method: Method = method.parse().unwrap();
    let response = client
        .request(method, app.url(&format!("/api/v1{path}")))
        .json(&json!({}))
        .send()
        .await
        .expect("the API answers");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        challenge,
        body,
    }
}

/// Makes a token with `role` through the API and returns it.
async fn token(app: &TestApp, name: &str, role: &str) -> String {
    let (status, body) = app
        .post("/tokens", json!({"name": name, "role": role}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// What `GET /api/v1/rules` answers to `token`: whether the token works.
async fn reads_with(app: &TestApp, token: &str) -> StatusCode {
    client_with_token(token)
        .get(app.url("/api/v1/rules"))
        .send()
        .await
        .expect("the API answers")
        .status()
}

fn needed(method: &str, route: &str) -> &'static str {
    if route.starts_with("/tokens") {
        "admin"
    } else if method == "GET" {
        "viewer"
    } else if method == "POST" && ["/events", "/ingest/alertmanager"].contains(&route) {
        "publisher"
    } else {
        "admin"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_401_with_a_bearer_challenge_without_a_valid_token() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new();
    let forged = client_with_token("hrld_not-a-token-this-server-ever-made-0000");
    for (method, route) in ROUTES {
        for (who, client) in [("no token", &anonymous), ("unknown token", &forged)] {
            let answer = call(&app, client, method, route).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{who}: {method} {route}"
            );
            let challenge = answer.challenge.unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{who}: {method} {route}: {challenge}"
            );
            assert!(answer.body["error"].is_string(), "{who}: {method} {route}");
        }
    }
    let open = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let status = open.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{path} stays open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_its_routes_and_gets_403_naming_the_role_elsewhere() {
    let app = spawn_app().await;
    let viewer = client_with_token(&token(&app, "dashboards", "viewer").await);
    let publisher = client_with_token(&token(&app, "ci", "publisher").await);
    for (method, route) in ROUTES {
        let role = needed(method, route);
        for (name, client) in [("viewer", &viewer), ("publisher", &publisher)] {
            let answer = call(&app, client, method, route).await;
            if name == role {
                assert_ne!(
                    answer.status,
                    StatusCode::UNAUTHORIZED,
                    "{name}: {method} {route}"
                );
                assert_ne!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{name}: {method} {route}"
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{name}: {method} {route}"
                );
                assert_eq!(answer.body["role_needed"], role, "{name}: {method} {route}");
                let error = answer.body["error"].as_str().unwrap();
                assert!(error.contains(&format!("needs the {role} role")), "{error}");
            }
        }
        // The admin reaches everything.
        let answer = call(&app, &app.http, method, route).await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
            "admin: {method} {route}: {}",
            answer.status
        );
    }
    let published = publisher
        .post(app.url("/api/v1/events"))
        .json(&json!({"source": "ci", "category": "system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_shown_once_listed_without_its_value_and_stops_working_when_revoked() {
    let app = spawn_app().await;
    let (status, created) = app
        .post("/tokens", json!({"name": "grafana", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let plain = created["token"].as_str().unwrap().to_owned();
    assert!(plain.len() >= 43, "at least 32 random bytes: {plain}");
    assert_eq!(created["role"], "viewer");
    assert!(created["created_at"].is_string());

    assert_eq!(reads_with(&app, &plain).await, StatusCode::OK);

    let (_, listed) = app.get("/tokens").await;
    let text = listed.to_string();
    assert!(
        !text.contains(&plain),
        "the list never shows a token: {text}"
    );
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "grafana")
        .expect("the token is listed")
        .clone();
    assert!(item["hint"].as_str().is_some_and(|h| plain.starts_with(h)));
    eventually("the token's last use to be recorded", SOON, || async {
        let (_, listed) = app.get("/tokens").await;
        let used = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "grafana" && t["last_used_at"].is_string());
        if used {
            Ok(())
        } else {
            Err(listed.to_string())
        }
    })
    .await;

    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/tokens/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(reads_with(&app, &plain).await, StatusCode::UNAUTHORIZED);
    let (_, listed) = app.get("/tokens").await;
    let revoked = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .expect("a revoked token stays listed");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // A name may be used again once its token is revoked, not before.
    let (status, _) = app
        .post("/tokens", json!({"name": "grafana", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post("/tokens", json!({"name": "grafana", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_input_is_checked_field_by_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"name": "x", "role": "root"}), "role"),
        (json!({"name": "", "role": "viewer"}), "name"),
        (json!({"name": "n".repeat(101), "role": "viewer"}), "name"),
        (
            json!({"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "role": "viewer", "scopes": []}),
            "scopes",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/tokens", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, created) = app
        .post(
            "/tokens",
            json!({"name": "brief", "role": "viewer", "expires_at": at}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let brief = created["token"].as_str().unwrap();
    eventually("the token to expire", SOON, || async {
        let status = reads_with(&app, brief).await;
        if status == StatusCode::UNAUTHORIZED {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token_when_one_is_set() {
    let secret = herald_model::PlainToken::generate().expose().to_owned();
    let app = spawn_app_with(&[("HERALD_METRICS_TOKEN", &secret)]).await;
    let anonymous = reqwest::Client::new();
    let refused = anonymous.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
    let admin = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        admin.status(),
        StatusCode::UNAUTHORIZED,
        "an API token is not the metrics token"
    );
    let scraped = client_with_token(&secret)
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("herald_"));
    let health = anonymous.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_audited_with_the_token_name() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let ops = client_with_token(&token(&app, "ops", "admin").await);
    let call = |method: Method, path: String, body: Value| {
        let ops = ops.clone();
        let url = app.url(&format!("/api/v1{path}"));
        async move {
            let response = ops.request(method, url).json(&body).send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, notifier) = call(
        Method::POST,
        "/notifiers".into(),
        json!({"name": "hook", "kind": "webhook", "config": {"url": sink.url("/a")}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{notifier}");
    let nid = notifier["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        Method::PUT,
        format!("/notifiers/{nid}"),
        json!({"name": "hook", "kind": "webhook", "config": {"url": sink.url("/b")}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(Method::POST, format!("/notifiers/{nid}/test"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, rule) = call(
        Method::POST,
        "/rules".into(),
        json!({"name": "all", "notifiers": [nid]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let rid = rule["id"].as_str().unwrap().to_owned();
    // A delivery the endpoint refuses for good leaves a failure to replay
    // and discard.
    sink.set(Behaviour::Status(400));
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    app.wait_notification(event, nid.parse().unwrap(), "failed", SOON)
        .await;
    let fid = app.failures("").await[0]["id"].as_str().unwrap().to_owned();
    let settled = || async {
        eventually("the replayed delivery to fail again", SOON, || async {
            let (_, f) = app.get(&format!("/failures/{fid}")).await;
            if f["status"] == "replaying" {
                Err(f.to_string())
            } else {
                Ok(())
            }
        })
        .await;
    };
    let (status, _) = call(Method::POST, format!("/failures/{fid}/replay"), json!({})).await;
    assert!(status.is_success(), "{status}");
    settled().await;
    let (status, _) = call(Method::POST, "/failures/replay".into(), json!({})).await;
    assert!(status.is_success(), "{status}");
    settled().await;
    let (status, body) = call(Method::POST, format!("/failures/{fid}/discard"), json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, _) = call(
        Method::PUT,
        format!("/rules/{rid}"),
        json!({"name": "all", "notifiers": [nid], "enabled": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(Method::DELETE, format!("/rules/{rid}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(Method::DELETE, format!("/notifiers/{nid}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, minted) = call(
        Method::POST,
        "/tokens".into(),
        json!({"name": "temp", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let tid = minted["id"].as_str().unwrap().to_owned();
    let (status, _) = call(Method::DELETE, format!("/tokens/{tid}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Reads and refused changes are not changes.
    let _ = call(Method::GET, "/rules".into(), Value::Null).await;
    let (status, _) = call(Method::POST, "/rules".into(), json!({"name": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, audit) = app.get("/audit?actor=ops&limit=100").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let got: Vec<(String, String, Option<String>)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            assert_eq!(e["actor"], "ops");
            assert!(e["at"].is_string());
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let s =
        |a: &str, o: &str, id: Option<&str>| (a.to_owned(), o.to_owned(), id.map(str::to_owned));
    assert_eq!(
        got,
        vec![
            s("create", "notifier", Some(&nid)),
            s("update", "notifier", Some(&nid)),
            s("test", "notifier", Some(&nid)),
            s("create", "rule", Some(&rid)),
            s("replay", "failure", Some(&fid)),
            s("replay", "failure", None),
            s("discard", "failure", Some(&fid)),
            s("update", "rule", Some(&rid)),
            s("delete", "rule", Some(&rid)),
            s("delete", "notifier", Some(&nid)),
            s("create", "token", Some(&tid)),
            s("revoke", "token", Some(&tid)),
        ]
    );
    let (_, by_admin) = app.get("/audit?actor=bootstrap").await;
    assert_eq!(by_admin["items"][0]["action"], "create");
    assert_eq!(by_admin["items"][0]["object"], "token");
    assert_eq!(by_admin["items"][0]["detail"]["name"], "ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_publishing_past_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let app = spawn_app_with(&[("HERALD_INGEST_RATE", "1")]).await;
    let burst: Vec<Value> = (0..1000)
        .map(|i| json!({"source": "load", "category": "system", "kind": format!("k{i}")}))
        .collect();
    let (status, body) = app.post("/events", Value::Array(burst)).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a burst of 1,000 passes: {body}"
    );
    let response = app
        .http
        .post(app.url("/api/v1/events"))
        .json(&json!({"source": "load", "category": "system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("bootstrap"),
        "{body}"
    );

    let other = client_with_token(&token(&app, "other", "publisher").await);
    let response = other
        .post(app.url("/api/v1/events"))
        .json(&json!({"source": "other", "category": "system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "the limit is per token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_token_create_prints_a_token_that_works_and_is_audited() {
    let app = spawn_app().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "from-shell",
        ])
        .envs(app.env())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plain = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(plain.starts_with("hrld_"), "{plain}");
    assert_eq!(reads_with(&app, &plain).await, StatusCode::OK);
    let (_, audit) = app.get("/audit?actor=herald").await;
    assert_eq!(audit["items"][0]["action"], "create");
    assert_eq!(audit["items"][0]["detail"]["name"], "from-shell");

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["token", "create", "--role", "root", "--name", "x"])
        .envs(app.env())
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("admin, publisher or viewer"));
}

#[test]
fn a_short_bootstrap_token_is_refused_at_start() {
    let vars = [("HERALD_BOOTSTRAP_TOKEN", "short")];
    let err = herald::Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap_err();
    assert_eq!(err.name, "HERALD_BOOTSTRAP_TOKEN");
    assert!(err.to_string().contains("32"), "{err}");
}
