//! The `product_images` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A product image: an object in S3-compatible storage, owned by the shop.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "product_images")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub product_id: i64,
    /// Key of the object in the bucket.
    #[sea_orm(unique)]
    pub object_key: String,
    pub alt_text: String,
    /// Order of the image among the product's images.
    pub position: i32,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub content_type: String,
    pub byte_size: i64,
    pub created_at: DateTimeUtc,
    /// Resized copies: a JSON array of `{ "key", "width", "height", "content_type",
    /// "byte_size" }`, narrowest first; null when the image has none.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub thumbnails: Option<Json>,
    /// The Mahak `Picture` id the image was fetched from; null for uploaded images.
    #[sea_orm(unique)]
    pub mahak_picture_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::products::Entity",
        from = "Column::ProductId",
        to = "super::products::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Products,
}

impl Related<super::products::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Products.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
