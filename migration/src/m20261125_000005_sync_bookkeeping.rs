//! What the sync worker keeps about its own work: the RowVersion checkpoint per Mahak entity,
//! a record per run, the dead letters it could not apply, and the transactional outbox of
//! effects (pushes to Mahak, notifications) written in the same transaction as their cause.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000005_sync_bookkeeping"
    }
}

// `MigrationTrait` takes `&SchemaManager` with its lifetime elided; under `async_trait`, writing
// `SchemaManager<'_>` makes that lifetime early-bound and the impl no longer matches the trait.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(name("sync_checkpoints"))
                    .col(string(name("entity")).primary_key())
                    .col(big_integer(name("row_version")).default(0))
                    .col(timestamp_null("last_success_at"))
                    .col(updated_at())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(name("sync_runs"))
                    .col(uuid_pk("id"))
                    .col(string(name("trigger")))
                    .col(string(name("outcome")).default("running"))
                    .col(big_integer(name("fetched")).default(0))
                    .col(big_integer(name("upserted")).default(0))
                    .col(big_integer(name("unchanged")).default(0))
                    .col(big_integer(name("deleted")).default(0))
                    .col(big_integer(name("dead_lettered")).default(0))
                    .col(json_null("per_entity"))
                    .col(text_null(name("error")))
                    .col(timestamp("started_at").default(Expr::current_timestamp()))
                    .col(timestamp_null("finished_at"))
                    .take(),
            )
            .await?;
        index(manager, "sync_runs", &["started_at"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("dead_letters"))
                    .col(big_pk("id"))
                    .col(string(name("entity")))
                    .col(big_integer_null(name("mahak_id")))
                    .col(big_integer_null(name("mahak_client_id")))
                    .col(big_integer_null(name("row_version")))
                    .col(string_null(name("batch_id")))
                    .col(json("payload"))
                    .col(text(name("error")))
                    .col(integer(name("attempts")).default(1))
                    .col(created_at())
                    .col(timestamp_null("replayed_at"))
                    .col(timestamp_null("discarded_at"))
                    .take(),
            )
            .await?;
        index(manager, "dead_letters", &["entity", "mahak_id"]).await?;
        // At most one open letter per row version: the same row failing again (the inclusive
        // cursor brings boundary rows back; consumers run concurrently) counts an attempt.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_dead_letters_open_row ON dead_letters (entity, mahak_id, row_version) \
                 WHERE replayed_at IS NULL AND discarded_at IS NULL",
            )
            .await?;

        // The batches a consumer has applied, written in the batch's own transaction: a
        // redelivered batch (consumer died after commit, before ack) is recognised and skipped,
        // so its dead letters and run counts are not recorded twice.
        manager
            .create_table(
                Table::create()
                    .table(name("sync_inbox"))
                    .col(string(name("batch_id")).primary_key())
                    .col(string(name("entity")))
                    .col(uuid_null(name("run_id")))
                    .col(timestamp("applied_at").default(Expr::current_timestamp()))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(name("outbox"))
                    .col(big_pk("id"))
                    .col(string(name("topic")))
                    .col(string(name("aggregate_id")))
                    .col(json("payload"))
                    .col(integer(name("attempts")).default(0))
                    .col(text_null(name("last_error")))
                    .col(timestamp("available_at").default(Expr::current_timestamp()))
                    .col(timestamp_null("processed_at"))
                    .col(created_at())
                    .take(),
            )
            .await?;
        index(manager, "outbox", &["processed_at", "available_at"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "sync_inbox",
                "outbox",
                "dead_letters",
                "sync_runs",
                "sync_checkpoints",
            ],
        )
        .await
    }
}
