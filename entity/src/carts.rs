//! The `carts` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A shopping cart. It belongs to a customer or, for a guest, to the holder of a cart token (stored
/// hashed).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "carts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub guest_token_hash: Option<String>,
    pub coupon_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customers::Entity",
        from = "Column::CustomerId",
        to = "super::customers::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Customers,
    #[sea_orm(has_many = "super::cart_lines::Entity")]
    CartLines,
}

impl Related<super::customers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customers.def()
    }
}

impl Related<super::cart_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CartLines.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
