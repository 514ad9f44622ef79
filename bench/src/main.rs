//! The benchmark the project keeps (issue 10): catalogue reads.
//!
//! Creates its own PostgreSQL database, migrates it with the real `server` binary, loads a
//! catalogue (20,000 products × 3 variants by default), starts the release `server` against
//! it and, for each item (listing, product by slug, Persian search), drives `POST /graphql`
//! with 64 concurrent clients, then replays the SQL statements the server issued for one such
//! request directly through sqlx at the same concurrency. Prints a markdown table and writes it
//! to `--out`. Any failed request or statement fails the run (exit code 1).
//!
//! Run (see README, "Performance"):
//! `cargo build --release -p server -p bench && target/release/bench --out target/bench/report.md`

mod cpu;
mod load;
mod report;
mod seed;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use sea_orm::sqlx::{self, postgres::PgPoolOptions};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Catalogue read benchmark: the API against its own SQL"
)]
struct Args {
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/bench/report.md")]
    out: PathBuf,
    /// PostgreSQL server, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Database the bench drops, creates and fills.
    #[arg(long, default_value = "store_bench")]
    database: String,
    /// The `server` binary (default: next to this one, i.e. target/release/server).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value_t = 20_000)]
    products: i64,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured seconds per item and side.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Seconds of load before measuring, per item and side.
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// Measured seconds per item with the catalogue cache on (after 2 s of warm-up).
    #[arg(long, default_value_t = 10)]
    cached_secs: u64,
    /// Connections of the server's pool (`database.max_connections`) and of the direct pool.
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

const PRODUCT_FIELDS: &str = "id slug name minPrice maxPrice category { id name slug } \
    variants { id barcode price availableQuantity inStock properties { code value } } \
    images { id url altText width height position }";

struct Operation {
    name: &'static str,
    query: String,
    /// Checks a full response once, before the load (the load checks only for errors).
    check: fn(&Value, usize) -> anyhow::Result<()>,
    /// Products the response must hold (listing and search).
    expected: usize,
}

fn operations(products: i64, search_matches: i64) -> Vec<Operation> {
    let slug = format!("p-{}", products / 2 + 7);
    vec![
        Operation {
            name: "products(first: 50)",
            query: format!(
                "query Listing {{ products(first: 50) {{ edges {{ cursor node {{ {PRODUCT_FIELDS} }} }} \
                 pageInfo {{ hasNextPage endCursor }} }} }}"
            ),
            check: check_listing,
            expected: products.min(50) as usize,
        },
        Operation {
            name: "product(slug)",
            query: format!(
                "query Detail {{ product(slug: \"{slug}\") {{ {PRODUCT_FIELDS} description seoTitle \
                 seoDescription taxPercent tollPercent images {{ thumbnails {{ url width height }} }} }} }}"
            ),
            check: check_detail,
            expected: 1,
        },
        Operation {
            name: "search (first: 20)",
            query: format!(
                "query Search {{ products(first: 20, filter: {{ search: \"{}\" }}) {{ edges {{ cursor node {{ {PRODUCT_FIELDS} }} }} \
                 pageInfo {{ hasNextPage endCursor }} }} }}",
                seed::SEARCH_QUERY
            ),
            check: check_search,
            expected: search_matches.min(20) as usize,
        },
    ]
}

fn check_product(node: &Value) -> anyhow::Result<()> {
    let variants = node["variants"].as_array().context("variants")?;
    ensure!(
        variants.len() == seed::VARIANTS_PER_PRODUCT as usize,
        "{} variants in {node}",
        variants.len()
    );
    ensure!(
        variants
            .iter()
            .all(|v| v["price"].is_string() || v["price"].is_number()),
        "a variant without a price in {node}"
    );
    let images = node["images"].as_array().context("images")?;
    ensure!(
        images.len() == seed::IMAGES_PER_PRODUCT as usize,
        "{} images in {node}",
        images.len()
    );
    ensure!(
        node["category"]["slug"].is_string(),
        "no category in {node}"
    );
    Ok(())
}

fn edges(response: &Value) -> anyhow::Result<&Vec<Value>> {
    response["data"]["products"]["edges"]
        .as_array()
        .with_context(|| format!("no products in {response}"))
}

fn check_listing(response: &Value, expected: usize) -> anyhow::Result<()> {
    let edges = edges(response)?;
    ensure!(
        edges.len() == expected,
        "{} products on the page",
        edges.len()
    );
    edges.iter().try_for_each(|e| check_product(&e["node"]))
}

fn check_detail(response: &Value, _expected: usize) -> anyhow::Result<()> {
    let node = &response["data"]["product"];
    ensure!(node.is_object(), "no product in {response}");
    check_product(node)
}

fn check_search(response: &Value, expected: usize) -> anyhow::Result<()> {
    let edges = edges(response)?;
    ensure!(
        expected > 0 && edges.len() == expected,
        "{} products found",
        edges.len()
    );
    let first_word = seed::SEARCH_QUERY.split(' ').next().unwrap_or_default();
    for edge in edges {
        let name = edge["node"]["name"].as_str().unwrap_or_default();
        ensure!(
            name.contains(first_word),
            "{name} found for {}",
            seed::SEARCH_QUERY
        );
        check_product(&edge["node"])?;
    }
    Ok(())
}

/// One request through the API: a 200 whose body holds data and no `errors` entry. (A full
/// parse per request would put the client's JSON work on the same two cores as the server's.)
async fn api_request(
    client: &reqwest::Client,
    url: &str,
    body: &'static str,
) -> Result<(), String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() || !text.starts_with("{\"data\":{") || text.contains("\"errors\"") {
        return Err(format!(
            "{status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The server processes of one run.
#[derive(Clone, Copy)]
enum ServerMode {
    /// Logs every statement, to capture each operation's SQL.
    Capture,
    /// Catalogue cache off: every request runs.
    Uncached,
    /// Catalogue cache on, as the server runs by default.
    Cached,
}

/// Runs the bench; `Ok(false)` when any request or statement failed.
async fn run(args: Args) -> anyhow::Result<bool> {
    let server_bin = match args.server_bin.clone() {
        Some(bin) => bin,
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary has no directory")?
            .join("server"),
    };
    if !server_bin.is_file() {
        bail!(
            "no server binary at {}: build it first (`cargo build --release -p server -p bench`) \
             or pass --server-bin",
            server_bin.display()
        );
    }
    let work_dir = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&work_dir)?;
    let work_dir = work_dir.canonicalize()?;
    let load_before = report::load_average();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();

    println!("creating and migrating database {}", args.database);
    seed::create_database(&args.postgres, &args.database).await?;
    let url = seed::database_url(&args.postgres, &args.database);
    seed::migrate(&server_bin, &url, &work_dir).await?;
    let pool = PgPoolOptions::new()
        .max_connections(args.pool)
        .connect(&url)
        .await?;
    println!("loading {} products", args.products);
    let seeded = seed::catalogue(&pool, args.products).await?;
    ensure!(
        seeded.visible == args.products,
        "{} of {} products visible to the shop",
        seeded.visible,
        args.products
    );
    let catalogue = format!(
        "{} products ({} visible to the shop), {} variants, {} stock rows, {} images, {} categories; \
         search \"{}\" matches {} products; loaded in {:.1} s",
        seeded.products,
        seeded.visible,
        seeded.variants,
        seeded.stock_rows,
        seeded.images,
        seeded.categories,
        seed::SEARCH_QUERY,
        seeded.search_matches,
        seeded.took.as_secs_f64()
    );
    println!("{catalogue}");
    let (postgres,): (String,) = sqlx::query_as("SHOW server_version")
        .fetch_one(&pool)
        .await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let operations = operations(args.products, seeded.search_matches);
    let bodies: Vec<&'static str> = operations
        .iter()
        .map(|op| {
            &*Box::leak(
                serde_json::json!({ "query": op.query })
                    .to_string()
                    .into_boxed_str(),
            )
        })
        .collect();

    // The three server processes differ only in what they log and whether they cache.
    let start_server = |mode: ServerMode| {
        let (log, log_statements, catalogue_cache) = match mode {
            ServerMode::Capture => ("server-capture.log", true, false),
            ServerMode::Uncached => ("server.log", false, false),
            ServerMode::Cached => ("server-cached.log", false, true),
        };
        server::Server::start(server::ServerOptions {
            bin: &server_bin,
            database_url: &url,
            work_dir: &work_dir,
            log_path: work_dir.join(log),
            pool: args.pool,
            log_statements,
            catalogue_cache,
        })
    };

    // Capture: the server logs every statement; each operation is checked in full, then sent
    // once more under a known request id to collect the statements it issues.
    println!("capturing the statements of each operation");
    let capture_server = start_server(ServerMode::Capture).await?;
    let mut statements = Vec::new();
    let mut response_bytes = Vec::new();
    for (n, (op, body)) in operations.iter().zip(&bodies).enumerate() {
        let bytes = client
            .post(format!("{}/graphql", capture_server.base))
            .header("content-type", "application/json")
            .body(*body)
            .send()
            .await?
            .bytes()
            .await?;
        response_bytes.push(bytes.len());
        let response: Value = serde_json::from_slice(&bytes)?;
        ensure!(response.get("errors").is_none(), "{}: {response}", op.name);
        (op.check)(&response, op.expected).with_context(|| format!("checking {}", op.name))?;
        let captured = server::capture(
            &client,
            &capture_server,
            body,
            &format!("bench-capture-{n}"),
        )
        .await?;
        println!(
            "  {}: {} statements{}",
            op.name,
            captured.statements.len(),
            if captured.ignored.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} background statements ignored)",
                    captured.ignored.len()
                )
            }
        );
        statements.push(captured.statements);
    }
    capture_server.stop().await?;

    let server = start_server(ServerMode::Uncached).await?;
    let meter = cpu::Meter::new(server.pid(), &args.database);
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let graphql_url: Arc<str> = format!("{}/graphql", server.base).into();
    let mut items = Vec::new();
    for (((op, body), statements), response_bytes) in operations
        .iter()
        .zip(bodies)
        .zip(statements)
        .zip(response_bytes)
    {
        println!("{}: API", op.name);
        let api = {
            let client = client.clone();
            let url = graphql_url.clone();
            load::run(args.clients, warmup, duration, &meter, move || {
                let client = client.clone();
                let url = url.clone();
                async move { api_request(&client, &url, body).await }
            })
            .await?
        };
        println!("{}: direct SQL ({} statements)", op.name, statements.len());
        let statements = Arc::new(statements);
        let direct = {
            let pool = pool.clone();
            let statements = statements.clone();
            load::run(args.clients, warmup, duration, &meter, move || {
                let pool = pool.clone();
                let statements = statements.clone();
                async move {
                    for sql in statements.iter() {
                        sqlx::query(sql)
                            .fetch_all(&pool)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                }
            })
            .await?
        };
        items.push((op, body, response_bytes, statements, api, direct));
    }
    server.stop().await?;

    // The same API with the catalogue cache on, as the server runs by default.
    let server = start_server(ServerMode::Cached).await?;
    server.wait_catalogue_cache().await?;
    let meter = cpu::Meter::new(server.pid(), &args.database);
    let graphql_url: Arc<str> = format!("{}/graphql", server.base).into();
    let mut measured = Vec::new();
    for (op, body, response_bytes, statements, api, direct) in items {
        println!("{}: API with the catalogue cache", op.name);
        let cached = {
            let client = client.clone();
            let url = graphql_url.clone();
            let duration = Duration::from_secs(args.cached_secs);
            load::run(
                args.clients,
                Duration::from_secs(2),
                duration,
                &meter,
                move || {
                    let client = client.clone();
                    let url = url.clone();
                    async move { api_request(&client, &url, body).await }
                },
            )
            .await?
        };
        measured.push(report::Item {
            name: op.name,
            operation: op.query.clone(),
            response_bytes,
            statements: Arc::try_unwrap(statements).unwrap_or_else(|s| (*s).clone()),
            api,
            direct,
            cached,
        });
    }
    server.stop().await?;
    let items = measured;
    pool.close().await;

    let context = report::Context {
        date,
        machine: report::Machine::describe(postgres),
        clients: args.clients,
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        cached_secs: args.cached_secs,
        pool: args.pool,
        catalogue,
        load_before,
        load_after: report::load_average(),
        server_bin: server_bin.display().to_string(),
    };
    let markdown = report::render(&context, &items);
    std::fs::write(&args.out, &markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("\n{markdown}");
    println!("written to {}", args.out.display());
    Ok(items
        .iter()
        .all(|item| item.api.errors + item.direct.errors + item.cached.errors == 0))
}
