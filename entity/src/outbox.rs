//! The `outbox` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The transactional outbox: effects (pushes to Mahak, notifications) written in the same
/// transaction as their cause and processed later.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub topic: String,
    pub aggregate_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    /// Not processed before this time (retry back-off).
    pub available_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
    /// Set when the dispatcher gave up after its last attempt (`last_error` says why).
    pub failed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
