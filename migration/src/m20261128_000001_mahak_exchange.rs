//! The exchange with Mahak in both directions (issue 7):
//! - ClientIds for pushed rows come from one database counter (`mahak_client_id_seq` on
//!   PostgreSQL, the one-row table `mahak_client_id_counter` on SQLite, which has no
//!   sequences), are written on the row before the first send, and are therefore re-sent
//!   unchanged by every retry.
//! - `orders.mahak_return_*`: the sales return (`orderType` 202) of a cancelled or refunded
//!   order that was invoiced, pushed by the store or entered in Mahak; `mahak_settled_at`:
//!   when a receipt for the invoice was seen in Mahak.
//! - `order_lines.mahak_detail_id` and `mahak_return_detail_client_id`: the lines' ids in
//!   the invoice and ClientIds in the return; `tax_bp`/`toll_bp`: the rates the line was
//!   priced at (the invoice carries percentages, not amounts).
//! - `payments.mahak_cheque_id` and `mahak_error`.
//!
//! State columns (`mahak_state`, `mahak_return_state`) take `not_pushed`, `pending`,
//! `pushed`, `failed` (Mahak rejected a row; retried) and `dead` (given up).

use crate::columns::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_mahak_exchange"
    }
}

/// First ClientId handed out: far above the small ids a desktop program or a demo uses.
const FIRST_CLIENT_ID: i64 = 1_000_000_000;

fn added() -> Vec<(&'static str, ColumnDef)> {
    vec![
        ("orders", big_integer_null(name("mahak_return_id"))),
        ("orders", big_integer_null(name("mahak_return_client_id"))),
        ("orders", string_null(name("mahak_return_state"))),
        ("orders", text_null(name("mahak_return_error"))),
        ("orders", timestamp_null("mahak_settled_at")),
        ("order_lines", big_integer_null(name("mahak_detail_id"))),
        (
            "order_lines",
            big_integer_null(name("mahak_return_detail_client_id")),
        ),
        // The rates the line was taxed at, as Mahak wants them on the invoice (its
        // `taxPercent`/`chargePercent`); null on lines older than this column.
        ("order_lines", integer_null(name("tax_bp"))),
        ("order_lines", integer_null(name("toll_bp"))),
        ("payments", big_integer_null(name("mahak_cheque_id"))),
        ("payments", text_null(name("mahak_error"))),
    ]
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for (table, column) in added() {
            manager
                .alter_table(Table::alter().table(name(table)).add_column(column).take())
                .await?;
        }
        unique(manager, "orders", &["mahak_return_client_id"]).await?;
        index(manager, "orders", &["mahak_order_id"]).await?;
        index(manager, "orders", &["mahak_state"]).await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE SEQUENCE mahak_client_id_seq START WITH {FIRST_CLIENT_ID}"
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TABLE mahak_client_id_counter \
                     (id integer PRIMARY KEY CHECK (id = 1), next_value bigint NOT NULL)",
                )
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO mahak_client_id_counter (id, next_value) VALUES (1, {FIRST_CLIENT_ID})"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("DROP SEQUENCE mahak_client_id_seq")
                    .await?;
            }
            _ => {
                db.execute_unprepared("DROP TABLE mahak_client_id_counter")
                    .await?;
            }
        }
        for index in [
            "uq_orders_mahak_return_client_id",
            "idx_orders_mahak_order_id",
            "idx_orders_mahak_state",
        ] {
            manager
                .drop_index(Index::drop().name(index).table(name("orders")).to_owned())
                .await?;
        }
        for (table, column) in added().into_iter().rev() {
            let column_name = column.get_column_name();
            manager
                .alter_table(
                    Table::alter()
                        .table(name(table))
                        .drop_column(name(&column_name))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
