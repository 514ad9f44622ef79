//! Starting and stopping the server: connect, migrate, build the schemas, serve until a
//! shutdown signal, then let in-flight requests finish.

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::graphql::{admin, shop, Services};
use crate::http::{self, AppState};

pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let metrics = crate::telemetry::init_metrics()?;
    // Bound first: the payment gateway's callback URLs default to the address really bound
    // (`http.port = 0` picks a free port).
    let listener = TcpListener::bind(settings.http.addr())
        .await
        .with_context(|| format!("binding {}", settings.http.addr()))?;
    let addr = listener.local_addr()?;
    if settings.payment.callback_base_url.is_empty() {
        let mut public = addr;
        if public.ip().is_unspecified() {
            public.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        settings.payment.callback_base_url = format!("http://{public}");
    }
    let db = crate::db::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        crate::db::migrate(&db).await?;
    }
    let gateway = crate::payment::gateway_from_settings(&settings.payment, &db)
        .context("building the payment gateway")?;
    // With a broker, live events (order transitions, new orders, the sync's progress) cross
    // replicas through the relay; without one, the in-process broadcast is the whole bus.
    let (relay, relay_link) = match &settings.amqp.url {
        Some(url) => {
            let (relay, link) = sync::live::relay(sync::worker::amqp_config(
                url.expose_secret(),
                &settings.sync,
            ));
            (Some(relay), Some(link))
        }
        None => (None, None),
    };
    let mut payments = crate::commerce::payments::Payments::new(gateway, &settings.payment);
    if let Some(relay) = relay {
        payments.order_events = crate::events::OrderEvents::relayed(relay);
    }
    let payments = std::sync::Arc::new(payments);
    let storage = crate::storage::Storage::from_settings(&settings.storage)
        .context("building the object store")?;
    let picture_store = storage.store.clone();
    let mut services = Services::new(
        db.clone(),
        &settings,
        payments.clone(),
        storage.store.clone(),
    );
    if let Some(read_db) = crate::db::connect_read(&settings.database).await? {
        services.read_db = read_db;
    }
    let sync_console = services.sync_console.clone();
    let sync_events = sync_console.events.clone();
    let sms = services.auth.sms.clone();
    let order_events = services.order_events.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ws_sessions = http::ws::Sessions::default();
    let catalogue_cache = catalogue_cache(&settings, stopped.clone());
    let router = http::router(
        &settings,
        AppState {
            db: db.clone(),
            read_db: services.read_db.clone(),
            metrics,
            payments: payments.clone(),
            storage,
            catalogue_cache,
        },
        shop::build(services.clone(), &settings),
        admin::build(services, &settings),
        http::ws::Shutdown {
            signal: stopped.clone(),
            sessions: ws_sessions.clone(),
        },
    );

    tracing::info!(%addr, graphiql = %format!("http://{addr}/graphql"), "listening");

    let run_embedded_sync = settings.amqp.url.is_none() && settings.sync.embedded;
    // This process talks to Mahak when it runs the embedded sync or has Mahak's address (it
    // then pushes the store's invoices itself). Without `mahak.base_url`, that Mahak is the
    // in-process simulator, kept alive by `mahak` until shutdown.
    let mahak = if run_embedded_sync || settings.mahak.base_url.is_some() {
        match sync::worker::connect_mahak(&settings.mahak, &settings.sync).await {
            Ok(mahak) => Some(mahak),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "cannot reach Mahak: no sync and no pushes in this process");
                None
            }
        }
    } else {
        None
    };
    // Mahak's base URL for the picture import: configured, or the in-process simulator's.
    let mahak_url = settings.mahak.base_url.clone().or_else(|| {
        mahak
            .as_ref()
            .and_then(|m| m.simulator.as_ref())
            .map(sync::simulator::RunningSimulator::base_url)
    });
    let embedded_sync = mahak.as_ref().filter(|_| run_embedded_sync).map(|mahak| {
        tokio::spawn(embedded_sync(
            db.clone(),
            settings.clone(),
            sync_console,
            mahak.client.clone(),
            stopped.clone(),
        ))
    });
    let picture_import = (settings.storage.mahak_import_interval_secs > 0).then(|| {
        tokio::spawn(import_mahak_pictures(
            db.clone(),
            picture_store,
            crate::media::MediaRules::from_settings(&settings.storage),
            Duration::from_secs(settings.storage.mahak_import_interval_secs),
            mahak_url,
            stopped.clone(),
        ))
    });

    let payment_sweep = tokio::spawn(reconcile_payments(
        db.clone(),
        payments.clone(),
        Duration::from_secs(settings.payment.reconcile_interval_secs),
        Duration::from_secs(settings.payment.reconcile_after_secs),
        stopped.clone(),
    ));
    let outbox = tokio::spawn(
        crate::outbox::Dispatcher::new(
            db.clone(),
            settings.outbox.clone(),
            [
                std::sync::Arc::new(crate::notifications::SmsHandler {
                    db: db.clone(),
                    sms,
                }) as std::sync::Arc<dyn crate::outbox::Handler>,
                std::sync::Arc::new(crate::commerce::fulfilment::RefundHandler {
                    db: db.clone(),
                    gateway: payments.gateway.clone(),
                }),
            ]
            .into_iter()
            .chain(mahak.iter().flat_map(|mahak| {
                crate::mahak_push::MahakPushHandler::for_every_topic(std::sync::Arc::new(
                    sync::push::Pusher::new(
                        db.clone(),
                        mahak.client.clone(),
                        settings.push.clone(),
                    ),
                ))
            }))
            .collect(),
        )
        .run(stopped.clone()),
    );
    let mahak_reconcile = (settings.reconcile.interval_secs > 0).then(|| {
        tokio::spawn(reconcile_mahak(
            db.clone(),
            order_events.clone(),
            Duration::from_secs(settings.reconcile.interval_secs),
            stopped.clone(),
        ))
    });
    let relay = relay_link.map(|link| {
        tokio::spawn(link.run(
            crate::events::deliver_relayed(order_events.clone(), sync_events),
            stopped.clone(),
        ))
    });
    let expiry = tokio::spawn(expire_unpaid_orders(
        db.clone(),
        order_events,
        settings.checkout.clone(),
        stopped.clone(),
    ));

    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    // With the peer address, for per-IP sign-in limits.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        sync::process::shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        let _ = stop.send(true);
    });
    server.await.context("serving HTTP")?;
    // Upgraded WebSockets outlive the HTTP server: they were told to close (1001) by `stop`.
    let open = ws_sessions.count();
    if open > 0 {
        tracing::info!(open, "closing GraphQL WebSocket sessions");
    }
    if tokio::time::timeout(grace, ws_sessions.all_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = ws_sessions.count(),
            "GraphQL WebSocket sessions did not close within the grace"
        );
    }
    for task in [payment_sweep, outbox, expiry] {
        let _ = tokio::time::timeout(grace, task).await;
    }
    for task in [embedded_sync, picture_import, mahak_reconcile, relay]
        .into_iter()
        .flatten()
    {
        let _ = tokio::time::timeout(grace, task).await;
    }
    drop(mahak);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "stopped accepting connections; closing the database"
    );
    tokio::time::timeout(grace, db.close()).await.ok();
    Ok(())
}

/// The embedded default: with no broker configured, the sync pipeline runs in this process
/// on the in-process bus (against the in-process Mahak simulator unless `mahak.base_url` is
/// set), so a fresh `cargo run` shows a store filled from "Mahak" and kept in sync.
async fn embedded_sync(
    db: sea_orm::DatabaseConnection,
    settings: Settings,
    console: crate::sync_console::SyncConsole,
    mahak: sync::mahak::MahakClient,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let run = async {
        let mut runner = sync::worker::build_runner(
            &db,
            mahak,
            &settings.amqp,
            &settings.sync,
            // The admin console follows this process's sync live, and wakes it on request.
            console.events,
        )
        .await?;
        runner.wake = console.wake;
        tracing::info!(
            interval_secs = settings.sync.interval_secs,
            "embedded Mahak sync started"
        );
        let interval = Duration::from_secs(settings.sync.interval_secs);
        runner
            .daemon(interval, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        anyhow::Ok(())
    };
    if let Err(err) = run.await {
        tracing::error!(error = %format!("{err:#}"), "embedded Mahak sync could not start");
    }
}

/// Every `storage.mahak_import_interval_secs`, fetches the pictures Mahak sends into the
/// object store (see `crate::media::mahak_import`), until shutdown.
async fn import_mahak_pictures(
    db: sea_orm::DatabaseConnection,
    store: std::sync::Arc<dyn crate::storage::ObjectStore>,
    rules: crate::media::MediaRules,
    interval: Duration,
    mahak_url: Option<String>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Some(base_url) = mahak_url else {
        tracing::info!("no Mahak base URL known to this process: picture import off");
        return;
    };
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = ?err, "picture import: could not build an HTTP client");
            return;
        }
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let pass = crate::media::mahak_import::import_pending(
            &db,
            store.as_ref(),
            &http,
            &base_url,
            &rules,
        );
        match pass.await {
            Ok(report) if report == Default::default() => {}
            Ok(report) => tracing::info!(?report, "Mahak pictures imported"),
            Err(err) => tracing::warn!(error = %format!("{err:#}"), "Mahak picture import failed"),
        }
    }
}

/// Every `interval`, verifies the payments left `started` for longer than `older_than` (their
/// callback was lost or its verification had no answer), until shutdown.
async fn reconcile_payments(
    db: sea_orm::DatabaseConnection,
    payments: std::sync::Arc<crate::commerce::payments::Payments>,
    interval: Duration,
    older_than: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        match crate::commerce::payments::reconcile_started(
            &db,
            payments.gateway.as_ref(),
            &payments.order_events,
            older_than,
        )
        .await
        {
            Ok(0) => {}
            Ok(settled) => tracing::info!(settled, "payments reconciled"),
            Err(err) => tracing::warn!(error = ?err, "payment reconciliation failed"),
        }
    }
}

/// Every `checkout.expiry_sweep_secs`, cancels the orders left unpaid for longer than
/// `checkout.payment_timeout_secs` and releases their stock, until shutdown.
async fn expire_unpaid_orders(
    db: sea_orm::DatabaseConnection,
    events: crate::events::OrderEvents,
    checkout: crate::commerce::CheckoutSettings,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(checkout.expiry_sweep_secs));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = chrono::Duration::seconds(
        i64::try_from(checkout.payment_timeout_secs).unwrap_or(i64::MAX / 1000),
    );
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let cutoff = chrono::Utc::now() - timeout;
        match crate::commerce::orders::expire_unpaid(&db, &events, cutoff).await {
            Ok(0) => {}
            Ok(cancelled) => tracing::info!(cancelled, "unpaid orders expired"),
            Err(err) => tracing::warn!(error = ?err, "expiring unpaid orders failed"),
        }
    }
}

/// Every `reconcile.interval_secs`, brings what was done in Mahak back to the store's orders
/// (returns, receipts; see `crate::reconcile`), until shutdown.
async fn reconcile_mahak(
    db: sea_orm::DatabaseConnection,
    events: crate::events::OrderEvents,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        match crate::reconcile::sweep(&db, &events).await {
            Ok(report) if report.is_empty() => {}
            Ok(report) => tracing::info!(?report, "reconciled with Mahak"),
            Err(err) => tracing::warn!(error = ?err, "reconciliation with Mahak failed"),
        }
    }
}

/// The shop's anonymous catalogue cache, listening for changes on the primary; off on SQLite
/// (no notifications) and when `graphql.catalogue_cache_ttl_secs` is 0.
fn catalogue_cache(
    settings: &Settings,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Option<http::catalogue_cache::CatalogueCache> {
    let graphql = &settings.graphql;
    if graphql.catalogue_cache_ttl_secs == 0 || settings.database.is_sqlite() {
        return None;
    }
    let url = settings.database.url.expose_secret();
    let cache = http::catalogue_cache::CatalogueCache::new(
        graphql.catalogue_cache_max_bytes,
        Duration::from_secs(graphql.catalogue_cache_ttl_secs),
    );
    cache.listen(url.to_string(), stopped);
    Some(cache)
}
