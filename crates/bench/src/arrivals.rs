//! What reached the sink, by id: the first arrival of each id on each watched
//! path, read incrementally (each request parsed once) so that watching costs
//! little of the CPU the system under test shares with it. The latency of an
//! item is its first arrival minus when it was first sent.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_loadkit::{Request, Sink, rss_mib};
use uuid::Uuid;

/// The ids a request carries (one per Herald delivery, one per alert in an
/// Alertmanager notification).
pub type Keys = fn(&Request) -> Vec<Uuid>;

/// The process under test, whose memory is sampled while waiting.
pub struct Watched {
    pub name: &'static str,
    pub pid: u32,
}

pub struct Arrivals {
    sink: Arc<Sink>,
    paths: Vec<String>,
    keys: Keys,
    /// Requests of the sink already read.
    cursor: usize,
    /// First arrival, by index of the path and id.
    first: HashMap<(usize, Uuid), Instant>,
    /// Arrivals after the first of the same id on the same path.
    repeats: usize,
    /// Highest resident memory of the watched process seen.
    pub peak_rss_mib: f64,
}

impl Arrivals {
    /// Watches 2xx-answered requests to `paths` on `sink` from now on
    /// (what arrived before, a warm-up, is not this run's).
    pub fn new(sink: Arc<Sink>, paths: &[String], keys: Keys) -> Arrivals {
        Arrivals {
            cursor: sink.requests_since(0).len(),
            sink,
            paths: paths.to_vec(),
            keys,
            first: HashMap::new(),
            repeats: 0,
            peak_rss_mib: 0.0,
        }
    }

    fn read_new(&mut self) {
        let new = self.sink.requests_since(self.cursor);
        self.cursor += new.len();
        for request in new {
            if !(200..300).contains(&request.answered) {
                continue;
            }
            let Some(path) = self.paths.iter().position(|p| *p == request.path) else {
                continue;
            };
            for id in (self.keys)(&request) {
                match self.first.entry((path, id)) {
                    Entry::Vacant(e) => {
                        e.insert(request.at);
                    }
                    Entry::Occupied(_) => self.repeats += 1,
                }
            }
        }
    }

    /// Waits until `expected` distinct (path, id) arrived, drawing progress on
    /// stderr and sampling the watched process's memory; fails past `deadline`.
    pub async fn wait(
        mut self,
        expected: usize,
        deadline: Duration,
        watched: Watched,
    ) -> anyhow::Result<Arrivals> {
        let end = Instant::now() + deadline;
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        loop {
            ticks.tick().await;
            self.read_new();
            self.peak_rss_mib = self.peak_rss_mib.max(rss_mib(watched.pid));
            let done = self.first.len();
            draw(done, expected, &watched, self.peak_rss_mib);
            if done >= expected {
                eprintln!();
                return Ok(self);
            }
            if Instant::now() > end {
                eprintln!();
                bail!(
                    "only {done} of {expected} expected arrivals from {} reached the sink within {deadline:?}",
                    watched.name
                );
            }
        }
    }

    /// When `id` first reached `path`.
    pub fn arrival(&self, path: &str, id: Uuid) -> Option<Instant> {
        let path = self.paths.iter().position(|p| p == path)?;
        self.first.get(&(path, id)).copied()
    }

    /// Throughput and latency of the run that started at `started`, each
    /// arrival against when its id was sent.
    pub fn figures(
        &self,
        sent: &HashMap<Uuid, Instant>,
        started: Instant,
    ) -> anyhow::Result<Figures> {
        let finished = self
            .first
            .values()
            .max()
            .copied()
            .context("nothing arrived")?;
        let mut latencies = self
            .first
            .iter()
            .map(|((_, id), at)| {
                let sent = sent
                    .get(id)
                    .with_context(|| format!("{id} arrived but was never sent"))?;
                Ok(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
            })
            .collect::<anyhow::Result<Vec<f64>>>()?;
        latencies.sort_by(f64::total_cmp);
        let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        let seconds = (finished - started).as_secs_f64();
        Ok(Figures {
            count: latencies.len(),
            repeats: self.repeats,
            seconds,
            per_second: latencies.len() as f64 / seconds,
            p50_ms: pct(50),
            p95_ms: pct(95),
            p99_ms: pct(99),
            peak_rss_mib: self.peak_rss_mib,
        })
    }
}

/// One system's figures on one run.
pub struct Figures {
    /// Distinct (path, id) that arrived.
    pub count: usize,
    pub repeats: usize,
    /// From the first send to the last first arrival.
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: f64,
}

fn draw(done: usize, expected: usize, watched: &Watched, peak: f64) {
    let width = 40;
    let filled = (done * width / expected.max(1)).min(width);
    eprint!(
        "\r[{}{}] {done}/{expected} {}, {peak:.0} MiB ",
        "#".repeat(filled),
        ".".repeat(width - filled),
        watched.name,
    );
    let _ = std::io::stderr().flush();
}
