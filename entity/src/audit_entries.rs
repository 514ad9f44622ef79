//! The `audit_entries` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The audit trail: who did what to which object, with the state before and after.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The staff user who acted (not a foreign key).
    pub staff_user_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub before: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub after: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
