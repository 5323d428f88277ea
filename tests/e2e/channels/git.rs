//! GitHub and GitLab comments: the issue number comes from a template.

use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_gets_a_comment_on_the_pull_request_the_event_names() {
    let app = spawn_app().await;
    let gh = HttpSink::start().await;
    let path = "/repos/acme/web/issues/1347/comments";
    gh.script(
        path,
        [Reply::json(
            403,
            json!({"message": "API rate limit exceeded for installation"}),
        )
        .with_header("retry-after", "1")],
    );
    gh.reply(path, Reply::json(201, json!({"id": 1, "body": "x"})));
    let (notifier, event) = route(
        &app,
        "github",
        json!({"token": "ghp_secret", "repo": "acme/web", "number": "{{ event.labels.pr }}",
            "api_url": gh.url("")}),
        json!({"source": "ci", "category": "job", "kind": "failed", "severity": "warning",
            "title": "Tests failed", "labels": {"pr": "1347"}, "url": "https://ci.example/9"}),
    )
    .await;
    assert_eq!(
        app.wait_notification(event, notifier, "sent", SOON).await["attempts"],
        2
    );
    let got = requests(&gh, path, 2).await;
    assert_eq!(got[1].header("authorization"), Some("Bearer ghp_secret"));
    assert_eq!(got[1].header("accept"), Some("application/vnd.github+json"));
    assert_eq!(got[1].header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(
        body(&got[1]),
        json!({"body": "**[WARNING] Tests failed**\n\nci · job/failed · pr=1347\n\n[Open](https://ci.example/9)"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_the_number_fails_for_good_naming_the_setting() {
    let app = spawn_app().await;
    let gh = HttpSink::start().await;
    let (notifier, event) = route(
        &app,
        "github",
        json!({"token": "t", "repo": "acme/web", "number": "{{ event.labels.pr | default('') }}",
            "api_url": gh.url("")}),
        json!({"source": "ci", "category": "job", "kind": "failed"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "config.number rendered ``").await;
    assert!(gh.requests().is_empty());
    let (status, answer) = app
        .post(
            "/notifiers",
            json!({"name": "g", "kind": "github",
            "config": {"token": "t", "repo": "acme", "number": "1"}}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), answer["field"].as_str()),
        (400, Some("config.repo"))
    );
    let (status, answer) = app
        .post(
            "/notifiers",
            json!({"name": "g", "kind": "github",
            "config": {"token": "t", "repo": "acme/web", "number": "{{ event.labels.pr"}}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), answer["field"].as_str()),
        (400, Some("config.number"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_gets_a_note_on_the_merge_request_of_a_project_by_path() {
    let app = spawn_app().await;
    let gl = HttpSink::start().await;
    let path = "/api/v4/projects/acme%2Fweb/merge_requests/42/notes";
    gl.reply(path, Reply::json(201, json!({"id": 302, "body": "x"})));
    let issue = "/api/v4/projects/7/issues/3/notes";
    gl.reply(
        issue,
        Reply::json(404, json!({"message": "404 Issue Not Found"})),
    );
    let (notifier, event) = route(
        &app,
        "gitlab",
        json!({"token": "glpat-secret", "project": "acme/web", "number": "{{ event.labels.mr }}",
            "api_url": gl.url("")}),
        json!({"source": "ci", "category": "job", "kind": "succeeded", "title": "Pipeline passed",
            "labels": {"mr": "42"}}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&gl, path, 1).await;
    assert_eq!(got[0].header("private-token"), Some("glpat-secret"));
    assert_eq!(
        body(&got[0]),
        json!({"body": "**[INFO] Pipeline passed**\n\nci · job/succeeded · mr=42"})
    );
    let (missing, event) = route(
        &app,
        "gitlab",
        json!({"token": "glpat-secret", "project": "7", "target": "issue", "number": "3",
            "api_url": gl.url("")}),
        json!({"source": "ci", "category": "job", "kind": "failed"}),
    )
    .await;
    fails_for_good(&app, event, missing, "404 Issue Not Found").await;
}
