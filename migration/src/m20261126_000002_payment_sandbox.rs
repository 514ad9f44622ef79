//! The sandbox payment gateway's own book of payment sessions.
//!
//! The sandbox stands in for a real gateway in the embedded default, so it keeps what a real
//! gateway keeps on its side (the amount a session was opened for, whether the customer paid
//! or cancelled, whether the merchant has verified it) apart from the store's own `payments`
//! rows: the store must learn the outcome by verifying, exactly as with Zarinpal. It lives in
//! the database, not in memory, so that a callback or a verification served by another replica
//! of the server sees the same session.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000002_payment_sandbox"
    }
}

// See `m20261125_000005_sync_bookkeeping` for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(name("payment_sandbox_sessions"))
                    .col(string(name("authority")).primary_key())
                    .col(string(name("order_id")))
                    .col(money("amount"))
                    .col(text(name("description")))
                    .col(text(name("callback_url")))
                    // pending → paid → verified, or pending → cancelled.
                    .col(string(name("state")).default("pending"))
                    .col(big_integer_null(name("reference_id")))
                    .col(created_at())
                    .col(updated_at())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["payment_sandbox_sessions"]).await
    }
}
