//! Secrets bound to their notifier: a masked secret is kept only while the
//! notifier sends where it did, sealed values are never accepted as input nor
//! open in another notifier, `herald rekey` moves everything to the current
//! key, credentials never travel over plain SMTP, and no key means no start.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TestApp, spawn_app, spawn_app_with};

pub(crate) async fn database(app: &TestApp) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A notifier's settings as stored: secrets sealed.
pub(crate) async fn stored_config(app: &TestApp, id: Uuid) -> Value {
    database(app)
        .await
        .query_one("SELECT config FROM notifiers WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

/// A webhook `hook` to `/in` on `sink` whose `Authorization` header is a
/// secret, and how the API answers it.
pub(crate) async fn hook_with_token(app: &TestApp, sink: &HttpSink) -> (Uuid, Value) {
    let id = app
        .webhook(
            "hook",
            &sink.url("/in"),
            json!({"headers": {"Authorization": "Bearer t0p-s3cr3t"}}),
        )
        .await;
    let (_, read) = app.get(&format!("/notifiers/{id}")).await;
    (id, read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_secret_is_not_carried_to_a_new_destination() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let elsewhere = HttpSink::start().await;
    let (id, read) = hook_with_token(&app, &sink).await;
    assert_eq!(read["config"]["headers"]["Authorization"], "********");

    let mut moved = read["config"].clone();
    moved["url"] = json!(elsewhere.url("/steal"));
    let (status, body) = app
        .put(
            &format!("/notifiers/{id}"),
            json!({"name": "hook", "kind": "webhook", "config": moved}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"],
        "config.headers.Authorization: enter the secret again: the destination changed"
    );
    let (status, tested) = app.post(&format!("/notifiers/{id}/test"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    let got = sink.wait_delivered("/in", 1, SOON).await;
    assert_eq!(got[0].header("authorization"), Some("Bearer t0p-s3cr3t"));
    assert!(
        elsewhere.requests().is_empty(),
        "nothing went to the new host"
    );

    // The same host keeps the secret; a new host with the secret given again is fine.
    let mut renamed = read["config"].clone();
    renamed["method"] = json!("PUT");
    let (status, body) = app
        .put(
            &format!("/notifiers/{id}"),
            json!({"name": "renamed", "kind": "webhook", "config": renamed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut given = moved.clone();
    given["headers"]["Authorization"] = json!("Bearer for-the-new-host");
    let (status, body) = app
        .put(
            &format!("/notifiers/{id}"),
            json!({"name": "hook", "kind": "webhook", "config": given}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_smtp_password_is_refused_when_the_host_port_or_security_changes() {
    let app = spawn_app().await;
    let config = json!({
        "host": "127.0.0.1", "port": 2525, "security": "starttls", "tls_verify": true,
        "username": "herald", "password": "s3cret",
        "from": "herald@example.com", "to": ["ops@example.com"]
    });
    let id = app.notifier("mail", "email", config).await;
    let (_, read) = app.get(&format!("/notifiers/{id}")).await;
    assert_eq!(read["config"]["password"], "********");
    for (key, value) in [
        ("host", json!("localhost")),
        ("port", json!(2526)),
        ("security", json!("tls")),
        ("tls_verify", json!(false)),
    ] {
        let mut changed = read["config"].clone();
        changed[key] = value;
        let (status, body) = app
            .put(
                &format!("/notifiers/{id}"),
                json!({"name": "mail", "kind": "email", "config": changed}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
        assert_eq!(body["field"], "config.password", "{key}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_value_pasted_as_input_is_refused() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let (id, _) = hook_with_token(&app, &sink).await;
    let sealed = stored_config(&app, id).await["headers"]["Authorization"].clone();
    assert!(
        sealed.as_str().unwrap().starts_with("$herald$v2$"),
        "{sealed}"
    );
    for value in [sealed, json!("$herald$v1$AAAA")] {
        let config = json!({"url": sink.url("/copy"), "headers": {"Authorization": value}});
        let (status, body) = app
            .post(
                "/notifiers",
                json!({"name": "copy", "kind": "webhook", "config": config}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "config.headers.Authorization", "{body}");
        let (status, body) = app
            .put(
                &format!("/notifiers/{id}"),
                json!({"name": "hook", "kind": "webhook", "config": config}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_value_copied_into_another_notifier_does_not_open_there() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let (source, _) = hook_with_token(&app, &sink).await;
    let target = app
        .webhook(
            "target",
            &sink.url("/target"),
            json!({"headers": {"Authorization": "Bearer mine"}}),
        )
        .await;
    let stolen = stored_config(&app, source).await["headers"]["Authorization"].clone();
    // Someone with write access to the database, but not the key.
    database(&app)
        .await
        .execute(
            "UPDATE notifiers SET config = jsonb_set(config, '{headers,Authorization}', $2), updated_at = now() WHERE id = $1",
            &[&target, &stolen],
        )
        .await
        .unwrap();
    let (status, body) = app
        .post(&format!("/notifiers/{target}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        sink.requests().is_empty(),
        "nothing was sent with the stolen value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_rekey_reseals_under_the_new_key_and_the_old_key_can_go() {
    let old = herald_model::SecretKey::generate_base64();
    let new = herald_model::SecretKey::generate_base64();
    let app = spawn_app_with(&[("HERALD_SECRET_KEY", &old)]).await;
    let sink = HttpSink::start().await;
    let (id, _) = hook_with_token(&app, &sink).await;
    let new_id = herald_model::SecretKey::from_base64(&new)
        .unwrap()
        .id()
        .to_owned();

    let keyring = format!("{new},{old}");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("rekey")
        .envs(app.env())
        .env("HERALD_SECRET_KEYS", &keyring)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8(output.stdout).unwrap();
    assert!(said.contains("re-sealed 1 of 1"), "{said}");
    let sealed = stored_config(&app, id).await["headers"]["Authorization"].clone();
    assert!(
        sealed
            .as_str()
            .unwrap()
            .starts_with(&format!("$herald$v2${new_id}$")),
        "{sealed}"
    );

    // A Herald holding only the new key opens it.
    let mut vars = app.vars.clone();
    vars.insert("HERALD_SECRET_KEY".into(), new.clone());
    let config = herald::Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let only_new = herald::start(
        &config,
        herald::Roles {
            api: true,
            ..herald::Roles::NONE
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}/api/v1/notifiers/{id}/test", only_new.addr);
    let tested = app.http.post(url).json(&json!({})).send().await.unwrap();
    assert_eq!(tested.status(), StatusCode::OK);
    let got = sink.wait_delivered("/in", 1, SOON).await;
    assert_eq!(got[0].header("authorization"), Some("Bearer t0p-s3cr3t"));
    only_new.stop().await;

    let (_, audit) = app.get("/audit?object=notifier&actor=herald").await;
    assert_eq!(audit["items"][0]["action"], "rekey", "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_credentials_over_plain_smtp_are_refused() {
    let app = spawn_app().await;
    let config = json!({
        "host": "127.0.0.1", "security": "none", "username": "herald", "password": "s3cret",
        "from": "herald@example.com", "to": ["ops@example.com"]
    });
    let (status, body) = app
        .post(
            "/notifiers",
            json!({"name": "mail", "kind": "email", "config": config}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.security", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_herald_refuses_to_start_and_names_herald_keygen() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("herald-nokey-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("api")
        .envs(app.env())
        .env_remove("HERALD_SECRET_KEY")
        .env("HERALD_SECRET_KEY_FILE", dir.join("herald-secret.key"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("herald keygen"), "{said}");
    assert!(!dir.join("herald-secret.key").exists(), "no key was made");
}
