//! The admin web page in a real headless Chromium: signing in with a token, a
//! webhook notifier made and tested from its form, a rule with its preview,
//! an event seen in the feed with its explanation, a failed delivery replayed
//! from the failures page, silences and monitors; and what keeps the session
//! safe: the cookie's flags, the CSRF token, the token's role, a wrong token.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, Browser, HttpSink, TestApp, eventually, spawn_app};

/// Signs the browser in with `token`, landing on the overview.
async fn sign_in(browser: &Browser, token: &str) {
    browser.goto("/sign-in").await;
    browser.fill("#token", token).await;
    browser.click("form.sign-in button[type=submit]").await;
    browser.wait_text("main h1", "Overview").await;
}

/// The id in a page path such as `/notifiers/<id>`.
fn id_in(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

async fn notifications_of(app: &TestApp, event: &str) -> Vec<Value> {
    app.notifications(&format!("event_id={event}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_configures_tests_watches_and_replays_from_the_browser() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let browser = Browser::start(&app.url("")).await;

    // Every page sends a browser that has not signed in to the sign-in page.
    browser.goto("/notifiers").await;
    assert_eq!(browser.path().await, "/sign-in");
    browser.screenshot("sign-in").await;
    sign_in(&browser, app.admin_token()).await;

    // A webhook notifier, from the form its kind's schema builds.
    browser.goto("/notifiers/new?kind=webhook").await;
    browser.fill("#name", "ops-hook").await;
    browser.fill("#description", "the on-call webhook").await;
    browser
        .fill("[name='config.url']", &sink.url("/hook"))
        .await;
    browser.fill("[name='config.max_attempts']", "2").await;
    browser.screenshot("notifier-form").await;
    browser.click("#save").await;
    browser.wait_text(".notice.ok", "Created.").await;
    let hook = id_in(&browser.path().await);
    let (status, stored) = app.get(&format!("/notifiers/{hook}")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["name"], "ops-hook");
    assert_eq!(stored["kind"], "webhook");
    // The URL is a secret: the form shows it masked, as the API does.
    let shown = browser
        .find("[name='config.url']")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(shown.as_deref(), stored["config"]["url"].as_str());
    assert!(
        !shown.unwrap().contains("/hook"),
        "the path of the URL is masked"
    );

    // Test: the sink gets it and the page says so.
    browser.click("form[action$='/test'] button").await;
    browser.wait_text(".notice.ok", "Test sent.").await;
    let tests = sink.wait_delivered("/hook", 1, SOON).await;
    assert_eq!(tests.len(), 1);
    browser.screenshot("notifier").await;

    // A rule sending acme's critical job events there, previewed as typed.
    browser.goto("/rules/new").await;
    browser.fill("#name", "acme-critical").await;
    browser.fill("#scope", "acme").await;
    browser.fill("#severities", "critical").await;
    browser
        .fill(
            "#templates",
            r#"{"body": "{\"text\": \"{{ event.title }} in {{ event.scope }}\"}"}"#,
        )
        .await;
    browser
        .click(&format!("input[name=notifiers][value='{hook}']"))
        .await;
    browser.click("button[data-preview=sample]").await;
    let preview = browser.wait_text("#preview", "Message to ops-hook").await;
    assert!(preview.contains("Build 42 failed in acme/web"), "{preview}");
    browser.screenshot("rule-form").await;
    browser.click("#save").await;
    browser.wait_text(".notice.ok", "Created.").await;
    let (_, rules) = app.get("/rules").await;
    assert_eq!(rules["items"][0]["name"], "acme-critical");
    assert_eq!(rules["items"][0]["notifiers"], json!([hook]));

    // An event: delivered, in the feed, and explained.
    let event = app
        .publish(
            json!({"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
                        "scope": "acme/web", "title": "Deploy 7 failed"}),
        )
        .await[0];
    let delivered = sink.wait_delivered("/hook", 2, SOON).await;
    assert_eq!(delivered[1].json()["text"], "Deploy 7 failed in acme/web");
    browser
        .reload_until("/activity", "#notifications", "sent")
        .await;
    let feed = browser.find("#events").await.text().await.unwrap();
    assert!(feed.contains("Deploy 7 failed"), "{feed}");
    browser.screenshot("activity").await;
    browser
        .click(&format!("#events a[href='/activity/{event}']"))
        .await;
    let explain = browser.wait_text("#explain", "acme-critical").await;
    assert!(explain.contains("yes"), "the rule selected it: {explain}");
    assert!(explain.contains("ops-hook"), "{explain}");
    browser.screenshot("event").await;

    // A delivery that fails until its attempts are spent lands in failures...
    sink.set(Behaviour::Status(500));
    let failing = app
        .publish(
            json!({"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
                        "scope": "acme/api", "title": "Deploy 8 failed"}),
        )
        .await[0];
    let failure = eventually("the failure of the second event", SOON, || async {
        app.failures("")
            .await
            .into_iter()
            .find(|f| f["event_id"] == failing.to_string())
            .ok_or_else(|| "none yet".to_owned())
    })
    .await;
    browser
        .reload_until("/failures", "#failures-form", "ops-hook")
        .await;
    browser.screenshot("failures").await;
    // ...and replayed from there, it is delivered.
    sink.set(Behaviour::Ok);
    browser
        .click(&format!(
            "input[name=ids][value='{}']",
            failure["id"].as_str().unwrap()
        ))
        .await;
    browser.click("button[value=replay]").await;
    browser.wait_text(".notice.ok", "Replay queued.").await;
    eventually("the replayed notification to be sent", SOON, || async {
        let ns = notifications_of(&app, &failing.to_string()).await;
        if ns.first().is_some_and(|n| n["status"] == "sent") {
            Ok(())
        } else {
            Err(format!("{ns:?}"))
        }
    })
    .await;
    assert!(
        sink.delivered("/hook")
            .iter()
            .any(|r| r.json()["text"] == "Deploy 8 failed in acme/api"),
        "the sink got the replayed delivery"
    );
    browser
        .reload_until("/failures", "main", "No open failure")
        .await;

    // Silences and monitors: made from their pages, listed there.
    browser.goto("/silences").await;
    browser.fill("#silence-form [name=source]", "ci").await;
    browser
        .fill("#silence-form [name=labels]", "env=staging")
        .await;
    browser
        .fill("#silence-form [name=comment]", "migrating staging")
        .await;
    browser.click("#silence-form button[type=submit]").await;
    browser.wait_text(".notice.ok", "Created.").await;
    let listed = browser.wait_text("table", "migrating staging").await;
    assert!(listed.contains("labels.env=staging"), "{listed}");
    browser.screenshot("silences").await;
    browser.goto("/monitors").await;
    browser
        .fill("#monitor-form [name=name]", "billing-quiet")
        .await;
    browser.fill("#monitor-form [name=source]", "billing").await;
    browser.fill("#monitor-form [name=silent_for]", "30m").await;
    browser.click("#monitor-form button[type=submit]").await;
    browser.wait_text(".notice.ok", "Created.").await;
    browser.wait_text("table", "billing-quiet").await;
    browser.screenshot("monitors").await;
    let (_, monitors) = app.get("/monitors").await;
    assert_eq!(monitors["items"][0]["name"], "billing-quiet");

    // The lists and the overview, with what happened counted.
    browser.goto("/notifiers").await;
    browser.wait_text("table", "ops-hook").await;
    browser.screenshot("notifiers").await;
    browser.goto("/rules").await;
    browser.wait_text("table", "acme-critical").await;
    browser.screenshot("rules").await;
    browser.goto("/").await;
    // Labels are shown in capitals (CSS): compared without case.
    let overview = browser.wait_text("main .tiles", "up").await.to_lowercase();
    for tile in ["broker", "database", "events / min", "pending failures"] {
        assert!(overview.contains(tile), "{tile} in {overview}");
    }
    assert!(
        browser.has("table.compact .badge.sent").await,
        "the outcomes are counted"
    );
    browser.screenshot("overview").await;

    // Signing out ends the session.
    browser
        .click("header form[action='/sign-out'] button")
        .await;
    browser.wait_text("main h1", "Sign in").await;
    browser.goto("/").await;
    assert_eq!(browser.path().await, "/sign-in");
    browser.close().await;
}

/// A plain HTTP client that keeps redirects for the test to see.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `herald_session=...` pair of a sign-in's `Set-Cookie`.
async fn session_of(app: &TestApp, token: &str) -> (StatusCode, Option<String>) {
    let answer = http()
        .post(app.url("/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = answer
        .headers()
        .get(SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    (answer.status(), cookie)
}

/// The CSRF token of the page at `path`, as the session `cookie` sees it.
async fn csrf_of(app: &TestApp, cookie: &str, path: &str) -> String {
    let page = http()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page
        .find(r#"name="csrf" value=""#)
        .expect("the page has a CSRF field")
        + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_http_only_strict_csrf_checked_and_bound_to_the_tokens_role() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.url("")).await;

    // A wrong token does not sign in.
    browser.goto("/sign-in").await;
    browser.fill("#token", "hrld_not-a-real-token").await;
    browser.click("form.sign-in button[type=submit]").await;
    browser
        .wait_text(".notice.error", "unknown, expired or revoked")
        .await;
    assert_eq!(browser.path().await, "/sign-in");
    assert!(browser.client.get_all_cookies().await.unwrap().is_empty());

    // The browser holds the session as an HttpOnly, SameSite=Strict cookie
    // that is not the token.
    sign_in(&browser, app.admin_token()).await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "herald_session")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert!(
        !session.value().contains(app.admin_token()),
        "the cookie does not carry the token in the clear"
    );
    let scripts_see: Value = browser
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert_eq!(scripts_see, json!(""), "no script reads the session");
    browser.close().await;

    // The sign-in answers the same flags over plain HTTP (no `Secure`: Herald
    // is not behind TLS here).
    let answer = http()
        .post(app.url("/sign-in"))
        .form(&[("token", app.admin_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/");
    let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let admin = set.split(';').next().unwrap().to_owned();

    // A POST without the session's CSRF token is refused, and changes nothing.
    let form = [
        ("kind", "webhook"),
        ("name", "forged"),
        ("config.url", "http://127.0.0.1:9/x"),
    ];
    let forged = http()
        .post(app.url("/notifiers"))
        .header(COOKIE, &admin)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong: Vec<(&str, &str)> = form.iter().copied().chain([("csrf", "guessed")]).collect();
    let guessed = http()
        .post(app.url("/notifiers"))
        .header(COOKIE, &admin)
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_of(&app, &admin, "/notifiers/new").await;
    let mut other_site = form.to_vec();
    other_site.push(("csrf", &csrf));
    let cross = http()
        .post(app.url("/notifiers"))
        .header(COOKIE, &admin)
        .header("Origin", "https://evil.example")
        .form(&other_site)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let (_, listed) = app.get("/notifiers").await;
    assert_eq!(listed["items"], json!([]), "nothing was created");
    // With it, the same form creates.
    let made = http()
        .post(app.url("/notifiers"))
        .header(COOKIE, &admin)
        .form(&other_site)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let (_, listed) = app.get("/notifiers").await;
    assert_eq!(listed["items"][0]["name"], "forged");

    // A viewer signs in and sees, but cannot create: the API's answer names
    // the role needed.
    let (status, body) = app
        .post("/tokens", json!({"name": "watcher", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, viewer) = session_of(&app, body["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let viewer = viewer.expect("a viewer gets a session");
    let page = http()
        .get(app.url("/notifiers"))
        .header(COOKIE, &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("forged"), "a viewer sees the notifiers");
    assert!(
        !page.contains("New notifier"),
        "a viewer is offered no change"
    );
    let csrf = csrf_of(&app, &viewer, "/notifiers").await;
    let attempt = [
        ("kind", "webhook"),
        ("name", "by-viewer"),
        ("config.url", "http://127.0.0.1:9/x"),
        ("csrf", &csrf),
    ];
    let refused = http()
        .post(app.url("/notifiers"))
        .header(COOKIE, &viewer)
        .form(&attempt)
        .send()
        .await
        .unwrap();
    let text = refused.text().await.unwrap();
    assert!(text.contains("this needs the admin role"), "{text}");
    let (_, listed) = app.get("/notifiers").await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "the viewer created nothing"
    );

    // A publisher token cannot sign in: it may not view.
    let (_, body) = app
        .post("/tokens", json!({"name": "ci", "role": "publisher"}))
        .await;
    let (status, cookie) = session_of(&app, body["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(cookie, None);
}
