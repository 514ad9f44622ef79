//! Mirrors of the Mahak entities the store reads besides the catalogue: people and their
//! groups, addresses and visitor links, pictures, invoices and returns with their lines,
//! receipts with cheques, the ledger and settings. Each keeps Mahak's ids, RowVersion,
//! soft-delete mark and raw payload (see `columns::mirror_table`) plus the typed fields the
//! store uses. Links between them are Mahak ids, never foreign keys: Mahak's pages arrive in
//! any order.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000004_mahak_mirror"
    }
}

/// Table name and the extra typed columns it carries, plus the Mahak-id columns to index.
struct Mirror {
    table: &'static str,
    columns: Vec<ColumnDef>,
    indexed: &'static [&'static str],
}

fn mirrors() -> Vec<Mirror> {
    vec![
        Mirror {
            table: "mahak_person_groups",
            columns: vec![string(name("name")), integer_null(name("sell_price_level"))],
            indexed: &[],
        },
        Mirror {
            table: "mahak_people",
            columns: vec![
                big_integer_null(name("person_group_mahak_id")),
                string_null(name("first_name")),
                string_null(name("last_name")),
                string_null(name("organization")),
                string_null(name("mobile")),
                // The mobile number in E.164 form, for matching store customers to people.
                string_null(name("mobile_e164")),
                string_null(name("email")),
                string_null(name("national_code")),
                integer_null(name("sell_price_level")),
                money("credit"),
                money("balance"),
            ],
            indexed: &["mobile_e164", "person_group_mahak_id"],
        },
        Mirror {
            table: "mahak_person_addresses",
            columns: vec![
                big_integer_null(name("person_mahak_id")),
                string_null(name("title")),
                text_null(name("address")),
                string_null(name("postal_code")),
                string_null(name("mobile")),
            ],
            indexed: &["person_mahak_id"],
        },
        Mirror {
            table: "mahak_visitor_people",
            columns: vec![
                big_integer_null(name("person_mahak_id")),
                big_integer_null(name("visitor_id")),
            ],
            indexed: &["person_mahak_id"],
        },
        Mirror {
            table: "mahak_visitor_products",
            columns: vec![
                big_integer_null(name("variant_mahak_id")),
                big_integer_null(name("visitor_id")),
            ],
            indexed: &["variant_mahak_id"],
        },
        Mirror {
            table: "mahak_pictures",
            columns: vec![
                string_null(name("url")),
                string_null(name("file_name")),
                string_null(name("title")),
                integer_null(name("display_order")),
            ],
            indexed: &[],
        },
        Mirror {
            table: "mahak_photo_galleries",
            columns: vec![
                big_integer_null(name("picture_mahak_id")),
                // 102 = product, 101 = person.
                integer_null(name("entity_type")),
                big_integer_null(name("item_code")),
            ],
            indexed: &["picture_mahak_id", "item_code"],
        },
        Mirror {
            // Mahak `Order`: sales invoices (201), returns (202) and the other order types.
            table: "mahak_orders",
            columns: vec![
                integer(name("order_type")),
                big_integer_null(name("person_mahak_id")),
                big_integer_null(name("visitor_id")),
                big_integer_null(name("reference_order_mahak_id")),
                timestamp_null("order_date"),
                money("discount"),
                money("send_cost"),
                money("other_cost"),
                text_null(name("description")),
                json_null("shipping_address"),
            ],
            indexed: &["person_mahak_id", "reference_order_mahak_id", "order_type"],
        },
        Mirror {
            table: "mahak_order_details",
            columns: vec![
                big_integer_null(name("order_mahak_id")),
                big_integer_null(name("variant_mahak_id")),
                big_integer_null(name("warehouse_mahak_id")),
                integer(name("item_type")).default(1).take(),
                money("price"),
                double(name("count1")).default(0.0).take(),
                money("discount"),
                double(name("tax_percent")).default(0.0).take(),
                double(name("toll_percent")).default(0.0).take(),
            ],
            indexed: &["order_mahak_id", "variant_mahak_id"],
        },
        Mirror {
            table: "mahak_receipts",
            columns: vec![
                big_integer_null(name("person_mahak_id")),
                big_integer_null(name("order_mahak_id")),
                big_integer_null(name("order_client_id")),
                big_integer_null(name("visitor_id")),
                money("cash_amount"),
                timestamp_null("receipt_date"),
                text_null(name("description")),
            ],
            indexed: &["person_mahak_id", "order_mahak_id", "order_client_id"],
        },
        Mirror {
            table: "mahak_cheques",
            columns: vec![
                big_integer_null(name("receipt_mahak_id")),
                big_integer_null(name("receipt_client_id")),
                // 1 = received cheque, 2 = bank transfer.
                integer(name("cheque_type")),
                money("amount"),
                string_null(name("number")),
                string_null(name("bank_name")),
                timestamp_null("cheque_date"),
            ],
            indexed: &["receipt_mahak_id", "receipt_client_id"],
        },
        Mirror {
            table: "mahak_transactions",
            columns: vec![
                big_integer_null(name("person_mahak_id")),
                integer_null(name("transaction_type")),
                money("debt_amount"),
                money("credit_amount"),
                money("balance"),
                timestamp_null("transaction_date"),
                text_null(name("description")),
            ],
            indexed: &["person_mahak_id"],
        },
        Mirror {
            // 14000 and 14001 hold the default toll and tax percentages.
            table: "mahak_settings",
            columns: vec![
                integer(name("setting_code")),
                text(name("value")).default("").take(),
            ],
            indexed: &["setting_code"],
        },
    ]
}

// `MigrationTrait` takes `&SchemaManager` with its lifetime elided; under `async_trait`, writing
// `SchemaManager<'_>` makes that lifetime early-bound and the impl no longer matches the trait.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mirror in mirrors() {
            let mut table = mirror_table(mirror.table);
            for column in mirror.columns {
                table.col(column);
            }
            manager.create_table(table).await?;
            create_mirror_indexes(manager, mirror.table).await?;
            for col in mirror.indexed {
                index(manager, mirror.table, &[col]).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: Vec<&str> = mirrors().iter().rev().map(|m| m.table).collect();
        drop_tables(manager, &tables).await
    }
}
