//! Paying for an order: starting a gateway session, settling its callback, and the sweep that
//! verifies sessions whose callback never came.
//!
//! A payment is a row of `payments`, `started` → `paid` | `failed`:
//!
//! - [`start`] opens a gateway session for the order's `grand_total` and records it
//!   `started`. Every call opens a fresh attempt (a new authority): the customer may have
//!   closed the gateway's tab, and a gateway session cannot be resumed. Older attempts stay
//!   `started` until their callback or the sweep settles them.
//! - [`handle_callback`] settles one attempt from the gateway's callback; [`reconcile_started`]
//!   settles attempts left `started`. Both go through [`settle`], which believes only the
//!   gateway's verification: `Paid`/`AlreadyVerified` moves the payment to `paid` and the order
//!   to `paid` in one transaction; `Failed` marks the payment `failed`; an error (outcome
//!   unknown) leaves it `started` for the sweep.
//! - Every change of a payment's status is a conditional `UPDATE ... WHERE status = 'started'`
//!   inside the transaction, so concurrent callbacks for one authority make one change and
//!   the rest find it made: they change nothing and answer from the stored status. A paid
//!   payment is never marked failed, and an order is paid once: the order's own guarded
//!   transition refuses a second `paid`, which rolls the second payment's transaction back
//!   (it stays `started`; the sweep then finds the order no longer payable and marks it
//!   `failed` with a `refund_due` event for staff: Zarinpal returns unverified money by
//!   itself, but a verified duplicate must be refunded by hand).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{orders, payment_events, payments};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::orders::{self as order_rules, OrderStatus};
use crate::error::{ApiError, ApiResult};
use crate::events::{OrderEvent, OrderEvents};
use crate::payment::{CallbackStatus, PaymentGateway, PaymentRequest, Settlement, Verification};

/// Where the gateway sends the customer's browser back to, under `payment.callback_base_url`.
pub const CALLBACK_PATH: &str = "/payments/callback";

/// `payments.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Started,
    Paid,
    Failed,
    /// Paid, then given back through the gateway (see `crate::commerce::fulfilment`).
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Started => "started",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::Started,
            PaymentStatus::Paid,
            PaymentStatus::Failed,
            PaymentStatus::Refunded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// What the customer is told: `paid`, `failed`, or `pending` (still being checked).
    pub fn result(self) -> &'static str {
        match self {
            PaymentStatus::Started => "pending",
            PaymentStatus::Paid | PaymentStatus::Refunded => "paid",
            PaymentStatus::Failed => "failed",
        }
    }
}

/// The gateway and the URLs payments need; built once at start-up and shared by the GraphQL
/// schema, the callback route and the sweep.
pub struct Payments {
    pub gateway: Arc<dyn PaymentGateway>,
    /// Absolute URL of [`CALLBACK_PATH`].
    pub callback_url: String,
    /// `payment.result_url`: the shop's front-end page the callback redirects to.
    pub result_url: Option<String>,
    /// Where the order transitions payments make are published (after commit); the same bus
    /// the `orderStatusChanged` subscription listens to (`Services::order_events`).
    pub order_events: OrderEvents,
}

impl Payments {
    pub fn new(
        gateway: Arc<dyn PaymentGateway>,
        settings: &crate::config::PaymentSettings,
    ) -> Payments {
        Payments {
            gateway,
            callback_url: format!(
                "{}{CALLBACK_PATH}",
                settings.callback_base_url.trim_end_matches('/')
            ),
            result_url: settings.result_url.clone(),
            order_events: OrderEvents::default(),
        }
    }
}

/// A started payment and where to send the customer.
#[derive(Debug, Clone)]
pub struct Started {
    pub payment: payments::Model,
    pub redirect_url: String,
}

/// Opens a payment for `order_id`, which must be the customer's (`NOT_FOUND`) and awaiting
/// payment (`CONFLICT`).
pub async fn start(
    db: &DatabaseConnection,
    payments_: &Payments,
    customer_id: Uuid,
    order_id: Uuid,
) -> ApiResult<Started> {
    let order = order_rules::find_for_customer(db, customer_id, order_id).await?;
    if order.status != OrderStatus::PendingPayment.as_str() {
        return Err(ApiError::Conflict {
            message: format!("the order is {}, not awaiting payment", order.status),
        });
    }
    let already_paid = payments::Entity::find()
        .filter(payments::Column::OrderId.eq(order.id))
        .filter(payments::Column::Status.eq(PaymentStatus::Paid.as_str()))
        .one(db)
        .await?;
    if already_paid.is_some() {
        return Err(ApiError::Conflict {
            message: "the order is already paid".into(),
        });
    }
    let gateway = &payments_.gateway;
    let session = gateway
        .request(&PaymentRequest {
            amount_rial: order.grand_total,
            order_id: order.number.to_string(),
            description: format!("Order {}", order.number),
            callback_url: payments_.callback_url.clone(),
            mobile: None,
            email: None,
        })
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("payment gateway request: {e}")))?;
    let now = Utc::now();
    let payment = payments::ActiveModel {
        id: Set(Uuid::new_v4()),
        order_id: Set(order.id),
        provider: Set(gateway.provider().to_string()),
        amount: Set(order.grand_total),
        status: Set(PaymentStatus::Started.as_str().to_string()),
        authority: Set(Some(session.authority.clone())),
        reference_id: Set(None),
        card_pan_masked: Set(None),
        verified_at: Set(None),
        mahak_receipt_id: Set(None),
        mahak_receipt_client_id: Set(None),
        mahak_cheque_client_id: Set(None),
        mahak_row_version: Set(None),
        mahak_state: Set("not_pushed".into()),
        mahak_settled_at: Set(None),
        mahak_cheque_id: Set(None),
        mahak_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    record_event(
        db,
        payment.id,
        "started",
        json!({ "authority": session.authority }),
    )
    .await?;
    record_outcome(&payment.provider, "started");
    Ok(Started {
        payment,
        redirect_url: session.redirect_url,
    })
}

/// The outcome told to the customer after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackOutcome {
    pub order_id: Uuid,
    /// The number the customer knows the order by (the SPA's `order(number:)`).
    pub order_number: i64,
    pub status: PaymentStatus,
}

/// Settles the payment named by a callback; `None` when no payment of this gateway has that
/// authority. `NOK` marks a started payment failed without asking the gateway; `OK` is only a
/// hint and leads to a verification. Repeated or concurrent callbacks change nothing more and
/// get the same answer.
pub async fn handle_callback(
    db: &DatabaseConnection,
    gateway: &dyn PaymentGateway,
    events: &OrderEvents,
    authority: &str,
    status: CallbackStatus,
) -> ApiResult<Option<CallbackOutcome>> {
    let Some(payment) = payments::Entity::find()
        .filter(payments::Column::Provider.eq(gateway.provider()))
        .filter(payments::Column::Authority.eq(authority))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let current = status_of(&payment)?;
    let status = if current != PaymentStatus::Started {
        current
    } else {
        match status {
            CallbackStatus::Nok => {
                mark_failed(db, &payment, "cancelled", json!({ "callback": "NOK" })).await?
            }
            CallbackStatus::Ok => verify_and_settle(db, gateway, events, &payment).await?,
        }
    };
    let order = orders::Entity::find_by_id(payment.order_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("payment without its order")))?;
    Ok(Some(CallbackOutcome {
        order_id: payment.order_id,
        order_number: order.number,
        status,
    }))
}

/// Verifies, with the gateway, every payment still `started` that was created before
/// `now - older_than` (lost callbacks, unknown outcomes), and settles it. Returns how many
/// left `started`.
pub async fn reconcile_started(
    db: &DatabaseConnection,
    gateway: &dyn PaymentGateway,
    events: &OrderEvents,
    older_than: std::time::Duration,
) -> ApiResult<usize> {
    let older_than = chrono::Duration::from_std(older_than)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("reconcile age: {e}")))?;
    let before: DateTime<Utc> = Utc::now() - older_than;
    let stale = payments::Entity::find()
        .filter(payments::Column::Provider.eq(gateway.provider()))
        .filter(payments::Column::Status.eq(PaymentStatus::Started.as_str()))
        .filter(payments::Column::CreatedAt.lt(before))
        .order_by_asc(payments::Column::CreatedAt)
        .all(db)
        .await?;
    let mut settled = 0;
    for payment in stale {
        match verify_and_settle(db, gateway, events, &payment).await {
            Ok(PaymentStatus::Started) => {}
            Ok(_) => settled += 1,
            Err(err) => {
                tracing::warn!(payment = %payment.id, error = ?err, "payment reconciliation");
            }
        }
    }
    Ok(settled)
}

/// The payments of one order, oldest first.
pub async fn for_order<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
) -> ApiResult<Vec<payments::Model>> {
    Ok(payments::Entity::find()
        .filter(payments::Column::OrderId.eq(order_id))
        .order_by_asc(payments::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Asks the gateway about a `started` payment and records the answer; returns the payment's
/// status afterwards (whoever set it).
async fn verify_and_settle(
    db: &DatabaseConnection,
    gateway: &dyn PaymentGateway,
    events: &OrderEvents,
    payment: &payments::Model,
) -> ApiResult<PaymentStatus> {
    let authority = payment.authority.as_deref().unwrap_or_default();
    match gateway.verify(authority, payment.amount).await {
        Ok(verification) => settle(db, events, payment, &verification).await,
        Err(err) => {
            // Outcome unknown: the payment stays `started` for the sweep.
            tracing::warn!(payment = %payment.id, error = %err, "payment verification failed");
            record_event(
                db,
                payment.id,
                "verify_error",
                json!({ "error": err.to_string() }),
            )
            .await?;
            current_status(db, payment.id).await
        }
    }
}

/// Records the gateway's verification of a `started` payment; returns its status afterwards.
pub async fn settle(
    db: &DatabaseConnection,
    events: &OrderEvents,
    payment: &payments::Model,
    verification: &Verification,
) -> ApiResult<PaymentStatus> {
    match verification {
        Verification::Paid(settlement) | Verification::AlreadyVerified(settlement) => {
            match mark_paid(db, events, payment, settlement).await {
                Ok(status) => Ok(status),
                Err(ApiError::Conflict { message }) => {
                    // The order is no longer payable (paid by another attempt, cancelled):
                    // this money must go back.
                    tracing::error!(payment = %payment.id, %message, "payment verified for an order that is not payable; refund due");
                    mark_failed(
                        db,
                        payment,
                        "refund_due",
                        json!({ "reference_id": settlement.reference_id, "reason": message }),
                    )
                    .await
                }
                Err(err) => Err(err),
            }
        }
        Verification::Failed { code, message } => {
            mark_failed(
                db,
                payment,
                "failed",
                json!({ "code": code, "message": message }),
            )
            .await
        }
    }
}

async fn mark_paid(
    db: &DatabaseConnection,
    events: &OrderEvents,
    payment: &payments::Model,
    settlement: &Settlement,
) -> ApiResult<PaymentStatus> {
    let txn = db.begin().await?;
    let now = Utc::now();
    let changed = payments::Entity::update_many()
        .col_expr(
            payments::Column::Status,
            Expr::value(PaymentStatus::Paid.as_str()),
        )
        .col_expr(
            payments::Column::ReferenceId,
            Expr::value(settlement.reference_id.clone()),
        )
        .col_expr(
            payments::Column::CardPanMasked,
            Expr::value(settlement.card_pan_masked.clone()),
        )
        .col_expr(payments::Column::VerifiedAt, Expr::value(now))
        .col_expr(payments::Column::UpdatedAt, Expr::value(now))
        .filter(payments::Column::Id.eq(payment.id))
        .filter(payments::Column::Status.eq(PaymentStatus::Started.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected != 1 {
        // Settled meanwhile by a concurrent callback or the sweep.
        txn.rollback().await?;
        return current_status(db, payment.id).await;
    }
    let order = orders::Entity::find_by_id(payment.order_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("payment without order")))?;
    let paid = order_rules::transition(
        &txn,
        &order,
        OrderStatus::Paid,
        "payment",
        &format!("paid, reference {}", settlement.reference_id),
    )
    .await?;
    record_event(
        &txn,
        payment.id,
        "paid",
        json!({
            "reference_id": settlement.reference_id,
            "card_pan_masked": settlement.card_pan_masked,
            "fee_rial": settlement.fee_rial,
        }),
    )
    .await?;
    txn.commit().await?;
    record_outcome(&payment.provider, "paid");
    if let Some(event) = OrderEvent::between(&order, &paid) {
        events.publish(event);
    }
    Ok(PaymentStatus::Paid)
}

/// Marks a `started` payment failed with an event of `kind` (`failed`, `cancelled` or
/// `refund_due`, also its outcome in `payments_total`); a payment settled meanwhile is left as
/// it is. Returns the status afterwards.
async fn mark_failed(
    db: &DatabaseConnection,
    payment: &payments::Model,
    kind: &'static str,
    data: serde_json::Value,
) -> ApiResult<PaymentStatus> {
    let txn = db.begin().await?;
    let changed = payments::Entity::update_many()
        .col_expr(
            payments::Column::Status,
            Expr::value(PaymentStatus::Failed.as_str()),
        )
        .col_expr(payments::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(payments::Column::Id.eq(payment.id))
        .filter(payments::Column::Status.eq(PaymentStatus::Started.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected != 1 {
        txn.rollback().await?;
        return current_status(db, payment.id).await;
    }
    record_event(&txn, payment.id, kind, data).await?;
    txn.commit().await?;
    record_outcome(&payment.provider, kind);
    Ok(PaymentStatus::Failed)
}

/// Counts a committed change of a payment: `payments_total{gateway, outcome}`, `outcome` one
/// of `started`, `paid`, `failed` (the gateway says not paid), `cancelled` (the customer
/// cancelled at the gateway), `refund_due` (money to give back by hand: verified for an order
/// no longer payable, or a refund the gateway cannot make) and `refunded` (given back through
/// the gateway). Called after the commit, so a rolled-back change is never counted; `gateway`
/// is the payment's provider (`sandbox` or `zarinpal`).
pub fn record_outcome(gateway: &str, outcome: &'static str) {
    metrics::counter!(
        "payments_total",
        "gateway" => gateway.to_string(), "outcome" => outcome
    )
    .increment(1);
}

async fn current_status(db: &DatabaseConnection, id: Uuid) -> ApiResult<PaymentStatus> {
    let payment = payments::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("payment {id} vanished")))?;
    status_of(&payment)
}

pub fn status_of(payment: &payments::Model) -> ApiResult<PaymentStatus> {
    PaymentStatus::parse(&payment.status).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "payment {} has unknown status {}",
            payment.id,
            payment.status
        ))
    })
}

async fn record_event<C: ConnectionTrait>(
    db: &C,
    payment_id: Uuid,
    kind: &str,
    data: serde_json::Value,
) -> ApiResult<()> {
    payment_events::ActiveModel {
        id: sea_orm::NotSet,
        payment_id: Set(payment_id),
        kind: Set(kind.to_string()),
        data: Set(Some(data)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
