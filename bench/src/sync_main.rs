//! The sync benchmarks the project keeps (issue 10, items 5 and 6).
//!
//! Full sync: a Mahak simulator in its own process (`sync simulate`), `sync run` fetching every
//! row into RabbitMQ, `sync consume` writing them to a fresh PostgreSQL database; rows/s end to
//! end, time per stage, peak RSS of each process, and PostgreSQL `COPY` of the same rows into
//! the same tables for comparison. Incremental sync: `sync daemon --interval 1s` with a
//! consumer and `server serve`; time from a change in the simulator to the shop and to the
//! admin subscription. Prints a markdown table and writes it to `--out`; any error fails the
//! run (exit code 1).
//!
//! Run (see README, "Performance"):
//! `cargo build --release -p server -p sync -p bench && target/release/bench-sync`

#[path = "sync/full.rs"]
mod full;
#[path = "sync/incremental.rs"]
mod incremental;
#[path = "sync/procs.rs"]
mod procs;
#[path = "sync/report.rs"]
mod report;
#[path = "sync/setup.rs"]
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "bench-sync",
    about = "Sync benchmarks: full sync against COPY, incremental sync latency"
)]
struct Args {
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/bench/sync-report.md")]
    out: PathBuf,
    /// PostgreSQL server, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// Directory of the `sync` and `server` binaries (default: this binary's, i.e.
    /// target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Simulated catalogue sizes of the full sync, one run each (comma-separated). About 11.5
    /// Mahak rows per product: 8,700 products are about 100,000 rows, 86,900 about 1,000,000.
    #[arg(long, value_delimiter = ',', default_values_t = [8_700, 86_900])]
    full_products: Vec<usize>,
    /// Rows per `GetAllData` page of the full sync (`sync.page_size`), one run per size and
    /// catalogue size (comma-separated). The worker's default is 500; its Mahak client makes
    /// at most `mahak.requests_per_sec` requests a second (default 20, bursts of 40).
    #[arg(long, value_delimiter = ',', default_values_t = [500])]
    page_sizes: Vec<u32>,
    /// `sync consume` processes of the full sync.
    #[arg(long, default_value_t = 1)]
    consumer_processes: usize,
    /// Consumer loops per `sync consume` process (`sync consume --consumers`).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Catalogue size of the incremental benchmark.
    #[arg(long, default_value_t = 2_000)]
    incremental_products: usize,
    /// Changes timed by the incremental benchmark (0 skips it).
    #[arg(long, default_value_t = 30)]
    changes: usize,
    /// Keep the benchmark databases (store_bench_sync_*) for inspection.
    #[arg(long)]
    keep_databases: bool,
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

async fn run(args: Args) -> anyhow::Result<()> {
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .context("binary directory")?
            .to_path_buf(),
    };
    let bins = setup::Bins {
        sync: bin_dir.join("sync"),
        server: bin_dir.join("server"),
    };
    for bin in [&bins.sync, &bins.server] {
        anyhow::ensure!(
            bin.exists(),
            "{} is missing: cargo build --release -p server -p sync -p bench",
            bin.display()
        );
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let common = setup::Common {
        postgres: args.postgres.clone(),
        amqp: args.amqp.clone(),
        bins,
        log_dir: setup::log_dir(&args.out)?,
    };
    eprintln!("process logs in {}", common.log_dir.display());
    let load_before = report::load_average();
    let rustc_before = report::rustc_processes();

    let mut full = Vec::new();
    let runs: Vec<(u32, usize)> = args
        .page_sizes
        .iter()
        .flat_map(|&page| args.full_products.iter().map(move |&n| (page, n)))
        .collect();
    for (page_size, products) in runs {
        let result = full::run(
            &common,
            &full::FullOptions {
                products,
                page_size,
                consumer_processes: args.consumer_processes,
                consumers: args.consumers,
                keep_databases: args.keep_databases,
            },
        )
        .await
        .with_context(|| format!("full sync of {products} products"))?;
        eprintln!(
            "  {} rows in {:.1} s: {:.0} rows/s; COPY {:.0} rows/s; ratio {:.3}; worker {:.0} MiB",
            result.rows,
            result.end_to_end_secs,
            result.sync_rows_per_sec(),
            result.copy_rows_per_sec(),
            result.ratio(),
            result.worker_mib
        );
        full.push(result);
    }
    let incremental = if args.changes > 0 {
        Some(
            incremental::run(
                &common,
                &incremental::IncrementalOptions {
                    products: args.incremental_products,
                    changes: args.changes,
                    keep_databases: args.keep_databases,
                },
            )
            .await
            .context("incremental sync")?,
        )
    } else {
        None
    };

    let context = report::Context {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        cpu_model: report::cpu_model(),
        ram_gib: report::ram_gib(),
        commit: report::git_commit(),
        load_before,
        load_after: report::load_average(),
        rustc_before,
        rustc_after: report::rustc_processes(),
        consumers: format!(
            "{} `sync consume` process(es) × {} consumer loops; binaries from {}",
            args.consumer_processes,
            args.consumers,
            bin_dir.display()
        ),
    };
    let markdown = report::render(&context, &full, incremental.as_ref());
    println!("{markdown}");
    std::fs::write(&args.out, &markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}
