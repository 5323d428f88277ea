//! A plain AMQP client, as any other service would use, to publish straight to
//! Herald's exchange and to read its dead-letter queue.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub async fn channel() -> (Connection, Channel) {
    channel_to(URL).await
}

/// A confirming channel on the broker at `url`.
pub async fn channel_to(url: &str) -> (Connection, Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be reachable on 127.0.0.1:5672 (ops/test.sh starts it)");
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    (conn, ch)
}

/// Publishes raw bytes, persistent, and waits for the broker's confirm.
pub async fn publish(ch: &Channel, exchange: &str, routing_key: &str, body: &[u8]) {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "the broker refused the message");
}

/// A dead-lettered message: its body and the reason header.
#[derive(Debug)]
pub struct DeadLetter {
    pub body: Vec<u8>,
    pub reason: String,
    pub queue: String,
}

/// Takes one message off `queue`, if any.
pub async fn get(ch: &Channel, queue: &str) -> Option<DeadLetter> {
    let message = ch
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .unwrap()?;
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let text = |name: &str| match headers.inner().get(name) {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        _ => String::new(),
    };
    let letter = DeadLetter {
        body: message.delivery.data.clone(),
        reason: text(herald_queue::REASON_HEADER),
        queue: text(herald_queue::QUEUE_HEADER),
    };
    message
        .delivery
        .ack(BasicAckOptions::default())
        .await
        .unwrap();
    Some(letter)
}
