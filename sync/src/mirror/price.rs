//! The shop price of a variant and the per-product price summary, kept here because the
//! sync consumer maintains the summary whenever it writes variants or products, and the shop
//! reads prices by the same rule.
//!
//! Mahak gives every variant ten price levels and a default sell level; until customer
//! groups choose another level, the shop sells at the default level. A price of 0 means
//! "not set" in Mahak and makes the variant unsellable.

use entity::variants;
use sea_orm::{ConnectionTrait, DbErr, Statement};

/// The price at `level` (1-based), when set and positive.
pub fn price_at_level(variant: &variants::Model, level: i16) -> Option<i64> {
    let price = match level {
        1 => variant.price_1,
        2 => variant.price_2,
        3 => variant.price_3,
        4 => variant.price_4,
        5 => variant.price_5,
        6 => variant.price_6,
        7 => variant.price_7,
        8 => variant.price_8,
        9 => variant.price_9,
        10 => variant.price_10,
        _ => None,
    };
    price.filter(|p| *p > 0)
}

/// The variant's price at its default sell level.
pub fn shop_price(variant: &variants::Model) -> Option<i64> {
    price_at_level(variant, variant.default_price_level)
}

/// The same rule as [`shop_price`], in SQL over a `variants` row aliased `v`.
const SHOP_PRICE_SQL: &str = "NULLIF(CASE v.default_price_level \
    WHEN 1 THEN v.price_1 WHEN 2 THEN v.price_2 WHEN 3 THEN v.price_3 WHEN 4 THEN v.price_4 \
    WHEN 5 THEN v.price_5 WHEN 6 THEN v.price_6 WHEN 7 THEN v.price_7 WHEN 8 THEN v.price_8 \
    WHEN 9 THEN v.price_9 WHEN 10 THEN v.price_10 END, 0)";

/// Recomputes `products.min_price`/`max_price` from the live variants of the given products.
/// Whoever writes variants calls this for the products it touched.
pub async fn refresh_price_summary<C: ConnectionTrait>(
    db: &C,
    product_mahak_ids: &[i64],
) -> Result<(), DbErr> {
    if product_mahak_ids.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    for chunk in product_mahak_ids.chunks(1000) {
        let placeholders = (1..=chunk.len())
            .map(|i| {
                if backend == sea_orm::DatabaseBackend::Postgres {
                    format!("${i}")
                } else {
                    "?".into()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let summary = |aggregate: &str| {
            format!(
                "(SELECT {aggregate}(CASE WHEN {SHOP_PRICE_SQL} > 0 THEN {SHOP_PRICE_SQL} END) FROM variants v \
                 WHERE v.product_mahak_id = products.mahak_id AND v.deleted_at IS NULL)"
            )
        };
        let sql = format!(
            "UPDATE products SET min_price = {}, max_price = {} WHERE mahak_id IN ({placeholders})",
            summary("MIN"),
            summary("MAX"),
        );
        let values = chunk.iter().map(|id| (*id).into());
        db.execute(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}
