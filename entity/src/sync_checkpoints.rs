//! The `sync_checkpoints` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The sync worker's RowVersion checkpoint per Mahak entity.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "sync_checkpoints")]
pub struct Model {
    /// Name of the Mahak entity.
    #[sea_orm(primary_key, auto_increment = false)]
    pub entity: String,
    /// Highest RowVersion applied so far.
    pub row_version: i64,
    pub last_success_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
