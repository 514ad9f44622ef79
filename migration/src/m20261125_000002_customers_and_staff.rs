//! Customers (signed in by phone and OTP), their addresses and refresh tokens; staff users,
//! roles with named permissions, and the audit trail of staff actions.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000002_customers_and_staff"
    }
}

// `MigrationTrait` takes `&SchemaManager` with its lifetime elided; under `async_trait`, writing
// `SchemaManager<'_>` makes that lifetime early-bound and the impl no longer matches the trait.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A customer is identified by a phone number in E.164 form. The `mahak_*` columns link
        // the customer to a Mahak `Person` once pushed (or matched by mobile number).
        manager
            .create_table(
                Table::create()
                    .table(name("customers"))
                    .col(uuid_pk("id"))
                    .col(string_uniq(name("phone")))
                    .col(string_null(name("first_name")))
                    .col(string_null(name("last_name")))
                    .col(string_null(name("email")))
                    .col(string(name("status")).default("active"))
                    .col(big_integer_null(name("mahak_person_id")))
                    .col(big_integer_null(name("mahak_person_client_id")))
                    .col(big_integer_null(name("mahak_row_version")))
                    .col(string(name("mahak_state")).default("not_pushed"))
                    .col(text_null(name("mahak_error")))
                    .col(created_at())
                    .col(updated_at())
                    .take(),
            )
            .await?;
        unique(manager, "customers", &["mahak_person_client_id"]).await?;
        index(manager, "customers", &["mahak_person_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("customer_addresses"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("customer_id")))
                    .col(string(name("title")).default(""))
                    .col(string(name("recipient_name")))
                    .col(string(name("recipient_phone")))
                    .col(string(name("province")))
                    .col(string(name("city")))
                    .col(text(name("address_line")))
                    .col(string(name("postal_code")))
                    .col(boolean(name("is_default")).default(false))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "customer_addresses",
                        "customer_id",
                        "customers",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "customer_addresses", &["customer_id"]).await?;

        // One row per OTP code sent. Only the hash of the code is kept.
        manager
            .create_table(
                Table::create()
                    .table(name("otp_challenges"))
                    .col(uuid_pk("id"))
                    .col(string(name("phone")))
                    .col(string(name("code_hash")))
                    .col(integer(name("failed_attempts")).default(0))
                    .col(string_null(name("requested_ip")))
                    .col(timestamp("expires_at"))
                    .col(timestamp_null("consumed_at"))
                    .col(created_at())
                    .take(),
            )
            .await?;
        index(manager, "otp_challenges", &["phone", "created_at"]).await?;

        // Opaque refresh tokens, stored hashed. A family is one sign-in; every rotation adds a
        // token to it, and reuse of a spent token revokes the whole family.
        manager
            .create_table(
                Table::create()
                    .table(name("refresh_tokens"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("customer_id")))
                    .col(uuid(name("family_id")))
                    .col(string_uniq(name("token_hash")))
                    .col(timestamp("expires_at"))
                    .col(timestamp_null("used_at"))
                    .col(timestamp_null("revoked_at"))
                    .col(string_null(name("user_agent")))
                    .col(created_at())
                    .foreign_key(&mut foreign_key(
                        "refresh_tokens",
                        "customer_id",
                        "customers",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "refresh_tokens", &["family_id"]).await?;

        // A role is a named set of permissions (JSON array of permission names).
        manager
            .create_table(
                Table::create()
                    .table(name("roles"))
                    .col(big_pk("id"))
                    .col(string_uniq(name("name")))
                    .col(json("permissions"))
                    .col(created_at())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(name("staff_users"))
                    .col(uuid_pk("id"))
                    .col(string_uniq(name("email")))
                    .col(string(name("display_name")))
                    .col(string(name("password_hash")))
                    .col(big_integer(name("role_id")))
                    .col(string(name("status")).default("active"))
                    .col(integer(name("failed_logins")).default(0))
                    .col(timestamp_null("locked_until"))
                    .col(timestamp_null("last_login_at"))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "staff_users",
                        "role_id",
                        "roles",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;

        // Who did what to which object, with the state before and after.
        manager
            .create_table(
                Table::create()
                    .table(name("audit_entries"))
                    .col(big_pk("id"))
                    .col(uuid_null(name("staff_user_id")))
                    .col(string(name("action")))
                    .col(string(name("target_type")))
                    .col(string(name("target_id")))
                    .col(json_null("before"))
                    .col(json_null("after"))
                    .col(created_at())
                    .take(),
            )
            .await?;
        index(manager, "audit_entries", &["target_type", "target_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "audit_entries",
                "staff_users",
                "roles",
                "refresh_tokens",
                "otp_challenges",
                "customer_addresses",
                "customers",
            ],
        )
        .await
    }
}
