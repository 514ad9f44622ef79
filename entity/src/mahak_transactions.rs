//! The `mahak_transactions` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak's ledger: one transaction on a person's account.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "mahak_transactions")]
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
    /// Mahak id of the person (not a foreign key).
    pub person_mahak_id: Option<i64>,
    pub transaction_type: Option<i32>,
    /// Amount in Rial.
    pub debt_amount: i64,
    /// Amount in Rial.
    pub credit_amount: i64,
    /// Amount in Rial.
    pub balance: i64,
    pub transaction_date: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
