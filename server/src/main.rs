//! `server`: the store's GraphQL backend. `server serve` (the default) runs it; `migrate`
//! applies or reverts schema migrations; `export-schema` prints the SDL of either schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server::config::Settings;

/// mimalloc instead of glibc's malloc: the GraphQL executor makes many small, short-lived
/// allocations per response, and glibc's allocator was a quarter of the server's CPU on a
/// catalogue listing (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "server", version, about = "The online store's GraphQL backend")]
struct Cli {
    /// A TOML configuration file; `APP__...` environment variables override it.
    #[arg(long, global = true, env = "APP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the shop and admin GraphQL APIs (the default).
    Serve {
        /// Port to listen on (overrides `http.port`).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Apply (or revert) database migrations, then exit.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Create a staff user with the `super_admin` role (made when missing), e.g. the first
    /// administrator: `server create-admin --email a@example.com --password-stdin`.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Name shown in the back office (default: the part of the email before `@`).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password (at least 10 characters); prefer `--password-stdin`, command lines
        /// are visible to other users of the machine.
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Print the SDL of the shop schema (or, with --admin, the admin schema).
    ExportSchema {
        #[arg(long)]
        admin: bool,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with this file instead of writing; exit 1 when they differ.
        #[arg(long, conflicts_with = "out")]
        check: Option<PathBuf>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum MigrateAction {
    /// Apply all pending migrations (the default).
    Up,
    /// Revert the last migration.
    Down,
    /// Revert every migration.
    Reset,
    /// List migrations and whether they are applied.
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Serve { port: None });
    if let Command::ExportSchema { admin, out, check } = command {
        return export_schema(admin, out, check);
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    server::telemetry::init_logging(&settings.log);
    match command {
        Command::Serve { port } => {
            if let Some(port) = port {
                settings.http.port = port;
            }
            server::app::serve(settings).await?;
        }
        Command::Migrate { action } => {
            migrate(&settings, action.unwrap_or(MigrateAction::Up)).await?;
        }
        Command::CreateAdmin {
            email,
            display_name,
            password_stdin,
            password,
        } => {
            create_admin(&settings, &email, display_name, password_stdin, password).await?;
        }
        Command::ExportSchema { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(settings: &Settings, action: MigrateAction) -> anyhow::Result<()> {
    use migration::{Migrator, MigratorTrait};
    let db = server::db::connect(&settings.database).await?;
    match action {
        MigrateAction::Up => server::db::migrate(&db).await?,
        MigrateAction::Down => Migrator::down(&db, Some(1)).await?,
        MigrateAction::Reset => Migrator::reset(&db).await?,
        MigrateAction::Status => Migrator::status(&db).await?,
    }
    Ok(())
}

async fn create_admin(
    settings: &Settings,
    email: &str,
    display_name: Option<String>,
    password_stdin: bool,
    password: Option<String>,
) -> anyhow::Result<()> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        password.ok_or_else(|| {
            anyhow::anyhow!(
                "give the password with --password-stdin or the ADMIN_PASSWORD variable"
            )
        })?
    };
    let display_name =
        display_name.unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
    let db = server::db::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        server::db::migrate(&db).await?;
    }
    let result = server::staff::accounts::create_admin(&db, email, &display_name, &password).await;
    db.close().await.ok();
    match result {
        Ok((staff, role)) => {
            println!(
                "created staff user {} ({}) with role {}",
                staff.email, staff.id, role.name
            );
            Ok(())
        }
        Err(err) => Err(anyhow::anyhow!(server::staff::describe_error(&err))),
    }
}

fn export_schema(
    admin: bool,
    out: Option<PathBuf>,
    check: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let sdl = if admin {
        server::graphql::admin::sdl()
    } else {
        server::graphql::shop::sdl()
    };
    if let Some(path) = check {
        let committed = std::fs::read_to_string(&path)?;
        if committed != sdl {
            eprintln!(
                "{} differs from the schema in code; run `server export-schema{} --out {}`",
                path.display(),
                if admin { " --admin" } else { "" },
                path.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match out {
        Some(path) => std::fs::write(path, sdl)?,
        None => print!("{sdl}"),
    }
    Ok(ExitCode::SUCCESS)
}
