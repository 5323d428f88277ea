//! `herald-bench`: measures Herald end to end on this machine, next to the
//! limit of the parts it is built on and, on request, next to Prometheus
//! Alertmanager, in one run.
//!
//! It starts `herald all` against the local RabbitMQ and PostgreSQL (its own
//! database and broker prefix), a local HTTP sink, webhook notifiers and rules;
//! sends one event through the API and waits for its delivery (`warm_up_ms`:
//! the router and senders read the rules once per change, when the next event
//! comes, so the run measures routing with them loaded, however many there
//! are); sends the events; waits for every delivery; and prints one JSON line
//! with the throughput, the send-to-sink latency percentiles, Herald's peak
//! memory and CPU per delivery. In the same run it measures the raw limit — the same
//! number of messages published with confirms to a bare durable queue,
//! consumed with manual acks and each POSTed to the same sink — and prints
//! Herald's throughput as a ratio of it (`--no-raw` skips it).
//!
//! Modes: `throughput` (a burst; `--fanout K` notifiers per event, `--rules R`
//! rules of which `--matching M` match), `paced` (`--rate` events a second, for
//! latency without queueing), `critical` (one critical event sent behind a
//! backlog of info events).
//!
//! How events reach Herald, `--via`: `amqp` (the default) publishes them with
//! confirms straight to the events exchange, 500 at a time; `http` POSTs them
//! to `/api/v1/events` as JSON arrays of `--batch` events from `--clients`
//! concurrent clients, each posting its next batch as soon as the previous one
//! was answered 202 (a refused batch is posted again, same ids). Latency runs
//! from when an event's publish, or its batch's first POST, was sent to when
//! the sink received its delivery.
//!
//! `--peer alertmanager` (with `--via http`, modes `throughput` and `paced`)
//! then measures Alertmanager on the same load: it starts the `alertmanager`
//! binary (`prometheus-alertmanager` in Debian; `ops/services.sh
//! --alertmanager` installs it) on a free loopback port with clustering off, a
//! fresh storage directory and a route that sends every alert, at once, as its
//! own webhook notification to the same sink; posts as many alerts, each with
//! a unique `id` label, to `/api/v2/alerts` in the same batches from as many
//! clients; and waits until the sink has every alert. Herald runs first and is
//! stopped (its database dropped) before Alertmanager starts; RabbitMQ and
//! PostgreSQL stay up, idle. The line then also holds `alertmanager` (alerts,
//! seconds, alerts/s, latency, peak RSS and CPU per alert of its process),
//! `ratio` (Herald's deliveries/s over Alertmanager's alerts/s) and
//! `latency_p50_ratio` (Herald's p50 over Alertmanager's).
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use herald_bench::Deployment;
use herald_bench::alertmanager::{self, Alertmanager};
use herald_bench::arrivals::{Arrivals, Figures, Keys, Watched};
use herald_bench::deployment::{self, AMQP};
use herald_bench::load::{self, Batch, Posted, Target};
use herald_ingest::{Client, NewEvent};
use herald_loadkit::{Sink, cpu_seconds, pids_matching};
use herald_model::{Category, Event, Severity};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Where Alertmanager's webhook notifications arrive on the sink.
const AM_PATH: &str = "/am";

#[derive(Parser)]
#[command(
    about = "Measure Herald's throughput and latency against the raw broker + HTTP limit, and optionally Alertmanager."
)]
struct Args {
    #[arg(long, value_enum, default_value_t = Mode::Throughput)]
    mode: Mode,
    /// Events to send (the backlog in `critical` mode); as many alerts to a peer.
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
    /// How events reach Herald: published to the broker, or POSTed to the API.
    #[arg(long, value_enum, default_value_t = Via::Amqp)]
    via: Via,
    /// Events (alerts) per POST, with `--via http`.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Concurrent HTTP clients, with `--via http`.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Also measure this system on the same HTTP load, after Herald.
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// The Alertmanager binary (default: `alertmanager` or
    /// `prometheus-alertmanager` on PATH, or /usr/bin/prometheus-alertmanager).
    #[arg(long)]
    alertmanager: Option<PathBuf>,
    /// Seconds to wait for every delivery of a run before failing.
    #[arg(long, default_value_t = 600)]
    deadline: u64,
}

impl Args {
    fn check(&self) -> anyhow::Result<()> {
        if self.matching > self.rules || self.matching == 0 || self.fanout == 0 {
            bail!("need 1 <= --matching <= --rules and --fanout >= 1");
        }
        if self.batch == 0 || self.clients == 0 || self.rate == 0 {
            bail!("need --batch, --clients and --rate >= 1");
        }
        if self.peer.is_some() {
            if self.via != Via::Http {
                bail!("--peer compares both on the same HTTP load: add --via http");
            }
            if self.mode == Mode::Critical || self.fanout != 1 {
                bail!(
                    "--peer compares one notification per event: modes throughput and paced, --fanout 1"
                );
            }
        }
        Ok(())
    }

    fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline)
    }

    /// With `paced`, the time between two batches' starts.
    fn pace(&self, batch: usize) -> Option<Duration> {
        (self.mode == Mode::Paced)
            .then(|| Duration::from_secs_f64(batch as f64 / f64::from(self.rate)))
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    Amqp,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    Alertmanager,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.check()?;
    // Found before Herald's run, so that a missing peer fails in seconds.
    let peer = match args.peer {
        Some(Peer::Alertmanager) => Some(alertmanager::binary(args.alertmanager.clone())?),
        None => None,
    };
    let sink = Arc::new(Sink::start().await);
    let mut line = bench_herald(&sink, &args).await?;
    if let Some(binary) = peer {
        let am = bench_alertmanager(&binary, &sink, &args).await?;
        compare(&mut line, am);
    }
    println!("{line}");
    Ok(())
}

/// Herald's run and the raw limit, in a deployment torn down whatever happens.
async fn bench_herald(sink: &Arc<Sink>, args: &Args) -> anyhow::Result<Value> {
    let binary = deployment::herald_binary(args.herald.clone())?;
    let vars: Vec<(&str, &str)> = args
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut herald = Deployment::new(binary, "bench", &vars)?;
    herald.start("all", "all");
    let result = measure_herald(&herald, sink, args).await;
    herald.tear_down().await;
    result
}

async fn measure_herald(
    herald: &Deployment,
    sink: &Arc<Sink>,
    args: &Args,
) -> anyhow::Result<Value> {
    herald.wait_ready(Duration::from_secs(60)).await?;
    let paths = setup(herald, sink, args).await?;
    let warm_up = warm_up(herald, sink, &paths).await?;

    let database = herald.database.clone();
    let before = Cpu::now(herald.pids()[0], &database);
    let mut line = measure(herald, sink, &paths, args).await?;
    let used = Cpu::now(herald.pids()[0], &database).minus(&before);
    let deliveries = line["deliveries"].as_f64().unwrap_or(1.0);
    let per_delivery = |s: f64| (s * 1e6 / deliveries).round();
    line["warm_up_ms"] = json!(round(warm_up.as_secs_f64() * 1000.0));
    line["herald_cpu_seconds"] = json!(round(used.herald));
    line["cpu_us_per_delivery"] = json!({
        "herald": per_delivery(used.herald),
        "postgres": per_delivery(used.postgres),
        "rabbitmq": per_delivery(used.rabbitmq),
    });
    line["herald_outcomes"] = outcomes(herald).await?;
    if !args.no_raw {
        // As many messages as Herald made deliveries, each one POST.
        let messages = line["deliveries"].as_u64().unwrap_or(0) as usize;
        let raw = herald_bench::raw::measure(AMQP, sink, messages, "/raw").await?;
        let ratio = line["deliveries_per_s"].as_f64().unwrap_or(0.0) / raw.per_second;
        line["raw"] = json!({"messages": raw.messages, "seconds": round(raw.seconds), "per_s": raw.per_second.round()});
        line["ratio_to_raw"] = json!(round(ratio));
    }
    Ok(line)
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

/// Sends one event through the API and waits for its deliveries, so that the
/// run measures Herald with its configuration loaded (the router and senders
/// read the rules once per change, when the first event after it comes).
/// Returns how long that first event took.
async fn warm_up(herald: &Deployment, sink: &Sink, paths: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    herald
        .post("/events", serde_json::to_value(event(Severity::Info)?)?)
        .await?;
    for path in paths {
        sink.wait_delivered(path, 1, Duration::from_secs(60)).await;
    }
    Ok(started.elapsed())
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

/// The events on their way to Herald: connected and serialized before the
/// clock starts.
enum Sender<'a> {
    Amqp {
        client: Client,
        events: &'a [Event],
        critical: Option<&'a Event>,
    },
    Http {
        http: reqwest::Client,
        url: String,
        batches: Vec<Batch>,
        critical: Option<Batch>,
    },
}

impl<'a> Sender<'a> {
    async fn new(
        herald: &Deployment,
        events: &'a [Event],
        critical: Option<&'a Event>,
        args: &Args,
    ) -> anyhow::Result<Sender<'a>> {
        Ok(match args.via {
            Via::Amqp => {
                let prefix = herald
                    .var("HERALD_AMQP_PREFIX")
                    .context("the deployment has a prefix")?;
                Sender::Amqp {
                    client: Client::connect(AMQP, &prefix).await?,
                    events,
                    critical,
                }
            }
            Via::Http => Sender::Http {
                http: herald.http.clone(),
                url: herald.events_url(),
                batches: Batch::split(events, args.batch, |e| e.id)?,
                critical: Batch::split(critical.as_slice(), 1, |e| e.id)?.pop(),
            },
        })
    }

    /// Sends the events, then the critical one if any, per the mode; returns
    /// when each was sent.
    async fn send(self, args: &Args) -> anyhow::Result<Posted> {
        match self {
            Sender::Amqp {
                client,
                events,
                critical,
            } => publish(&client, events, critical, args).await,
            Sender::Http {
                http,
                url,
                batches,
                critical,
            } => {
                let target = || Target {
                    url: url.clone(),
                    accepted: StatusCode::ACCEPTED,
                };
                let mut posted = post(&http, target(), batches, args).await?;
                if let Some(critical) = critical {
                    // Alone, behind the whole backlog.
                    let one = load::post_all(&http, target(), vec![critical], 1, None).await?;
                    posted.sent.extend(one.sent);
                    posted.refused += one.refused;
                }
                Ok(posted)
            }
        }
    }
}

/// Publishes with confirms to the events exchange, 500 at a time in a burst,
/// or `rate / 100` every 10 ms when paced.
async fn publish(
    client: &Client,
    events: &[Event],
    critical: Option<&Event>,
    args: &Args,
) -> anyhow::Result<Posted> {
    let mut sent = HashMap::with_capacity(events.len() + 1);
    let (chunk, mut ticks) = match args.mode {
        Mode::Paced => (
            (args.rate as usize / 100).max(1),
            Some(tokio::time::interval(Duration::from_millis(10))),
        ),
        Mode::Throughput | Mode::Critical => (500, None),
    };
    for chunk in events
        .chunks(chunk)
        .chain(critical.map(std::slice::from_ref))
    {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
        }
        let at = Instant::now();
        client.publish(chunk).await?;
        sent.extend(chunk.iter().map(|e| (e.id, at)));
    }
    Ok(Posted { sent, refused: 0 })
}

/// The HTTP load both systems get: `batches` from `--clients` clients, paced
/// in `paced` mode.
async fn post(
    http: &reqwest::Client,
    target: Target,
    batches: Vec<Batch>,
    args: &Args,
) -> anyhow::Result<Posted> {
    load::post_all(http, target, batches, args.clients, args.pace(args.batch)).await
}

/// One system's run: what was sent, what arrived, and how long sending took.
struct Run {
    arrivals: Arrivals,
    figures: Figures,
    posted: Posted,
    send_seconds: f64,
}

/// Runs `send` while waiting for `expected` arrivals; fails if they do not
/// all arrive within the deadline.
async fn run_load(
    sink: &Arc<Sink>,
    paths: &[String],
    keys: Keys,
    expected: usize,
    watched: Watched,
    deadline: Duration,
    send: impl Future<Output = anyhow::Result<Posted>>,
) -> anyhow::Result<Run> {
    let arrivals = Arrivals::new(sink.clone(), paths, keys);
    let started = Instant::now();
    let mut watch = tokio::spawn(arrivals.wait(expected, deadline, watched));
    let mut send = std::pin::pin!(send);
    let (posted, send_seconds, arrivals) = tokio::select! {
        posted = &mut send => {
            let send_seconds = started.elapsed().as_secs_f64();
            let posted = posted.inspect_err(|_| watch.abort())?;
            (posted, send_seconds, watch.await.context("the arrivals watcher")??)
        }
        // Everything can arrive before the last answer; a wait that failed
        // (the deadline) ends the run without finishing the load.
        watched = &mut watch => {
            let arrivals = watched.context("the arrivals watcher")??;
            let posted = send.await?;
            (posted, started.elapsed().as_secs_f64(), arrivals)
        }
    };
    let figures = arrivals.figures(&posted.sent, started)?;
    Ok(Run {
        arrivals,
        figures,
        posted,
        send_seconds,
    })
}

/// Sends per the mode, waits for every delivery, and describes the run.
async fn measure(
    herald: &Deployment,
    sink: &Arc<Sink>,
    paths: &[String],
    args: &Args,
) -> anyhow::Result<Value> {
    let events: Vec<Event> = (0..args.events)
        .map(|_| event(Severity::Info))
        .collect::<Result<_, _>>()?;
    let critical = (args.mode == Mode::Critical)
        .then(|| event(Severity::Critical))
        .transpose()?;
    let expected = (events.len() + usize::from(critical.is_some())) * paths.len();
    let watched = Watched {
        name: "herald deliveries",
        pid: herald.pids()[0],
    };
    let keys: Keys = |r| {
        r.event_id()
            .and_then(|s| s.parse().ok())
            .into_iter()
            .collect()
    };
    let send = Sender::new(herald, &events, critical.as_ref(), args)
        .await?
        .send(args);
    let run = run_load(sink, paths, keys, expected, watched, args.deadline(), send).await?;

    let mut line = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "via": format!("{:?}", args.via).to_lowercase(),
        "events": args.events, "notifiers": paths.len(), "rules": args.rules, "matching": args.matching,
    });
    extend(&mut line, described(&run, "deliveries", "publish_seconds"));
    if args.mode == Mode::Paced {
        line["rate"] = json!(args.rate);
    }
    if args.via == Via::Http {
        line["batch"] = json!(args.batch);
        line["clients"] = json!(args.clients);
    }
    if let Some(critical) = &critical {
        let at = run
            .arrivals
            .arrival(&paths[0], critical.id)
            .context("the critical event arrived")?;
        let ms = (at - run.posted.sent[&critical.id]).as_secs_f64() * 1000.0;
        line["critical_latency_ms"] = json!(round(ms));
        line["backlog"] = json!(args.events);
    }
    Ok(line)
}

/// Alertmanager's run on the same load, its process stopped (and its
/// directory removed) whatever happens.
async fn bench_alertmanager(binary: &Path, sink: &Arc<Sink>, args: &Args) -> anyhow::Result<Value> {
    let am = alertmanager::start(binary, &sink.url(AM_PATH)).await?;
    let result = measure_alertmanager(&am, sink, args).await;
    am.stop().await;
    result
}

async fn measure_alertmanager(
    am: &Alertmanager,
    sink: &Arc<Sink>,
    args: &Args,
) -> anyhow::Result<Value> {
    let alerts: Vec<Value> = (0..args.events)
        .map(|_| alertmanager::alert(Uuid::now_v7()))
        .collect();
    let batches = Batch::split(&alerts, args.batch, alertmanager::alert_id)?;
    let target = Target {
        url: am.alerts_url(),
        accepted: StatusCode::OK,
    };
    let pid = am.pid().context("Alertmanager is running")?;
    let http = reqwest::Client::new();
    let cpu_before = cpu_seconds(pid);
    let send = post(&http, target, batches, args);
    let watched = Watched {
        name: "alertmanager alerts",
        pid,
    };
    let paths = [AM_PATH.to_owned()];
    let run = run_load(
        sink,
        &paths,
        alertmanager::notified_ids,
        alerts.len(),
        watched,
        args.deadline(),
        send,
    )
    .await?;
    let cpu = cpu_seconds(pid) - cpu_before;

    let mut line = json!({"version": am.version});
    extend(&mut line, described(&run, "alerts", "post_seconds"));
    line["cpu_seconds"] = json!(round(cpu));
    line["cpu_us_per_alert"] = json!((cpu * 1e6 / run.figures.count as f64).round());
    Ok(line)
}

/// The figures both systems report, counted in `noun` (`deliveries`,
/// `alerts`), with the time sending took as `sending`.
fn described(run: &Run, noun: &str, sending: &str) -> Value {
    let f = &run.figures;
    json!({
        noun: f.count,
        "duplicates": f.repeats,
        "refused": run.posted.refused,
        "seconds": round(f.seconds),
        sending: round(run.send_seconds),
        format!("{noun}_per_s"): f.per_second.round(),
        "latency_ms": {"p50": round(f.p50_ms), "p95": round(f.p95_ms), "p99": round(f.p99_ms)},
        "peak_rss_mib": round(f.peak_rss_mib),
    })
}

/// Adds Alertmanager's figures to Herald's line, with the ratios.
fn compare(line: &mut Value, am: Value) {
    let ratio = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!(round(a / b)),
        _ => Value::Null,
    };
    line["ratio"] = ratio(&line["deliveries_per_s"], &am["alerts_per_s"]);
    line["latency_p50_ratio"] = ratio(&line["latency_ms"]["p50"], &am["latency_ms"]["p50"]);
    line["alertmanager"] = am;
}

fn extend(line: &mut Value, more: Value) {
    if let (Value::Object(line), Value::Object(more)) = (line, more) {
        line.extend(more);
    }
}

/// CPU seconds used so far by Herald, and by each PostgreSQL backend of its
/// database and each RabbitMQ (`beam.smp`) process.
struct Cpu {
    herald: f64,
    postgres: HashMap<u32, f64>,
    rabbitmq: HashMap<u32, f64>,
}

/// CPU seconds used between two [`Cpu`] readings.
struct Used {
    herald: f64,
    postgres: f64,
    rabbitmq: f64,
}

impl Cpu {
    fn now(herald: u32, database: &str) -> Cpu {
        let each = |pids: Vec<u32>| pids.into_iter().map(|p| (p, cpu_seconds(p))).collect();
        Cpu {
            herald: cpu_seconds(herald),
            postgres: each(pids_matching(database)),
            rabbitmq: each(pids_matching("beam.smp")),
        }
    }

    /// Process by process: one that started since `before` counts whole, and
    /// one that ended since (a backend closed, an Erlang tool such as
    /// `rabbitmqctl` exited) drops out instead of taking its earlier time off
    /// the others'.
    fn minus(&self, before: &Cpu) -> Used {
        let since = |now: &HashMap<u32, f64>, then: &HashMap<u32, f64>| {
            now.iter()
                .map(|(pid, cpu)| cpu - then.get(pid).copied().unwrap_or(0.0))
                .sum()
        };
        Used {
            herald: self.herald - before.herald,
            postgres: since(&self.postgres, &before.postgres),
            rabbitmq: since(&self.rabbitmq, &before.rabbitmq),
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
    // Where the time goes: from the router to the endpoint's answer, as Herald
    // measures it (bucket bounds, so a coarse split of publish-to-sink).
    let routed = "herald_delivery_latency_seconds_bucket{";
    counts.insert(
        "route_to_endpoint_ms_at_most".into(),
        json!({"p50": bucket_quantile(&text, routed, 0.5), "p95": bucket_quantile(&text, routed, 0.95)}),
    );
    Ok(Value::Object(counts))
}

/// The upper bound, in milliseconds, of the histogram bucket that holds
/// quantile `q` of the samples of the metric whose bucket lines start with
/// `prefix` (all label sets summed).
fn bucket_quantile(text: &str, prefix: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(prefix)) {
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => buckets.push((le, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    let (le, _) = buckets.iter().find(|(_, c)| *c >= q * total)?;
    Some(le * 1000.0)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
