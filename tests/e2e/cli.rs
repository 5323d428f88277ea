//! The `herald` binary as a user runs it against a live instance: the API
//! commands with their tables, JSON and exit codes, bulk replay, and the
//! broker-side `emit` exiting cleanly or naming why the broker refused it.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, TestApp, eventually, spawn_app};

/// What one run of the binary left.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", self.stdout))
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }
}

/// Runs `herald args…` against `app`'s API with its admin token, plus `env`.
pub async fn herald(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Run {
    herald_at(&app.url(""), app.admin_token(), args, env).await
}

pub async fn herald_at(url: &str, token: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("HERALD_URL", url)
        .env("HERALD_TOKEN", token)
        .env_remove("HERALD_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the herald binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One line of error on stderr, and it says `needle`.
fn one_error(run: &Run, needle: &str) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains(needle), "`{needle}` in: {}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_is_created_listed_tested_and_deleted_from_the_command_line() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let config = json!({"url": sink.url("/hook/secret-path")}).to_string();
    let created = herald(
        &app,
        &[
            "notifiers",
            "create",
            "--name",
            "ops-hook",
            "--kind",
            "webhook",
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    let table = created.ok();
    assert!(
        table.contains("ops-hook") && table.contains("webhook"),
        "{table}"
    );
    assert!(
        !table.contains("secret-path"),
        "secrets stay masked: {table}"
    );

    let listed = herald(&app, &["notifiers", "list", "--output", "json"], &[]).await;
    listed.ok();
    let (_, api) = app.get("/notifiers").await;
    assert_eq!(listed.json(), api, "--output json is the API's answer");
    let id = api["items"][0]["id"].as_str().unwrap().to_owned();

    let table = herald(&app, &["notifiers", "list"], &[]).await;
    for heading in ["ID", "NAME", "KIND"] {
        assert!(table.ok().contains(heading), "{}", table.stdout);
    }
    assert!(table.stdout.contains(&id), "{}", table.stdout);

    let by_name = herald(&app, &["notifiers", "get", "ops-hook", "-o", "json"], &[]).await;
    by_name.ok();
    assert_eq!(by_name.json()["id"], id.as_str());

    let tested = herald(&app, &["notifiers", "test", "ops-hook"], &[]).await;
    assert!(tested.ok().contains("sent"), "{}", tested.stdout);
    sink.wait_delivered("/hook/secret-path", 1, SOON).await;

    herald(&app, &["notifiers", "delete", &id], &[]).await.ok();
    let gone = herald(&app, &["notifiers", "get", &id], &[]).await;
    assert_eq!(gone.code, 3, "not found: {}", gone.stderr);
    one_error(&gone, "not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_usage_not_found_auth_refusal_and_connection_apart() {
    let app = spawn_app().await;

    let usage = herald(&app, &["notifiers", "list", "--no-such-flag"], &[]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let missing = herald(&app, &["rules", "get", &Uuid::new_v4().to_string()], &[]).await;
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    one_error(&missing, "not found");
    let unnamed = herald(&app, &["notifiers", "get", "nobody"], &[]).await;
    assert_eq!(unnamed.code, 3);
    one_error(&unnamed, "no notifier named `nobody`");

    let refused = herald_at(&app.url(""), "not-a-token", &["notifiers", "list"], &[]).await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    one_error(&refused, "HTTP 401");

    let invalid = herald(
        &app,
        &[
            "notifiers",
            "create",
            "--name",
            "x",
            "--kind",
            "carrier-pigeon",
            "--config",
            "{}",
        ],
        &[],
    )
    .await;
    assert_eq!(invalid.code, 5, "{}", invalid.stderr);
    one_error(&invalid, "kind");

    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = herald_at(
        &format!("http://127.0.0.1:{port}"),
        app.admin_token(),
        &["notifiers", "list"],
        &[],
    )
    .await;
    assert_eq!(down.code, 6, "{}", down.stderr);
    one_error(
        &down,
        &format!("cannot reach the API at http://127.0.0.1:{port}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_failures_are_replayed_at_once_with_a_progress_bar_on_a_terminal() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(500));
    let hook = app
        .webhook(
            "flaky",
            &sink.url("/flaky"),
            json!({"max_elapsed": "1s", "max_attempts": 1}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events = app
        .publish(json!([
            {"source": "ci", "category": "job", "kind": "failed", "title": "one"},
            {"source": "ci", "category": "job", "kind": "failed", "title": "two"},
            {"source": "ci", "category": "job", "kind": "failed", "title": "three"},
        ]))
        .await;
    eventually("three pending failures", SOON, || async {
        let pending = app.failures("status=pending").await.len();
        if pending == 3 {
            Ok(())
        } else {
            Err(format!("{pending} pending"))
        }
    })
    .await;
    let listed = herald(&app, &["failures", "list", "--notifier", "flaky"], &[]).await;
    assert_eq!(listed.ok().matches("flaky").count(), 3, "{}", listed.stdout);

    sink.set(Behaviour::Ok);
    // On a terminal (a pseudo-terminal from `script`), the bar is drawn.
    let command = format!(
        "{} failures replay --all --notifier flaky",
        env!("CARGO_BIN_EXE_herald")
    );
    let tty = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HERALD_URL", app.url(""))
        .env("HERALD_TOKEN", app.admin_token())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(shown.contains("3/3"), "a progress bar: {shown}");
    assert!(shown.contains("replay: 3 of 3 failures"), "{shown}");
    for event in &events {
        app.wait_notification(*event, hook, "sent", SOON).await;
    }

    // Not on a terminal: the summary only, nothing on stderr.
    let again = herald(
        &app,
        &["failures", "replay", "--all", "--status", "pending"],
        &[],
    )
    .await;
    assert_eq!(again.ok().trim(), "replay: 0 of 0 failures");
    assert!(again.stderr.is_empty(), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_through_the_api_and_are_explained() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/h"), json!({})).await;
    app.rule(json!({"name": "prod jobs", "labels": {"env": "prod"}, "notifiers": [hook]}))
        .await;
    let emitted = herald(
        &app,
        &[
            "events",
            "emit",
            "--source",
            "ci",
            "--category",
            "job",
            "--kind",
            "failed",
            "--label",
            "env=prod",
        ],
        &[],
    )
    .await;
    let id: Uuid = emitted.ok().trim().parse().expect("the id alone");
    app.wait_notification(id, hook, "sent", SOON).await;
    let listed = herald(&app, &["events", "list", "--source", "ci"], &[]).await;
    assert!(listed.ok().contains(&id.to_string()), "{}", listed.stdout);
    let explained = herald(&app, &["events", "explain", &id.to_string()], &[]).await;
    let text = explained.ok();
    assert!(
        text.contains("prod jobs") && text.contains("sent"),
        "{text}"
    );
}

/// `herald emit` publishes to the broker with the instance's variables.
async fn emit(app: &TestApp, amqp_url: Option<&str>) -> (Run, Duration) {
    let mut env: Vec<(String, String)> = app.env();
    if let Some(url) = amqp_url {
        env.push(("HERALD_AMQP_URL".into(), url.into()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = Instant::now();
    let run = herald(
        app,
        &[
            "emit",
            "--source",
            "cron",
            "--category",
            "job",
            "--kind",
            "succeeded",
        ],
        &env,
    )
    .await;
    (run, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_prints_only_the_id_and_a_wrong_password_is_named_at_once() {
    let app = spawn_app().await;
    // Several runs: the close used to race the exit only now and then.
    for _ in 0..3 {
        let (run, _) = emit(&app, None).await;
        let id: Uuid = run.ok().trim().parse().expect("stdout is the id alone");
        assert!(run.stderr.is_empty(), "nothing else: {}", run.stderr);
        assert_eq!(run.stdout, format!("{id}\n"));
    }

    let wrong = app
        .config
        .amqp_url
        .replacen("guest:guest", "guest:wrong", 1);
    assert_ne!(
        wrong, app.config.amqp_url,
        "the test URL carries guest:guest"
    );
    let (run, took) = emit(&app, Some(&wrong)).await;
    assert_eq!(run.code, 4, "access refused: {}", run.stderr);
    one_error(&run, "ACCESS_REFUSED");
    assert!(took < Duration::from_secs(5), "failed fast: {took:?}");
}
