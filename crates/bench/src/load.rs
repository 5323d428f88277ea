//! The HTTP load both systems get: JSON arrays of items, each with an id,
//! posted by concurrent clients, each client posting its next batch as soon
//! as the previous one was accepted. A refused batch is posted again, the same
//! items with the same ids, until it is accepted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use uuid::Uuid;

/// How long one batch may keep being refused before the run fails.
const REFUSED_FOR: Duration = Duration::from_secs(120);
/// First wait after a refusal; it doubles up to `MAX_BACKOFF`, so that a
/// system shedding load is not hammered by the very clients measuring it.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One POST's worth of items: their ids and the JSON array, serialized
/// before the clock starts so both systems pay the same client cost.
pub struct Batch {
    pub ids: Vec<Uuid>,
    pub body: Vec<u8>,
}

impl Batch {
    /// Items of type `T`, `size` to a batch, with `id` naming each.
    pub fn split<T: serde::Serialize>(
        items: &[T],
        size: usize,
        id: impl Fn(&T) -> Uuid,
    ) -> anyhow::Result<Vec<Batch>> {
        items
            .chunks(size.max(1))
            .map(|chunk| {
                Ok(Batch {
                    ids: chunk.iter().map(&id).collect(),
                    body: serde_json::to_vec(chunk)?,
                })
            })
            .collect()
    }
}

/// Where the batches go and which answer means accepted.
pub struct Target {
    pub url: String,
    pub accepted: StatusCode,
}

/// When each item was first posted, by id, and how many POSTs were refused.
#[derive(Default)]
pub struct Posted {
    pub sent: HashMap<Uuid, Instant>,
    pub refused: usize,
}

impl Posted {
    fn merge(&mut self, other: Posted) {
        self.sent.extend(other.sent);
        self.refused += other.refused;
    }
}

/// Posts every batch to `target` from `clients` concurrent clients; with a
/// `pace`, the batches are started at most one every `pace` across clients.
/// Returns when every batch was accepted.
pub async fn post_all(
    http: &reqwest::Client,
    target: Target,
    batches: Vec<Batch>,
    clients: usize,
    pace: Option<Duration>,
) -> anyhow::Result<Posted> {
    let shared = Arc::new(Shared {
        http: http.clone(),
        target,
        batches,
        next: AtomicUsize::new(0),
        pace: pace.map(|p| Mutex::new(tokio::time::interval(p))),
    });
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        tasks.spawn(client(shared.clone()));
    }
    let mut posted = Posted::default();
    while let Some(done) = tasks.join_next().await {
        posted.merge(done.context("a load client")??);
    }
    Ok(posted)
}

struct Shared {
    http: reqwest::Client,
    target: Target,
    batches: Vec<Batch>,
    next: AtomicUsize,
    pace: Option<Mutex<tokio::time::Interval>>,
}

/// One client: takes the next batch nobody took yet until there is none.
async fn client(shared: Arc<Shared>) -> anyhow::Result<Posted> {
    let mut posted = Posted::default();
    loop {
        if let Some(pace) = &shared.pace {
            pace.lock().await.tick().await;
        }
        let Some(batch) = shared
            .batches
            .get(shared.next.fetch_add(1, Ordering::Relaxed))
        else {
            return Ok(posted);
        };
        let (sent_at, refused) = post_until_accepted(&shared.http, &shared.target, batch).await?;
        posted
            .sent
            .extend(batch.ids.iter().map(|id| (*id, sent_at)));
        posted.refused += refused;
    }
}

/// Posts `batch` until `target` accepts it; returns when it was first sent
/// (an earlier refused attempt may still have got through, and a client
/// waits from its first attempt anyway) and how many attempts were refused.
async fn post_until_accepted(
    http: &reqwest::Client,
    target: &Target,
    batch: &Batch,
) -> anyhow::Result<(Instant, usize)> {
    let first = Instant::now();
    let mut refused = 0;
    let mut backoff = MIN_BACKOFF;
    loop {
        let answer = http
            .post(&target.url)
            .header("content-type", "application/json")
            .body(batch.body.clone())
            .send()
            .await;
        let why = match answer {
            Ok(r) if r.status() == target.accepted => return Ok((first, refused)),
            Ok(r) => format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        refused += 1;
        if first.elapsed() > REFUSED_FOR {
            bail!(
                "{} refused a batch for {REFUSED_FOR:?} ({refused} attempts); last: {why}",
                target.url
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
