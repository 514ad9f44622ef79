//! The HTTP surface: GraphQL endpoints, health, readiness and metrics, and the layers every
//! request passes through (request id, tracing span, timeout, body limit, security headers;
//! CORS on the GraphQL endpoints and `/media` when origins are configured).

pub mod catalogue_cache;
pub mod graphql;
mod limits;
mod payments;
pub mod persisted;
mod reports_csv;
mod security;
mod sync_page;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use serde_json::json;
use sync::trace::TraceContext;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use limits::QueryLimits;

use crate::config::Settings;
use crate::graphql::{AdminSchema, ShopSchema};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Per-request facts handed to resolvers through the GraphQL context.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The client's address: the socket peer, or `X-Forwarded-For` when
    /// `http.trust_forwarded_for` is set (see `auth::client_ip`).
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The shop's catalogue reads (`Services::read_db`): the read replica, or `db`.
    pub read_db: DatabaseConnection,
    pub metrics: PrometheusHandle,
    /// The payment gateway, for its callback.
    pub payments: Arc<crate::commerce::payments::Payments>,
    /// Object storage; the local-disk store's `/media` routes are served from here.
    pub storage: crate::storage::Storage,
    /// The shop's anonymous catalogue answers (see [`catalogue_cache`]); `None`: not cached.
    pub catalogue_cache: Option<catalogue_cache::CatalogueCache>,
}

/// `ws_shutdown` tells the GraphQL WebSocket sessions of both endpoints when to close, and
/// counts them so that shutdown can wait for them.
pub fn router(
    settings: &Settings,
    state: AppState,
    shop: ShopSchema,
    admin: AdminSchema,
    ws_shutdown: ws::Shutdown,
) -> Router {
    let limits = QueryLimits {
        max_aliases: settings.graphql.max_aliases,
    };
    let shop = Arc::new(graphql::Endpoint {
        executor: shop,
        name: "shop",
        path: "/graphql",
        graphiql: settings.graphql.graphiql,
        max_batch: settings.graphql.max_batch,
        prepare: crate::graphql::shop::request_preparer(
            state.read_db.clone(),
            Arc::new(crate::auth::JwtKeys::from_settings(&settings.jwt)),
        ),
        persisted: Some(persisted::PersistedQueries::from_settings(
            &settings.graphql,
        )),
        catalogue_cache: state.catalogue_cache.clone(),
        limits,
    });
    let admin = Arc::new(graphql::Endpoint {
        executor: admin,
        name: "admin",
        path: "/admin/graphql",
        graphiql: settings.graphql.graphiql,
        max_batch: settings.graphql.max_batch,
        prepare: crate::graphql::admin::access::request_preparer(Arc::new(
            crate::auth::JwtKeys::admin_from_settings(&settings.jwt),
        )),
        persisted: None,
        catalogue_cache: None,
        limits,
    });

    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = request.uri().path(),
                    request_id,
                    trace_id = tracing::field::Empty,
                    operation = tracing::field::Empty,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.http.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(settings.http.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            settings.http.trust_forwarded_for,
            request_context,
        ));

    let mut payment_routes = payments::router(state.db.clone(), state.payments.clone());
    if settings.payment.provider == crate::config::PaymentProvider::Sandbox {
        payment_routes =
            payment_routes.merge(crate::payment::sandbox::page::router(state.db.clone()));
    }
    // The local-disk store serves its objects and takes uploads itself; S3 does that for S3.
    let media_routes = match &state.storage.local {
        Some(local) => crate::storage::local::router(local.clone()),
        None => Router::new(),
    };

    let reports_routes = reports_csv::router(state.db.clone(), &settings.jwt, &settings.reconcile);

    // Cross-origin browser clients reach the GraphQL endpoints and the media store; the
    // other routes (sandbox payment, sync page, reports, health) are same-origin or not for
    // browsers.
    let mut browser_routes = Router::new()
        .route(
            "/graphql",
            any(ws::handle).with_state(Arc::new(ws::Socket {
                endpoint: shop,
                init_timeout: Duration::from_secs(settings.graphql.ws_init_timeout_secs),
                accepts: {
                    let keys = crate::auth::JwtKeys::from_settings(&settings.jwt);
                    Box::new(move |headers| {
                        crate::auth::Caller::from_headers(headers, &keys)
                            != crate::auth::Caller::Invalid
                    })
                },
                shutdown: ws_shutdown.clone(),
                max_message_bytes: settings.http.body_limit_bytes,
            })),
        )
        .route(
            "/admin/graphql",
            any(ws::handle).with_state(Arc::new(ws::Socket {
                endpoint: admin,
                init_timeout: Duration::from_secs(settings.graphql.ws_init_timeout_secs),
                accepts: {
                    let keys = crate::auth::JwtKeys::admin_from_settings(&settings.jwt);
                    Box::new(move |headers| {
                        crate::graphql::admin::access::StaffIdentity::from_headers(headers, &keys)
                            != crate::graphql::admin::access::StaffIdentity::Invalid
                    })
                },
                shutdown: ws_shutdown,
                max_message_bytes: settings.http.body_limit_bytes,
            })),
        )
        .merge(media_routes);
    if let Some(cors) = security::cors(&settings.http) {
        browser_routes = browser_routes.layer(cors);
    }

    Router::new()
        .merge(sync_page::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(browser_routes)
        .merge(payment_routes)
        .merge(reports_routes)
        .layer(layers)
        // Outermost, so that answers made by the layers (timeouts, 413) and 404s get them too.
        .layer(middleware::from_fn_with_state(
            security::SecurityHeaders::new(&settings.http),
            security::headers,
        ))
}

async fn request_context(
    State(trust_forwarded_for): State<bool>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let client_ip = crate::auth::client_ip::client_ip(request.headers(), peer, trust_forwarded_for);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect());
    request.extensions_mut().insert(RequestContext {
        request_id,
        client_ip,
        user_agent,
    });
    // The caller's trace (W3C `traceparent`) or a new one; what this request publishes to
    // RabbitMQ carries it on (see `sync::trace`).
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .unwrap_or_else(TraceContext::new_root);
    tracing::Span::current().record("trace_id", trace.trace_id_hex());
    sync::trace::scope(trace, next.run(request)).await
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the parts the server needs answer.
async fn readyz(State(state): State<AppState>) -> Response {
    let database = crate::db::ping(&state.db).await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "database": if database { "ok" } else { "unavailable" } });
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    crate::db::record_pool_metrics(&state.db);
    if let Err(err) = sync::pipeline::checkpoint::record_lag_metrics(&state.db).await {
        tracing::warn!(error = %err, "could not read sync lag");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
