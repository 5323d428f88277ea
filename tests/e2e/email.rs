//! Email over STARTTLS and implicit TLS with a login, against a real SMTP
//! server with a self-signed certificate; OAuth 2.0 (XOAUTH2) with a token
//! endpoint answering as the protocol documents; traces attached.

use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, SmtpSink, TestApp, certificate, spawn_app};

async fn mail_to(
    app: &TestApp,
    smtp: &SmtpSink,
    security: &str,
    extra: serde_json::Value,
) -> (Uuid, Uuid) {
    let mut config = json!({"security": security, "tls_verify": false});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mail = app.email("secure", smtp, config).await;
    app.rule(json!({"notifiers": [mail]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "title": "secure mail"}))
        .await[0];
    (mail, event)
}

#[tokio::test]
async fn starttls_with_a_login_delivers_and_the_server_sees_the_login() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key, "--auth", "herald:s3cret"]).await;
    let (mail, event) = mail_to(
        &app,
        &smtp,
        "starttls",
        json!({"username": "herald", "password": "s3cret"}),
    )
    .await;
    app.wait_notification(event, mail, "sent", SOON).await;
    let got = smtp.wait_for(1, SOON).await;
    assert_eq!(got[0].login.as_deref(), Some("herald"));
    assert!(
        got[0].subject.ends_with("secure mail"),
        "{}",
        got[0].subject
    );
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--tls", &cert, &key]).await;
    let (mail, event) = mail_to(&app, &smtp, "tls", json!({})).await;
    app.wait_notification(event, mail, "sent", SOON).await;
    assert_eq!(smtp.wait_for(1, SOON).await.len(), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_while_verification_is_on() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key]).await;
    let (mail, event) = mail_to(&app, &smtp, "starttls", json!({"tls_verify": true})).await;
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(
        n["attempts"], 1,
        "a certificate problem is not retried: {n}"
    );
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{n}"
    );
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_failure() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key, "--auth", "herald:s3cret"]).await;
    let (mail, event) = mail_to(
        &app,
        &smtp,
        "starttls",
        json!({"username": "herald", "password": "wrong"}),
    )
    .await;
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(n["attempts"], 1, "{n}");
    assert!(n["last_error"].as_str().unwrap().contains("535"), "{n}");
    assert!(
        !n["last_error"].as_str().unwrap().contains("wrong"),
        "the password leaked: {n}"
    );
}

/// A token endpoint answering as OAuth 2.0 (RFC 6749 §5.1) does.
fn issued(token: &str) -> Reply {
    Reply::json(
        200,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// An SMTP server taking XOAUTH2 after STARTTLS: Herald sends no credentials
/// over a plain connection.
async fn oauth_smtp() -> SmtpSink {
    let (cert, key) = certificate();
    SmtpSink::start_with(&[
        "--starttls",
        &cert,
        &key,
        "--xoauth2",
        "herald@example.com:tok-1",
    ])
    .await
}

async fn oauth_mail(app: &TestApp, smtp: &SmtpSink, idp: &HttpSink, name: &str) -> Uuid {
    let mail = app
        .email(
            name,
            smtp,
            json!({"auth": "oauth2", "username": "herald@example.com",
                "security": "starttls", "tls_verify": false,
                "token_url": idp.url("/oauth2/v2.0/token"), "client_id": "herald-app",
                "client_secret": "cl13nt-s3cret", "scope": "https://outlook.office365.com/.default"}),
        )
        .await;
    app.rule(json!({"notifiers": [mail]})).await;
    mail
}

#[tokio::test]
async fn oauth2_fetches_a_client_credentials_token_once_and_logs_in_with_xoauth2() {
    let app = spawn_app().await;
    let smtp = oauth_smtp().await;
    let idp = HttpSink::start().await;
    idp.script("/oauth2/v2.0/token", [Reply::json(503, json!({}))]);
    idp.reply("/oauth2/v2.0/token", issued("tok-1"));
    let mail = oauth_mail(&app, &smtp, &idp, "o365").await;
    let events = app
        .publish(
            json!([{"source": "ci", "category": "system", "title": "one"},
                        {"source": "ci", "category": "system", "title": "two"}]),
        )
        .await;
    let first = app.wait_notification(events[0], mail, "sent", SOON).await;
    let second = app.wait_notification(events[1], mail, "sent", SOON).await;
    let attempts = first["attempts"].as_u64().unwrap() + second["attempts"].as_u64().unwrap();
    assert_eq!(
        attempts, 3,
        "the endpoint's 503 is retried: {first} {second}"
    );
    let got = smtp.wait_for(2, SOON).await;
    assert!(
        got.iter()
            .all(|m| m.login.as_deref() == Some("herald@example.com"))
    );
    let asked = idp.requests();
    assert_eq!(asked.len(), 2, "one outage, then one token for both mails");
    let request = &asked[1];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "herald-app:cl13nt-s3cret",
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {credentials}").as_str())
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "scope".to_owned(),
                "https://outlook.office365.com/.default".to_owned()
            ),
        ]
    );
    let (_, shown) = app.get(&format!("/notifiers/{mail}")).await;
    assert_eq!(shown["config"]["client_secret"], "********");
}

#[tokio::test]
async fn a_token_the_endpoint_refuses_fails_for_good() {
    let app = spawn_app().await;
    let smtp = oauth_smtp().await;
    let idp = HttpSink::start().await;
    idp.reply(
        "/oauth2/v2.0/token",
        Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "bad secret"}),
        ),
    );
    let mail = oauth_mail(&app, &smtp, &idp, "refused").await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(n["attempts"], 1, "{n}");
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused the client") && error.contains("invalid_client"),
        "{n}"
    );
    assert!(!error.contains("cl13nt"), "the secret leaked: {n}");
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn a_failed_jobs_trace_is_attached_not_inlined() {
    let app = spawn_app().await;
    let smtp = SmtpSink::start().await;
    let mail = app.email("traces", &smtp, json!({})).await;
    app.rule(json!({"notifiers": [mail]})).await;
    let trace =
        "Traceback (most recent call last):\n  File \"deploy.py\", line 7\nKeyError: 'env'\n";
    let event = app
        .publish(
            json!({"source": "awx", "category": "job", "kind": "failed", "severity": "critical",
            "title": "Job 42 failed", "data": {"trace": trace, "exit_code": 2}}),
        )
        .await[0];
    app.wait_notification(event, mail, "sent", SOON).await;
    let got = &smtp.wait_for(1, SOON).await[0];
    assert_eq!(got.attachments.len(), 1, "{got:?}");
    let file = &got.attachments[0];
    assert_eq!(
        (file.filename.as_str(), file.content_type.as_str()),
        ("trace.txt", "text/plain")
    );
    // Text parts travel with CRLF line ends (RFC 2046).
    assert_eq!(file.content.replace("\r\n", "\n"), trace);
    assert!(!got.body.contains("KeyError"), "{}", got.body);
    assert!(got.body.contains("\"exit_code\": 2"), "{}", got.body);
    assert!(got.body.contains("the trace is attached"), "{}", got.body);
}
