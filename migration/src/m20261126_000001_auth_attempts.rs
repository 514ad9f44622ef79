//! Sign-in attempts counted in the database, so rate limits on OTP requests and verifications
//! hold across every replica of the server (an in-memory counter would give each replica its
//! own budget, and would forget everything on restart).

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_auth_attempts"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per counted attempt: `kind` names the limit (`otp_request_ip`,
        // `otp_verify_ip`, `otp_fail_phone`, ...), `key` what it is counted for (an IP
        // address, a phone number). Limits count rows in a sliding window.
        manager
            .create_table(
                Table::create()
                    .table(name("auth_attempts"))
                    .col(uuid_pk("id"))
                    .col(string(name("kind")))
                    .col(string(name("key")))
                    .col(created_at())
                    .take(),
            )
            .await?;
        index(manager, "auth_attempts", &["kind", "key", "created_at"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["auth_attempts"]).await
    }
}
