//! Staff sign-in sessions: refresh tokens of staff users. `refresh_tokens` belongs to
//! customers (its foreign key points at `customers`), so staff get their own table with the
//! same shape: opaque tokens stored hashed, grouped in families, rotated on every use.
//! Staff emails are stored lower-cased, so the unique index on `staff_users.email` is
//! case-insensitive in effect.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_staff_sessions"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(name("staff_refresh_tokens"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("staff_user_id")))
                    .col(uuid(name("family_id")))
                    .col(string_uniq(name("token_hash")))
                    .col(timestamp("expires_at"))
                    .col(timestamp_null("used_at"))
                    .col(timestamp_null("revoked_at"))
                    .col(string_null(name("user_agent")))
                    .col(created_at())
                    .foreign_key(&mut foreign_key(
                        "staff_refresh_tokens",
                        "staff_user_id",
                        "staff_users",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "staff_refresh_tokens", &["family_id"]).await?;
        index(manager, "staff_refresh_tokens", &["staff_user_id"]).await?;
        // The audit log is listed newest first, filtered by who acted.
        index(manager, "audit_entries", &["staff_user_id", "id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_entries_staff_user_id_id")
                    .table(name("audit_entries"))
                    .to_owned(),
            )
            .await?;
        drop_tables(manager, &["staff_refresh_tokens"]).await
    }
}
