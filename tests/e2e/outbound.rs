//! The outbound guard: destinations that are not public addresses are
//! refused (literal ones on save, names at send time, for good) unless
//! `HERALD_OUTBOUND_ALLOW` allows them, for HTTP, SMTP, IRC and OAuth token
//! endpoints; and a test send does not relay what an endpoint answered.

use herald::Roles;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::channels::route;
use crate::channels::test_send::http_kinds;
use crate::support::http_sink::SOON;
use crate::support::{
    HttpSink, Reply, TestApp, eventually, spawn_app, spawn_app_with, spawn_roles,
};

/// No exception to the guard: what a production instance does by default.
const NO_ALLOW_LIST: &[(&str, &str)] = &[("HERALD_OUTBOUND_ALLOW", "")];

/// A notifier that must be refused on save: 400 naming `field`, and the
/// error names the variable that would allow it.
async fn refused_on_save(app: &TestApp, kind: &str, config: Value, field: &str) {
    let (status, body) = app
        .post(
            "/notifiers",
            json!({"name": format!("n-{}", Uuid::new_v4()), "kind": kind, "config": config}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{config}: {body}");
    assert_eq!(body["field"], field, "{config}: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HERALD_OUTBOUND_ALLOW"),
        "{body}"
    );
}

/// Waits until the notification failed at its first attempt, for good, with
/// the guard's refusal recorded on it and in the error table; answers the
/// error.
async fn refused_at_send(app: &TestApp, event: Uuid, notifier: Uuid) -> String {
    let failed = app.wait_notification(event, notifier, "failed", SOON).await;
    assert_eq!(failed["attempts"], 1, "not retried: {failed}");
    let error = failed["last_error"].as_str().unwrap().to_owned();
    assert!(error.contains("HERALD_OUTBOUND_ALLOW"), "{failed}");
    let id = failed["id"].clone();
    let failure = eventually("the failure record", SOON, || async {
        let all = app.failures(&format!("notifier_id={notifier}")).await;
        all.into_iter()
            .find(|f| f["notification_id"] == id)
            .ok_or_else(|| "none yet".to_owned())
    })
    .await;
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("HERALD_OUTBOUND_ALLOW"),
        "{failure}"
    );
    error
}

fn event() -> Value {
    json!({"source": "ci", "category": "system"})
}

#[tokio::test]
async fn literal_private_loopback_link_local_and_special_addresses_are_refused_on_save_naming_the_field()
 {
    let app = spawn_app_with(NO_ALLOW_LIST).await;
    for host in [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "[::1]",
        "[fc00::1]",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "[::ffff:192.168.0.1]",
    ] {
        let url = format!("http://{host}:8080/hook");
        refused_on_save(&app, "webhook", json!({"url": url}), "config.url").await;
    }
    // Every HTTP kind, by the setting that names where it connects.
    for (kind, config) in http_kinds("http://10.0.0.1:8080") {
        let (status, body) = app
            .post(
                "/notifiers",
                json!({"name": format!("n-{}", Uuid::new_v4()), "kind": kind, "config": config}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind}: {body}");
        assert!(
            body["field"].as_str().unwrap().starts_with("config."),
            "{kind}: {body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("HERALD_OUTBOUND_ALLOW"),
            "{kind}: {body}"
        );
    }
    // An update too, and a public address still saves.
    let hook = app
        .webhook("public", "https://hooks.example.com/T0/B0", json!({}))
        .await;
    let (status, body) = app
        .put(
            &format!("/notifiers/{hook}"),
            json!({"name": "public", "kind": "webhook", "config": {"url": "http://192.168.1.1/"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_resolving_to_loopback_fails_at_send_time_for_good_without_reaching_it() {
    let app = spawn_app_with(NO_ALLOW_LIST).await;
    let sink = HttpSink::start().await;
    let url = sink.url("/hook").replace("127.0.0.1", "localhost");
    let (hook, event) = route(&app, "webhook", json!({"url": url}), event()).await;
    let error = refused_at_send(&app, event, hook).await;
    assert!(error.contains("localhost resolves to"), "{error}");
    assert!(sink.requests().is_empty(), "nothing reached the endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_admits_a_cidr_and_a_host_name_and_nothing_else() {
    let app = spawn_app_with(&[("HERALD_OUTBOUND_ALLOW", "127.0.0.0/8, localhost")]).await;
    let sink = HttpSink::start().await;
    let by_address = app
        .webhook("by-address", &sink.url("/by-address"), json!({}))
        .await;
    let by_name_url = sink.url("/by-name").replace("127.0.0.1", "localhost");
    let by_name = app.webhook("by-name", &by_name_url, json!({})).await;
    app.rule(json!({"notifiers": [by_address, by_name]})).await;
    let event = app.publish(event()).await[0];
    for hook in [by_address, by_name] {
        app.wait_notification(event, hook, "sent", SOON).await;
    }
    assert_eq!(sink.delivered_count("/by-address"), 1);
    assert_eq!(sink.delivered_count("/by-name"), 1);
    refused_on_save(
        &app,
        "webhook",
        json!({"url": "http://10.0.0.1/"}),
        "config.url",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_host_is_refused_on_save_by_address_and_at_send_time_by_name() {
    let app = spawn_app_with(NO_ALLOW_LIST).await;
    let email = |host: &str| {
        json!({"host": host, "port": 2525, "security": "none",
               "from": "herald@example.com", "to": ["ops@example.com"]})
    };
    refused_on_save(&app, "email", email("192.168.0.25"), "config.host").await;
    refused_on_save(&app, "email", email("::1"), "config.host").await;
    let (mail, event) = route(&app, "email", email("localhost"), event()).await;
    refused_at_send(&app, event, mail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_server_is_refused_on_save_by_address_and_at_send_time_by_name() {
    let app = spawn_app_with(NO_ALLOW_LIST).await;
    let irc = |server: &str| json!({"server": server, "port": 6667, "nickname": "herald", "targets": ["#ops"]});
    refused_on_save(&app, "irc", irc("10.0.0.7"), "config.server").await;
    let (notifier, event) = route(&app, "irc", irc("localhost"), event()).await;
    refused_at_send(&app, event, notifier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_token_url_is_refused_on_save_by_address_and_at_send_time_by_name() {
    let app = spawn_app_with(NO_ALLOW_LIST).await;
    let tokens = HttpSink::start().await;
    let email = |token_url: &str| {
        json!({"host": "smtp.example.com", "port": 587, "from": "herald@example.com",
               "to": ["ops@example.com"], "auth": "oauth2", "token_url": token_url,
               "client_id": "herald", "client_secret": "s3cr3t"})
    };
    refused_on_save(
        &app,
        "email",
        email("http://169.254.169.254/latest/meta-data/iam"),
        "config.token_url",
    )
    .await;
    let by_name = tokens.url("/token").replace("127.0.0.1", "localhost");
    let (mail, event) = route(&app, "email", email(&by_name), event()).await;
    let error = refused_at_send(&app, event, mail).await;
    assert!(error.contains("OAuth token endpoint"), "{error}");
    assert!(
        tokens.requests().is_empty(),
        "the token endpoint was not asked"
    );
}

#[tokio::test]
async fn a_test_send_answers_the_status_but_not_what_the_endpoint_said() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let secret = "internal-admin-page: db password hunter2";
    sink.reply("/hook", Reply::text(404, secret));
    let hook = app.webhook("hook", &sink.url("/hook"), json!({})).await;
    let (status, body) = app
        .post(&format!("/notifiers/{hook}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("HTTP 404"), "{body}");
    assert!(!body.to_string().contains("hunter2"), "{body}");
}

#[tokio::test]
async fn a_test_send_is_refused_naming_the_field_when_the_instance_does_not_allow_the_saved_address()
 {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("loopback", &sink.url("/hook"), json!({})).await;
    // A second instance on the same database and broker, without the
    // allow list the notifier was saved under.
    let mut shared: Vec<(&str, &str)> = [
        "HERALD_DATABASE_URL",
        "HERALD_AMQP_PREFIX",
        "HERALD_SECRET_KEY",
        "HERALD_BOOTSTRAP_TOKEN",
    ]
    .into_iter()
    .map(|name| (name, app.vars[name].as_str()))
    .collect();
    shared.extend_from_slice(NO_ALLOW_LIST);
    let strict = spawn_roles(
        Roles {
            api: true,
            ..Roles::NONE
        },
        &shared,
    )
    .await;
    let (status, body) = strict
        .post(&format!("/notifiers/{hook}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "config.url");
    assert!(sink.requests().is_empty(), "nothing was sent");
}
