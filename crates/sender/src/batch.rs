//! Coalesces the database work of concurrent deliveries: every request waiting
//! when a batch starts goes into one statement, one batch at a time. A quiet
//! system runs batches of one with no added wait; a busy one makes fewer,
//! larger statements, so a delivery costs a fraction of a round trip and of a
//! commit instead of a whole one.

use std::future::Future;
use std::sync::Arc;

use herald_store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Requests per statement at most.
const MAX_BATCH: usize = 256;
/// Tries of a batch that lost a deadlock to another transaction.
const TRIES: usize = 3;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) struct Batcher<Req, Resp> {
    requests: mpsc::UnboundedSender<(Req, Reply<Resp>)>,
}

impl<Req: Send + Sync + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the batching task; `run` answers a batch in order.
    pub(crate) fn spawn<F, Fut>(run: F) -> Batcher<Req, Resp>
    where
        F: Fn(Arc<Vec<Req>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Resp>, StoreError>> + Send,
    {
        let (requests, mut incoming) = mpsc::unbounded_channel::<(Req, Reply<Resp>)>();
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
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
