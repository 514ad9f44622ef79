//! Connecting to the database (SQLite for the embedded default, PostgreSQL in production),
//! running migrations, and reporting statement and pool metrics. Both binaries use it.

use std::path::Path;
use std::time::Duration;

use crate::settings::DatabaseSettings;
use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    TransactionTrait,
};
use secrecy::ExposeSecret;

/// Opens the pool. For a SQLite file, creates its directory first and turns on foreign keys
/// and WAL (readers do not block the writer). On PostgreSQL every connection gets
/// `database.statement_timeout_ms`. Every statement is counted and timed.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.expose_secret();
    if settings.is_sqlite() {
        ensure_sqlite_dir(url)?;
    }
    let db = open(settings, url)
        .await
        .context("connecting to the database")?;
    if settings.is_sqlite() {
        for pragma in [
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
            "PRAGMA busy_timeout = 5000",
        ] {
            db.execute_unprepared(pragma)
                .await
                .with_context(|| format!("running {pragma}"))?;
        }
    }
    Ok(db)
}

/// Opens the pool of the read replica `database.read_url`, with the primary's pool sizes and
/// timeouts; `None` when no replica is configured (reads then use the primary's pool).
pub async fn connect_read(
    settings: &DatabaseSettings,
) -> anyhow::Result<Option<DatabaseConnection>> {
    let Some(read_url) = &settings.read_url else {
        return Ok(None);
    };
    let db = open(settings, read_url.expose_secret())
        .await
        .context("connecting to the read replica (database.read_url)")?;
    Ok(Some(db))
}

async fn open(settings: &DatabaseSettings, url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .sqlx_logging(false);
    let statement_timeout_ms = settings.statement_timeout_ms;
    if statement_timeout_ms > 0 {
        // Sent in the startup packet (`options=-c statement_timeout=...`), so it holds on every
        // connection the pool ever opens, from its first statement, without a round trip.
        options.map_sqlx_postgres_opts(move |pg| {
            pg.options([("statement_timeout", statement_timeout_ms.to_string())])
        });
    }
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(|info| {
        let outcome = if info.failed { "error" } else { "ok" };
        metrics::counter!("db_statements_total", "outcome" => outcome).increment(1);
        metrics::histogram!("db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
    });
    Ok(db)
}

fn ensure_sqlite_dir(url: &str) -> anyhow::Result<()> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Applies pending migrations. On PostgreSQL they run in one transaction with the statement
/// timeout lifted (`SET LOCAL`, undone at its end): an index built on a large table may take
/// longer than any timeout meant for the store's queries.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Migrator::up(db, None).await.context("running migrations");
    }
    let txn = db
        .begin()
        .await
        .context("starting the migrations' transaction")?;
    txn.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await
        .context("lifting the statement timeout for migrations")?;
    Migrator::up(&txn, None)
        .await
        .context("running migrations")?;
    txn.commit().await.context("committing migrations")
}

/// Sets the pool gauges; called when metrics are scraped.
pub fn record_pool_metrics(db: &DatabaseConnection) {
    let (size, idle) = match db {
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
}

/// Readiness: the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
