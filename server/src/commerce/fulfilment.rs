//! What staff do with an order after checkout: confirm it, ship it with a tracking code,
//! mark it delivered, cancel it or refund it. Every action is a move of the state machine in
//! [`super::orders`] (illegal ones are `CONFLICT`), made in one transaction with its audit
//! entry and its effects, and published to the customer's `orderStatusChanged` after commit.
//!
//! Effects go through the outbox: shipping texts the customer the tracking code; cancelling
//! or refunding an order that was paid queues a `payment.refund` for each paid payment, which
//! [`RefundHandler`] carries out at the gateway when it can refund, and otherwise records as a
//! manual refund (`refund_due`) for staff to make by hand.

use std::sync::Arc;

use chrono::Utc;
use entity::{orders, payment_events, payments};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::orders::{self as rules, OrderStatus};
use super::payments::PaymentStatus;
use crate::error::{ApiError, ApiResult};
use crate::events::{OrderEvent, OrderEvents};
use crate::notifications::{notify_order, Template};
use crate::outbox::{self, Handler, HandlerError};
use crate::payment::{PaymentGateway, Refund};

/// Longest tracking code accepted.
const MAX_TRACKING_CODE: usize = 64;

/// One thing staff do to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffAction {
    /// Paid → processing: the store has accepted the order and prepares it.
    Confirm,
    /// Processing → shipped, with the carrier's tracking code (texted to the customer).
    Ship { tracking_code: String },
    /// Shipped → delivered.
    Deliver,
    /// Unpaid or paid, not yet processing → cancelled; stock released, money refunded.
    Cancel { reason: String },
    /// Paid or later → refunded; stock released, money refunded.
    Refund { reason: String },
}

impl StaffAction {
    fn target(&self) -> OrderStatus {
        match self {
            StaffAction::Confirm => OrderStatus::Processing,
            StaffAction::Ship { .. } => OrderStatus::Shipped,
            StaffAction::Deliver => OrderStatus::Delivered,
            StaffAction::Cancel { .. } => OrderStatus::Cancelled,
            StaffAction::Refund { .. } => OrderStatus::Refunded,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            StaffAction::Confirm => "confirm",
            StaffAction::Ship { .. } => "ship",
            StaffAction::Deliver => "deliver",
            StaffAction::Cancel { .. } => "cancel",
            StaffAction::Refund { .. } => "refund",
        }
    }

    /// The history message, and the validated input it carries.
    fn message(&self) -> ApiResult<String> {
        Ok(match self {
            StaffAction::Confirm => "confirmed by the store".into(),
            StaffAction::Deliver => "delivered".into(),
            StaffAction::Ship { tracking_code } => {
                format!(
                    "shipped, tracking code {}",
                    valid_tracking_code(tracking_code)?
                )
            }
            StaffAction::Cancel { reason } | StaffAction::Refund { reason } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(ApiError::bad_input(
                        "reason",
                        "say why, in 1 to 500 characters (the customer sees it)",
                    ));
                }
                reason.to_string()
            }
        })
    }
}

fn valid_tracking_code(code: &str) -> ApiResult<&str> {
    let code = code.trim();
    if code.is_empty()
        || code.len() > MAX_TRACKING_CODE
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
    {
        return Err(ApiError::bad_input(
            "trackingCode",
            format!(
                "a tracking code is 1 to {MAX_TRACKING_CODE} Latin letters, digits, '-', '_' or '/'"
            ),
        ));
    }
    Ok(code)
}

/// Applies `action` to the order numbered `number` for staff member `staff_id`; returns the
/// order as it is afterwards. `NOT_FOUND` for an unknown number, `CONFLICT` for a move the
/// state machine forbids (or a concurrent change), `BAD_USER_INPUT` for bad input.
pub async fn apply(
    db: &DatabaseConnection,
    events: &OrderEvents,
    staff_id: Uuid,
    number: &str,
    action: StaffAction,
) -> ApiResult<orders::Model> {
    let message = action.message()?;
    let number = rules::parse_number(number).ok_or(ApiError::not_found("order"))?;
    let txn = db.begin().await?;
    let order = orders::Entity::find()
        .filter(orders::Column::Number.eq(number))
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("order"))?;
    let mut moving = order.clone();
    if let StaffAction::Ship { tracking_code } = &action {
        let code = valid_tracking_code(tracking_code)?.to_string();
        orders::Entity::update_many()
            .col_expr(orders::Column::TrackingCode, Expr::value(code.clone()))
            .filter(orders::Column::Id.eq(order.id))
            .exec(&txn)
            .await?;
        moving.tracking_code = Some(code);
    }
    let actor = format!("staff:{staff_id}");
    let after = rules::transition(&txn, &moving, action.target(), &actor, &message).await?;
    match &action {
        StaffAction::Ship { .. } => notify_order(&txn, &after, Template::OrderShipped).await?,
        StaffAction::Cancel { reason } | StaffAction::Refund { reason } => {
            queue_refunds(&txn, &after, reason.trim()).await?;
        }
        StaffAction::Confirm | StaffAction::Deliver => {}
    }
    crate::staff::audit::record(
        &txn,
        staff_id,
        &format!("order.{}", action.verb()),
        "order",
        &order.number.to_string(),
        Some(snapshot(&order)),
        Some(snapshot(&after)),
    )
    .await?;
    txn.commit().await?;
    if let Some(event) = OrderEvent::between(&order, &after) {
        events.publish(event);
    }
    Ok(after)
}

fn snapshot(order: &orders::Model) -> serde_json::Value {
    json!({ "status": order.status, "trackingCode": order.tracking_code })
}

/// One `payment.refund` outbox row per paid payment of the order.
async fn queue_refunds<C: sea_orm::ConnectionTrait>(
    db: &C,
    order: &orders::Model,
    reason: &str,
) -> ApiResult<()> {
    let paid = payments::Entity::find()
        .filter(payments::Column::OrderId.eq(order.id))
        .filter(payments::Column::Status.eq(PaymentStatus::Paid.as_str()))
        .all(db)
        .await?;
    for payment in paid {
        outbox::enqueue(
            db,
            outbox::topics::PAYMENT_REFUND,
            &payment.id.to_string(),
            json!({ "paymentId": payment.id, "reason": reason }),
        )
        .await?;
    }
    Ok(())
}

/// Carries out `payment.refund` rows at the payment gateway (see the module documentation).
pub struct RefundHandler {
    pub db: DatabaseConnection,
    pub gateway: Arc<dyn PaymentGateway>,
}

#[async_trait::async_trait]
impl Handler for RefundHandler {
    fn topic(&self) -> &'static str {
        outbox::topics::PAYMENT_REFUND
    }

    async fn handle(&self, row: &entity::outbox::Model) -> Result<(), HandlerError> {
        let retry = |err: sea_orm::DbErr| HandlerError::Retry(err.to_string());
        let id = row.payload["paymentId"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| HandlerError::Permanent("payload has no paymentId".into()))?;
        let reason = row.payload["reason"].as_str().unwrap_or_default();
        let payment = payments::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(retry)?
            .ok_or_else(|| HandlerError::Permanent(format!("payment {id} does not exist")))?;
        if payment.status != PaymentStatus::Paid.as_str() {
            return Ok(()); // Refunded by an earlier attempt.
        }
        let refund = if payment.provider == self.gateway.provider() {
            let authority = payment.authority.as_deref().unwrap_or_default();
            self.gateway
                .refund(authority, payment.amount, reason)
                .await
                .map_err(|err| HandlerError::Retry(err.to_string()))?
        } else {
            // Paid through a gateway no longer configured: only a person can refund it.
            Refund::Unsupported
        };
        let txn = self.db.begin().await.map_err(retry)?;
        let (kind, data) = match refund {
            Refund::Refunded { reference } => {
                payments::Entity::update_many()
                    .col_expr(
                        payments::Column::Status,
                        Expr::value(PaymentStatus::Refunded.as_str()),
                    )
                    .col_expr(payments::Column::UpdatedAt, Expr::value(Utc::now()))
                    .filter(payments::Column::Id.eq(payment.id))
                    .filter(payments::Column::Status.eq(PaymentStatus::Paid.as_str()))
                    .exec(&txn)
                    .await
                    .map_err(retry)?;
                (
                    "refunded",
                    json!({ "reference": reference, "reason": reason }),
                )
            }
            Refund::Unsupported => (
                "refund_due",
                json!({ "manual": true, "amount": payment.amount, "reason": reason }),
            ),
        };
        payment_events::ActiveModel {
            id: sea_orm::NotSet,
            payment_id: Set(payment.id),
            kind: Set(kind.into()),
            data: Set(Some(data)),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(retry)?;
        txn.commit().await.map_err(retry)?;
        super::payments::record_outcome(&payment.provider, kind);
        if kind == "refund_due" {
            tracing::warn!(payment = %payment.id, amount = payment.amount, "refund must be made by hand");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_checked() {
        assert_eq!(
            valid_tracking_code(" RR123456789IR ").unwrap(),
            "RR123456789IR"
        );
        assert!(valid_tracking_code("12-34/5_6").is_ok());
        for bad in ["", "   ", "کد۱۲۳", "a b", &"x".repeat(65)] {
            assert!(valid_tracking_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cancelling_needs_a_reason() {
        assert!(StaffAction::Cancel { reason: " ".into() }
            .message()
            .is_err());
        assert_eq!(
            StaffAction::Refund {
                reason: " damaged ".into()
            }
            .message()
            .unwrap(),
            "damaged"
        );
    }
}
