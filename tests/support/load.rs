//! Load for the fault tests: events published at a pace through the API
//! (retried with the same ids when refused, as a careful client does), a
//! tally of what reached the sink, and `herald` processes to kill.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::{HttpSink, TestApp, eventually};

/// `n` events with ids chosen here, so a retried publish is idempotent.
pub fn events(n: usize, labels: Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": Uuid::now_v7(), "source": "load", "category": "job", "kind": "running",
                   "title": format!("event {i}"), "labels": labels})
        })
        .collect()
}

pub fn ids(events: &[Value]) -> Vec<Uuid> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Posts `events` in batches, one batch every `pace`, retrying a refused batch
/// until the broker confirms it. Returns when every event was accepted.
pub async fn publish_paced(
    app: &TestApp,
    events: &[Value],
    batch: usize,
    pace: Duration,
) -> HashMap<Uuid, Instant> {
    let mut published = HashMap::new();
    let mut ticks = tokio::time::interval(pace);
    for chunk in events.chunks(batch) {
        ticks.tick().await;
        let sent_at = Instant::now();
        eventually(
            "the API to accept a batch",
            Duration::from_secs(120),
            || async {
                match app
                    .http
                    .post(app.url("/api/v1/events"))
                    .json(&chunk)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => Ok(()),
                    Ok(r) => Err(format!("{}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
        for id in ids(chunk) {
            published.insert(id, sent_at);
        }
    }
    published
}

/// What reached the sink for a set of events.
#[derive(Debug, Clone)]
pub struct Tally {
    pub events: usize,
    /// 2xx answers given.
    pub received: usize,
    pub delivered: usize,
    pub lost: usize,
    /// Deliveries beyond the first of the same notification (Idempotency-Key).
    pub duplicated: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events sent {}, deliveries expected {}, received {}, lost {}, duplicated {}",
            self.events, self.events, self.received, self.lost, self.duplicated
        )
    }
}

pub fn tally(sink: &HttpSink, path: &str, ids: &[Uuid]) -> Tally {
    let delivered = sink.delivered(path);
    let wanted: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let mut events = HashSet::new();
    let mut notifications = HashSet::new();
    let mut received = 0;
    for r in &delivered {
        let event = r.json()["event"]["id"].as_str().unwrap().to_owned();
        if wanted.contains(&event) {
            received += 1;
            events.insert(event);
            notifications.insert(r.header("idempotency-key").unwrap().to_owned());
        }
    }
    Tally {
        events: ids.len(),
        received,
        delivered: events.len(),
        lost: ids.len() - events.len(),
        duplicated: received - notifications.len(),
    }
}

/// Waits until every event reached the sink, then tallies.
pub async fn wait_all(sink: &HttpSink, path: &str, ids: &[Uuid], deadline: Duration) -> Tally {
    eventually("every event to be delivered", deadline, || async {
        let t = tally(sink, path, ids);
        if t.lost == 0 {
            Ok(t)
        } else {
            Err(t.to_string())
        }
    })
    .await
}

/// Notification ids delivered more than once, with the time of their first copy.
pub fn duplicates(sink: &HttpSink, path: &str) -> Vec<(String, Instant)> {
    let mut first: HashMap<String, (Instant, usize)> = HashMap::new();
    for r in sink.delivered(path) {
        let entry = first
            .entry(r.header("idempotency-key").unwrap().to_owned())
            .or_insert((r.at, 0));
        entry.0 = entry.0.min(r.at);
        entry.1 += 1;
    }
    first
        .into_iter()
        .filter(|(_, (_, n))| *n > 1)
        .map(|(k, (at, _))| (k, at))
        .collect()
}

/// A `herald` role running as its own OS process, against `app`'s database and
/// broker prefix. Its log goes to a file named in failures.
pub struct HeraldProcess {
    child: Child,
    pub log: PathBuf,
}

impl HeraldProcess {
    pub fn start(app: &TestApp, role: &str) -> HeraldProcess {
        let log = std::env::temp_dir().join(format!(
            "herald-{}-{role}-{}.log",
            app.prefix(),
            Uuid::now_v7()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg(role)
            .envs(app.env())
            .env("HERALD_METRICS_ADDR", "127.0.0.1:0")
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("the herald binary starts");
        HeraldProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for the exit; returns how long it took and whether it succeeded.
    pub async fn terminate(&mut self, deadline: Duration) -> (Duration, bool) {
        let asked = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(deadline, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {deadline:?}; log: {}", self.log.display()))
            .unwrap();
        (asked.elapsed(), exit.success())
    }
}

/// Resident memory of a process, in MiB, from /proc.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
