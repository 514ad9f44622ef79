//! The `sync_runs` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A record of one sync run, with its counters.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What started the run.
    pub trigger: String,
    /// `running` until the run ends.
    pub outcome: String,
    pub fetched: i64,
    pub upserted: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub dead_lettered: i64,
    /// Counters per Mahak entity.
    #[sea_orm(column_type = "JsonBinary")]
    pub per_entity: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
