//! A RabbitMQ restart and a PostgreSQL outage in the middle of the flow, each
//! five times in a row, against disposable instances of both: the machine's own
//! services are never touched.
//!
//! The scenario is a user's: `herald all` (flush every 5 s, a 20 s retry
//! budget), one webhook notifier to a sink that answers after 2 ms, one rule for
//! everything; 2,000 events posted in batches of 100, a refused batch posted
//! again with the same ids until it is accepted (or published over AMQP,
//! republished until confirmed). Once a tenth has arrived, the fault: RabbitMQ
//! stopped for 3 s, or PostgreSQL for 10 s. Every accepted event must then
//! arrive exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use herald_ingest::Client;
use herald_loadkit::{PgCluster, RabbitNode};
use herald_model::Event;
use serde_json::json;
use uuid::Uuid;

use crate::serial;
use crate::support::http_sink::SOON;
use crate::support::load::{self, Tally};
use crate::support::{Behaviour, HttpSink, TestApp, eventually, spawn_app_with};

const EVENTS: usize = 2000;
const BATCH: usize = 100;
const RUNS: usize = 5;
const DRAIN: Duration = Duration::from_secs(180);

/// How the events reach Herald.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `POST /api/v1/events`, a batch posted again until it gets a 202.
    Http,
    /// The Rust client on `herald.events`, a batch published again until confirmed.
    Amqp,
}

/// What breaks once a tenth of the events arrived.
#[derive(Debug, Clone, Copy)]
enum Fault {
    BrokerRestart,
    DatabaseOutage,
}

/// The disposable services a scenario runs against.
struct Services {
    rabbit: RabbitNode,
    postgres: PgCluster,
}

impl Services {
    async fn start() -> Services {
        let (rabbit, postgres) = tokio::join!(RabbitNode::start(), PgCluster::start());
        Services { rabbit, postgres }
    }

    async fn inject(&self, fault: Fault) {
        match fault {
            Fault::BrokerRestart => {
                self.rabbit.stop_app().await;
                // The outage itself is what is tested: three seconds without a broker.
                tokio::time::sleep(Duration::from_secs(3)).await;
                self.rabbit.start_app().await;
            }
            Fault::DatabaseOutage => {
                self.postgres.stop().await;
                // The outage itself is what is tested: ten seconds without a database.
                tokio::time::sleep(Duration::from_secs(10)).await;
                self.postgres.start_server().await;
            }
        }
    }

    async fn app(&self) -> TestApp {
        let database = format!("herald_fault_{}", Uuid::new_v4().simple());
        spawn_app_with(&[
            ("HERALD_AMQP_URL", &self.rabbit.url()),
            ("HERALD_DATABASE_URL", &self.postgres.url(&database)),
            ("HERALD_FLUSH_INTERVAL", "5s"),
            ("HERALD_RETRY_MAX_ELAPSED", "20s"),
        ])
        .await
    }
}

/// One run of the scenario on fresh queues and a fresh database; its tally.
async fn scenario(services: &Services, via: Via, fault: Fault) -> Tally {
    let app = services.app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Delay(2));
    let hook = app.webhook("sink", &sink.url("/flow"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events = load::events(EVENTS, json!({}));
    let ids = load::ids(&events);
    let publishing = async {
        match via {
            Via::Http => {
                load::publish_paced(&app, &events, BATCH, Duration::from_millis(1)).await;
            }
            Via::Amqp => publish_amqp(&services.rabbit.url(), app.prefix(), &events).await,
        }
    };
    let faulting = async {
        sink.wait_delivered("/flow", EVENTS / 10, SOON).await;
        services.inject(fault).await;
    };
    tokio::join!(publishing, faulting);
    load::wait_all(&sink, "/flow", &ids, DRAIN).await;
    wait_settled(&app, &sink, &ids).await;
    load::tally(&sink, "/flow", &ids)
}

/// Publishes in batches of [`BATCH`] with the Rust client, a batch every 100 ms,
/// each published again (same ids) until the broker confirmed it.
async fn publish_amqp(url: &str, prefix: &str, events: &[serde_json::Value]) {
    let client = Client::connect(url, prefix)
        .await
        .expect("the Rust client connects");
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    for chunk in events.chunks(BATCH) {
        ticks.tick().await;
        let batch: Vec<Event> = chunk
            .iter()
            .map(|e| {
                herald_model::parse_event(e.to_string().as_bytes(), time::OffsetDateTime::now_utc())
            })
            .collect::<Result<_, _>>()
            .expect("the load is valid events");
        eventually(
            "the broker to confirm a batch",
            Duration::from_secs(120),
            || async { client.publish(&batch).await.map_err(|e| e.to_string()) },
        )
        .await;
    }
}

/// After the last event arrived, waits until no notification is pending (a
/// second copy, if any, would be on its way), so the tally is final.
async fn wait_settled(app: &TestApp, sink: &HttpSink, ids: &[Uuid]) {
    eventually("every notification to be settled", DRAIN, || async {
        let (_, body) = app.get("/notifications?status=pending&limit=1").await;
        let pending = body["items"].as_array().map_or(1, Vec::len);
        if pending == 0 {
            Ok(())
        } else {
            Err(format!(
                "{pending} pending; {}",
                load::tally(sink, "/flow", ids)
            ))
        }
    })
    .await;
}

/// Runs the scenario [`RUNS`] times in a row; every run must lose nothing and
/// double nothing.
async fn five_in_a_row(via: Via, fault: Fault) {
    let _serial = serial().await;
    let services = Services::start().await;
    let mut tallies: HashMap<usize, Tally> = HashMap::new();
    for run in 1..=RUNS {
        let started = Instant::now();
        let tally = scenario(&services, via, fault).await;
        println!(
            "{fault:?} via {via:?}, run {run}/{RUNS} ({:.0?}): {tally}",
            started.elapsed()
        );
        tallies.insert(run, tally);
    }
    for (run, tally) in &tallies {
        assert_eq!(tally.lost, 0, "run {run}: {tally}");
        assert_eq!(tally.duplicated, 0, "run {run}: {tally}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_under_http_ingest_loses_and_doubles_nothing_five_times_in_a_row() {
    five_in_a_row(Via::Http, Fault::BrokerRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_under_amqp_publishing_loses_and_doubles_nothing_five_times_in_a_row() {
    five_in_a_row(Via::Amqp, Fault::BrokerRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_database_outage_loses_and_doubles_nothing_five_times_in_a_row() {
    five_in_a_row(Via::Http, Fault::DatabaseOutage).await;
}
