//! End-to-end tests: Herald in-process against the real RabbitMQ and
//! PostgreSQL, delivering to local HTTP endpoints and a real SMTP server.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod apply;
mod architecture;
mod bounds;
mod channels;
mod cli;
mod clone;
mod dashboards;
mod delivery;
mod email;
mod events;
mod failures;
mod fallback;
mod ingest_formats;
mod messages;
mod monitors;
mod notifiers;
mod openapi;
mod ops;
mod outbound;
mod policies;
mod publishers;
mod queue_metrics;
mod reliability;
mod rules;
mod secrets;
mod silences;
mod transport;
mod web;
mod webhook;
