//! The `cart_lines` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A line of a cart: a variant and a quantity. A cart holds each variant at most once.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "cart_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub cart_id: Uuid,
    pub variant_id: i64,
    pub quantity: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::carts::Entity",
        from = "Column::CartId",
        to = "super::carts::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Carts,
    #[sea_orm(
        belongs_to = "super::variants::Entity",
        from = "Column::VariantId",
        to = "super::variants::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Variants,
}

impl Related<super::carts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Carts.def()
    }
}

impl Related<super::variants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Variants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
