//! The `roles` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A staff role: a named set of permissions.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// JSON array of permission names.
    #[sea_orm(column_type = "JsonBinary")]
    pub permissions: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::staff_users::Entity")]
    StaffUsers,
}

impl Related<super::staff_users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StaffUsers.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
