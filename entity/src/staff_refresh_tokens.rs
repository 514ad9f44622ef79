//! The `staff_refresh_tokens` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An opaque refresh token of a staff user, stored hashed. A family is one sign-in; every
/// rotation adds a token to it, and reuse of a spent token revokes the whole family.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "staff_refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub staff_user_id: Uuid,
    pub family_id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::staff_users::Entity",
        from = "Column::StaffUserId",
        to = "super::staff_users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    StaffUsers,
}

impl Related<super::staff_users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StaffUsers.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
