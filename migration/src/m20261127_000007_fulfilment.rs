//! Fulfilment: the parcel's tracking code on the order (given by staff when they ship it) and
//! the time it was shipped and delivered, for the customer and the back office.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000007_fulfilment"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            string_null(name("tracking_code")),
            timestamp_null("shipped_at"),
            timestamp_null("delivered_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(name("orders"))
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["delivered_at", "shipped_at", "tracking_code"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(name("orders"))
                        .drop_column(name(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
