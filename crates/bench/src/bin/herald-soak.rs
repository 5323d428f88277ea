//! `herald-soak`: runs load through a Herald deployment of separate processes
//! for a given time while injecting faults at random — a RabbitMQ restart, a
//! PostgreSQL outage, a sender killed or terminated, an endpoint that fails,
//! rate limits or hangs — then waits for the pipeline to drain and prints one
//! line: events sent, deliveries expected, received, lost, duplicated, and how
//! many of the duplicates lie inside a kill window.
//!
//! RabbitMQ and PostgreSQL are disposable instances started for the run
//! (their own node, cluster, ports and data directories, removed at the end):
//! the machine's own services are never stopped. `--topology scaled` runs one
//! `herald api`, two `herald router`, three `herald sender` and one `herald
//! flush`; `roles` (the default) one process per role.
//!
//! Loopback only; every fault is bounded in time and undone before the drain.
//! Exits non-zero if anything was lost, or doubled outside a kill window.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use herald_bench::Deployment;
use herald_bench::deployment::{self, Place};
use herald_loadkit::{Behaviour, PgCluster, RabbitNode, Sink, duplicates, publish, tally};
use herald_model::Span;
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Load Herald for a while under random faults; print what was lost and doubled.")]
struct Args {
    /// How long to run load and faults, e.g. 5m.
    #[arg(long, default_value = "5m")]
    duration: Span,
    /// Events published per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Mean time between two faults.
    #[arg(long, default_value = "15s")]
    fault_every: Span,
    /// Faults to draw from.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rabbitmq,postgres,kill-sender,stop-sender,endpoint"
    )]
    faults: Vec<Fault>,
    /// How the roles are spread over processes.
    #[arg(long, value_enum, default_value_t = Topology::Roles)]
    topology: Topology,
    /// Seed of the fault draw, to replay a run.
    #[arg(long)]
    seed: Option<u64>,
    /// The herald binary (default: next to this one).
    #[arg(long)]
    herald: Option<PathBuf>,
    /// How long to wait for the pipeline to drain after the load.
    #[arg(long, default_value = "5m")]
    drain: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fault {
    Rabbitmq,
    Postgres,
    KillSender,
    StopSender,
    Endpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Topology {
    /// One process per role: api, router, sender, flush.
    Roles,
    /// One api, two routers, three senders, one flush.
    Scaled,
}

impl Topology {
    /// (process name, role) of every process.
    fn processes(self) -> Vec<(String, &'static str)> {
        let counts: &[(&str, usize)] = match self {
            Topology::Roles => &[("api", 1), ("router", 1), ("sender", 1), ("flush", 1)],
            Topology::Scaled => &[("api", 1), ("router", 2), ("sender", 3), ("flush", 1)],
        };
        counts
            .iter()
            .flat_map(|(role, n)| (1..=*n).map(move |i| (format!("{role}-{i}"), *role)))
            .collect()
    }
}

const PATH: &str = "/soak";
/// `HERALD_DELIVERY_TIMEOUT` of the deployment: a copy sent this long (and a
/// second) before a sender was killed may have been in its hands.
const TIMEOUT: Duration = Duration::from_secs(2);

fn log(message: &str) {
    eprintln!(
        "[soak {:>8.1}s] {message}",
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    );
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// The disposable services a run faults, and when senders were killed.
struct Faults {
    rabbit: RabbitNode,
    postgres: PgCluster,
    kills: std::sync::Mutex<Vec<Instant>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    START.get_or_init(Instant::now);
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    log(&format!(
        "seed {seed}; {} of load at {}/s, topology {:?}; starting a RabbitMQ node and a PostgreSQL cluster of its own",
        args.duration, args.rate, args.topology
    ));
    let (rabbit, postgres) = tokio::join!(RabbitNode::start(), PgCluster::start());
    let place = Place {
        amqp: rabbit.url(),
        database_server: postgres.server_url(),
    };
    let faults = Faults {
        rabbit,
        postgres,
        kills: std::sync::Mutex::new(Vec::new()),
    };
    let binary = deployment::herald_binary(args.herald.clone())?;
    let timeout = format!("{}s", TIMEOUT.as_secs());
    let mut herald = Deployment::at(
        binary,
        "soak",
        &[
            ("HERALD_FLUSH_INTERVAL", "3s"),
            ("HERALD_RETRY_MAX_ELAPSED", "5s"),
            ("HERALD_DELIVERY_TIMEOUT", &timeout),
            ("HERALD_SHUTDOWN_TIMEOUT", "5s"),
            ("HERALD_MAX_REPLAYS", "1000"),
        ],
        &place,
    )?;
    for (name, role) in args.topology.processes() {
        herald.start(&name, role);
    }
    herald.wait_ready(Duration::from_secs(60)).await?;
    let sink = Sink::start().await;
    let hook = herald.webhook("soak", &sink.url(PATH), json!({})).await?;
    herald
        .post("/rules", json!({"name": "everything", "notifiers": [hook]}))
        .await?;

    let senders: Vec<String> = args
        .topology
        .processes()
        .into_iter()
        .filter(|(_, role)| *role == "sender")
        .map(|(name, _)| name)
        .collect();
    let herald = Arc::new(Mutex::new(herald));
    let loading = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn(load(herald.clone(), args.rate, loading.clone()));
    inject(&herald, &faults, &senders, &sink, &args, seed).await?;
    loading.store(false, Ordering::Relaxed);
    let ids = load.await.context("the load task")?;

    log(&format!(
        "load over: {} events accepted; waiting for the drain",
        ids.len()
    ));
    let deadline = Instant::now() + args.drain.get();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    while tally(&sink, PATH, &ids).lost > 0 && Instant::now() < deadline {
        ticks.tick().await;
    }
    let result = tally(&sink, PATH, &ids);
    let kills = faults.kills.lock().expect("never poisoned").clone();
    let doubled = duplicates(&sink, PATH);
    let in_window = doubled
        .iter()
        .filter(|first| {
            kills
                .iter()
                .any(|k| first.at <= *k && *k - first.at <= TIMEOUT + Duration::from_secs(1))
        })
        .count();
    println!(
        "{result}; duplicates inside a kill window: {in_window} of {} ({} kills)",
        doubled.len(),
        kills.len()
    );
    let herald = Arc::into_inner(herald)
        .context("every task is done")?
        .into_inner();
    if result.lost > 0 {
        explain_missing(&herald, &sink, &ids).await;
        let prefix = herald.var("HERALD_AMQP_PREFIX").unwrap_or_default();
        let waiting: Vec<_> = faults
            .rabbit
            .queue_depths(&prefix)
            .await
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        log(&format!("messages left in queues: {waiting:?}"));
    }
    herald.tear_down().await;
    if result.lost > 0 {
        log("the pipeline did not drain in time, or lost events");
    }
    if in_window < doubled.len() {
        log("some duplicates are not explained by a kill");
    }
    if result.lost > 0 || in_window < doubled.len() {
        std::process::exit(1);
    }
    Ok(())
}

/// Logs what became of a few of the events that never arrived: their
/// notification's status, attempts and last error, or that none was recorded.
async fn explain_missing(herald: &Deployment, sink: &Sink, ids: &[Uuid]) {
    let arrived: std::collections::HashSet<String> = sink
        .delivered(PATH)
        .iter()
        .filter_map(herald_loadkit::Request::event_id)
        .collect();
    let missing: Vec<&Uuid> = ids
        .iter()
        .filter(|id| !arrived.contains(&id.to_string()))
        .collect();
    for id in missing.iter().take(8) {
        let url = format!("{}/notifications?event_id={id}", herald.api);
        let answer = match herald.http.get(url).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
            Err(e) => json!({"error": e.to_string()}),
        };
        let shown = match answer["items"].as_array() {
            Some(items) if items.is_empty() => "no notification recorded".to_owned(),
            Some(items) => items
                .iter()
                .map(|n| {
                    format!(
                        "{} {} attempts {} last error {}",
                        n["id"], n["status"], n["attempts"], n["last_error"]
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            None => answer.to_string(),
        };
        log(&format!("missing event {id}: {shown}"));
        if let Some(n) = answer["items"].get(0) {
            log(&format!(
                "  row: {}",
                stored_row(herald, n["id"].as_str().unwrap_or_default()).await
            ));
        }
    }
}

/// The notification's delivery columns and its failure, as stored.
async fn stored_row(herald: &Deployment, notification: &str) -> String {
    let database = herald.var("HERALD_DATABASE_URL").unwrap_or_default();
    let query = format!(
        "SELECT n.status, n.attempts, n.round_attempts, n.due_at, n.lease_owner, n.lease_until,
                n.updated_at, f.status, f.replay_count, f.replays
         FROM notifications n LEFT JOIN failures f ON f.notification_id = n.id
         WHERE n.id = '{notification}'"
    );
    let out = tokio::process::Command::new("psql")
        .args([&database, "-Atc", &query])
        .output()
        .await;
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| e.to_string())
}

/// Publishes `rate` events a second in batches of a tenth of a second until told
/// to stop; a refused batch is retried with the same ids. Returns every id the
/// API accepted.
async fn load(herald: Arc<Mutex<Deployment>>, rate: u32, loading: Arc<AtomicBool>) -> Vec<Uuid> {
    let (http, url) = {
        let h = herald.lock().await;
        (h.http.clone(), h.events_url())
    };
    let batch = (rate as usize / 10).max(1);
    let mut accepted = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    while loading.load(Ordering::Relaxed) {
        ticks.tick().await;
        let events = publish::events(batch, json!({"run": "soak"}));
        publish::paced(&http, &url, &events, batch, Duration::from_millis(1)).await;
        accepted.extend(publish::ids(&events));
    }
    accepted
}

/// Draws faults until the duration is over; each is undone before the next.
async fn inject(
    herald: &Mutex<Deployment>,
    faults: &Faults,
    senders: &[String],
    sink: &Sink,
    args: &Args,
    seed: u64,
) -> anyhow::Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let end = Instant::now() + args.duration.get();
    let mean = args.fault_every.get().as_millis() as u64;
    while Instant::now() < end {
        let pause = Duration::from_millis(mean / 2 + rng.u64(0..=mean));
        tokio::time::sleep(pause.min(end.saturating_duration_since(Instant::now()))).await;
        if Instant::now() >= end || args.faults.is_empty() {
            break;
        }
        let fault = args.faults[rng.usize(0..args.faults.len())];
        let length = Duration::from_millis(rng.u64(2_000..=10_000));
        match fault {
            Fault::Rabbitmq => {
                let length = length.min(Duration::from_secs(5));
                log(&format!("fault: RabbitMQ stopped for {length:?}"));
                faults.rabbit.stop_app().await;
                tokio::time::sleep(length).await;
                faults.rabbit.start_app().await;
            }
            Fault::Postgres => {
                log(&format!("fault: PostgreSQL stopped for {length:?}"));
                faults.postgres.stop().await;
                tokio::time::sleep(length).await;
                faults.postgres.start_server().await;
            }
            Fault::KillSender | Fault::StopSender => {
                let name = &senders[rng.usize(0..senders.len())];
                let mut h = herald.lock().await;
                if let Some(sender) = h.process(name) {
                    if fault == Fault::KillSender {
                        log(&format!("fault: {name} killed"));
                        faults
                            .kills
                            .lock()
                            .expect("never poisoned")
                            .push(Instant::now());
                        sender.kill().await;
                    } else {
                        let (took, clean) = sender.terminate(Duration::from_secs(30)).await;
                        log(&format!(
                            "fault: {name} stopped in {took:?}, clean exit: {clean}"
                        ));
                    }
                }
                h.start(name, "sender");
            }
            Fault::Endpoint => {
                let behaviour = match rng.u8(0..3) {
                    0 => Behaviour::Status(503),
                    1 => Behaviour::RetryAfter(1),
                    _ => Behaviour::Hang,
                };
                log(&format!(
                    "fault: endpoint answers {behaviour:?} for {length:?}"
                ));
                sink.set(behaviour);
                tokio::time::sleep(length).await;
                sink.set(Behaviour::Ok);
            }
        }
    }
    Ok(())
}
