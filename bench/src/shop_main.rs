//! The shop benchmarks the project keeps (issue 10, items 3, 4 and 7).
//!
//! On a fresh PostgreSQL database, with the release `server` as its own process:
//! - start-up to `/readyz` 200 on the empty database and on a full catalogue, and idle RSS;
//! - checkout: concurrent customers signed in by OTP (the log SMS provider's line in the
//!   server's log) adding to the cart, checking out and paying on the sandbox gateway for a
//!   fixed time: orders/s, p50/p99 of add + checkout + pay, RSS under that load, and no
//!   overselling (checked in the database, with a scarce variant the customers race for);
//! - subscriptions: many graphql-transport-ws sockets on the admin `orderPlaced`, events
//!   triggered by checkouts: delivery latency p50/p99 and server memory per idle subscription.
//!
//! Prints a markdown table and writes it to `--out`; any error fails the run (exit code 1).
//! Run (see README, "Performance"):
//! `cargo build --release -p server -p bench && target/release/bench-shop`

// The catalogue bench's database helpers, used unchanged: a fresh database, `server migrate
// up`, and the 20,000 × 3 catalogue. Some of its items serve only the catalogue bench.
#[allow(dead_code)]
#[path = "seed.rs"]
mod seed;

mod shop {
    pub mod checkout;
    pub mod client;
    pub mod proc;
    pub mod report;
    pub mod subs;
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use sea_orm::sqlx::{self, postgres::PgPoolOptions, PgPool};

use shop::proc::{ServerOptions, ServerProc};

#[derive(Parser)]
#[command(
    name = "bench-shop",
    about = "Shop benchmarks: checkout, subscriptions, memory and start-up"
)]
struct Args {
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/bench/shop-report.md")]
    out: PathBuf,
    /// PostgreSQL server, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// Directory of the `server` binary (default: this binary's, i.e. target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Catalogue size of the full database (3 variants each).
    #[arg(long, default_value_t = 20_000)]
    products: i64,
    /// Concurrent customers of the checkout benchmark.
    #[arg(long, default_value_t = 32)]
    customers: usize,
    /// Seconds of checkout load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Units of the scarce variant the customers race for.
    #[arg(long, default_value_t = 5)]
    scarce_stock: i64,
    /// Open subscription sockets.
    #[arg(long, default_value_t = 2_000)]
    sockets: usize,
    /// Events delivered to every socket (timed; one more untimed warm-up).
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Server starts timed on each database.
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// Keep the benchmark database (store_bench_shop_<pid>) for inspection.
    #[arg(long)]
    keep_database: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The soft open-files limit of this process (its children inherit it).
fn open_files_limit() -> anyhow::Result<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .context("no open-files limit in /proc/self/limits")
}

/// Fails when the server logged an ERROR line.
async fn check_log(server: &ServerProc) -> anyhow::Result<()> {
    let errors = server.error_lines().await?;
    if !errors.is_empty() {
        bail!(
            "the server logged errors ({}):\n{}",
            server.log_path.display(),
            errors.join("\n")
        );
    }
    Ok(())
}

struct Env<'a> {
    bin: &'a Path,
    url: &'a str,
    amqp: &'a str,
    prefix: &'a str,
    work_dir: &'a Path,
}

impl Env<'_> {
    async fn start(&self, name: &str) -> anyhow::Result<ServerProc> {
        ServerProc::start(ServerOptions {
            bin: self.bin,
            database_url: self.url,
            amqp_url: self.amqp,
            amqp_prefix: self.prefix,
            work_dir: self.work_dir,
            log_path: self.work_dir.join(format!("{name}.log")),
        })
        .await
        .with_context(|| format!("starting the server ({name})"))
    }

    /// `starts` timed starts; the last server is returned running, with its idle RSS taken
    /// 2 s after it was ready.
    async fn timed_starts(
        &self,
        name: &str,
        starts: usize,
    ) -> anyhow::Result<(Vec<f64>, u64, ServerProc)> {
        let mut times = Vec::new();
        for i in 1..=starts {
            let server = self.start(&format!("{name}-{i}")).await?;
            times.push(server.ready_after.as_secs_f64() * 1000.0);
            if i < starts {
                check_log(&server).await?;
                server.stop().await?;
                continue;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let rss = server.rss_kb()?;
            return Ok((times, rss, server));
        }
        bail!("--starts must be at least 1")
    }
}

/// Variants of visible products: `count` to stock plentifully and one scarce.
async fn stock_variants(
    pool: &PgPool,
    count: i64,
    scarce_stock: i64,
) -> anyhow::Result<(Vec<i64>, i64)> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT v.id, v.mahak_id FROM variants v \
         JOIN products p ON p.mahak_id = v.product_mahak_id \
         JOIN product_listings l ON l.product_id = p.id \
         WHERE l.published AND p.min_price IS NOT NULL AND p.deleted_at IS NULL \
         ORDER BY v.id LIMIT $1",
    )
    .bind(count + 1)
    .fetch_all(pool)
    .await?;
    ensure!(
        rows.len() as i64 == count + 1,
        "only {} visible variants",
        rows.len()
    );
    let (scarce, scarce_mahak) = rows[0];
    let plentiful: Vec<i64> = rows[1..].iter().map(|r| r.0).collect();
    let plentiful_mahak: Vec<i64> = rows[1..].iter().map(|r| r.1).collect();
    sqlx::query("UPDATE variant_stock SET quantity = 1000000 WHERE variant_mahak_id = ANY($1)")
        .bind(&plentiful_mahak)
        .execute(pool)
        .await?;
    let updated = sqlx::query("UPDATE variant_stock SET quantity = $1 WHERE variant_mahak_id = $2")
        .bind(scarce_stock as f64)
        .bind(scarce_mahak)
        .execute(pool)
        .await?
        .rows_affected();
    ensure!(updated == 1, "the scarce variant has {updated} stock rows");
    Ok((plentiful, scarce))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let limit = open_files_limit()?;
    ensure!(
        limit >= args.sockets as u64 + 1000,
        "the open-files limit is {limit}: raise it (ulimit -n {}) for {} sockets",
        args.sockets + 1000,
        args.sockets
    );
    let mut machine = shop::report::Machine::now();
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no directory")?
            .to_path_buf(),
    };
    let server_bin = bin_dir.join("server");
    ensure!(
        server_bin.exists(),
        "{} is missing: cargo build --release -p server -p bench",
        server_bin.display()
    );
    let database = format!("store_bench_shop_{}", std::process::id());
    let work_dir =
        std::env::current_dir()?.join(format!("target/bench/shop-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let prefix = format!("bench-shop-{}", std::process::id());

    println!("database {database}, logs in {}", work_dir.display());
    seed::create_database(&args.postgres, &database).await?;
    let url = seed::database_url(&args.postgres, &database);
    let result = measure(&args, &server_bin, &url, &prefix, &work_dir).await;
    if !args.keep_database {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&seed::database_url(&args.postgres, "postgres"))
            .await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    let (startup, checkout, subs) = result?;
    machine.uptime_end = shop::report::uptime();
    let report = shop::report::markdown(&machine, &startup, &checkout, &subs);
    println!("{report}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &report)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("written to {}", args.out.display());
    Ok(())
}

async fn measure(
    args: &Args,
    server_bin: &Path,
    url: &str,
    prefix: &str,
    work_dir: &Path,
) -> anyhow::Result<(
    shop::report::Startup,
    shop::checkout::Outcome,
    shop::subs::Outcome,
)> {
    seed::migrate(server_bin, url, work_dir).await?;
    let env = Env {
        bin: server_bin,
        url,
        amqp: &args.amqp,
        prefix,
        work_dir,
    };

    println!("start-up on the empty database ({} starts)", args.starts);
    let (empty_ms, rss_idle_empty_kb, server) = env.timed_starts("empty", args.starts).await?;
    check_log(&server).await?;
    server.stop().await?;

    let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
    println!("loading {} products", args.products);
    let seeded = seed::catalogue(&pool, args.products).await?;
    let (plentiful, scarce) = stock_variants(&pool, 500, args.scarce_stock).await?;

    println!("start-up on the full database ({} starts)", args.starts);
    let (full_ms, rss_idle_full_kb, mut server) = env.timed_starts("full", args.starts).await?;
    let phones = Arc::new(AtomicU64::new(1));
    println!(
        "checkout: {} customers for {} s",
        args.customers, args.duration
    );
    let checkout = shop::checkout::run(
        &server,
        &pool,
        &shop::checkout::Options {
            customers: args.customers,
            duration: Duration::from_secs(args.duration),
            plentiful: plentiful.clone(),
            scarce_variant: scarce,
            scarce_stock: args.scarce_stock,
        },
        &phones,
    )
    .await
    .context("checkout benchmark")?;
    server.check_alive()?;
    check_log(&server).await?;
    server.stop().await?;

    let admin_email = "bench@example.com".to_string();
    let admin_password = "bench-shop-admin-password".to_string();
    shop::proc::create_admin(server_bin, url, work_dir, &admin_email, &admin_password).await?;
    println!(
        "subscriptions: {} sockets, {} events",
        args.sockets, args.events
    );
    let mut server = env.start("subscriptions").await?;
    let subs = shop::subs::run(
        &server,
        &shop::subs::Options {
            sockets: args.sockets,
            events: args.events,
            variant: plentiful[0],
            admin_email,
            admin_password,
        },
        phones.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    )
    .await
    .context("subscription benchmark")?;
    server.check_alive()?;
    check_log(&server).await?;
    server.stop().await?;
    pool.close().await;

    Ok((
        shop::report::Startup {
            empty_ms,
            full_ms,
            products: seeded.products,
            variants: seeded.variants,
            rss_idle_empty_kb,
            rss_idle_full_kb,
        },
        checkout,
        subs,
    ))
}
