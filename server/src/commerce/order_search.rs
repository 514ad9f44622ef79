//! The back office's view of all orders: a filtered list, newest first, paged by order number.
//! (Customers see only their own, through [`super::orders::list_for_customer`].)

use chrono::{DateTime, Utc};
use entity::orders;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::orders::OrderStatus;
use crate::error::{ApiError, ApiResult};

/// Whether the order has been paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Never paid (awaiting payment, or cancelled before payment).
    Unpaid,
    /// Paid at some point (including orders refunded or cancelled after payment).
    Paid,
}

/// Every field narrows the list; unset fields do not.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub statuses: Vec<OrderStatus>,
    /// Placed at or after.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before.
    pub placed_before: Option<DateTime<Utc>>,
    pub customer_id: Option<Uuid>,
    pub payment: Option<PaymentState>,
    /// `orders.mahak_state`: `not_pushed`, `pending`, `pushed`, `failed`, ...
    pub mahak_state: Option<String>,
}

/// One page of orders matching `filter`, newest first, after order number `after`; and
/// whether more follow.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &OrderFilter,
    first: u64,
    after: Option<i64>,
) -> ApiResult<(Vec<orders::Model>, bool)> {
    if let (Some(from), Some(before)) = (filter.placed_from, filter.placed_before) {
        if from >= before {
            return Err(ApiError::bad_input(
                "placedBefore",
                "must be later than placedFrom",
            ));
        }
    }
    let mut query = orders::Entity::find();
    if !filter.statuses.is_empty() {
        query =
            query.filter(orders::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(from) = filter.placed_from {
        query = query.filter(orders::Column::PlacedAt.gte(from));
    }
    if let Some(before) = filter.placed_before {
        query = query.filter(orders::Column::PlacedAt.lt(before));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(orders::Column::CustomerId.eq(customer));
    }
    match filter.payment {
        Some(PaymentState::Paid) => query = query.filter(orders::Column::PaidAt.is_not_null()),
        Some(PaymentState::Unpaid) => query = query.filter(orders::Column::PaidAt.is_null()),
        None => {}
    }
    if let Some(state) = &filter.mahak_state {
        query = query.filter(orders::Column::MahakState.eq(state.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(orders::Column::Number.lt(after));
    }
    let mut rows = query
        .order_by_desc(orders::Column::Number)
        .limit(first + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}
