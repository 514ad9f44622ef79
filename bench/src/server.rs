//! The real `server` binary, started against the bench database, and the capture of the SQL
//! it issues for one request (SeaORM's debug log, with the values inlined).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::Child;

pub struct Server {
    child: Child,
    pub base: String,
    pub log_path: PathBuf,
}

pub struct ServerOptions<'a> {
    pub bin: &'a Path,
    pub database_url: &'a str,
    pub work_dir: &'a Path,
    pub log_path: PathBuf,
    pub pool: u32,
    /// JSON log with every statement SeaORM sends (costly: only for the capture run).
    pub log_statements: bool,
    /// Keep the shop's anonymous catalogue cache on (its default); off, every request runs.
    pub catalogue_cache: bool,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    pub async fn start(options: ServerOptions<'_>) -> anyhow::Result<Server> {
        let port = free_port()?;
        let log = std::fs::File::create(&options.log_path)
            .with_context(|| format!("creating {}", options.log_path.display()))?;
        let mut command = tokio::process::Command::new(options.bin);
        command
            .arg("serve")
            .env("APP__DATABASE__URL", options.database_url)
            .env("APP__DATABASE__MAX_CONNECTIONS", options.pool.to_string())
            .env("APP__DATABASE__MIGRATE_ON_START", "false")
            .env("APP__HTTP__PORT", port.to_string())
            // No Mahak sync, no background passes that would read the catalogue tables while
            // we measure or capture; the outbox and expiry sweeps stay as in production.
            .env("APP__SYNC__EMBEDDED", "false")
            .env("APP__STORAGE__MAHAK_IMPORT_INTERVAL_SECS", "0")
            .env("APP__RECONCILE__INTERVAL_SECS", "0")
            .env("APP__STORAGE__LOCAL_DIR", options.work_dir.join("media"))
            .env(
                "APP__GRAPHQL__CATALOGUE_CACHE_TTL_SECS",
                if options.catalogue_cache { "30" } else { "0" },
            )
            .env_remove("APP_CONFIG")
            .current_dir(options.work_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if options.log_statements {
            command
                .env("APP__LOG__FORMAT", "json")
                .env("RUST_LOG", "warn,sea_orm=debug");
        } else {
            command
                .env("APP__LOG__FORMAT", "text")
                .env("RUST_LOG", "warn");
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", options.bin.display()))?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log_path: options.log_path,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; see {}",
                    self.log_path.display()
                );
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the server was not ready within 60 s; see {}",
                    self.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the catalogue cache's listener is connected (`catalogue_cache_listening`
    /// is 1): before that the cache serves nothing.
    pub async fn wait_catalogue_cache(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let metrics = client
                .get(format!("{}/metrics", self.base))
                .send()
                .await?
                .text()
                .await?;
            if metrics
                .lines()
                .any(|line| line.trim() == "catalogue_cache_listening 1")
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the catalogue cache did not start listening within 30 s; see {}",
            self.log_path.display()
        )
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM (the server's graceful path), then a kill if it has not exited in 20 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Catalogue tables: a statement the server logs without the request's span (a DataLoader
/// runs in a task of its own) is taken as the request's when it reads one of them.
const CATALOGUE_TABLES: [&str; 7] = [
    "\"products\"",
    "\"product_listings\"",
    "\"variants\"",
    "\"variant_stock\"",
    "\"product_images\"",
    "\"categories\"",
    "\"category_listings\"",
];

pub struct Captured {
    /// In the order the server issued them.
    pub statements: Vec<String>,
    /// Statements logged during the request but not taken as its own (background work).
    pub ignored: Vec<String>,
}

/// Sends `body` once to warm up, then once more with a known request id, and returns the SQL
/// statements logged while the second request ran.
pub async fn capture(
    client: &reqwest::Client,
    server: &Server,
    body: &'static str,
    request_id: &str,
) -> anyhow::Result<Captured> {
    let url = format!("{}/graphql", server.base);
    let send = |id: String| {
        client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-request-id", id)
            .body(body)
            .send()
    };
    send(format!("{request_id}-warm"))
        .await?
        .error_for_status()?;
    // The log is written synchronously by the server; wait out anything still in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let offset = std::fs::metadata(&server.log_path)?.len();
    send(request_id.to_string())
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read(&server.log_path)?;
    let tail = String::from_utf8_lossy(&log[offset as usize..]);
    let mut captured = Captured {
        statements: Vec::new(),
        ignored: Vec::new(),
    };
    for line in tail.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let target = event["target"].as_str().unwrap_or_default();
        if !target.starts_with("sea_orm") {
            continue;
        }
        let Some(sql) = event["message"].as_str() else {
            continue;
        };
        let spans = format!("{}{}", event["span"], event["spans"]);
        let ours = if spans.contains(request_id) {
            true
        } else {
            event.get("span").is_none() && CATALOGUE_TABLES.iter().any(|table| sql.contains(table))
        };
        if ours {
            captured.statements.push(sql.to_string());
        } else {
            captured.ignored.push(sql.to_string());
        }
    }
    if captured.statements.is_empty() {
        bail!(
            "no SQL statement was logged for request {request_id}; see {}",
            server.log_path.display()
        );
    }
    for sql in &captured.statements {
        if !sql.trim_start().to_ascii_uppercase().starts_with("SELECT") {
            bail!(
                "request {request_id} issued a statement that is not a SELECT, not replayed: {sql}"
            );
        }
    }
    Ok(captured)
}
