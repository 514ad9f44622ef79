//! The `image_uploads` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A presigned upload of a product image: where the file goes and what was declared for it.
/// Becomes a [`super::product_images`] row when attached.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "image_uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub product_id: i64,
    /// Key of the original in the bucket; the attached image keeps it.
    #[sea_orm(unique)]
    pub object_key: String,
    /// Declared content type (`image/jpeg`, `image/png`, `image/webp`).
    pub content_type: String,
    /// Declared size in bytes; the upload must be exactly this long.
    pub declared_size: i64,
    /// The staff user who asked for the upload (not a foreign key).
    pub staff_user_id: Uuid,
    pub created_at: DateTimeUtc,
    /// When the upload URL stops working.
    pub expires_at: DateTimeUtc,
    /// When the upload became a product image.
    pub attached_at: Option<DateTimeUtc>,
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
