//! The `promotions` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A promotion code giving a percent or fixed discount.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "promotions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub code: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// `percent` or `fixed`.
    pub kind: String,
    /// For `percent`, basis points of a percent (1000 = 10%); for `fixed`, Rial.
    pub value: i64,
    /// Amount in Rial.
    pub min_subtotal: i64,
    /// Amount in Rial.
    pub max_discount: Option<i64>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub used_count: i32,
    pub starts_at: Option<DateTimeUtc>,
    pub ends_at: Option<DateTimeUtc>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
