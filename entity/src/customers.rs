//! The `customers` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A customer, signed in by phone number and OTP. The `mahak_*` columns link the customer to a
/// Mahak `Person` once pushed (or matched by mobile number).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Phone number in E.164 form.
    #[sea_orm(unique)]
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub mahak_person_id: Option<i64>,
    #[sea_orm(unique)]
    pub mahak_person_client_id: Option<i64>,
    pub mahak_row_version: Option<i64>,
    /// State of the push to Mahak (`not_pushed` until the first push).
    pub mahak_state: String,
    #[sea_orm(column_type = "Text")]
    pub mahak_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_addresses::Entity")]
    CustomerAddresses,
    #[sea_orm(has_many = "super::refresh_tokens::Entity")]
    RefreshTokens,
    #[sea_orm(has_many = "super::carts::Entity")]
    Carts,
    #[sea_orm(has_many = "super::orders::Entity")]
    Orders,
}

impl Related<super::customer_addresses::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerAddresses.def()
    }
}

impl Related<super::refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl Related<super::carts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Carts.def()
    }
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
