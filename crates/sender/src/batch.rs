//! Coalesces the database work of concurrent deliveries: every request waiting
//! when a batch starts goes into one statement, with at most
//! [`IN_FLIGHT`] statements running at once. A quiet system runs batches of one
//! with no added wait; a busy one makes fewer, larger statements, so a delivery
//! costs a fraction of a round trip and of a commit instead of a whole one. A
//! second statement in flight keeps a request from waiting for a whole batch
//! before its own begins: the time between an endpoint's answer and its record
//! is the window in which a killed sender sends twice. A small batch lingers a
//! moment for company (see [`LINGER`]); when no other statement runs, it takes
//! every request that arrives before a pause of [`GAP`], so that the jobs of
//! one message, which arrive together, are leased and recorded together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_store::StoreError;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Requests per statement at most.
const MAX_BATCH: usize = 256;
/// Tries of a batch that lost a deadlock to another transaction.
const TRIES: usize = 3;
/// Statements of one batcher running at once.
const IN_FLIGHT: usize = 2;
/// A batch smaller than this waits up to [`LINGER`] for more requests: at a
/// trickle a statement and its commit then serve several deliveries; a
/// busier system gathers more while statements run and does not wait.
const SMALL: usize = 8;
const LINGER: Duration = Duration::from_millis(4);
/// A batch stops lingering once no request came for this long: the requests
/// that arrive together are in it, and the next ones are not coming soon.
/// While no other statement runs, a batch lingers past [`SMALL`] on this
/// rule: at 1,000 events/s in messages of ten, ten leases and ten outcomes
/// then make one statement each instead of two (half the transactions).
/// Timers tick in milliseconds, so the pause waited is 1–2 ms.
const GAP: Duration = Duration::from_millis(1);

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) struct Batcher<Req, Resp> {
    requests: mpsc::UnboundedSender<(Req, Reply<Resp>)>,
}

impl<Req: Send + Sync + 'static> Batcher<Req, ()> {
    /// Starts the batching task for a write that answers nothing per request.
    pub(crate) fn spawn_writes<F, Fut>(write: F) -> Batcher<Req, ()>
    where
        F: Fn(Arc<Vec<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let write = Arc::new(write);
        Batcher::spawn(move |reqs: Arc<Vec<Req>>| {
            let write = write.clone();
            async move {
                let n = reqs.len();
                write(reqs).await.map(|()| vec![(); n])
            }
        })
    }
}

impl<Req: Send + Sync + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the batching task; `run` answers a batch in order.
    pub(crate) fn spawn<F, Fut>(run: F) -> Batcher<Req, Resp>
    where
        F: Fn(Arc<Vec<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, StoreError>> + Send,
    {
        let (requests, mut incoming) = mpsc::unbounded_channel::<(Req, Reply<Resp>)>();
        let run = Arc::new(run);
        let statements = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                // Requests go on gathering while both statements run.
                let Ok(permit) = statements.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                // Ours is the only statement: nothing gathers for the next one.
                let alone = statements.available_permits() + 1 == IN_FLIGHT;
                let wanted = if alone { MAX_BATCH } else { SMALL };
                let linger = Instant::now() + LINGER;
                while batch.len() < wanted {
                    let until = linger.min(Instant::now() + GAP);
                    match tokio::time::timeout_at(until, incoming.recv()).await {
                        Ok(Some(more)) => batch.push(more),
                        _ => break,
                    }
                }
                let run = run.clone();
                tokio::spawn(async move {
                    answer(run.as_ref(), batch).await;
                    drop(permit);
                });
            }
        });
        Batcher { requests }
    }

    /// Joins the next batch and waits for its answer.
    pub(crate) async fn call(&self, request: Req) -> Result<Resp, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the sender is stopping".into());
        self.requests.send((request, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Runs one batch (again while it loses deadlocks) and answers each request.
async fn answer<Req, Resp, F, Fut>(run: &F, batch: Vec<(Req, Reply<Resp>)>)
where
    F: Fn(Arc<Vec<Req>>) -> Fut,
    Fut: Future<Output = Result<Vec<Resp>, StoreError>>,
{
    let (reqs, replies): (Vec<Req>, Vec<Reply<Resp>>) = batch.into_iter().unzip();
    let reqs = Arc::new(reqs);
    let mut result = run(reqs.clone()).await;
    for _ in 1..TRIES {
        match &result {
            Err(e) if e.is_transient() => result = run(reqs.clone()).await,
            _ => break,
        }
    }
    match result {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.shared()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;

    use super::{Batcher, GAP, LINGER, SMALL};

    /// Each batch a batcher ran: its requests and when.
    type Log = Arc<Mutex<Vec<(Vec<u32>, Instant)>>>;

    /// A batcher that records each batch it runs.
    fn recording() -> (Batcher<u32, ()>, Log) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let batcher = Batcher::spawn_writes(move |reqs: Arc<Vec<u32>>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((reqs.to_vec(), Instant::now()));
                Ok(())
            }
        });
        (batcher, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn requests_arriving_together_make_one_statement_past_the_small_batch_size() {
        let (batcher, seen) = recording();
        let batcher = Arc::new(batcher);
        let n = (SMALL + 4) as u32;
        let mut calls = tokio::task::JoinSet::new();
        // One message's jobs: each reaches the batcher after it took the
        // ones before, none after a pause.
        for i in 0..n {
            let batcher = batcher.clone();
            calls.spawn(async move { batcher.call(i).await });
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        }
        while let Some(answer) = calls.join_next().await {
            answer.unwrap().unwrap();
        }
        let batches: Vec<Vec<u32>> = seen.lock().unwrap().iter().map(|b| b.0.clone()).collect();
        assert_eq!(batches, vec![(0..n).collect::<Vec<u32>>()]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_request_waits_one_pause_for_company_not_the_whole_linger() {
        let (batcher, seen) = recording();
        let asked = Instant::now();
        batcher.call(7).await.unwrap();
        let (batch, ran) = seen.lock().unwrap()[0].clone();
        assert_eq!(batch, vec![7]);
        let waited = ran - asked;
        assert!(waited >= GAP && waited < LINGER, "waited {waited:?}");
    }
}
