//! Herald's PostgreSQL store, and the only crate that writes SQL.
//!
//! It creates the database if missing and applies the migrations in
//! `migrations/` at start; it records events, notifications and failures with
//! statements that are safe to repeat (a redelivered event or job changes
//! nothing the first copy did not); it leases a notification to one sender at a
//! time; and it lets the flush job lock failures with `SKIP LOCKED` so two
//! flushers never replay the same one.
//!
//! Secrets arrive sealed and leave sealed: this crate never sees a key.

mod delivery;
mod error;
mod failures;
mod notifications;
mod notifiers;
mod routing;
mod rules;
mod schedule;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tracing::info;

pub use delivery::{Claim, Claimed, Defer, LEASE_GRACE, LeaseRequest, Retry};
pub use error::StoreError;
pub use failures::{FailureFilter, ReplayOutcome, ReplaySelection};
pub use notifications::NotificationFilter;
pub use routing::{Enqueue, NewNotification, Recorded, Routing, RoutingSnapshot};
pub use schedule::StoredJob;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// A page of a listing, newest first; pass `next_cursor` back as `cursor`.
#[derive(Debug, Clone, serde::Serialize)]
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
}

impl Store {
    /// Connects, creating the database if it is missing and applying migrations.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Store, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("HERALD_DATABASE_URL is not valid: {e}")))?;
        create_database_if_missing(&config).await?;
        migrate(&config).await?;
        Ok(Store::with_pool(config, pool_size))
    }

    /// A pool over an existing, migrated database.
    pub fn with_pool(config: tokio_postgres::Config, pool_size: usize) -> Store {
        let manager = Manager::from_config(
            config,
            NoTls,
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
        Store { pool }
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

async fn create_database_if_missing(config: &tokio_postgres::Config) -> Result<(), StoreError> {
    let name = config.get_dbname().unwrap_or("postgres").to_owned();
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, conn) = admin.connect(NoTls).await.map_err(StoreError::connect)?;
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
async fn migrate(config: &tokio_postgres::Config) -> Result<(), StoreError> {
    const LOCK: i64 = 0x4845_5241_4c44; // "HERALD"
    let (mut client, conn) = config.connect(NoTls).await.map_err(StoreError::connect)?;
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
