//! The `mahak_people` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Mirror of Mahak `Person`: a customer or other party in Mahak's books. Store customers are
/// matched to people by `mobile_e164`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "mahak_people")]
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
    /// Mahak id of the person group (not a foreign key).
    pub person_group_mahak_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization: Option<String>,
    pub mobile: Option<String>,
    /// The mobile number in E.164 form, for matching store customers to people.
    pub mobile_e164: Option<String>,
    pub email: Option<String>,
    pub national_code: Option<String>,
    pub sell_price_level: Option<i32>,
    /// Amount in Rial.
    pub credit: i64,
    /// Amount in Rial.
    pub balance: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
