//! The `mahak_photo_galleries` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak's photo gallery: attaches a picture to a product or a person.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "mahak_photo_galleries")]
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
    /// Mahak id of the picture (not a foreign key).
    pub picture_mahak_id: Option<i64>,
    /// 102 = product, 101 = person.
    pub entity_type: Option<i32>,
    /// Code of the product or person the picture belongs to.
    pub item_code: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
