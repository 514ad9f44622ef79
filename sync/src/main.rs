//! The `sync` binary: the Mahak sync worker's entry point and its tools, one subcommand each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sync::worker::{self, ConsumeArgs, DaemonArgs, DlqCommand, RunArgs, WorkerSettings};

#[derive(Debug, Parser)]
#[command(name = "sync", version, about = "Mahak sync worker and tools")]
struct Cli {
    /// A TOML configuration file (the same scheme as the server's); `APP__...` variables
    /// override it.
    #[arg(long, global = true, env = "APP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull changes from Mahak once, into the database (directly or through RabbitMQ).
    Run(RunArgs),
    /// Pull changes from Mahak at an interval until stopped.
    Daemon(DaemonArgs),
    /// Apply batches from RabbitMQ to the database until stopped.
    Consume(ConsumeArgs),
    /// Inspect, replay or discard dead letters.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Serve a simulated Mahak API with generated data (for demos and tests).
    Simulate(sync::simulator::cli::SimulateArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    if let Command::Simulate(args) = cli.command {
        sync::process::init_logging(&Default::default());
        sync::simulator::cli::run(args).await?;
        return Ok(true);
    }
    let settings = WorkerSettings::load(cli.config.as_deref())?;
    sync::process::init_logging(&settings.log);
    match cli.command {
        Command::Run(_) => return worker::run(settings).await,
        Command::Daemon(args) => worker::daemon(settings, args).await?,
        Command::Consume(args) => worker::consume(settings, args).await?,
        Command::Dlq { command } => worker::dlq(settings, command).await?,
        Command::Simulate(_) => unreachable!("handled above"),
    }
    Ok(true)
}
