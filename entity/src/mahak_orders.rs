//! The `mahak_orders` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak `Order`: sales invoices (201), returns (202) and the other order types.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "mahak_orders")]
pub struct Model {
    /// Local surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Mahak's `Id`: the key sync upserts on.
    #[sea_orm(unique)]
    pub mahak_id: i64,
    /// Mahak's `ClientId`; set on rows the store pushed.
    pub mahak_client_id: Option<i64>,
    /// Mahak's `Code`.
    pub mahak_code: Option<i64>,
    /// Mahak's `RowVersion` of the last applied change.
    pub row_version: i64,
    /// Set when Mahak reports the row deleted (soft delete).
    pub deleted_at: Option<DateTimeUtc>,
    /// The raw Mahak document, as received.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// When sync last wrote the row.
    pub synced_at: DateTimeUtc,
    /// 201 = sales invoice, 202 = return; other values are other order types.
    pub order_type: i32,
    /// Mahak id of the person (not a foreign key).
    pub person_mahak_id: Option<i64>,
    pub visitor_id: Option<i64>,
    /// Mahak id of the referenced order (for a return, the invoice) (not a foreign key).
    pub reference_order_mahak_id: Option<i64>,
    pub order_date: Option<DateTimeUtc>,
    /// Amount in Rial.
    pub discount: i64,
    /// Amount in Rial.
    pub send_cost: i64,
    /// Amount in Rial.
    pub other_cost: i64,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub shipping_address: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
