//! The two GraphQL schemas. The shop schema (`/graphql`) serves customers; the admin schema
//! (`/admin/graphql`) is a separate schema for staff, with its own types, so nothing of the
//! admin side can leak into the shop's SDL. Both get the same limits.

pub mod admin;
mod loaders;
mod scalars;
pub mod shop;

use std::sync::Arc;

use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};
use sea_orm::DatabaseConnection;

use crate::config::Settings;

pub use admin::AdminSchema;
pub use shop::ShopSchema;

/// What resolvers reach through the context, shared by both schemas.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    /// Where the shop's anonymous catalogue reads go: the read replica of
    /// `database.read_url`, or the same pool as `db` when none is configured. Only reads that
    /// may lag behind the primary use it.
    pub read_db: DatabaseConnection,
    /// Object storage (product images): uploads, and the URLs clients read objects from.
    pub storage: Arc<dyn crate::storage::ObjectStore>,
    /// What image uploads must satisfy.
    pub media: crate::media::MediaRules,
    /// Sign-in: OTP, tokens, SMS.
    pub auth: Arc<crate::auth::Auth>,
    /// Committed order status changes, for `orderStatusChanged`.
    pub order_events: crate::events::OrderEvents,
    /// The payment gateway and its URLs.
    pub payments: Arc<crate::commerce::payments::Payments>,
    /// The admin sync console: sync events of this process, the in-process daemon's bell.
    pub sync_console: crate::sync_console::SyncConsole,
}

impl Services {
    pub fn new(
        db: DatabaseConnection,
        settings: &Settings,
        payments: Arc<crate::commerce::payments::Payments>,
        storage: Arc<dyn crate::storage::ObjectStore>,
    ) -> Self {
        let db_for_sync = db.clone();
        Services {
            read_db: db.clone(),
            db,
            storage,
            media: crate::media::MediaRules::from_settings(&settings.storage),
            auth: Arc::new(crate::auth::Auth::new(
                &settings.jwt,
                &settings.otp,
                crate::sms::from_settings(&settings.sms),
            )),
            // One bus: the order transitions payments make reach the subscriptions too.
            order_events: payments.order_events.clone(),
            payments,
            sync_console: crate::sync_console::SyncConsole::new(
                db_for_sync,
                settings.sync.clone(),
                std::time::Duration::from_millis(settings.graphql.sync_status_poll_ms),
            ),
        }
    }
}

/// Depth, complexity and introspection limits, the same on every schema (aliases are limited
/// per request: [`crate::http::QueryLimits`]). With introspection off (the production
/// profile) field suggestions ("Did you mean ...?") are off too: they would spell out the
/// schema that introspection hides.
fn with_limits<Q, M, S>(
    builder: SchemaBuilder<Q, M, S>,
    settings: &Settings,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let limits = &settings.graphql;
    let builder = builder
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(64)
        .limit_directives(16);
    if limits.introspection {
        builder
    } else {
        builder.disable_introspection().disable_suggestions()
    }
}
