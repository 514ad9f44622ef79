//! The `sync_requests` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A request to run a sync now (the admin console's `triggerSync`), claimed by the first
/// worker daemon that sees it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "sync_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Name of the Mahak entity to sync; `None`: every entity.
    pub entity: Option<String>,
    /// The staff member who asked.
    pub requested_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// When a worker took the request.
    pub picked_up_at: Option<DateTimeUtc>,
    /// The run that answers the request.
    pub run_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
