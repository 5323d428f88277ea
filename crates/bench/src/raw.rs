//! The raw limit: what RabbitMQ and one HTTP POST per message do on this
//! machine with nothing else — messages published with confirms to a bare
//! durable queue, consumed with manual acks, each POSTed to the sink, acked
//! after the answer. No rules, no database. Herald's throughput is reported as
//! a ratio of this, measured in the same run.
//!
//! lapin is used directly here, on purpose: this is the bare client Herald is
//! compared against.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use herald_loadkit::Sink;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// The same concurrency a Herald sender uses by default.
const CONCURRENCY: u32 = 64;
const PREFETCH: u16 = 256;

pub struct Raw {
    pub messages: usize,
    pub seconds: f64,
    pub per_second: f64,
}

/// Runs `messages` through a bare queue to `path` on `sink`.
pub async fn measure(amqp: &str, sink: &Sink, messages: usize, path: &str) -> anyhow::Result<Raw> {
    let conn = Connection::connect(amqp, ConnectionProperties::default()).await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let consumer_channel = conn.create_channel().await?;
    consumer_channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let queue = format!("bench-raw-{}", Uuid::now_v7().simple());
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongLongInt(600_000));
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    publisher
        .queue_declare(queue.as_str().into(), durable, args)
        .await?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    // A body the size of a webhook payload.
    let body = serde_json::to_vec(&json!({
        "notification_id": Uuid::now_v7(), "notifier": "raw",
        "event": {"id": Uuid::now_v7(), "source": "bench", "category": "job", "kind": "succeeded",
                  "severity": "info", "scope": "bench/web/deploy", "title": "bench event", "message": "",
                  "labels": {"env": "bench"}, "data": null, "dedup_key": null, "resolved": false,
                  "occurred_at": "2026-11-21T00:00:00Z", "url": null}
    }))?;

    let started = Instant::now();
    let publishing = {
        let publisher = publisher.clone();
        let queue = queue.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let properties = BasicProperties::default().with_delivery_mode(2);
            for chunk in (0..messages).collect::<Vec<_>>().chunks(500) {
                let mut confirms = Vec::with_capacity(chunk.len());
                for _ in chunk {
                    let confirm = publisher
                        .basic_publish(
                            "".into(),
                            queue.as_str().into(),
                            BasicPublishOptions::default(),
                            &body,
                            properties.clone(),
                        )
                        .await?;
                    confirms.push(confirm);
                }
                for confirm in confirms {
                    confirm.await?;
                }
            }
            Ok::<_, lapin::Error>(())
        })
    };
    let http = reqwest::Client::new();
    let url = sink.url(path);
    let slots = Arc::new(Semaphore::new(CONCURRENCY as usize));
    for _ in 0..messages {
        let delivery = consumer
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("the raw consumer ended"))??;
        let permit = slots.clone().acquire_owned().await?;
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let sent = http
                .post(&url)
                .header("content-type", "application/json")
                .body(delivery.data.clone())
                .send()
                .await;
            if sent.is_ok() {
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
            drop(permit);
        });
    }
    let _all_done = slots.acquire_many(CONCURRENCY).await?;
    let seconds = started.elapsed().as_secs_f64();
    publishing.await??;
    publisher
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = conn.close(200, "measured".into()).await;
    Ok(Raw {
        messages,
        seconds,
        per_second: messages as f64 / seconds,
    })
}
