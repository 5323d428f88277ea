//! `herald-soak`: runs load through a Herald deployment of separate processes
//! for a given time while injecting faults at random — RabbitMQ and PostgreSQL
//! restarts, a sender killed or terminated, an endpoint that fails, rate
//! limits or hangs — then waits for the pipeline to drain and prints one line:
//! events sent, deliveries expected, received, lost, duplicated.
//!
//! Loopback only; every fault is bounded in time and undone before the drain.
//! Exits non-zero if anything was lost.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use herald_bench::{Deployment, deployment, services};
use herald_loadkit::{Behaviour, Sink, publish, tally};
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

const PATH: &str = "/soak";

fn log(message: &str) {
    eprintln!(
        "[soak {:>8.1}s] {message}",
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    );
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    START.get_or_init(Instant::now);
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    log(&format!(
        "seed {seed}; {} of load at {}/s",
        args.duration, args.rate
    ));
    let binary = deployment::herald_binary(args.herald.clone())?;
    let mut herald = Deployment::new(
        binary,
        "soak",
        &[
            ("HERALD_FLUSH_INTERVAL", "3s"),
            ("HERALD_RETRY_MAX_ELAPSED", "5s"),
            ("HERALD_DELIVERY_TIMEOUT", "2s"),
            ("HERALD_SHUTDOWN_TIMEOUT", "5s"),
            ("HERALD_MAX_REPLAYS", "1000"),
        ],
    )?;
    for role in ["api", "router", "sender", "flush"] {
        herald.start(role, role);
    }
    herald.wait_ready(Duration::from_secs(60)).await?;
    let sink = Sink::start().await;
    let hook = herald.webhook("soak", &sink.url(PATH), json!({})).await?;
    herald
        .post("/rules", json!({"name": "everything", "notifiers": [hook]}))
        .await?;

    let herald = Arc::new(Mutex::new(herald));
    let loading = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn(load(herald.clone(), args.rate, loading.clone()));
    inject(&herald, &sink, &args, seed).await?;
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
    println!("{result}");
    if result.lost > 0 {
        log("the pipeline did not drain in time");
    }
    let herald = Arc::into_inner(herald)
        .context("every task is done")?
        .into_inner();
    herald.tear_down().await;
    if result.lost > 0 {
        std::process::exit(1);
    }
    Ok(())
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
        log(&format!("fault: {fault:?} for {length:?}"));
        match fault {
            Fault::Rabbitmq => {
                services::rabbitmq_stop().await?;
                tokio::time::sleep(length.min(Duration::from_secs(5))).await;
                services::rabbitmq_start().await?;
            }
            Fault::Postgres => {
                services::postgres_stop().await?;
                tokio::time::sleep(length).await;
                services::postgres_start().await?;
            }
            Fault::KillSender | Fault::StopSender => {
                let mut h = herald.lock().await;
                if let Some(sender) = h.process("sender") {
                    if fault == Fault::KillSender {
                        sender.kill().await;
                    } else {
                        let (took, clean) = sender.terminate(Duration::from_secs(30)).await;
                        log(&format!("sender stopped in {took:?}, clean exit: {clean}"));
                    }
                }
                h.start("sender", "sender");
            }
            Fault::Endpoint => {
                let behaviour = match rng.u8(0..3) {
                    0 => Behaviour::Status(503),
                    1 => Behaviour::RetryAfter(1),
                    _ => Behaviour::Hang,
                };
                log(&format!("endpoint answers {behaviour:?}"));
                sink.set(behaviour);
                tokio::time::sleep(length).await;
                sink.set(Behaviour::Ok);
            }
        }
    }
    Ok(())
}
