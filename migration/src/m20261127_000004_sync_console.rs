//! The admin sync console: requests to run a sync now (`sync_requests`, written by the server,
//! claimed by whichever worker's daemon loop sees them first), progress of a running sync kept
//! in its `sync_runs` row (so a server without the worker's in-process events can show it),
//! and the reason an operator gave for discarding a dead letter.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000004_sync_console"
    }
}

/// Columns added to existing tables, one statement each (SQLite alters one column at a time).
const ADDED: [(&str, &str); 4] = [
    ("sync_runs", "entities"),
    ("sync_runs", "current_entity"),
    ("sync_runs", "current_fetched"),
    ("dead_letters", "discard_reason"),
];

// See m20261125_000005 for why the lifetime is elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(name("sync_requests"))
                    .col(big_pk("id"))
                    // Null: every entity.
                    .col(string_null(name("entity")))
                    .col(uuid_null(name("requested_by")))
                    .col(created_at())
                    .col(timestamp_null("picked_up_at"))
                    .col(uuid_null(name("run_id")))
                    .take(),
            )
            .await?;
        index(manager, "sync_requests", &["picked_up_at"]).await?;

        for (table, column) in ADDED {
            let def = match column {
                // The entities the run covers, comma-separated, in run order.
                "entities" => text_null(name(column)),
                // The entity being fetched now and the rows of it fetched so far.
                "current_entity" => string_null(name(column)),
                "current_fetched" => big_integer(name(column)).default(0).take(),
                _ => text_null(name(column)),
            };
            manager
                .alter_table(Table::alter().table(name(table)).add_column(def).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in ADDED.iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(name(table))
                        .drop_column(name(column))
                        .take(),
                )
                .await?;
        }
        drop_tables(manager, &["sync_requests"]).await
    }
}
