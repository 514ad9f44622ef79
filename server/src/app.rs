//! Starting and stopping the server: connect, migrate, build the schemas, serve until a
//! shutdown signal, then let in-flight requests finish.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::graphql::{admin, shop, Services};
use crate::http::{self, AppState};
use sync::pipeline::events::Events;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let metrics = crate::telemetry::init_metrics()?;
    let db = crate::db::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        crate::db::migrate(&db).await?;
    }
    let services = Services::new(db.clone(), &settings);
    let router = http::router(
        &settings,
        AppState {
            db: db.clone(),
            metrics,
        },
        shop::build(services.clone(), &settings),
        admin::build(services, &settings),
    );

    let listener = TcpListener::bind(settings.http.addr())
        .await
        .with_context(|| format!("binding {}", settings.http.addr()))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, graphiql = %format!("http://{addr}/graphql"), "listening");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let embedded_sync = (settings.amqp.url.is_none() && settings.sync.embedded).then(|| {
        tokio::spawn(embedded_sync(
            db.clone(),
            settings.clone(),
            Events::default(),
            stopped.clone(),
        ))
    });

    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    // With the peer address, for per-IP sign-in limits.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        sync::process::shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        let _ = stop.send(true);
    });
    server.await.context("serving HTTP")?;
    if let Some(task) = embedded_sync {
        let _ = tokio::time::timeout(grace, task).await;
    }
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
    events: Events,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let run = async {
        let mahak = sync::worker::connect_mahak(&settings.mahak, &settings.sync).await?;
        let runner = sync::worker::build_runner(
            &db,
            mahak.client.clone(),
            &settings.amqp,
            &settings.sync,
            events,
        )
        .await?;
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
        drop(mahak);
        anyhow::Ok(())
    };
    if let Err(err) = run.await {
        tracing::error!(error = %format!("{err:#}"), "embedded Mahak sync could not start");
    }
}
