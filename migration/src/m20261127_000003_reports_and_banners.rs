//! Admin reports and shop banners.
//!
//! - Indexes the sales reports read by (`server::reports`): every report selects orders by
//!   `placed_at` within a date range, and the new-vs-returning report looks up each
//!   customer's first order. On PostgreSQL the `placed_at` index also carries the columns the
//!   reports aggregate (`INCLUDE`), so a range can be answered from the index alone; SQLite has
//!   no `INCLUDE`, there the same columns are trailing key columns. Payments are selected by
//!   `created_at`.
//! - `banners`: the shop's promotional banners, placed by `position`, shown while published
//!   and within their optional window `[starts_at, ends_at)`.

use crate::columns::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000003_reports_and_banners"
    }
}

const REPORT_INDEX: &str = "idx_orders_placed_at_report";

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = if manager.get_database_backend() == DatabaseBackend::Postgres {
            format!(
                "CREATE INDEX {REPORT_INDEX} ON orders (placed_at) \
                 INCLUDE (status, grand_total, customer_id)"
            )
        } else {
            format!(
                "CREATE INDEX {REPORT_INDEX} ON orders \
                 (placed_at, status, grand_total, customer_id)"
            )
        };
        manager.get_connection().execute_unprepared(&sql).await?;
        index(manager, "orders", &["customer_id", "placed_at"]).await?;
        index(manager, "payments", &["created_at"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("banners"))
                    .col(uuid_pk("id"))
                    .col(string(name("title")))
                    // An object key in the store's object storage, or an absolute URL.
                    .col(text(name("image")))
                    .col(text_null(name("link_url")))
                    .col(integer(name("position")).default(0))
                    .col(timestamp_null("starts_at"))
                    .col(timestamp_null("ends_at"))
                    .col(boolean(name("published")).default(false))
                    .col(created_at())
                    .col(updated_at())
                    .take(),
            )
            .await?;
        index(manager, "banners", &["published", "position"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["banners"]).await?;
        for (index, table) in [
            ("idx_payments_created_at", "payments"),
            ("idx_orders_customer_id_placed_at", "orders"),
            (REPORT_INDEX, "orders"),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(name(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
