//! The `payments` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A payment attempt at a gateway, with the state of its push to Mahak as a receipt.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    pub provider: String,
    /// Amount in Rial.
    pub amount: i64,
    pub status: String,
    /// The gateway's id for the attempt; unique per provider, so a callback is matched once.
    pub authority: Option<String>,
    /// The gateway's settlement reference.
    pub reference_id: Option<String>,
    pub card_pan_masked: Option<String>,
    pub verified_at: Option<DateTimeUtc>,
    pub mahak_receipt_id: Option<i64>,
    #[sea_orm(unique)]
    pub mahak_receipt_client_id: Option<i64>,
    pub mahak_cheque_client_id: Option<i64>,
    pub mahak_row_version: Option<i64>,
    pub mahak_state: String,
    pub mahak_settled_at: Option<DateTimeUtc>,
    pub mahak_cheque_id: Option<i64>,
    /// Mahak's reason when it rejected the receipt or its cheque.
    #[sea_orm(column_type = "Text")]
    pub mahak_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "Column::OrderId",
        to = "super::orders::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Orders,
    #[sea_orm(has_many = "super::payment_events::Entity")]
    PaymentEvents,
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl Related<super::payment_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PaymentEvents.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
