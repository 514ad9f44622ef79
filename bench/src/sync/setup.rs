//! What both sync benchmarks share: fresh databases, the mirror tables and their row counts,
//! the simulator's own counts, and the environment of the `sync` processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use sea_orm::sqlx::{self, Connection, PgConnection, PgPool, Row};
use serde_json::Value;
use sync::mahak::Entity;

use crate::procs::{free_port, Proc, Spawn};

pub struct Bins {
    pub sync: PathBuf,
    pub server: PathBuf,
}

pub struct Common {
    /// PostgreSQL server URL without a database name.
    pub postgres: String,
    pub amqp: String,
    pub bins: Bins,
    pub log_dir: PathBuf,
}

impl Common {
    pub fn db_url(&self, database: &str) -> String {
        format!("{}/{database}", self.postgres.trim_end_matches('/'))
    }

    /// Drops (if present) and creates `database`, then applies the migrations.
    pub async fn fresh_database(&self, database: &str) -> anyhow::Result<String> {
        self.drop_database(database).await?;
        let mut admin = PgConnection::connect(&self.db_url("postgres"))
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = self.db_url(database);
        let db = sea_orm::Database::connect(&url).await?;
        sync::db::migrate(&db).await?;
        db.close().await?;
        Ok(url)
    }

    pub async fn drop_database(&self, database: &str) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.db_url("postgres"))
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .execute(&mut admin)
        .await?;
        admin.close().await?;
        Ok(())
    }

    /// The `APP__...` settings every `sync` and `server` process of one run shares.
    pub fn env(&self, database_url: &str, prefix: &str, mahak_base: &str) -> Vec<(String, String)> {
        [
            ("APP__DATABASE__URL", database_url),
            ("APP__AMQP__URL", self.amqp.as_str()),
            ("APP__SYNC__AMQP_PREFIX", prefix),
            ("APP__MAHAK__BASE_URL", mahak_base),
            ("APP__LOG__FORMAT", "json"),
            ("APP__LOG__LEVEL", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// A Mahak simulator in its own process (`sync simulate`).
pub struct Simulator {
    pub proc: Proc,
    pub root: String,
    /// Rows per entity as the simulator holds them.
    pub counts: BTreeMap<Entity, i64>,
    pub ready_secs: f64,
}

impl Simulator {
    /// `max_page_size`: the largest `pageSize` the simulator honours (`--max-page-size`).
    pub async fn start(
        common: &Common,
        name: &str,
        products: usize,
        max_page_size: u32,
    ) -> anyhow::Result<Simulator> {
        let port = free_port()?.to_string();
        let products = products.to_string();
        let max_page_size = max_page_size.to_string();
        let started = std::time::Instant::now();
        let mut proc = Proc::spawn(Spawn {
            name,
            program: &common.bins.sync,
            args: &[
                "simulate",
                "--port",
                &port,
                "--products",
                &products,
                "--seed",
                "1",
                "--max-page-size",
                &max_page_size,
            ],
            env: &[],
            log_dir: &common.log_dir,
        })
        .await?;
        // Generating a million rows takes a while; the process logs this once it serves.
        proc.wait_for_line("Mahak simulator listening", Duration::from_secs(900))
            .await?;
        let ready_secs = started.elapsed().as_secs_f64();
        let root = format!("http://127.0.0.1:{port}");
        let mut simulator = Simulator {
            proc,
            root,
            counts: BTreeMap::new(),
            ready_secs,
        };
        simulator.counts = simulator.read_counts().await?;
        Ok(simulator)
    }

    /// The Mahak API base URL the worker is given.
    pub fn base_url(&self) -> String {
        format!("{}/API/v3/Sync/", self.root)
    }

    pub fn total_rows(&self) -> i64 {
        self.counts.values().sum()
    }

    /// `GetAllData` calls served so far.
    pub async fn get_all_data_requests(&self) -> anyhow::Result<i64> {
        let body: Value = reqwest::get(format!("{}/control/stats", self.root))
            .await?
            .error_for_status()?
            .json()
            .await?;
        body["get_all_data_requests"]
            .as_i64()
            .with_context(|| format!("stats: {body}"))
    }

    async fn read_counts(&self) -> anyhow::Result<BTreeMap<Entity, i64>> {
        let body: Value = reqwest::get(format!("{}/control/entities", self.root))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut counts = BTreeMap::new();
        for entry in body.as_array().context("entities list")? {
            let name = entry["entity"].as_str().context("entity name")?;
            let entity = Entity::from_name(name).with_context(|| format!("entity {name}"))?;
            counts.insert(entity, entry["rows"].as_i64().context("rows")?);
        }
        ensure!(counts.len() == Entity::ALL.len(), "entities: {body}");
        Ok(counts)
    }
}

pub fn table_of(entity: Entity) -> &'static str {
    sync::mirror::spec_for(entity).table
}

/// Rows of one mirror table (every row, soft-deleted ones included: they were synced too).
pub async fn count_rows(pool: &PgPool, entity: Entity) -> anyhow::Result<i64> {
    let row = sqlx::query(&format!("SELECT count(*) FROM {}", table_of(entity)))
        .fetch_one(pool)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn open_dead_letters(pool: &PgPool) -> anyhow::Result<i64> {
    let row = sqlx::query(
        "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL AND discarded_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(row.try_get(0)?)
}

/// Waits until every mirror table holds the simulator's rows. A table is counted until it is
/// complete and then left alone, so that the polling costs the machine little while the
/// consumers write. Fails on a dead letter, on more rows than expected, or when nothing
/// moves for `stall`.
pub struct MirrorWatch<'a> {
    pool: &'a PgPool,
    expected: &'a BTreeMap<Entity, i64>,
    done: BTreeMap<Entity, i64>,
    last_total: i64,
    last_move: tokio::time::Instant,
}

impl<'a> MirrorWatch<'a> {
    pub fn new(pool: &'a PgPool, expected: &'a BTreeMap<Entity, i64>) -> Self {
        MirrorWatch {
            pool,
            expected,
            done: BTreeMap::new(),
            last_total: -1,
            last_move: tokio::time::Instant::now(),
        }
    }

    /// One poll: true once every table is complete.
    pub async fn complete(&mut self, stall: Duration) -> anyhow::Result<bool> {
        let dead = open_dead_letters(self.pool).await?;
        if dead > 0 {
            bail!("{dead} open dead letters: the sync did not apply every row");
        }
        let mut total = 0;
        for (&entity, &want) in self.expected {
            if let Some(&n) = self.done.get(&entity) {
                total += n;
                continue;
            }
            let n = count_rows(self.pool, entity).await?;
            ensure!(
                n <= want,
                "{} holds {n} rows, the simulator {want}",
                table_of(entity)
            );
            if n == want {
                self.done.insert(entity, n);
            }
            total += n;
        }
        if total != self.last_total {
            self.last_total = total;
            self.last_move = tokio::time::Instant::now();
        } else if self.last_move.elapsed() > stall {
            bail!(
                "the mirror stayed at {total} of {} rows for {stall:?}",
                self.expected.values().sum::<i64>()
            );
        }
        Ok(self.done.len() == self.expected.len())
    }
}

pub fn fresh_prefix(what: &str) -> String {
    format!("bench.{what}.{}", uuid::Uuid::new_v4().simple())
}

pub fn log_dir(out: &Path) -> anyhow::Result<PathBuf> {
    let dir = out.parent().unwrap_or(Path::new(".")).join(format!(
        "sync-logs-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
