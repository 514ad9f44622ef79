//! Outbox delivery bookkeeping: `outbox.failed_at` marks an effect the dispatcher gave up on
//! after its last attempt (kept, with `last_error`, for an operator to look at and retry), so
//! that "not processed" and "abandoned" are told apart without parsing error text.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000005_outbox_delivery"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(name("outbox"))
                    .add_column(timestamp_null("failed_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(name("outbox"))
                    .drop_column(name("failed_at"))
                    .take(),
            )
            .await
    }
}
