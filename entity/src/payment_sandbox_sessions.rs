//! The `payment_sandbox_sessions` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A payment session at the sandbox gateway: the gateway's side of a payment, kept apart
/// from the store's `payments` so that the store learns the outcome only by verifying.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "payment_sandbox_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub authority: String,
    pub order_id: String,
    /// Amount in Rial.
    pub amount: i64,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub callback_url: String,
    /// `pending`, `paid`, `cancelled` or `verified`.
    pub state: String,
    /// The settlement reference, assigned when the customer pays.
    pub reference_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
