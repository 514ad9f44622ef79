//! `sync simulate`: the simulator as a program, for demos, manual testing and load tests
//! against a process that is not the test's own.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::{DataSizes, SimulatorConfig};

/// Options of `sync simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Address to listen on; 0.0.0.0 to serve other machines or containers.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Number of products to generate; the other sizes scale with it unless given.
    #[arg(long, default_value_t = 1000)]
    pub products: usize,
    /// Seed of the generated data and of random faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "demo")]
    pub user: String,
    /// Plain password (clients send its MD5).
    #[arg(long, default_value = "demo")]
    pub password: String,
    #[arg(long, default_value_t = 1)]
    pub database_id: i32,
    #[arg(long, default_value_t = 1)]
    pub visitor_id: i64,
    /// Largest `pageSize` honoured per entity.
    #[arg(long, default_value_t = 1000)]
    pub max_page_size: usize,
    /// Keep the state in this file across restarts (loaded when it exists).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Override the number of product categories.
    #[arg(long)]
    pub categories: Option<usize>,
    /// Override the number of warehouses.
    #[arg(long)]
    pub stores: Option<usize>,
    /// Override the number of customers.
    #[arg(long)]
    pub people: Option<usize>,
    /// Override the number of sales invoices.
    #[arg(long)]
    pub invoices: Option<usize>,
}

impl SimulateArgs {
    fn config(&self) -> SimulatorConfig {
        let mut sizes = DataSizes::for_products(self.products);
        if let Some(n) = self.categories {
            sizes.product_categories = n;
        }
        if let Some(n) = self.stores {
            sizes.stores = n;
        }
        if let Some(n) = self.people {
            sizes.people = n;
            sizes.person_addresses = n;
            sizes.visitor_people = n;
        }
        if let Some(n) = self.invoices {
            sizes.invoices = n;
            sizes.returns = n / 25;
            sizes.receipts = n / 2;
            sizes.cheques = n / 4;
            sizes.transactions = n + n / 25 + n / 2;
        }
        SimulatorConfig {
            port: self.port,
            username: self.user.clone(),
            password: self.password.clone(),
            database_id: self.database_id,
            visitor_id: self.visitor_id,
            seed: self.seed,
            sizes,
            max_page_size: self.max_page_size,
            state_file: self.state_file.clone(),
        }
    }
}

/// Runs the simulator until Ctrl-C or SIGTERM, then saves the state file (if any).
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    // Listen for SIGTERM before serving: a signal that arrives once the port answers must
    // shut down cleanly, not kill the process with the default action.
    let shutdown = crate::process::shutdown_signal();
    let config = args.config();
    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
    let started = Instant::now();
    let simulator = super::start_on(listener, config).await?;
    let control = simulator.control();
    for counts in control.counts() {
        tracing::info!(
            entity = %counts.entity,
            rows = counts.rows,
            last_row_version = counts.last_row_version,
            "simulator data"
        );
    }
    let total: usize = control.counts().iter().map(|c| c.rows).sum();
    tracing::info!(
        address = %simulator.local_addr(),
        base_url = %simulator.base_url(),
        control = %format!("{}/control", simulator.root_url()),
        rows = total,
        ready_in_ms = started.elapsed().as_millis(),
        user = %args.user,
        database_id = args.database_id,
        "Mahak simulator listening"
    );
    shutdown.await;
    tracing::info!("shutting down");
    simulator.shutdown().await;
    Ok(())
}
