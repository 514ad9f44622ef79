//! The sync worker as a program: its configuration, how the parts are wired for the
//! embedded default or for production, and the `sync` subcommands.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sea_orm::{DatabaseConnection, TransactionTrait};
use secrecy::ExposeSecret;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::mahak::{Entity, MahakClient, MahakClientConfig, PagingOptions};
use crate::mirror::upsert::{self, ApplyOptions};
use crate::pipeline::bus::amqp::{self, AmqpConfig, AmqpPublisher};
use crate::pipeline::bus::{InProcessBus, Publisher};
use crate::pipeline::consumer::Consumer;
use crate::pipeline::events::{Events, SyncEvent};
use crate::pipeline::fetcher::Fetcher;
use crate::pipeline::runner::Runner;
use crate::pipeline::source::MahakSource;
use crate::pipeline::{dead_letters, transform};
use crate::settings::{
    self, AmqpSettings, ConfigError, DatabaseSettings, LogFormat, LogSettings, MahakSettings,
};
use crate::simulator::{self, RunningSimulator, SimulatorConfig};

/// `sync.*`: how the worker pulls and applies.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSettings {
    /// Rows asked per `GetAllData` call and entity.
    pub page_size: u32,
    /// Largest page asked for when more rows share one RowVersion than fit in a page.
    pub max_page_size: u32,
    /// Seconds between runs of `sync daemon` (and of the embedded sync inside `server`).
    pub interval_secs: u64,
    /// Whether products new to the shop are published at once.
    pub publish_new_products: bool,
    /// Prefix of the RabbitMQ exchanges and queues.
    pub amqp_prefix: String,
    /// Batches a consumer holds and applies at once.
    pub prefetch: u16,
    /// Transient failures of one batch before it is dead-lettered.
    pub max_attempts: u32,
    /// On SIGTERM, seconds `sync consume` lets the batches in hand finish (then they are
    /// rolled back and redelivered to another consumer).
    pub shutdown_grace_secs: u64,
    /// Simulated catalogue size when `mahak.base_url` is unset (the embedded default).
    pub simulator_products: usize,
    /// Run the sync inside `server serve` when no broker (`amqp.url`) is configured.
    pub embedded: bool,
    /// Where `sync daemon` and `sync consume` serve `/metrics` and `/healthz` (unset: not
    /// served). The server serves its own `/metrics`, which include the embedded sync's.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            page_size: 500,
            max_page_size: 5000,
            interval_secs: 30,
            publish_new_products: true,
            amqp_prefix: "store.sync".into(),
            prefetch: 8,
            max_attempts: 5,
            shutdown_grace_secs: 20,
            simulator_products: 200,
            embedded: true,
            metrics_addr: None,
        }
    }
}

impl SyncSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.page_size == 0 || self.max_page_size < self.page_size {
            return Err(ConfigError::invalid(
                "sync.max_page_size",
                "must be at least sync.page_size (> 0)",
            ));
        }
        if self.interval_secs == 0 {
            return Err(ConfigError::invalid(
                "sync.interval_secs",
                "must be at least 1",
            ));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "sync.max_attempts",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The worker's configuration root. It shares the server's scheme (one file or environment
/// for both binaries), so the server's own parts are accepted and ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub mahak: MahakSettings,
    pub sync: SyncSettings,
    pub log: LogSettings,
    http: Option<IgnoredAny>,
    graphql: Option<IgnoredAny>,
    storage: Option<IgnoredAny>,
    jwt: Option<IgnoredAny>,
    sms: Option<IgnoredAny>,
    payment: Option<IgnoredAny>,
    otp: Option<IgnoredAny>,
    checkout: Option<IgnoredAny>,
    staff: Option<IgnoredAny>,
    outbox: Option<IgnoredAny>,
    push: Option<IgnoredAny>,
    reconcile: Option<IgnoredAny>,
}

impl WorkerSettings {
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let settings: WorkerSettings = settings::load(file)?;
        settings.database.validate()?;
        settings.amqp.validate()?;
        settings.mahak.validate()?;
        settings.sync.validate()?;
        Ok(settings)
    }
}

/// A Mahak to talk to: the configured service, or a simulator started in-process.
pub struct MahakConnection {
    pub client: MahakClient,
    /// Kept alive while the worker runs, when simulated.
    pub simulator: Option<RunningSimulator>,
}

pub async fn connect_mahak(
    mahak: &MahakSettings,
    sync: &SyncSettings,
) -> anyhow::Result<MahakConnection> {
    let (base_url, simulator) = match &mahak.base_url {
        Some(url) => (url.clone(), None),
        None => {
            let config = SimulatorConfig {
                username: mahak.username.clone(),
                password: mahak.password.expose_secret().to_string(),
                database_id: mahak.database_id,
                sizes: simulator::DataSizes::for_products(sync.simulator_products),
                ..SimulatorConfig::default()
            };
            let sim = simulator::start(config)
                .await
                .context("starting the in-process Mahak simulator")?;
            tracing::info!(base_url = %sim.base_url(), "no mahak.base_url: using the in-process Mahak simulator");
            (sim.base_url(), Some(sim))
        }
    };
    let client = MahakClient::new(MahakClientConfig::from_settings(mahak, base_url))?;
    Ok(MahakConnection { client, simulator })
}

pub fn paging(sync: &SyncSettings) -> PagingOptions {
    PagingOptions {
        page_size: sync.page_size,
        max_page_size: sync.max_page_size,
        ..PagingOptions::default()
    }
}

pub fn amqp_config(url: &str, sync: &SyncSettings) -> AmqpConfig {
    let mut config = AmqpConfig::new(url, sync.amqp_prefix.clone());
    config.prefetch = sync.prefetch;
    config.max_attempts = sync.max_attempts;
    config.shutdown_grace = Duration::from_secs(sync.shutdown_grace_secs);
    config
}

/// The runner wired for this configuration: RabbitMQ when `amqp.url` is set, else the
/// in-process bus that applies batches directly.
pub async fn build_runner(
    db: &DatabaseConnection,
    client: MahakClient,
    amqp: &AmqpSettings,
    sync: &SyncSettings,
    events: Events,
) -> anyhow::Result<Runner<MahakSource, Box<dyn Publisher>>> {
    let publisher: Box<dyn Publisher> = match &amqp.url {
        Some(url) => {
            Box::new(AmqpPublisher::connect(amqp_config(url.expose_secret(), sync)).await?)
        }
        None => Box::new(InProcessBus::new(consumer(db, sync, events.clone()))),
    };
    let source = MahakSource {
        client,
        paging: paging(sync),
    };
    Ok(Runner::new(Fetcher {
        db: db.clone(),
        source,
        publisher,
        events,
    }))
}

pub fn consumer(db: &DatabaseConnection, sync: &SyncSettings, events: Events) -> Consumer {
    Consumer::new(
        db.clone(),
        ApplyOptions {
            publish_new_products: sync.publish_new_products,
        },
        events,
    )
}

#[async_trait::async_trait]
impl Publisher for Box<dyn Publisher> {
    async fn publish(&self, batch: &crate::pipeline::Batch) -> anyhow::Result<()> {
        (**self).publish(batch).await
    }
}

// ---- commands ------------------------------------------------------------------------

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run once and exit (the default; for cron jobs and Kubernetes CronJobs).
    #[arg(long, default_value_t = true)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Time between runs, e.g. `30s`, `5m` (overrides `sync.interval_secs`).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Consumer loops in this process.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List open dead letters.
    List,
    /// Apply dead letters again with the current code (one id, or --all).
    Replay {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Give up on a dead letter (kept, marked discarded).
    Discard { id: i64 },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s or 5m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("`{text}`: unit must be ms, s, m or h")),
    }
}

async fn open_db(settings: &WorkerSettings) -> anyhow::Result<DatabaseConnection> {
    let db = crate::db::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        crate::db::migrate(&db).await?;
    }
    Ok(db)
}

pub async fn run(settings: WorkerSettings) -> anyhow::Result<bool> {
    let db = open_db(&settings).await?;
    let mahak = connect_mahak(&settings.mahak, &settings.sync).await?;
    let events = Events::default();
    let progress = spawn_progress(&events, settings.log.format);
    let forwarding = forward_events(&settings, &events);
    let runner = build_runner(&db, mahak.client, &settings.amqp, &settings.sync, events).await?;
    let report = runner.run_once("cli").await?;
    drop(runner);
    progress.abort();
    if let Some(forwarding) = forwarding {
        forwarding.finish().await;
    }
    println!(
        "run {}: fetched {}, dead-lettered {}{}",
        report.run_id,
        report.fetched,
        report.dead_lettered,
        report
            .error
            .as_deref()
            .map(|e| format!(", failed: {e}"))
            .unwrap_or_default()
    );
    Ok(report.error.is_none())
}

pub async fn daemon(settings: WorkerSettings, args: DaemonArgs) -> anyhow::Result<()> {
    let db = open_db(&settings).await?;
    serve_metrics(&settings.sync, &db).await?;
    let mahak = connect_mahak(&settings.mahak, &settings.sync).await?;
    let events = Events::default();
    let forwarding = forward_events(&settings, &events);
    let runner = build_runner(&db, mahak.client, &settings.amqp, &settings.sync, events).await?;
    let interval = args
        .interval
        .unwrap_or(Duration::from_secs(settings.sync.interval_secs));
    runner
        .daemon(interval, crate::process::shutdown_signal())
        .await;
    drop(runner);
    if let Some(forwarding) = forwarding {
        forwarding.finish().await;
    }
    Ok(())
}

/// With a broker, this worker's sync events go to the server replicas' live views (see
/// `crate::live`); without one there is nobody to tell.
fn forward_events(settings: &WorkerSettings, events: &Events) -> Option<crate::live::Forwarding> {
    let url = settings.amqp.url.as_ref()?;
    Some(crate::live::forward_worker_events(
        amqp_config(url.expose_secret(), &settings.sync),
        events,
    ))
}

/// Consumer loops that reconnect with backoff until SIGTERM / Ctrl-C.
pub async fn consume(settings: WorkerSettings, args: ConsumeArgs) -> anyhow::Result<()> {
    // Listen for SIGTERM from the start: one that arrives while consumers connect must still
    // stop them cleanly.
    let shutdown = crate::process::shutdown_signal();
    let url = settings
        .amqp
        .url
        .as_ref()
        .context("`sync consume` needs amqp.url (APP__AMQP__URL)")?;
    let db = open_db(&settings).await?;
    serve_metrics(&settings.sync, &db).await?;
    let config = amqp_config(url.expose_secret(), &settings.sync);
    // Applied batches reach the admin console's live view on every server replica.
    let events = Events::default();
    let forwarding = forward_events(&settings, &events);
    let consumer = consumer(&db, &settings.sync, events);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut loops = Vec::new();
    for _ in 0..args.consumers.max(1) {
        let (config, consumer, mut stopped) = (config.clone(), consumer.clone(), stopped.clone());
        loops.push(tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                let shutdown = async {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                match amqp::consume(&config, consumer.clone(), shutdown).await {
                    Ok(()) => return,
                    Err(err) => tracing::error!(error = %format!("{err:#}"), "consumer lost its connection; reconnecting"),
                }
                // A shutdown during the backoff ends the loop at once.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }));
    }
    shutdown.await;
    let _ = stop.send(true);
    for handle in loops {
        let _ = handle.await;
    }
    drop(consumer);
    if let Some(forwarding) = forwarding {
        forwarding.finish().await;
    }
    Ok(())
}

pub async fn dlq(settings: WorkerSettings, command: DlqCommand) -> anyhow::Result<()> {
    let db = open_db(&settings).await?;
    match command {
        DlqCommand::List => {
            let letters = dead_letters::list_open(&db).await?;
            println!("{} open dead letters", letters.len());
            for l in letters {
                println!(
                    "#{} {} id={} rv={} attempts={} at {}: {}",
                    l.id,
                    l.entity,
                    l.mahak_id.map_or("-".into(), |v| v.to_string()),
                    l.row_version.map_or("-".into(), |v| v.to_string()),
                    l.attempts,
                    l.created_at.format("%Y-%m-%d %H:%M:%S"),
                    l.error
                );
            }
        }
        DlqCommand::Replay { id, all } => {
            let letters = dead_letters::list_open(&db).await?;
            let chosen: Vec<_> = letters
                .into_iter()
                .filter(|l| all || Some(l.id) == id)
                .collect();
            if chosen.is_empty() {
                anyhow::bail!("no open dead letter matches; see `sync dlq list`");
            }
            let (mut ok, mut failed) = (0, 0);
            for letter in chosen {
                match replay(&db, &settings.sync, &letter).await? {
                    Ok(()) => ok += 1,
                    Err(reason) => {
                        failed += 1;
                        println!("#{} still fails: {reason}", letter.id);
                    }
                }
            }
            println!("replayed {ok}, still failing {failed}");
        }
        DlqCommand::Discard { id } => {
            if !dead_letters::discard(&db, id).await? {
                anyhow::bail!("dead letter #{id} is not open");
            }
            println!("discarded #{id}");
        }
    }
    Ok(())
}

/// Reads a dead letter's raw Mahak row again with the current code and applies it.
pub async fn replay(
    db: &DatabaseConnection,
    sync: &SyncSettings,
    letter: &entity::dead_letters::Model,
) -> anyhow::Result<Result<(), String>> {
    let Some(entity) = Entity::from_name(&letter.entity) else {
        return Ok(Err(format!("unknown entity `{}`", letter.entity)));
    };
    let outcome = match crate::mahak::parse_row(entity, letter.payload.clone()) {
        Err(rejected) => Err(rejected.reason),
        Ok(record) => {
            let row = transform::to_mirror_row(&record);
            let (good, bad) = upsert::validate(crate::mirror::spec_for(entity), vec![row]);
            if let Some(bad) = bad.into_iter().next() {
                Err(bad.reason)
            } else {
                let tx = db.begin().await?;
                let options = ApplyOptions {
                    publish_new_products: sync.publish_new_products,
                };
                match upsert::apply(&tx, entity, &good, options).await {
                    Ok(_) => {
                        dead_letters::mark_replayed(&tx, letter.id).await?;
                        tx.commit().await?;
                        Ok(())
                    }
                    Err(err) => Err(err.to_string()),
                }
            }
        }
    };
    if let Err(reason) = &outcome {
        dead_letters::count_attempt(db, letter.id, reason).await?;
    }
    Ok(outcome)
}

/// Serves `/metrics` (Prometheus text, with the lag per entity read at scrape time) and
/// `/healthz` on `sync.metrics_addr`, when set.
async fn serve_metrics(sync: &SyncSettings, db: &DatabaseConnection) -> anyhow::Result<()> {
    let Some(addr) = sync.metrics_addr else {
        return Ok(());
    };
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let db = db.clone();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/metrics",
            axum::routing::get(move || {
                let (handle, db) = (handle.clone(), db.clone());
                async move {
                    if let Err(err) = crate::pipeline::checkpoint::record_lag_metrics(&db).await {
                        tracing::warn!(error = %err, "could not read sync lag");
                    }
                    crate::db::record_pool_metrics(&db);
                    handle.render()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "serving worker metrics");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

/// Shows sync progress: a bar per entity on a terminal, log lines in JSON-log mode.
fn spawn_progress(events: &Events, format: LogFormat) -> tokio::task::JoinHandle<()> {
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    use std::io::IsTerminal;
    let mut receiver = events.subscribe();
    let bars =
        (format == LogFormat::Text && std::io::stderr().is_terminal()).then(MultiProgress::new);
    tokio::spawn(async move {
        let mut by_entity: std::collections::HashMap<Entity, ProgressBar> = Default::default();
        let style = ProgressStyle::with_template(
            "{prefix:>24} {spinner} {pos:>9} rows  {per_sec:>12}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        while let Ok(event) = receiver.recv().await {
            match (&bars, event) {
                (
                    Some(bars),
                    SyncEvent::Progress {
                        entity,
                        fetched,
                        cursor,
                        ..
                    },
                ) => {
                    let bar = by_entity.entry(entity).or_insert_with(|| {
                        let bar = bars.add(ProgressBar::new_spinner());
                        bar.set_style(style.clone());
                        bar.set_prefix(entity.name());
                        bar
                    });
                    bar.set_position(fetched);
                    bar.set_message(format!("RowVersion {cursor}"));
                }
                (
                    Some(_),
                    SyncEvent::EntityFinished {
                        entity,
                        fetched,
                        dead_lettered,
                        ..
                    },
                ) => {
                    if let Some(bar) = by_entity.get(&entity) {
                        bar.finish_with_message(format!(
                            "done: {fetched} rows, {dead_lettered} dead-lettered"
                        ));
                    }
                }
                (
                    None,
                    SyncEvent::Progress {
                        entity,
                        fetched,
                        cursor,
                        ..
                    },
                ) => {
                    tracing::info!(%entity, fetched, cursor, "sync progress");
                }
                _ => {}
            }
        }
    })
}
