//! Carts, orders with their lines and history, payments with their events, promotions,
//! content pages and customer notifications.
//!
//! Order and payment rows carry the state of their push to Mahak (`mahak_*` columns): the
//! ClientIds are assigned before the first send so that a retry reuses them.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000003_commerce"
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
                    .table(name("promotions"))
                    .col(uuid_pk("id"))
                    .col(string_uniq(name("code")))
                    .col(text(name("description")).default(""))
                    // "percent" (value in basis points of a percent: 1000 = 10%) or "fixed" (Rial).
                    .col(string(name("kind")))
                    .col(big_integer(name("value")))
                    .col(money("min_subtotal"))
                    .col(money_null("max_discount"))
                    .col(integer_null(name("usage_limit")))
                    .col(integer_null(name("per_customer_limit")))
                    .col(integer(name("used_count")).default(0))
                    .col(timestamp_null("starts_at"))
                    .col(timestamp_null("ends_at"))
                    .col(boolean(name("active")).default(true))
                    .col(created_at())
                    .col(updated_at())
                    .take(),
            )
            .await?;

        // A cart belongs to a customer or, for a guest, to the holder of a cart token (stored
        // hashed).
        manager
            .create_table(
                Table::create()
                    .table(name("carts"))
                    .col(uuid_pk("id"))
                    .col(uuid_null(name("customer_id")))
                    .col(string_null(name("guest_token_hash")))
                    .col(string_null(name("coupon_code")))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "carts",
                        "customer_id",
                        "customers",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "carts", &["customer_id"]).await?;
        unique(manager, "carts", &["guest_token_hash"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("cart_lines"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("cart_id")))
                    .col(big_integer(name("variant_id")))
                    .col(integer(name("quantity")))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "cart_lines",
                        "cart_id",
                        "carts",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "cart_lines",
                        "variant_id",
                        "variants",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        unique(manager, "cart_lines", &["cart_id", "variant_id"]).await?;

        // `number` is the human order number shown to the customer; `version` guards state
        // transitions against concurrent updates.
        manager
            .create_table(
                Table::create()
                    .table(name("orders"))
                    .col(uuid_pk("id"))
                    .col(big_integer_uniq(name("number")))
                    .col(uuid(name("customer_id")))
                    .col(string(name("status")))
                    .col(money("subtotal"))
                    .col(money("discount_total"))
                    .col(money("tax_total"))
                    .col(money("toll_total"))
                    .col(money("shipping_total"))
                    .col(money("grand_total"))
                    .col(string_null(name("coupon_code")))
                    .col(json("shipping_address"))
                    .col(text(name("customer_note")).default(""))
                    .col(timestamp_null("placed_at"))
                    .col(timestamp_null("paid_at"))
                    .col(timestamp_null("cancelled_at"))
                    .col(big_integer_null(name("mahak_order_id")))
                    .col(big_integer_null(name("mahak_order_client_id")))
                    .col(big_integer_null(name("mahak_row_version")))
                    .col(string(name("mahak_state")).default("not_pushed"))
                    .col(text_null(name("mahak_error")))
                    .col(timestamp_null("mahak_pushed_at"))
                    .col(integer(name("version")).default(0))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "orders",
                        "customer_id",
                        "customers",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "orders", &["customer_id", "created_at"]).await?;
        index(manager, "orders", &["status"]).await?;
        unique(manager, "orders", &["mahak_order_client_id"]).await?;

        // Order lines copy what was sold at the time (name, price, tax) so the order does not
        // change when the catalogue does.
        manager
            .create_table(
                Table::create()
                    .table(name("order_lines"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("order_id")))
                    .col(big_integer(name("variant_id")))
                    .col(big_integer(name("variant_mahak_id")))
                    .col(string(name("product_name")))
                    .col(string(name("variant_label")).default(""))
                    .col(money("unit_price"))
                    .col(integer(name("quantity")))
                    .col(money("discount"))
                    .col(money("tax"))
                    .col(money("toll"))
                    .col(money("line_total"))
                    .col(big_integer_null(name("mahak_detail_client_id")))
                    .foreign_key(&mut foreign_key(
                        "order_lines",
                        "order_id",
                        "orders",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "order_lines", &["order_id"]).await?;

        // The order's history: every status transition and notable event.
        manager
            .create_table(
                Table::create()
                    .table(name("order_events"))
                    .col(big_pk("id"))
                    .col(uuid(name("order_id")))
                    .col(string(name("kind")))
                    .col(string_null(name("from_status")))
                    .col(string_null(name("to_status")))
                    .col(string(name("actor")))
                    .col(text(name("message")).default(""))
                    .col(json_null("data"))
                    .col(created_at())
                    .foreign_key(&mut foreign_key(
                        "order_events",
                        "order_id",
                        "orders",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "order_events", &["order_id"]).await?;

        // A payment attempt at a gateway. `authority` is the gateway's id for the attempt
        // (unique, so a callback is matched once); `reference_id` is its settlement reference.
        manager
            .create_table(
                Table::create()
                    .table(name("payments"))
                    .col(uuid_pk("id"))
                    .col(uuid(name("order_id")))
                    .col(string(name("provider")))
                    .col(money("amount"))
                    .col(string(name("status")))
                    .col(string_null(name("authority")))
                    .col(string_null(name("reference_id")))
                    .col(string_null(name("card_pan_masked")))
                    .col(timestamp_null("verified_at"))
                    .col(big_integer_null(name("mahak_receipt_id")))
                    .col(big_integer_null(name("mahak_receipt_client_id")))
                    .col(big_integer_null(name("mahak_cheque_client_id")))
                    .col(big_integer_null(name("mahak_row_version")))
                    .col(string(name("mahak_state")).default("not_pushed"))
                    .col(timestamp_null("mahak_settled_at"))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "payments",
                        "order_id",
                        "orders",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "payments", &["order_id"]).await?;
        unique(manager, "payments", &["provider", "authority"]).await?;
        unique(manager, "payments", &["mahak_receipt_client_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("payment_events"))
                    .col(big_pk("id"))
                    .col(uuid(name("payment_id")))
                    .col(string(name("kind")))
                    .col(json_null("data"))
                    .col(created_at())
                    .foreign_key(&mut foreign_key(
                        "payment_events",
                        "payment_id",
                        "payments",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "payment_events", &["payment_id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(name("content_pages"))
                    .col(uuid_pk("id"))
                    .col(string_uniq(name("slug")))
                    .col(string(name("title")))
                    .col(text(name("body")))
                    .col(boolean(name("published")).default(false))
                    .col(created_at())
                    .col(updated_at())
                    .take(),
            )
            .await?;

        // Messages to customers (SMS today), delivered through the outbox and retried.
        manager
            .create_table(
                Table::create()
                    .table(name("notifications"))
                    .col(uuid_pk("id"))
                    .col(uuid_null(name("customer_id")))
                    .col(string(name("channel")))
                    .col(string(name("recipient")))
                    .col(string(name("template")))
                    .col(json("payload"))
                    .col(string(name("status")).default("pending"))
                    .col(integer(name("attempts")).default(0))
                    .col(text_null(name("last_error")))
                    .col(timestamp_null("sent_at"))
                    .col(created_at())
                    .take(),
            )
            .await?;
        index(manager, "notifications", &["customer_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "notifications",
                "content_pages",
                "payment_events",
                "payments",
                "order_events",
                "order_lines",
                "orders",
                "cart_lines",
                "carts",
                "promotions",
            ],
        )
        .await
    }
}
