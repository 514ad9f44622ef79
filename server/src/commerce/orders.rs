//! Orders: the state machine, history events, and the customer's view of their orders.
//!
//! ```text
//! pending_payment ─▶ paid ─▶ processing ─▶ shipped ─▶ delivered
//!        │            │  │        │            │          │
//!        └▶ cancelled ◀┘  └────────┴─▶ refunded ◀┴──────────┘
//! ```
//!
//! Every transition goes through [`transition`]: it checks the move is allowed (`CONFLICT`
//! otherwise), updates the row guarded by its `version` (so two concurrent transitions cannot
//! both win), and writes an `order_events` row. Cancelling or refunding releases the order's
//! stock reservations. Checkout creates orders in `pending_payment`; payment moves them on.
//! Becoming paid also writes, in the same transaction, the outbox job `mahak.push.invoice` (the
//! sales invoice for Mahak, see `sync::push`) and the customer's SMS (see
//! `crate::notifications`); being cancelled or refunded after payment writes
//! `mahak.push.return` (the sales return).

use chrono::Utc;
use entity::{order_events, order_lines, orders, stock_reservations};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sync::push::{state as push_state, PushJob, PushKind};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")] // the same names as `as_str`
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an order may move from `self` to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Paid)
                | (PendingPayment, Cancelled)
                | (Paid, Processing)
                | (Paid, Cancelled)
                | (Paid, Refunded)
                | (Processing, Shipped)
                | (Processing, Refunded)
                | (Shipped, Delivered)
                | (Shipped, Refunded)
                | (Delivered, Refunded)
        )
    }

    /// Whether the order still holds its stock reservations in this state.
    pub fn holds_stock(self) -> bool {
        !matches!(self, OrderStatus::Cancelled | OrderStatus::Refunded)
    }
}

/// Who caused an event: `customer`, `system`, `payment`, `staff:<id>`.
pub type Actor<'a> = &'a str;

/// Writes one history row.
pub async fn record_event<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    kind: &str,
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
    actor: Actor<'_>,
    message: &str,
) -> ApiResult<order_events::Model> {
    Ok(order_events::ActiveModel {
        id: sea_orm::NotSet,
        order_id: Set(order_id),
        kind: Set(kind.to_string()),
        from_status: Set(from.map(|s| s.as_str().to_string())),
        to_status: Set(to.map(|s| s.as_str().to_string())),
        actor: Set(actor.to_string()),
        message: Set(message.to_string()),
        data: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

/// Moves `order` to `to`, or `CONFLICT` when the move is not allowed or the order changed
/// meanwhile. Returns the updated order. Run it inside the caller's transaction when the
/// transition goes with other writes (a payment record).
pub async fn transition<C: ConnectionTrait>(
    db: &C,
    order: &orders::Model,
    to: OrderStatus,
    actor: Actor<'_>,
    message: &str,
) -> ApiResult<orders::Model> {
    let from = OrderStatus::parse(&order.status).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "order {} has unknown status {}",
            order.id,
            order.status
        ))
    })?;
    if !from.can_become(to) {
        return Err(ApiError::Conflict {
            message: format!(
                "an order that is {} cannot become {}",
                from.as_str(),
                to.as_str()
            ),
        });
    }
    let now = Utc::now();
    let mut update = orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value(to.as_str()))
        .col_expr(orders::Column::Version, Expr::value(order.version + 1))
        .col_expr(orders::Column::UpdatedAt, Expr::value(now));
    // The Mahak side of the change, queued in this transaction (see `sync::push`): a paid
    // order is invoiced; an invoiced order given back is returned, unless the return came
    // from Mahak itself (`mahak_return_id` already set).
    let push = match to {
        OrderStatus::Paid => Some(PushKind::Invoice),
        OrderStatus::Cancelled | OrderStatus::Refunded
            if order.paid_at.is_some() && order.mahak_return_id.is_none() =>
        {
            Some(PushKind::Return)
        }
        _ => None,
    };
    match push {
        Some(PushKind::Invoice) => {
            update = update.col_expr(orders::Column::MahakState, Expr::value(push_state::PENDING));
        }
        Some(PushKind::Return) => {
            update = update.col_expr(
                orders::Column::MahakReturnState,
                Expr::value(push_state::PENDING),
            );
        }
        None => {}
    }
    match to {
        OrderStatus::Paid => update = update.col_expr(orders::Column::PaidAt, Expr::value(now)),
        OrderStatus::Cancelled => {
            update = update.col_expr(orders::Column::CancelledAt, Expr::value(now));
        }
        OrderStatus::Shipped => {
            update = update.col_expr(orders::Column::ShippedAt, Expr::value(now));
        }
        OrderStatus::Delivered => {
            update = update.col_expr(orders::Column::DeliveredAt, Expr::value(now));
        }
        _ => {}
    }
    let result = update
        .filter(orders::Column::Id.eq(order.id))
        .filter(orders::Column::Version.eq(order.version))
        .filter(orders::Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(ApiError::Conflict {
            message: "the order was changed by someone else; reload it".into(),
        });
    }
    if !to.holds_stock() {
        stock_reservations::Entity::update_many()
            .col_expr(stock_reservations::Column::ReleasedAt, Expr::value(now))
            .filter(stock_reservations::Column::OrderId.eq(order.id))
            .filter(stock_reservations::Column::ReleasedAt.is_null())
            .exec(db)
            .await?;
    }
    record_event(
        db,
        order.id,
        "status_changed",
        Some(from),
        Some(to),
        actor,
        message,
    )
    .await?;
    let updated = orders::Entity::find_by_id(order.id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order vanished")))?;
    if let Some(kind) = push {
        let job = PushJob {
            kind,
            order_id: updated.id,
        };
        crate::outbox::enqueue(
            db,
            job.topic(),
            &updated.id.to_string(),
            serde_json::to_value(job).map_err(|e| ApiError::internal(anyhow::Error::from(e)))?,
        )
        .await?;
    }
    if to == OrderStatus::Paid {
        crate::notifications::notify_order(db, &updated, crate::notifications::Template::OrderPaid)
            .await?;
    }
    Ok(updated)
}

/// Cancels the orders still `pending_payment` that were placed before `placed_before`,
/// releasing their stock, one transaction per order, and publishes each cancellation; returns
/// how many were cancelled. An order paid at the last moment keeps its payment: its transition
/// wins and this one is skipped. Runs periodically (`checkout.payment_timeout_secs`).
pub async fn expire_unpaid(
    db: &sea_orm::DatabaseConnection,
    events: &crate::events::OrderEvents,
    placed_before: chrono::DateTime<Utc>,
) -> ApiResult<usize> {
    use sea_orm::TransactionTrait;
    let stale = orders::Entity::find()
        .filter(orders::Column::Status.eq(OrderStatus::PendingPayment.as_str()))
        .filter(orders::Column::PlacedAt.lt(placed_before))
        .order_by_asc(orders::Column::Number)
        .limit(500)
        .all(db)
        .await?;
    let mut cancelled = 0;
    for order in stale {
        let txn = db.begin().await?;
        match transition(
            &txn,
            &order,
            OrderStatus::Cancelled,
            "system",
            "payment not received in time",
        )
        .await
        {
            Ok(after) => {
                txn.commit().await?;
                cancelled += 1;
                if let Some(event) = crate::events::OrderEvent::between(&order, &after) {
                    events.publish(event);
                }
            }
            Err(ApiError::Conflict { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(cancelled)
}

/// The customer cancels one of their own orders that is still unpaid (`pending_payment`),
/// releasing its stock: `NOT_FOUND` for anyone else's order, `CONFLICT` once it is paid (or
/// already cancelled). The event is published after the transaction commits.
pub async fn cancel_unpaid(
    db: &sea_orm::DatabaseConnection,
    events: &crate::events::OrderEvents,
    customer_id: Uuid,
    number: &str,
) -> ApiResult<orders::Model> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let order = find_by_number_for_customer(&txn, customer_id, number).await?;
    if order.status != OrderStatus::PendingPayment.as_str() {
        return Err(ApiError::Conflict {
            message: format!("an order that is {} cannot be cancelled", order.status),
        });
    }
    let cancelled = transition(
        &txn,
        &order,
        OrderStatus::Cancelled,
        "customer",
        "cancelled by the customer",
    )
    .await?;
    txn.commit().await?;
    if let Some(event) = crate::events::OrderEvent::between(&order, &cancelled) {
        events.publish(event);
    }
    Ok(cancelled)
}

/// An order number as customers type it: ASCII, Persian or Arabic digits, surrounding spaces
/// ignored. `None` when it cannot be an order number.
pub fn parse_number(text: &str) -> Option<i64> {
    let digits: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '۰'..='۹' => char::from_u32(c as u32 - '۰' as u32 + '0' as u32).unwrap_or(c),
            '٠'..='٩' => char::from_u32(c as u32 - '٠' as u32 + '0' as u32).unwrap_or(c),
            other => other,
        })
        .collect();
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One of the customer's orders by its number, or `NOT_FOUND` (also for someone else's and
/// for text that is not an order number).
pub async fn find_by_number_for_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    number: &str,
) -> ApiResult<orders::Model> {
    let number = parse_number(number).ok_or(ApiError::not_found("order"))?;
    orders::Entity::find()
        .filter(orders::Column::Number.eq(number))
        .filter(orders::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or(ApiError::not_found("order"))
}

/// One of the customer's orders, or `NOT_FOUND` (also for someone else's).
pub async fn find_for_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    order_id: Uuid,
) -> ApiResult<orders::Model> {
    orders::Entity::find_by_id(order_id)
        .filter(orders::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or(ApiError::not_found("order"))
}

/// One page of the customer's orders, newest first. Order numbers only grow, so the cursor is
/// the number of the last order of the previous page. Fetches `first + 1` to tell whether
/// there is a next page.
pub async fn list_for_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    first: u64,
    after_number: Option<i64>,
) -> ApiResult<(Vec<orders::Model>, bool)> {
    let mut query = orders::Entity::find().filter(orders::Column::CustomerId.eq(customer_id));
    if let Some(after) = after_number {
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

/// The order's lines in cart order (their ids are UUIDv7, ordered by creation).
pub async fn lines<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
) -> ApiResult<Vec<order_lines::Model>> {
    Ok(order_lines::Entity::find()
        .filter(order_lines::Column::OrderId.eq(order_id))
        .order_by_asc(order_lines::Column::Id)
        .all(db)
        .await?)
}

pub async fn history<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
) -> ApiResult<Vec<order_events::Model>> {
    Ok(order_events::Entity::find()
        .filter(order_events::Column::OrderId.eq(order_id))
        .order_by_asc(order_events::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    #[test]
    fn the_happy_path_and_cancellation_are_allowed() {
        for (from, to) in [
            (PendingPayment, Paid),
            (Paid, Processing),
            (Processing, Shipped),
            (Shipped, Delivered),
            (PendingPayment, Cancelled),
            (Paid, Cancelled),
            (Paid, Refunded),
            (Delivered, Refunded),
        ] {
            assert!(from.can_become(to), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn order_numbers_are_read_in_any_digits() {
        assert_eq!(super::parse_number(" 100042 "), Some(100_042));
        assert_eq!(super::parse_number("۱۰۰۰۴۲"), Some(100_042));
        assert_eq!(super::parse_number("١٠٠٠٤٢"), Some(100_042));
        for bad in ["", "-1", "12a", "1 2", "9999999999999999999999"] {
            assert_eq!(super::parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for (from, to) in [
            (PendingPayment, Shipped),
            (PendingPayment, Refunded),
            (Processing, Cancelled),
            (Shipped, Cancelled),
            (Delivered, Shipped),
            (Cancelled, Paid),
            (Refunded, Paid),
        ] {
            assert!(!from.can_become(to), "{from:?} -> {to:?}");
        }
        for status in OrderStatus::ALL {
            assert!(!status.can_become(status));
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
    }
}
