//! The `products` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak `Product`. Names, prices, stock and tax are Mahak's and only sync writes them;
/// the shop-owned side (slug, description, published flag, SEO text) is in `product_listings`,
/// images in `product_images`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "products")]
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
    /// Mahak id of the category: a link by Mahak id, not a foreign key.
    pub category_mahak_id: Option<i64>,
    /// Name normalized for display (Arabic ي/ك to Persian ی/ک); the raw value stays in `payload`.
    pub name: String,
    /// The name folded for search.
    #[sea_orm(column_type = "Text")]
    pub search_text: String,
    pub unit_name: Option<String>,
    pub tax_percent: f64,
    pub toll_percent: f64,
    pub weight: Option<f64>,
    /// Lowest shop price over the variants, in Rial; refreshed by the code that writes variants.
    pub min_price: Option<i64>,
    /// Highest shop price over the variants, in Rial; refreshed by the code that writes variants.
    pub max_price: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::product_listings::Entity")]
    ProductListings,
    #[sea_orm(has_many = "super::product_images::Entity")]
    ProductImages,
}

impl Related<super::product_listings::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProductListings.def()
    }
}

impl Related<super::product_images::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProductImages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
