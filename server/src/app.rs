//! Starting and stopping the server: connect, migrate, build the schemas, serve until a
//! shutdown signal, then let in-flight requests finish.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::graphql::{admin, shop, Services};
use crate::http::{self, AppState};

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

    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    let server = axum::serve(listener, router).with_graceful_shutdown(shutdown_signal());
    server.await.context("serving HTTP")?;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "stopped accepting connections; closing the database"
    );
    tokio::time::timeout(grace, db.close()).await.ok();
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
