//! The `order_lines` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A line of an order. It copies what was sold at the time (name, price, tax) so the order does not
/// change when the catalogue does.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "order_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    /// `variants.id` at the time of the order (not a foreign key).
    pub variant_id: i64,
    pub variant_mahak_id: i64,
    pub product_name: String,
    pub variant_label: String,
    /// Amount in Rial.
    pub unit_price: i64,
    pub quantity: i32,
    /// Amount in Rial.
    pub discount: i64,
    /// Amount in Rial.
    pub tax: i64,
    /// Amount in Rial.
    pub toll: i64,
    /// Amount in Rial.
    pub line_total: i64,
    pub mahak_detail_client_id: Option<i64>,
    /// The line's `OrderDetailId` in the invoice Mahak stored.
    pub mahak_detail_id: Option<i64>,
    /// The line's ClientId in the sales return.
    pub mahak_return_detail_client_id: Option<i64>,
    /// Tax and toll rates the line was priced at, in basis points (null on old lines).
    pub tax_bp: Option<i32>,
    pub toll_bp: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "Column::OrderId",
        to = "super::orders::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Orders,
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
