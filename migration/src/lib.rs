//! Schema migrations for the store, runnable on PostgreSQL 15 and on SQLite.
//!
//! One migration per area of the domain, applied in order. Each one also knows how to undo
//! itself, and a test runs every migration up and down on both backends.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261125_000001_catalogue;
mod m20261125_000002_customers_and_staff;
mod m20261125_000003_commerce;
mod m20261125_000004_mahak_mirror;
mod m20261125_000005_sync_bookkeeping;
mod m20261126_000001_auth_attempts;
mod m20261126_000002_payment_sandbox;
mod m20261126_000003_checkout;
mod m20261127_000001_staff_sessions;
mod m20261127_000002_image_uploads;
mod m20261127_000003_reports_and_banners;
mod m20261127_000004_sync_console;
mod m20261127_000005_outbox_delivery;
mod m20261127_000007_fulfilment;
mod m20261127_000008_mahak_pictures;
mod m20261128_000001_mahak_exchange;
mod m20261129_000001_catalogue_notify;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_catalogue::Migration),
            Box::new(m20261125_000002_customers_and_staff::Migration),
            Box::new(m20261125_000003_commerce::Migration),
            Box::new(m20261125_000004_mahak_mirror::Migration),
            Box::new(m20261125_000005_sync_bookkeeping::Migration),
            Box::new(m20261126_000001_auth_attempts::Migration),
            Box::new(m20261126_000002_payment_sandbox::Migration),
            Box::new(m20261126_000003_checkout::Migration),
            Box::new(m20261127_000001_staff_sessions::Migration),
            Box::new(m20261127_000002_image_uploads::Migration),
            Box::new(m20261127_000003_reports_and_banners::Migration),
            Box::new(m20261127_000004_sync_console::Migration),
            Box::new(m20261127_000005_outbox_delivery::Migration),
            Box::new(m20261127_000007_fulfilment::Migration),
            Box::new(m20261127_000008_mahak_pictures::Migration),
            Box::new(m20261128_000001_mahak_exchange::Migration),
            Box::new(m20261129_000001_catalogue_notify::Migration),
        ]
    }
}
