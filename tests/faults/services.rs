//! A RabbitMQ restart and a PostgreSQL outage in the middle of the flow.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::serial;
use crate::support::http_sink::SOON;
use crate::support::load::{self, Tally};
use crate::support::{Behaviour, HttpSink, TestApp, spawn_app};

const EVENTS: usize = 2000;
const DRAIN: Duration = Duration::from_secs(180);

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// Brings a stopped service back even when the test fails half-way.
struct Restore(fn());

impl Drop for Restore {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn rabbitmq_start() {
    run("rabbitmqctl", &["-q", "start_app"]);
    run("rabbitmqctl", &["-q", "await_startup"]);
}

fn postgres_cluster() -> String {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL's clusters are under /etc/postgresql")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    versions.sort();
    versions.pop().unwrap()
}

fn postgres(action: &str) {
    let version = postgres_cluster();
    let mut args = vec![
        "--skip-systemctl-redirect",
        version.as_str(),
        "main",
        action,
    ];
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    run("pg_ctlcluster", &args);
}

fn postgres_start() {
    let _ = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            &postgres_cluster(),
            "main",
            "start",
        ])
        .status();
}

/// Publishes EVENTS at a pace while `fault` runs once the flow is under way,
/// then waits for every delivery.
async fn under_fault(
    app: &TestApp,
    sink: &HttpSink,
    fault: impl std::future::Future<Output = ()>,
) -> Tally {
    let hook = app.webhook("sink", &sink.url("/flow"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events = load::events(EVENTS, json!({}));
    let ids = load::ids(&events);
    let publishing = load::publish_paced(app, &events, 20, Duration::from_millis(20));
    let faulting = async {
        sink.wait_delivered("/flow", 300, SOON).await;
        fault.await;
    };
    tokio::join!(publishing, faulting);
    let tally = load::wait_all(sink, "/flow", &ids, DRAIN).await;
    println!("{tally}");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_rabbitmq_while_2000_events_flow_loses_nothing() {
    let _serial = serial().await;
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Delay(2));
    let tally = under_fault(&app, &sink, async {
        let _restore = Restore(rabbitmq_start);
        tokio::task::spawn_blocking(|| run("rabbitmqctl", &["-q", "stop_app"]))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.duplicated, 0, "{tally}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postgresql_for_ten_seconds_mid_flow_loses_nothing() {
    let _serial = serial().await;
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Delay(2));
    let tally = under_fault(&app, &sink, async {
        let _restore = Restore(postgres_start);
        tokio::task::spawn_blocking(|| postgres("stop"))
            .await
            .unwrap();
        // The outage itself is what this test is about: it lasts ten seconds.
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.duplicated, 0, "{tally}");
}
