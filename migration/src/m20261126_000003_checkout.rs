//! Checkout bookkeeping: idempotency keys on orders, the order-number counter and stock
//! reservations.
//!
//! - `orders.idempotency_key`: a client-supplied key, unique per customer, so a retried
//!   checkout returns the order the first attempt created.
//! - `order_number_seq`: one row holding the last order number handed out. Checkout takes the
//!   next number with `UPDATE ... SET last_value = last_value + 1 RETURNING last_value`, which
//!   works the same on PostgreSQL (row lock until commit) and SQLite (single writer).
//! - `stock_reservations`: units held by an order until it is cancelled or its stock leaves
//!   Mahak; available stock is Mahak's stock minus the open (unreleased) reservations.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000003_checkout"
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
                    .table(name("orders"))
                    .add_column(string_null(name("idempotency_key")))
                    .take(),
            )
            .await?;
        unique(manager, "orders", &["customer_id", "idempotency_key"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("order_number_seq"))
                    .col(integer(name("id")).primary_key())
                    .col(big_integer(name("last_value")))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(name("order_number_seq"))
                    .columns([name("id"), name("last_value")])
                    .values_panic([1.into(), 100_000i64.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(name("stock_reservations"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("order_id")))
                    .col(big_integer(name("variant_id")))
                    .col(integer(name("quantity")))
                    .col(created_at())
                    .col(timestamp_null("released_at"))
                    .foreign_key(&mut foreign_key(
                        "stock_reservations",
                        "order_id",
                        "orders",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "stock_reservations", &["variant_id"]).await?;
        index(manager, "stock_reservations", &["order_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["stock_reservations", "order_number_seq"]).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_orders_customer_id_idempotency_key")
                    .table(name("orders"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("orders"))
                    .drop_column(name("idempotency_key"))
                    .take(),
            )
            .await
    }
}
