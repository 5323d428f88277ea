//! Parks jobs in the wait queue in batches, off the consumer loop: a notifier
//! at its cap may send many jobs back at once, and none of them should hold up
//! the jobs of the others while the broker confirms.

use std::sync::Arc;

use herald_metrics::Metrics;
use herald_queue::{Delivery, Outgoing, Publisher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 256;

/// A job to park: the delivery to ack once parked, and its parked copy.
pub(crate) struct Deferral {
    pub delivery: Delivery,
    pub message: Outgoing,
}

/// Publishes deferrals as they come, batched, until `stop`; then parks what is
/// left and returns.
pub(crate) async fn run(
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    mut deferrals: mpsc::UnboundedReceiver<Deferral>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            next = deferrals.recv() => next,
            () = stop.cancelled() => deferrals.try_recv().ok(),
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match deferrals.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let messages: Vec<Outgoing> = batch.iter().map(|d| d.message.clone()).collect();
        let parked = publisher.publish(&messages).await.is_ok();
        for d in &batch {
            if parked {
                d.delivery.ack().await;
                metrics
                    .deliveries
                    .with_label_values(&[&d.message.routing_key, "deferred"])
                    .inc();
            } else {
                d.delivery.requeue().await;
            }
        }
    }
}
