//! The `herald` binary's engine: it starts any set of roles (API, router,
//! sender, flush) in one process from one [`Config`], so that `herald all`,
//! `herald sender` and the integration tests start exactly the same thing.

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_api::{AppState, IngestLimit, Ops, ServerBounds, TokenCache};
use herald_channels::Outbound;
use herald_flush::{Flusher, MONITOR_TICK, MonitorWatch, Retention, Scheduler};
use herald_ingest::Ingest;
use herald_metrics::Metrics;
use herald_queue::{Broker, Depths, Publisher, Topology};
use herald_router::{Router, RouterOptions};
use herald_sender::{Sender, SenderOptions};
use herald_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::Config;

/// The name under which `HERALD_BOOTSTRAP_TOKEN` is kept (and audited).
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap";

/// Which roles a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub router: bool,
    pub sender: bool,
    pub flush: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        router: true,
        sender: true,
        flush: true,
    };
    pub const NONE: Roles = Roles {
        api: false,
        router: false,
        sender: false,
        flush: false,
    };

    fn name(self) -> String {
        let names: Vec<&str> = [
            (self.api, "api"),
            (self.router, "router"),
            (self.sender, "sender"),
            (self.flush, "flush"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        format!("herald {}", names.join("+"))
    }
}

/// A started set of roles.
pub struct Running {
    /// Where the API listens, or `/metrics` alone for roles without the API.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Running {
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until every role has stopped (after the token is cancelled).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

/// Connects to the database (waiting up to a minute for it), starts the broker
/// connection and the given roles. Binds the API (or the ops endpoints) on
/// `config.http_addr` (or `config.metrics_addr`); port 0 picks a free one.
pub async fn start(config: &Config, roles: Roles) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let store = connect_store(config).await?;
    let key = Arc::new(config.load_keyring()?);
    let metrics = Metrics::new();
    let topology = Topology::new(
        &config.amqp_prefix,
        config.queue_type,
        herald_channels::KINDS,
    )
    .with_expiry(config.queue_expires);
    let broker = Broker::start_tls(
        &config.amqp_url,
        config.amqp_tls()?,
        &roles.name(),
        topology,
        shutdown.clone(),
    );
    let publisher = Arc::new(Publisher::new(broker.clone(), config.publish_timeout));
    let flusher = Flusher::new(
        store.clone(),
        publisher.clone(),
        metrics.clone(),
        config.flush_batch,
    );
    let mut tasks = JoinSet::new();
    // One guard and one set of HTTP clients per instance: tests run instances
    // with different allow lists in one process.
    let outbound = Outbound::new(config.outbound_allow.clone());

    if roles.router {
        let options = RouterOptions {
            prefetch: config.router_prefetch,
            batch_size: config.router_batch,
            consumers: config.router_consumers,
            public_url: config.public_url.clone(),
        };
        let router = Router::new(store.clone(), publisher.clone(), metrics.clone(), options);
        tasks.spawn(router.run(shutdown.clone()));
    }
    if roles.sender {
        let options = SenderOptions {
            concurrency: config.sender_concurrency,
            per_notifier: config.sender_per_notifier,
            prefetch: config.sender_prefetch,
            retry: config.retry,
            timeout: config.delivery_timeout,
            max_replays: config.max_replays,
            shutdown_timeout: config.shutdown_timeout,
            public_url: config.public_url.clone(),
            outbound: outbound.clone(),
        };
        let sender = Sender::new(
            store.clone(),
            publisher.clone(),
            key.clone(),
            metrics.clone(),
            options,
        );
        tasks.spawn(sender.run(shutdown.clone()));
    }
    if roles.flush {
        tasks.spawn(flusher.clone().run(config.flush_interval, shutdown.clone()));
        let retention = Retention::new(store.clone(), metrics.clone(), config.retention);
        tasks.spawn(retention.run(shutdown.clone()));
        let monitors = MonitorWatch::new(store.clone(), publisher.clone(), metrics.clone());
        tasks.spawn(monitors.run(MONITOR_TICK, shutdown.clone()));
    }
    // Retries and jobs put aside come back through the scheduler: every process
    // that sends or flushes runs one, so a sender alone still retries.
    if roles.sender || roles.flush {
        let scheduler = Scheduler::new(store.clone(), publisher.clone(), metrics.clone());
        tasks.spawn(scheduler.run(shutdown.clone()));
    }

    let ops = Ops {
        metrics: metrics.clone(),
        broker: broker.clone(),
        store: store.clone(),
        metrics_token: config.metrics_token.as_ref().map(|t| t.hash().into()),
        depths: Arc::new(Depths::new(broker.clone(), herald_api::QUEUE_GAUGES_FRESH)),
    };
    let (app, bind) = if roles.api {
        if let Some(token) = &config.bootstrap_token {
            store
                .ensure_bootstrap_token(BOOTSTRAP_TOKEN_NAME, token)
                .await
                .context("cannot keep HERALD_BOOTSTRAP_TOKEN")?;
        }
        let state = AppState {
            ingest: Ingest::new(publisher.clone(), metrics.clone()).paced(),
            store,
            flusher,
            key,
            outbound,
            ops,
            max_request_bytes: config.max_request_bytes,
            test_timeout: config.delivery_timeout,
            public_url: config.public_url.clone(),
            tokens: TokenCache::default(),
            ingest_limit: IngestLimit::new(config.ingest_rate),
        };
        (herald_api::router(Arc::new(state)), config.http_addr)
    } else {
        (herald_api::router_for_ops(ops), config.metrics_addr)
    };
    let app = herald_api::bounded(
        app,
        ServerBounds {
            request_timeout: config.http_timeout,
            max_concurrent: config.http_concurrency,
        },
    );
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    info!(%addr, roles = %roles.name(), "listening");
    let stop = shutdown.clone();
    tasks.spawn(async move {
        if let Err(error) = herald_api::serve(listener, app, stop).await {
            warn!(%error, "HTTP server stopped");
        }
    });
    Ok(Running {
        addr,
        shutdown,
        tasks,
    })
}

async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(200);
    loop {
        match Store::connect(&config.database_url, config.database_pool).await {
            Ok(store) => return Ok(store),
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                warn!(error = %e, "database not reachable yet; retrying");
            }
            Err(e) => return Err(e).context("cannot open the database"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
