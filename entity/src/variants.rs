//! The `variants` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak `ProductDetail`: the sellable variant of a product, with Mahak's ten price
/// levels.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "variants")]
pub struct Model {
    /// Local surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Mahak's `Id`: the key sync upserts on.
    #[sea_orm(unique)]
    pub mahak_id: i64,
    /// Mahak's `ClientId`; set on rows the store pushed.
    pub mahak_client_id: Option<i64>,
    /// Mahak's `Code`.
    pub mahak_code: Option<i64>,
    /// Mahak's `RowVersion` of the last applied change.
    pub row_version: i64,
    /// Set when Mahak reports the row deleted (soft delete).
    pub deleted_at: Option<DateTimeUtc>,
    /// The raw Mahak document, as received.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// When sync last wrote the row.
    pub synced_at: DateTimeUtc,
    /// Mahak id of the product: a link by Mahak id, not a foreign key.
    pub product_mahak_id: i64,
    pub barcode: Option<String>,
    /// The variant's properties (size, colour, ...) as a JSON document.
    #[sea_orm(column_type = "JsonBinary")]
    pub properties: Json,
    /// Which of the ten price levels (1 to 10) is the shop price.
    pub default_price_level: i16,
    /// Mahak price level 1, in Rial.
    pub price_1: Option<i64>,
    /// Mahak price level 2, in Rial.
    pub price_2: Option<i64>,
    /// Mahak price level 3, in Rial.
    pub price_3: Option<i64>,
    /// Mahak price level 4, in Rial.
    pub price_4: Option<i64>,
    /// Mahak price level 5, in Rial.
    pub price_5: Option<i64>,
    /// Mahak price level 6, in Rial.
    pub price_6: Option<i64>,
    /// Mahak price level 7, in Rial.
    pub price_7: Option<i64>,
    /// Mahak price level 8, in Rial.
    pub price_8: Option<i64>,
    /// Mahak price level 9, in Rial.
    pub price_9: Option<i64>,
    /// Mahak price level 10, in Rial.
    pub price_10: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::cart_lines::Entity")]
    CartLines,
}

impl Related<super::cart_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CartLines.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
