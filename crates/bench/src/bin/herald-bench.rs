//! `herald-bench`: measures Herald end to end on this machine, next to the
//! limit of the parts it is built on, in one run.
//!
//! It starts `herald all` against the local RabbitMQ and PostgreSQL (its own
//! database and broker prefix), a local HTTP sink, webhook notifiers and rules;
//! publishes events with confirms straight to the events exchange; waits for
//! every delivery; and prints one JSON line with the throughput, the
//! publish-to-sink latency percentiles and Herald's peak memory. In the same
//! run it measures the raw limit — the same number of messages published with
//! confirms to a bare durable queue, consumed with manual acks and each POSTed
//! to the same sink — and prints Herald's throughput as a ratio of it.
//!
//! Modes: `throughput` (a burst; `--fanout K` notifiers per event, `--rules R`
//! rules of which `--matching M` match), `paced` (`--rate` events a second, for
//! latency without queueing), `critical` (one critical event published behind a
//! backlog of info events).
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use herald_bench::Deployment;
use herald_bench::deployment::{self, AMQP};
use herald_ingest::{Client, NewEvent};
use herald_loadkit::{Sink, cpu_seconds, pids_matching, rss_mib};
use herald_model::{Category, Event, Severity};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Measure Herald's throughput and latency against the raw broker + HTTP limit.")]
struct Args {
    #[arg(long, value_enum, default_value_t = Mode::Throughput)]
    mode: Mode,
    /// Events to publish (the backlog in `critical` mode).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Rules to create.
    #[arg(long, default_value_t = 1)]
    rules: usize,
    /// How many of the rules match the events.
    #[arg(long, default_value_t = 1)]
    matching: usize,
    /// Notifiers each event is delivered to.
    #[arg(long, default_value_t = 1)]
    fanout: usize,
    /// Events per second in `paced` mode.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Skip the raw-limit measurement.
    #[arg(long)]
    no_raw: bool,
    /// The herald binary (default: next to this one).
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Extra HERALD_* settings for the Herald under test, as NAME=VALUE.
    #[arg(long = "set", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Throughput,
    Paced,
    Critical,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.matching > args.rules || args.matching == 0 || args.fanout == 0 {
        bail!("need 1 <= --matching <= --rules and --fanout >= 1");
    }
    let binary = deployment::herald_binary(args.herald.clone())?;
    let vars: Vec<(&str, &str)> = args
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut herald = Deployment::new(binary, "bench", &vars)?;
    herald.start("all", "all");
    herald.wait_ready(Duration::from_secs(60)).await?;
    let prefix = herald
        .var("HERALD_AMQP_PREFIX")
        .context("the deployment has a prefix")?;
    let sink = Arc::new(Sink::start().await);
    let paths = setup(&herald, &sink, &args).await?;
    let client = Client::connect(AMQP, &prefix).await?;

    let database = herald.database.clone();
    let before = Cpu::now(herald.pids()[0], &database);
    let mut run = measure(&herald, &sink, &client, &paths, &args).await?;
    let used = Cpu::now(herald.pids()[0], &database).minus(&before);
    let deliveries = run["deliveries"].as_f64().unwrap_or(1.0);
    let per_delivery = |s: f64| (s * 1e6 / deliveries).round();
    run["herald_cpu_seconds"] = json!(round(used.herald));
    run["cpu_us_per_delivery"] = json!({
        "herald": per_delivery(used.herald),
        "postgres": per_delivery(used.postgres),
        "rabbitmq": per_delivery(used.rabbitmq),
    });
    run["herald_outcomes"] = outcomes(&herald).await?;
    let raw = if args.no_raw {
        None
    } else {
        // As many messages as Herald made deliveries, each one POST.
        let messages = run["deliveries"].as_u64().unwrap_or(0) as usize;
        Some(herald_bench::raw::measure(AMQP, &sink, messages, "/raw").await?)
    };
    let mut line = run;
    if let Some(raw) = raw {
        let ratio = line["deliveries_per_s"].as_f64().unwrap_or(0.0) / raw.per_second;
        line["raw"] = json!({"messages": raw.messages, "seconds": round(raw.seconds), "per_s": raw.per_second.round()});
        line["ratio_to_raw"] = json!(round(ratio));
    }
    println!("{line}");
    herald.tear_down().await;
    Ok(())
}

/// Creates the notifiers and rules; returns the sink path of each notifier.
async fn setup(herald: &Deployment, sink: &Sink, args: &Args) -> anyhow::Result<Vec<String>> {
    let mut paths = Vec::new();
    let mut ids = Vec::new();
    for k in 0..args.fanout {
        let path = format!("/n{k}");
        ids.push(
            herald
                .webhook(&format!("bench-{k}"), &sink.url(&path), json!({}))
                .await?,
        );
        paths.push(path);
    }
    for i in 0..args.rules {
        let rule = if i < args.matching {
            json!({"name": format!("match-{i}"), "scope": "bench", "notifiers": ids})
        } else {
            // Rules that cannot match: other scopes, categories and labels.
            let category = ["system", "deployment", "spending", "configuration", "job"][i % 5];
            json!({"name": format!("other-{i}"), "scope": format!("team-{}/svc-{}", i % 97, i),
                   "categories": [category], "labels": {"service": format!("svc-{i}")},
                   "notifiers": [ids[0]]})
        };
        herald.post("/rules", rule).await?;
    }
    Ok(paths)
}

fn event(severity: Severity) -> anyhow::Result<Event> {
    Ok(NewEvent::new("bench", Category::Job)
        .kind("succeeded")
        .severity(severity)
        .scope("bench/web/deploy")
        .title("bench event")
        .label("env", "bench")
        .build()?)
}

/// Publishes per the mode, waits for every delivery, and describes the run.
async fn measure(
    herald: &Deployment,
    sink: &Arc<Sink>,
    client: &Client,
    paths: &[String],
    args: &Args,
) -> anyhow::Result<Value> {
    let events: Vec<Event> = (0..args.events)
        .map(|_| event(Severity::Info))
        .collect::<Result<_, _>>()?;
    let critical = event(Severity::Critical)?;
    let mut published: HashMap<Uuid, Instant> = HashMap::with_capacity(events.len() + 1);
    let expected = (args.events + usize::from(args.mode == Mode::Critical)) * paths.len();
    let pid = herald.pids()[0];
    let watch = tokio::spawn(progress(sink.clone(), paths.to_vec(), expected, pid));

    let started = Instant::now();
    match args.mode {
        Mode::Throughput | Mode::Critical => {
            for chunk in events.chunks(500) {
                let at = Instant::now();
                client.publish(chunk).await?;
                published.extend(chunk.iter().map(|e| (e.id, at)));
            }
            if args.mode == Mode::Critical {
                let at = Instant::now();
                client.publish(std::slice::from_ref(&critical)).await?;
                published.insert(critical.id, at);
            }
        }
        Mode::Paced => {
            let per_tick = (args.rate as usize / 100).max(1);
            let mut ticks = tokio::time::interval(Duration::from_millis(10));
            for chunk in events.chunks(per_tick) {
                ticks.tick().await;
                let at = Instant::now();
                client.publish(chunk).await?;
                published.extend(chunk.iter().map(|e| (e.id, at)));
            }
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let peak_rss = watch.await.context("the progress task")?;
    let finished = paths
        .iter()
        .flat_map(|p| sink.delivered(p))
        .map(|r| r.at)
        .max()
        .context("nothing was delivered")?;
    let seconds = (finished - started).as_secs_f64();

    let mut latencies: Vec<f64> = Vec::with_capacity(expected);
    let mut critical_ms = None;
    for path in paths {
        for r in sink.delivered(path) {
            let id: Uuid = r
                .event_id()
                .and_then(|s| s.parse().ok())
                .context("a delivery without an event id")?;
            let ms = (r.at - published[&id]).as_secs_f64() * 1000.0;
            if id == critical.id {
                critical_ms = Some(ms);
            }
            latencies.push(ms);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| round(latencies[(latencies.len() * p / 100).min(latencies.len() - 1)]);
    let mut line = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "events": args.events, "notifiers": paths.len(), "rules": args.rules, "matching": args.matching,
        "deliveries": latencies.len(), "seconds": round(seconds), "publish_seconds": round(publish_seconds),
        "deliveries_per_s": (latencies.len() as f64 / seconds).round(),
        "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
        "peak_rss_mib": round(peak_rss),
    });
    if args.mode == Mode::Paced {
        line["rate"] = json!(args.rate);
    }
    if let Some(ms) = critical_ms {
        line["critical_latency_ms"] = json!(round(ms));
        line["backlog"] = json!(args.events);
    }
    Ok(line)
}

/// Draws a progress bar on stderr until every delivery arrived; returns the
/// peak RSS of the Herald process seen meanwhile.
async fn progress(sink: Arc<Sink>, paths: Vec<String>, expected: usize, pid: u32) -> f64 {
    let mut peak = 0.0f64;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        ticks.tick().await;
        peak = peak.max(rss_mib(pid));
        let done: usize = paths.iter().map(|p| sink.delivered_count(p)).sum();
        let width = 40;
        let filled = (done * width / expected.max(1)).min(width);
        eprint!(
            "\r[{}{}] {done}/{expected} deliveries, herald {peak:.0} MiB ",
            "#".repeat(filled),
            ".".repeat(width - filled)
        );
        let _ = std::io::stderr().flush();
        if done >= expected || Instant::now() > deadline {
            eprintln!();
            return peak;
        }
    }
}

/// CPU seconds used so far by Herald, its PostgreSQL backends and RabbitMQ.
struct Cpu {
    herald: f64,
    postgres: f64,
    rabbitmq: f64,
}

impl Cpu {
    fn now(herald: u32, database: &str) -> Cpu {
        let sum = |pids: Vec<u32>| pids.into_iter().map(cpu_seconds).sum();
        Cpu {
            herald: cpu_seconds(herald),
            postgres: sum(pids_matching(database)),
            rabbitmq: sum(pids_matching("beam.smp")),
        }
    }

    fn minus(&self, before: &Cpu) -> Cpu {
        Cpu {
            herald: self.herald - before.herald,
            postgres: self.postgres - before.postgres,
            rabbitmq: self.rabbitmq - before.rabbitmq,
        }
    }
}

/// Herald's own count of delivery outcomes other than `sent` (retries,
/// deferrals, duplicates), read from its `/metrics`.
async fn outcomes(herald: &Deployment) -> anyhow::Result<Value> {
    let url = herald.api.replace("/api/v1", "/metrics");
    let text = herald.http.get(url).send().await?.text().await?;
    let mut counts = serde_json::Map::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("herald_deliveries_total{"))
    {
        let outcome = line
            .split("outcome=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(outcome), Some(value)) = (outcome, value)
            && outcome != "sent"
        {
            let total = counts.get(outcome).and_then(Value::as_f64).unwrap_or(0.0) + value;
            counts.insert(outcome.to_owned(), json!(total));
        }
    }
    Ok(Value::Object(counts))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
