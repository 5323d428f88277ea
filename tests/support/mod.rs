//! What every integration test shares: `spawn_app` (Herald on a random port,
//! a fresh database and its own AMQP prefix), sinks that record what Herald
//! delivers (HTTP, a real SMTP server, a real IRC server), a TCP proxy that can cut a
//! connection, a plain AMQP client, and waits on conditions with deadlines.
//!
//! A test that needs a service and cannot reach it fails; it never skips.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod amqp;
pub mod app;
pub mod browser;
pub mod http_sink;
pub mod irc;
pub mod load;
pub mod promql;
pub mod proxy;
pub mod smtp_sink;
pub mod tls;

pub use app::{TestApp, spawn_app, spawn_app_with, spawn_roles};
pub use browser::Browser;
pub use herald_loadkit::eventually;
pub use http_sink::{Behaviour, HttpSink, Reply, Request};
pub use irc::{IrcServer, IrcWatcher};
pub use smtp_sink::SmtpSink;
pub use tls::{TlsProxy, certificate, signed_certificate};
