//! Connecting to the database (SQLite for the embedded default, PostgreSQL in production),
//! running migrations, and reporting statement and pool metrics. Both binaries use it.

use std::path::Path;
use std::time::Duration;

use crate::settings::DatabaseSettings;
use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use secrecy::ExposeSecret;

/// Opens the pool. For a SQLite file, creates its directory first and turns on foreign keys
/// and WAL (readers do not block the writer). Every statement is counted and timed.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.expose_secret();
    if settings.is_sqlite() {
        ensure_sqlite_dir(url)?;
    }
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .sqlx_logging(false);
    let mut db = Database::connect(options)
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

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running migrations")
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
