//! The typed columns of each mirror table, as created by the migrations.

use crate::mahak::Entity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `bigint`
    BigInt,
    /// `integer`
    Int,
    /// `smallint`
    SmallInt,
    /// `double precision`
    Float,
    /// `text` / `varchar`
    Text,
    /// `jsonb` (JSON text on SQLite)
    Json,
    /// `timestamptz`, carried as RFC 3339 text
    Time,
}

impl ColumnKind {
    /// The PostgreSQL type of the column (types the JSON records of the upsert).
    pub fn pg_type(self) -> &'static str {
        match self {
            BigInt => "bigint",
            Int => "integer",
            SmallInt => "smallint",
            Float => "double precision",
            Text => "text",
            Json => "jsonb",
            Time => "timestamptz",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnKind,
    /// A NOT NULL column: a row without a value for it is rejected (dead-lettered).
    pub required: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub entity: Entity,
    pub table: &'static str,
    pub columns: &'static [ColumnSpec],
}

const fn col(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        required: true,
    }
}

use ColumnKind::{BigInt, Float, Int, Json, SmallInt, Text, Time};

const PRICE_LEVELS: [ColumnSpec; 10] = [
    col("price_1", BigInt),
    col("price_2", BigInt),
    col("price_3", BigInt),
    col("price_4", BigInt),
    col("price_5", BigInt),
    col("price_6", BigInt),
    col("price_7", BigInt),
    col("price_8", BigInt),
    col("price_9", BigInt),
    col("price_10", BigInt),
];

const VARIANT_COLUMNS: [ColumnSpec; 14] = [
    req("product_mahak_id", BigInt),
    col("barcode", Text),
    req("properties", Json),
    req("default_price_level", SmallInt),
    PRICE_LEVELS[0],
    PRICE_LEVELS[1],
    PRICE_LEVELS[2],
    PRICE_LEVELS[3],
    PRICE_LEVELS[4],
    PRICE_LEVELS[5],
    PRICE_LEVELS[6],
    PRICE_LEVELS[7],
    PRICE_LEVELS[8],
    PRICE_LEVELS[9],
];

const TABLES: [TableSpec; 18] = [
    TableSpec {
        entity: Entity::ProductCategory,
        table: "categories",
        columns: &[req("name", Text)],
    },
    TableSpec {
        entity: Entity::Product,
        table: "products",
        columns: &[
            col("category_mahak_id", BigInt),
            req("name", Text),
            req("search_text", Text),
            col("unit_name", Text),
            req("tax_percent", Float),
            req("toll_percent", Float),
            col("weight", Float),
        ],
    },
    TableSpec {
        entity: Entity::ProductDetail,
        table: "variants",
        columns: &VARIANT_COLUMNS,
    },
    TableSpec {
        entity: Entity::ProductDetailStoreAsset,
        table: "variant_stock",
        columns: &[
            req("variant_mahak_id", BigInt),
            req("warehouse_mahak_id", BigInt),
            req("quantity", Float),
            req("quantity2", Float),
        ],
    },
    TableSpec {
        entity: Entity::Store,
        table: "warehouses",
        columns: &[req("name", Text)],
    },
    TableSpec {
        entity: Entity::Picture,
        table: "mahak_pictures",
        columns: &[
            col("url", Text),
            col("file_name", Text),
            col("title", Text),
            col("display_order", Int),
        ],
    },
    TableSpec {
        entity: Entity::PhotoGallery,
        table: "mahak_photo_galleries",
        columns: &[
            col("picture_mahak_id", BigInt),
            col("entity_type", Int),
            col("item_code", BigInt),
        ],
    },
    TableSpec {
        entity: Entity::PersonGroup,
        table: "mahak_person_groups",
        columns: &[req("name", Text), col("sell_price_level", Int)],
    },
    TableSpec {
        entity: Entity::Person,
        table: "mahak_people",
        columns: &[
            col("person_group_mahak_id", BigInt),
            col("first_name", Text),
            col("last_name", Text),
            col("organization", Text),
            col("mobile", Text),
            col("mobile_e164", Text),
            col("email", Text),
            col("national_code", Text),
            col("sell_price_level", Int),
            req("credit", BigInt),
            req("balance", BigInt),
        ],
    },
    TableSpec {
        entity: Entity::PersonAddress,
        table: "mahak_person_addresses",
        columns: &[
            col("person_mahak_id", BigInt),
            col("title", Text),
            col("address", Text),
            col("postal_code", Text),
            col("mobile", Text),
        ],
    },
    TableSpec {
        entity: Entity::VisitorPerson,
        table: "mahak_visitor_people",
        columns: &[col("person_mahak_id", BigInt), col("visitor_id", BigInt)],
    },
    TableSpec {
        entity: Entity::VisitorProduct,
        table: "mahak_visitor_products",
        columns: &[col("variant_mahak_id", BigInt), col("visitor_id", BigInt)],
    },
    TableSpec {
        entity: Entity::Order,
        table: "mahak_orders",
        columns: &[
            req("order_type", Int),
            col("person_mahak_id", BigInt),
            col("visitor_id", BigInt),
            col("reference_order_mahak_id", BigInt),
            col("order_date", Time),
            req("discount", BigInt),
            req("send_cost", BigInt),
            req("other_cost", BigInt),
            col("description", Text),
            col("shipping_address", Json),
        ],
    },
    TableSpec {
        entity: Entity::OrderDetail,
        table: "mahak_order_details",
        columns: &[
            col("order_mahak_id", BigInt),
            col("variant_mahak_id", BigInt),
            col("warehouse_mahak_id", BigInt),
            req("item_type", Int),
            req("price", BigInt),
            req("count1", Float),
            req("discount", BigInt),
            req("tax_percent", Float),
            req("toll_percent", Float),
        ],
    },
    TableSpec {
        entity: Entity::Receipt,
        table: "mahak_receipts",
        columns: &[
            col("person_mahak_id", BigInt),
            col("order_mahak_id", BigInt),
            col("order_client_id", BigInt),
            col("visitor_id", BigInt),
            req("cash_amount", BigInt),
            col("receipt_date", Time),
            col("description", Text),
        ],
    },
    TableSpec {
        entity: Entity::Cheque,
        table: "mahak_cheques",
        columns: &[
            col("receipt_mahak_id", BigInt),
            col("receipt_client_id", BigInt),
            req("cheque_type", Int),
            req("amount", BigInt),
            col("number", Text),
            col("bank_name", Text),
            col("cheque_date", Time),
        ],
    },
    TableSpec {
        entity: Entity::Transaction,
        table: "mahak_transactions",
        columns: &[
            col("person_mahak_id", BigInt),
            col("transaction_type", Int),
            req("debt_amount", BigInt),
            req("credit_amount", BigInt),
            req("balance", BigInt),
            col("transaction_date", Time),
            col("description", Text),
        ],
    },
    TableSpec {
        entity: Entity::Setting,
        table: "mahak_settings",
        columns: &[req("setting_code", Int), req("value", Text)],
    },
];

/// The mirror table of `entity`.
pub fn spec_for(entity: Entity) -> &'static TableSpec {
    TABLES
        .iter()
        .find(|t| t.entity == entity)
        .unwrap_or_else(|| {
            // Every entity of `Entity::ALL` has a table above; a test checks it.
            unreachable!("no mirror table for {entity}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_a_table() {
        for entity in Entity::ALL {
            assert_eq!(spec_for(entity).entity, entity);
        }
    }
}
