//! The `dead_letters` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A Mahak row the sync worker could not apply, kept for replay or discard.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Name of the Mahak entity.
    pub entity: String,
    pub mahak_id: Option<i64>,
    pub mahak_client_id: Option<i64>,
    /// The row's RowVersion, when it could be read.
    pub row_version: Option<i64>,
    pub batch_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    #[sea_orm(column_type = "Text")]
    pub error: String,
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub replayed_at: Option<DateTimeUtc>,
    pub discarded_at: Option<DateTimeUtc>,
    /// Why an operator discarded the letter.
    #[sea_orm(column_type = "Text")]
    pub discard_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
