//! Item 5, full sync: the simulator (its own process) holds N products' worth of Mahak rows;
//! `sync run` fetches them all and publishes them to RabbitMQ, `sync consume` applies them to
//! a fresh database. Timed from the start of `sync run` to the mirror holding every row. Then
//! the same rows are moved with PostgreSQL `COPY` (out of the synced database, into an empty
//! migrated one) for the baseline.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures::StreamExt;
use sea_orm::sqlx::{self, postgres::PgPoolOptions, Connection, PgConnection, Row};
use sync::mahak::Entity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::procs::{Proc, Spawn};
use crate::setup::{count_rows, fresh_prefix, table_of, Common, MirrorWatch, Simulator};

pub struct FullOptions {
    pub products: usize,
    /// Rows per `GetAllData` page (`sync.page_size`; the worker's default is 500).
    pub page_size: u32,
    /// `sync consume` processes.
    pub consumer_processes: usize,
    /// Consumer loops in each `sync consume` process (`--consumers`).
    pub consumers: usize,
    pub keep_databases: bool,
}

#[derive(Debug, Clone)]
pub struct FullResult {
    pub products: usize,
    pub page_size: u32,
    /// `GetAllData` calls the simulator served to `sync run`.
    pub mahak_requests: i64,
    pub rows: i64,
    /// Rows `sync run` fetched (page boundaries are fetched twice).
    pub fetched: i64,
    /// Rows per entity, in `Entity::ALL` order.
    pub mix: Vec<(Entity, i64)>,
    pub simulator_ready_secs: f64,
    /// Start of `sync run` to its exit (fetch + publish, with confirms).
    pub run_secs: f64,
    /// The sync_runs row: started_at to finished_at.
    pub run_row_secs: f64,
    /// Start of `sync run` to the mirror holding every row.
    pub end_to_end_secs: f64,
    /// From `sync run`'s exit to the mirror holding every row (the consumers' tail).
    pub consume_tail_secs: f64,
    /// CPU seconds over the measured window (sampled every 50 ms).
    pub worker_cpu: f64,
    pub consumer_cpu: f64,
    pub simulator_cpu: f64,
    pub worker_mib: f64,
    pub consumer_mib: f64,
    pub simulator_mib: f64,
    pub copy_out_secs: f64,
    pub copy_in_secs: f64,
    pub copy_bytes: u64,
}

impl FullResult {
    pub fn sync_rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.end_to_end_secs
    }
    pub fn copy_rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.copy_in_secs
    }
    pub fn ratio(&self) -> f64 {
        self.sync_rows_per_sec() / self.copy_rows_per_sec()
    }
}

pub async fn run(common: &Common, options: &FullOptions) -> anyhow::Result<FullResult> {
    let n = options.products;
    let page_size = options.page_size;
    let database = format!("store_bench_sync_{n}_{page_size}");
    eprintln!("full sync, {n} products, pages of {page_size}: database {database}");
    let url = common.fresh_database(&database).await?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    let prefix = fresh_prefix("full");

    let simulator = Simulator::start(
        common,
        &format!("simulator-{n}-{page_size}"),
        n,
        page_size.max(1000),
    )
    .await?;
    let rows = simulator.total_rows();
    eprintln!(
        "  simulator ready in {:.1} s with {rows} rows",
        simulator.ready_secs
    );
    let mut env = common.env(&url, &prefix, &simulator.base_url());
    env.extend([
        ("APP__SYNC__PAGE_SIZE".to_string(), page_size.to_string()),
        (
            "APP__SYNC__MAX_PAGE_SIZE".to_string(),
            page_size.max(5000).to_string(),
        ),
    ]);

    let consumers = options.consumers.to_string();
    let mut consumer_procs: Vec<Proc> = Vec::new();
    for i in 0..options.consumer_processes.max(1) {
        let mut proc = Proc::spawn(Spawn {
            name: &format!("consume-{n}-{page_size}-{i}"),
            program: &common.bins.sync,
            args: &["consume", "--consumers", &consumers],
            env: &env,
            log_dir: &common.log_dir,
        })
        .await?;
        proc.wait_for_line("consuming batches", Duration::from_secs(60))
            .await?;
        consumer_procs.push(proc);
    }

    // The measured window starts here.
    let cpu_before: Vec<f64> = consumer_procs.iter().map(Proc::cpu_secs).collect();
    let simulator_cpu_before = simulator.proc.cpu_secs();
    let started = Instant::now();
    let mut worker = Proc::spawn(Spawn {
        name: &format!("run-{n}-{page_size}"),
        program: &common.bins.sync,
        args: &["run"],
        env: &env,
        log_dir: &common.log_dir,
    })
    .await?;
    let mut watch = MirrorWatch::new(&pool, &simulator.counts);
    // While the worker runs, the mirror is read every 2 s (to catch a stall and spare the
    // two cores); afterwards every 200 ms, which bounds the error of the end time.
    let status = loop {
        tokio::select! {
            status = worker.wait() => break status?,
            () = tokio::time::sleep(Duration::from_secs(2)) => {
                watch.complete(Duration::from_secs(300)).await?;
                for proc in &mut consumer_procs {
                    proc.check_running()?;
                }
            }
        }
    };
    let run_secs = started.elapsed().as_secs_f64();
    let output = worker.output();
    if !status.success() {
        bail!(
            "`sync run` failed ({status}); see {}",
            worker.log_path.display()
        );
    }
    let summary = output
        .iter()
        .find(|l| l.starts_with("run "))
        .cloned()
        .context("`sync run` printed no summary")?;
    eprintln!("  {summary} ({run_secs:.1} s)");
    let fetched: i64 = summary
        .split("fetched ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .context("fetched count in the summary")?;
    // Cursors are inclusive (Mahak's), so a row on a page boundary is fetched twice: more is
    // normal, fewer would be a bug.
    ensure!(
        fetched >= rows,
        "`sync run` fetched {fetched} rows, the simulator holds {rows}"
    );
    let worker_mib = worker.peak_mib();
    let mahak_requests = simulator.get_all_data_requests().await?;
    while !watch.complete(Duration::from_secs(120)).await? {
        for proc in &mut consumer_procs {
            proc.check_running()?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end_to_end_secs = started.elapsed().as_secs_f64();
    let consumer_cpu: f64 = consumer_procs
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| p.cpu_secs() - before)
        .sum();
    let simulator_cpu = simulator.proc.cpu_secs() - simulator_cpu_before;
    let worker_cpu = worker.cpu_secs();
    eprintln!("  mirror complete after {end_to_end_secs:.1} s");

    let run_row = sqlx::query(
        "SELECT outcome, fetched, EXTRACT(EPOCH FROM (finished_at - started_at))::float8 AS secs \
         FROM sync_runs ORDER BY started_at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;
    let outcome: String = run_row.try_get("outcome")?;
    ensure!(outcome == "succeeded", "sync run outcome {outcome}");
    let run_row_secs: f64 = run_row.try_get("secs")?;

    let mut consumer_mib = 0.0_f64;
    for proc in consumer_procs {
        consumer_mib = consumer_mib.max(proc.stop().await?);
    }
    let simulator_mib = simulator.proc.stop().await?;
    pool.close().await;

    let copy = copy_baseline(common, &database, &simulator.counts).await?;
    if !options.keep_databases {
        common.drop_database(&database).await?;
    }
    Ok(FullResult {
        products: n,
        page_size,
        mahak_requests,
        rows,
        fetched,
        mix: Entity::ALL
            .iter()
            .map(|e| (*e, simulator.counts.get(e).copied().unwrap_or(0)))
            .collect(),
        simulator_ready_secs: simulator.ready_secs,
        run_secs,
        run_row_secs,
        end_to_end_secs,
        consume_tail_secs: end_to_end_secs - run_secs,
        worker_cpu,
        consumer_cpu,
        simulator_cpu,
        worker_mib,
        consumer_mib,
        simulator_mib,
        copy_out_secs: copy.out_secs,
        copy_in_secs: copy.in_secs,
        copy_bytes: copy.bytes,
    })
}

struct CopyResult {
    out_secs: f64,
    in_secs: f64,
    bytes: u64,
}

/// `COPY table TO STDOUT` of every mirror table of the synced database into a file, then
/// `COPY table FROM STDIN` of that file into the same tables of a freshly migrated database
/// (binary format, the fastest PostgreSQL offers). Checks the row counts afterwards.
async fn copy_baseline(
    common: &Common,
    source_db: &str,
    counts: &std::collections::BTreeMap<Entity, i64>,
) -> anyhow::Result<CopyResult> {
    let target_db = format!("{source_db}_copy");
    let target_url = common.fresh_database(&target_db).await?;
    let mut source = PgConnection::connect(&common.db_url(source_db)).await?;
    let mut target = PgConnection::connect(&target_url).await?;
    // Start from empty tables even if a migration seeds one.
    let tables: Vec<&str> = Entity::ALL.iter().map(|e| table_of(*e)).collect();
    sqlx::query(&format!("TRUNCATE {} CASCADE", tables.join(", ")))
        .execute(&mut target)
        .await?;
    let dir = common.log_dir.join("copy");
    tokio::fs::create_dir_all(&dir).await?;

    let mut out_secs = 0.0;
    let mut bytes = 0u64;
    for table in &tables {
        let path = dir.join(format!("{table}.bin"));
        let mut file = tokio::fs::File::create(&path).await?;
        let started = Instant::now();
        let mut stream = source
            .copy_out_raw(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
            .await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        drop(stream);
        file.flush().await?;
        out_secs += started.elapsed().as_secs_f64();
    }

    // The files were just written, so they are in the page cache: the load reads memory.
    let mut in_secs = 0.0;
    let mut buffer = vec![0u8; 1 << 20];
    for (entity, table) in Entity::ALL.iter().zip(&tables) {
        let path = dir.join(format!("{table}.bin"));
        let mut file = tokio::fs::File::open(&path).await?;
        let started = Instant::now();
        let mut copy = target
            .copy_in_raw(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
            .await?;
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            copy.send(&buffer[..n]).await?;
        }
        let copied = copy.finish().await?;
        in_secs += started.elapsed().as_secs_f64();
        let want = counts.get(entity).copied().unwrap_or(0);
        ensure!(
            copied as i64 == want,
            "COPY loaded {copied} rows into {table}, expected {want}"
        );
        tokio::fs::remove_file(&path).await?;
    }
    source.close().await?;
    target.close().await?;
    let check = PgPoolOptions::new()
        .max_connections(1)
        .connect(&target_url)
        .await?;
    for entity in Entity::ALL {
        let n = count_rows(&check, entity).await?;
        ensure!(
            n == counts.get(&entity).copied().unwrap_or(0),
            "{} after COPY: {n}",
            table_of(entity)
        );
    }
    check.close().await;
    common.drop_database(&target_db).await?;
    let _ = tokio::fs::remove_dir(&dir).await;
    Ok(CopyResult {
        out_secs,
        in_secs,
        bytes,
    })
}
