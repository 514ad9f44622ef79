//! A faithful simulator of Mahak's sync API, for the embedded default, tests and benchmarks.
//!
//! The real Mahak service cannot be used in CI or by a newcomer, and it cannot be made to fail
//! on demand; the sync worker's correctness (nothing synced is lost, pushes are idempotent)
//! depends on exactly the behaviours that are hard to provoke against it. So this module
//! plays Mahak over real HTTP, as described in `shared/mahak/README.md`:
//!
//! - `POST /API/v3/Sync/Login`, `GetAllData`, `SaveAllData` (and their `V2` aliases); paths
//!   ignore case; requests are read ignoring key case with numbers that may be strings;
//!   answers are the PascalCase envelope `{"Result", "Code", "Message", "Data"}`.
//! - One RowVersion counter per entity type; every create, update, delete (logical) and
//!   undelete takes the next value. `GetAllData` cursors are inclusive, pages are ordered by
//!   (RowVersion, id) and capped per entity, an omitted cursor omits the entity.
//! - `SaveAllData` validates row by row and is idempotent on (visitor, ClientId); see
//!   `save.rs` for the rules (validation, parent-first linking, update by merge).
//! - A deterministic generator fills the database ([`DataSizes`]); faults can be injected
//!   ([`Faults`]); state can persist in a file across restarts.
//!
//! # Control API
//!
//! The same operations as [`Control`], over HTTP with JSON bodies and no authentication
//! (bind to localhost). `{entity}` is an entity name or plural in any case (`ProductDetail`,
//! `productdetails`).
//!
//! | route | does |
//! |---|---|
//! | `GET /control/health` | `{"ok": true}` |
//! | `GET /control/stats` | [`SimulatorStats`] |
//! | `GET /control/faults` | the current [`Faults`] (counted faults as left) |
//! | `PUT /control/faults` | replaces the faults; body [`Faults`], missing fields off |
//! | `POST /control/expire-tokens` | every issued token stops working |
//! | `GET /control/entities` | per entity: rows, deleted rows, last RowVersion, last id |
//! | `GET /control/rows/{entity}?after_id=&limit=` | [`RowState`]s in id order |
//! | `GET /control/rows/{entity}/{id}` | one [`RowState`] (404 when absent) |
//! | `POST /control/rows/{entity}` | upsert a PascalCase row; answers `{"id"}` |
//! | `PATCH /control/rows/{entity}/{id}` | merge fields into a row |
//! | `DELETE /control/rows/{entity}/{id}` | logical delete |
//! | `POST /control/rows/{entity}/{id}/undelete` | undelete |
//! | `POST /control/rows/{entity}/share-row-version` | body `{"ids": [..]}`; answers `{"rowVersion"}` |
//! | `POST /control/rows/{entity}/malformed` | store the body verbatim; answers `{"id"}` |
//! | `POST /control/save-state` | write the state file now |
//!
//! Generated pictures' `Url`s (`/Images/Products/{code}.png`, relative to the host as in
//! Mahak) are served too, as a small placeholder PNG, so an image download path can be
//! exercised end to end.

mod api;
pub mod cli;
mod control;
mod faults;
mod generator;
mod model;
mod persist;
mod save;
mod store;
mod wire;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use control::{Control, EntityCounts, RowState};
pub use faults::{FaultStats, Faults, RateLimitFault, SimulatorStats};
pub use generator::{DataSizes, CODE_OFFSET, REFERENCE_TIME};
pub use save::{ERROR_INVALID, ERROR_NOT_FOUND, ERROR_REQUIRED};

use crate::mahak::Entity;
use faults::{Counters, FaultState};
use store::Store;

/// Page size of a `GetAllData` call that names none (capped by `max_page_size`).
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// How a simulator is set up.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub username: String,
    /// The plain password; clients send its lower-case hex MD5, as Mahak's do.
    pub password: String,
    pub database_id: i32,
    /// The visitor the credentials belong to.
    pub visitor_id: i64,
    /// Seed of the generated data and of random faults.
    pub seed: u64,
    pub sizes: DataSizes,
    /// Largest page a `GetAllData` call may ask for (per entity).
    pub max_page_size: usize,
    /// Where the state is kept across restarts; `None` keeps it in memory only.
    pub state_file: Option<PathBuf>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            port: 0,
            username: "demo".into(),
            password: "demo".into(),
            database_id: 1,
            visitor_id: 1,
            seed: 1,
            sizes: DataSizes::for_products(50),
            max_page_size: 1000,
            state_file: None,
        }
    }
}

/// Everything the HTTP handlers and the [`Control`] handle share.
pub(crate) struct Shared {
    pub(crate) config: SimulatorConfig,
    store: RwLock<Store>,
    /// Token → visitor id.
    sessions: Mutex<HashMap<String, i64>>,
    faults: Mutex<FaultState>,
    pub(crate) counters: Counters,
    next_sync_id: AtomicI64,
    dirty: AtomicBool,
    dirty_signal: Notify,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store for a change; the change is persisted (debounced) when a state file is set.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.dirty.store(true, Ordering::SeqCst);
        self.dirty_signal.notify_one();
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn next_sync_id(&self) -> i64 {
        self.next_sync_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Resolves when the simulator is shutting down.
    pub(crate) async fn shutting_down(&self) {
        let mut receiver = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// A simulator serving on a local port. Dropping it stops the server without the final save;
/// prefer [`RunningSimulator::shutdown`].
pub struct RunningSimulator {
    addr: SocketAddr,
    control: Control,
    server: Option<JoinHandle<()>>,
    saver: Option<JoinHandle<()>>,
}

/// Starts a simulator on 127.0.0.1 and `config.port`.
pub async fn start(config: SimulatorConfig) -> anyhow::Result<RunningSimulator> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", config.port))?;
    start_on(listener, config).await
}

/// Starts a simulator on a listener the caller bound (e.g. on all interfaces);
/// `config.port` is ignored.
pub async fn start_on(
    listener: TcpListener,
    config: SimulatorConfig,
) -> anyhow::Result<RunningSimulator> {
    let addr = listener.local_addr()?;
    let (store, fresh) = load_or_generate(&config).await?;
    let (shutdown, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        sessions: Mutex::new(HashMap::new()),
        faults: Mutex::new(FaultState::new(config.seed)),
        counters: Counters::default(),
        next_sync_id: AtomicI64::new(1),
        dirty: AtomicBool::new(fresh && config.state_file.is_some()),
        dirty_signal: Notify::new(),
        shutdown,
        config,
    });
    if shared.dirty.load(Ordering::SeqCst) {
        // Save freshly generated data soon, so a restart finds it.
        shared.dirty_signal.notify_one();
    }
    let router = api::router(shared.clone());
    let stop = shared.clone();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.shutting_down().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "simulator server failed");
        }
    });
    let saver = shared
        .config
        .state_file
        .is_some()
        .then(|| tokio::spawn(persist::saver(shared.clone())));
    Ok(RunningSimulator {
        addr,
        control: Control::new(shared),
        server: Some(server),
        saver,
    })
}

/// Loads the state file when there is one, else generates; `true` when generated.
async fn load_or_generate(config: &SimulatorConfig) -> anyhow::Result<(Store, bool)> {
    if let Some(path) = config.state_file.clone().filter(|p| p.exists()) {
        let store = tokio::task::spawn_blocking(move || persist::load(&path)).await??;
        return Ok((store, false));
    }
    let (seed, sizes, visitor) = (config.seed, config.sizes.clone(), config.visitor_id);
    let started = Instant::now();
    let store =
        tokio::task::spawn_blocking(move || generator::generate(seed, &sizes, visitor)).await??;
    tracing::debug!(
        rows = store.total_rows(),
        elapsed_ms = started.elapsed().as_millis(),
        "generated simulator data"
    );
    Ok((store, true))
}

impl RunningSimulator {
    /// The base URL a Mahak client is configured with, e.g.
    /// `http://127.0.0.1:PORT/API/v3/Sync/`.
    pub fn base_url(&self) -> String {
        format!("{}/API/v3/Sync/", self.root_url())
    }

    /// `http://127.0.0.1:PORT`, the root of the control API and picture URLs.
    pub fn root_url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(host, self.addr.port()))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops serving (hung "timeout" calls are released), and writes the state file.
    pub async fn shutdown(mut self) {
        let shared = self.control.shared().clone();
        shared.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .is_err()
            {
                tracing::warn!("simulator server did not stop within 10 s");
            }
        }
        if let Some(saver) = self.saver.take() {
            let _ = saver.await;
        }
        if shared.config.state_file.is_some() {
            let result = tokio::task::spawn_blocking(move || persist::save(&shared)).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(error = format!("{error:#}"), "saving simulator state");
                }
                Err(error) => tracing::error!(%error, "saving simulator state"),
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.control.shared().shutdown.send_replace(true);
    }
}

/// Parses an entity named by its name or plural, ignoring case (`ProductDetail`,
/// `productDetails`).
pub fn parse_entity(name: &str) -> Option<Entity> {
    Entity::from_name(name).or_else(|| {
        Entity::ALL
            .into_iter()
            .find(|e| e.plural().eq_ignore_ascii_case(name))
    })
}
