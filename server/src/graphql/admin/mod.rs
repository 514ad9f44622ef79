//! The admin schema: what the staff's back office uses. A separate schema from the shop's,
//! never the same one with guards.
//!
//! Each area of the back office is one query struct and one mutation struct in its own
//! module, merged here: add yours to `AdminQuery`/`AdminMutation` with a one-line edit.
//! Every resolver starts with `access::require(ctx, Permission::...)` (see [`access`]), and
//! every mutation writes an audit entry with `crate::staff::audit::record` in the same
//! transaction as its change.

pub mod access;
pub mod account_credit;
pub mod catalogue;
pub mod content;
pub mod media;
pub mod orders;
pub mod reconcile;
pub mod reports;
pub mod staff;
pub mod sync_console;

use async_graphql::{MergedObject, MergedSubscription, Object, Schema, SimpleObject};

use super::{with_limits, Services};
use crate::config::Settings;

pub use staff::{StaffMutation, StaffQuery};

/// The admin schema's own root fields.
#[derive(Default)]
pub struct AdminMeta;

#[Object]
impl AdminMeta {
    /// Version of the running server.
    async fn server_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[derive(MergedObject, Default)]
pub struct AdminQuery(
    AdminMeta,
    StaffQuery,
    sync_console::SyncConsoleQuery,
    catalogue::CatalogueQuery,
    orders::OrdersQuery,
    reports::ReportsQuery,
    content::ContentQuery,
    reconcile::ReconcileQuery,
);

#[derive(MergedObject, Default)]
pub struct AdminMutation(
    StaffMutation,
    media::MediaMutation,
    catalogue::CatalogueMutation,
    sync_console::SyncConsoleMutation,
    orders::OrdersMutation,
    content::ContentMutation,
    reconcile::ReconcileMutation,
);

#[derive(MergedSubscription, Default)]
pub struct AdminSubscription(sync_console::SyncConsoleSubscription);

pub type AdminSchema = Schema<AdminQuery, AdminMutation, AdminSubscription>;

/// Relay page information. Pagination runs forward only (`first`/`after`), so
/// `hasPreviousPage` is always false.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

pub fn build(services: Services, settings: &Settings) -> AdminSchema {
    let builder = Schema::build(
        AdminQuery::default(),
        AdminMutation::default(),
        AdminSubscription::default(),
    )
    .data(services)
    .data(crate::staff::StaffAuth::new(settings))
    .data(settings.reconcile.clone());
    with_limits(builder, settings).finish()
}

/// The admin schema without services, for exporting its SDL.
pub fn sdl() -> String {
    Schema::build(
        AdminQuery::default(),
        AdminMutation::default(),
        AdminSubscription::default(),
    )
    .finish()
    .sdl()
}
