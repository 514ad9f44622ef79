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
    /// The entities the run covers, comma-separated, in run order.
    #[sea_orm(column_type = "Text")]
    pub entities: Option<String>,
    /// The entity being fetched now (`None` between entities and after the run).
    pub current_entity: Option<String>,
    /// Rows of `current_entity` fetched so far in this run.
    pub current_fetched: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
