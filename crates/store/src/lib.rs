//! Herald's PostgreSQL store, and the only crate that writes SQL.
//!
//! It creates the database if missing and applies the migrations in
//! `migrations/` at start; it records events, notifications and failures with
//! statements that are safe to repeat (a redelivered event or job changes
//! nothing the first copy did not); it leases a notification to one sender at a
//! time; and it lets the flush job lock failures with `SKIP LOCKED` so two
//! flushers never replay the same one; monitors' transitions are locked the
//! same way.
//!
//! It speaks TLS to the database when the URL's `sslmode` asks (see `tls`).
//!
//! Secrets arrive sealed and leave sealed: this crate never sees a key.

mod access;
mod delivery;
mod error;
mod events;
mod failures;
mod monitors;
mod notifications;
mod notifiers;
mod overview;
mod retention;
mod routing;
mod rules;
mod schedule;
mod silences;
mod state;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tracing::{debug, info};

use tls::MakeRustlsConnect;

pub use access::{AuditFilter, NewAudit};
pub use delivery::{
    Claim, Claimed, Defer, Failed, FailureRecorded, FallbackCreated, LEASE_GRACE, LeaseRequest,
    Retry, Sent,
};
pub use error::StoreError;
pub use events::{EventCursor, EventFilter, EventPage};
pub use failures::{FailureFilter, ReplayOutcome, ReplaySelection};
pub use monitors::Transitions;
pub use notifications::NotificationFilter;
pub use overview::Overview;
pub use routing::{Enqueue, NewNotification, NotifierInfo, Recorded, Routing, RoutingSnapshot};
pub use rules::{HistoricRule, RuleLayer};
pub use schedule::StoredJob;
pub use silences::SilenceFilter;
pub use state::{FiringTarget, GroupAsk, GroupJoin, Planned, RuleState, StateTx, Throttled};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// A page of a listing, newest first; pass `next_cursor` back as `cursor`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<uuid::Uuid>,
}

impl<T> Page<T> {
    fn new(items: Vec<T>, limit: i64, id: impl Fn(&T) -> uuid::Uuid) -> Page<T> {
        let full = i64::try_from(items.len()).unwrap_or(i64::MAX) >= limit;
        let next_cursor = if full { items.last().map(id) } else { None };
        Page { items, next_cursor }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    growth: Arc<Growth>,
}

/// Rows recorded since the tables' statistics were last refreshed by Herald,
/// and how many there were then.
#[derive(Default)]
struct Growth {
    since: AtomicU64,
    at_last: AtomicU64,
}

/// Herald stops refreshing statistics itself past this many rows: autovacuum's
/// analyze keeps up with a table that large.
const YOUNG: u64 = 1_000_000;

impl Store {
    /// Connects, creating the database if it is missing and applying migrations.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Store, StoreError> {
        let (rest, settings) = tls::split_url(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| StoreError::Config(format!("HERALD_DATABASE_URL is not valid: {e}")))?;
        config.ssl_mode(settings.pg_mode());
        let tls = settings.connector()?;
        create_database_if_missing(&config, &tls).await?;
        migrate(&config, &tls).await?;
        Ok(Store::with_pool(config, tls, pool_size))
    }

    /// A pool over an existing, migrated database.
    fn with_pool(
        mut config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        pool_size: usize,
    ) -> Store {
        // Herald's rows are read by primary key from tables that live in
        // memory: a random page costs about what a sequential one does. With
        // the default (4x), a young table's plans scan it whole; see
        // `Store::grew`. Options in the URL come first and may say otherwise.
        let ours = "-c random_page_cost=1.1";
        let options = match config.get_options() {
            Some(given) => format!("{ours} {given}"),
            None => ours.to_owned(),
        };
        config.options(&options);

        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(Duration::from_secs(5));
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .runtime(Runtime::Tokio1)
            .build()
            .expect("a pool with a runtime and timeouts always builds");
        Store {
            pool,
            growth: Arc::default(),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::from_pool)
    }

    /// Returns once the database answers again, checking with a capped backoff.
    /// Callers race it against their shutdown.
    pub async fn wait_until_reachable(&self) {
        let mut delay = Duration::from_millis(200);
        while self.ping().await.is_err() {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Counts `rows` newly recorded events and, while the tables are young,
    /// refreshes their statistics each time they doubled. Statements are
    /// prepared once per connection and PostgreSQL soon settles on one plan
    /// for each, from the statistics of the moment: on a table of a thousand
    /// rows that plan scans the whole table, which at a million rows costs a
    /// hundred times more, and autovacuum's analyze comes at most once a
    /// minute. An ANALYZE makes every connection plan again.
    pub fn grew(&self, rows: u64) {
        let since = self.growth.since.fetch_add(rows, Ordering::Relaxed) + rows;
        let at_last = self.growth.at_last.load(Ordering::Relaxed);
        if at_last >= YOUNG || since < at_last.max(1000) {
            return;
        }
        // One refresh per doubling, whoever counted past it first.
        if self
            .growth
            .since
            .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.growth.at_last.fetch_add(since, Ordering::Relaxed);
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(error) = store.analyze().await {
                debug!(%error, "refreshing table statistics failed");
            }
        });
    }

    async fn analyze(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .batch_execute("ANALYZE events, notifications")
            .await
            .map_err(StoreError::query("analyze"))
    }

    /// Whether this process's connections to the database are encrypted, as
    /// the server sees them.
    pub async fn encrypted(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(bool_and(ssl), false) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(StoreError::query("read pg_stat_ssl"))?;
        Ok(row.get(0))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(StoreError::query("ping"))?;
        Ok(())
    }
}

async fn create_database_if_missing(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<(), StoreError> {
    let name = config.get_dbname().unwrap_or("postgres").to_owned();
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, conn) = admin
        .connect(tls.clone())
        .await
        .map_err(StoreError::connect)?;
    tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(StoreError::query("look up database"))?
        .is_some();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await
        {
            Ok(()) => info!(database = %name, "created the database"),
            // Another process created it in the meantime.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(StoreError::query("create database")(e)),
        }
    }
    Ok(())
}

/// Applies pending migrations under an advisory lock, so that processes starting
/// together do not race.
async fn migrate(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<(), StoreError> {
    const LOCK: i64 = 0x4845_5241_4c44; // "HERALD"
    let (mut client, conn) = config
        .connect(tls.clone())
        .await
        .map_err(StoreError::connect)?;
    tokio::spawn(conn);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .map_err(StoreError::query("lock migrations"))?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()));
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await;
    for m in report?.applied_migrations() {
        info!(migration = %m, "applied migration");
    }
    Ok(())
}
