//! The `sync_inbox` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A batch the sync consumer has applied, recorded in the batch's own transaction so a
/// redelivery is recognised and skipped.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "sync_inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub batch_id: String,
    pub entity: String,
    pub run_id: Option<Uuid>,
    pub applied_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
