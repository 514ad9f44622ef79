//! The `orders` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An order. The `mahak_*` columns carry the state of its push to Mahak; the ClientId is assigned
/// before the first send so that a retry reuses it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The human order number shown to the customer.
    #[sea_orm(unique)]
    pub number: i64,
    pub customer_id: Uuid,
    pub status: String,
    /// Amount in Rial.
    pub subtotal: i64,
    /// Amount in Rial.
    pub discount_total: i64,
    /// Amount in Rial.
    pub tax_total: i64,
    /// Amount in Rial.
    pub toll_total: i64,
    /// Amount in Rial.
    pub shipping_total: i64,
    /// Amount in Rial.
    pub grand_total: i64,
    pub coupon_code: Option<String>,
    /// Copy of the delivery address at the time of the order.
    #[sea_orm(column_type = "JsonBinary")]
    pub shipping_address: Json,
    #[sea_orm(column_type = "Text")]
    pub customer_note: String,
    pub placed_at: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// The carrier's tracking code, given by staff when they ship the order.
    pub tracking_code: Option<String>,
    pub shipped_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub mahak_order_id: Option<i64>,
    #[sea_orm(unique)]
    pub mahak_order_client_id: Option<i64>,
    pub mahak_row_version: Option<i64>,
    pub mahak_state: String,
    #[sea_orm(column_type = "Text")]
    pub mahak_error: Option<String>,
    pub mahak_pushed_at: Option<DateTimeUtc>,
    /// The sales return (`orderType` 202) of this order in Mahak, pushed by the store after a
    /// cancellation or refund, or entered in Mahak and synced back.
    pub mahak_return_id: Option<i64>,
    #[sea_orm(unique)]
    pub mahak_return_client_id: Option<i64>,
    /// `None` while no return is due; then as `mahak_state`.
    pub mahak_return_state: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub mahak_return_error: Option<String>,
    /// When a receipt for the invoice was seen in Mahak (the accounting is settled).
    pub mahak_settled_at: Option<DateTimeUtc>,
    /// Guards state transitions against concurrent updates.
    pub version: i32,
    /// Client-supplied checkout idempotency key, unique per customer.
    pub idempotency_key: Option<String>,
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
        on_delete = "Restrict"
    )]
    Customers,
    #[sea_orm(has_many = "super::order_lines::Entity")]
    OrderLines,
    #[sea_orm(has_many = "super::order_events::Entity")]
    OrderEvents,
    #[sea_orm(has_many = "super::payments::Entity")]
    Payments,
}

impl Related<super::customers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customers.def()
    }
}

impl Related<super::order_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderLines.def()
    }
}

impl Related<super::order_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderEvents.def()
    }
}

impl Related<super::payments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Payments.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
