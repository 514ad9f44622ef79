//! Reconciliation with Mahak (issue 7, inbound): what the accountants did in Mahak flows
//! back to the store's orders, and what is missing there is shown to staff.
//!
//! [`sweep`] runs every `reconcile.interval_secs` (a loop in `crate::app`) over the mirror
//! tables the sync keeps (`mahak_orders`, `mahak_receipts`):
//! - **Returns made in Mahak.** A live sales return (`order_type` 202) whose
//!   `reference_order_mahak_id` is an order's invoice (`orders.mahak_order_id`), where the
//!   order has no `mahak_return_id` yet. One transaction per order: the return is recorded on
//!   the order (`mahak_return_id`, `mahak_return_state = from_mahak`, guarded by
//!   `mahak_return_id IS NULL` and the order's `version`), the order becomes `refunded` when
//!   its state allows it (a cancelled order keeps its status), an `order_events` row of kind
//!   `mahak_return` carries the return's ids, and the customer gets an SMS
//!   ([`crate::notifications::Template::OrderReturned`]) when the status changed. After the
//!   commit the status change is published to `orderStatusChanged`. Because `transition` sees
//!   `mahak_return_id` set, it does not queue a return push back to Mahak. The store's own
//!   pushed return (the row's ClientId is `orders.mahak_return_client_id`) is not a new
//!   return: only its id is recorded (and its push state set to `pushed`, since Mahak has it;
//!   this covers a push whose answer was lost).
//! - **Receipts.** A live receipt whose `order_mahak_id` is the order's invoice or whose
//!   `order_client_id` is the invoice's ClientId settles the order: `orders.mahak_settled_at`
//!   and the paid payments' `mahak_settled_at` are set once (conditional `UPDATE`s).
//! - **Missing receipts** are not a mutation: a paid payment verified more than
//!   `reconcile.receipt_grace_secs` ago whose order is not settled is "receipt missing",
//!   computed where it is shown ([`receipt_missing`], [`report`]).
//!
//! Every step is a conditional update, so a second sweep (or a sweep on another replica at
//! the same time) changes nothing. Works on PostgreSQL and SQLite.
//!
//! [`retry_push`] is the staff's "push again" for an invoice or return whose push failed or
//! was given up.

pub mod report;

use chrono::{DateTime, Utc};
use entity::{order_events, orders, payments};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use serde::Deserialize;
use serde_json::json;
use sync::pipeline::sql::statement;
use sync::push::{state, PushJob, PushKind};
use sync::settings::ConfigError;
use uuid::Uuid;

use crate::commerce::orders::{self as order_rules, OrderStatus};
use crate::error::{ApiError, ApiResult};
use crate::events::{OrderEvent, OrderEvents};

/// `orderType` of a sales invoice in Mahak.
pub const SALES_INVOICE: i32 = 201;
/// `orderType` of a sales return (credit memo) in Mahak.
pub const SALES_RETURN: i32 = 202;
/// The actor of history rows the reconciliation writes.
pub const ACTOR: &str = "mahak";
/// Returns handled per sweep (the rest wait for the next one).
const RETURNS_PER_SWEEP: u64 = 200;

/// `reconcile.*`: the reconciliation sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Seconds between sweeps (0: no sweep in this process).
    pub interval_secs: u64,
    /// Seconds after a payment is verified before a missing receipt in Mahak is flagged.
    pub receipt_grace_secs: u64,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            interval_secs: 15,
            receipt_grace_secs: 86_400,
        }
    }
}

impl ReconcileSettings {
    /// Longest sweep interval: a day.
    pub const MAX_INTERVAL_SECS: u64 = 86_400;
    /// Longest grace: 90 days.
    pub const MAX_GRACE_SECS: u64 = 90 * 86_400;

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval_secs > Self::MAX_INTERVAL_SECS {
            return Err(ConfigError::invalid(
                "reconcile.interval_secs",
                "must be at most 86400 (a day); 0 turns the sweep off",
            ));
        }
        if !(1..=Self::MAX_GRACE_SECS).contains(&self.receipt_grace_secs) {
            return Err(ConfigError::invalid(
                "reconcile.receipt_grace_secs",
                "must be between 1 and 7776000 (90 days)",
            ));
        }
        Ok(())
    }

    pub fn grace(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.receipt_grace_secs).unwrap_or(i64::MAX / 1000))
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Returns entered in Mahak recorded on their orders.
    pub returns: usize,
    /// Of those, orders that became `refunded`.
    pub refunded: usize,
    /// The store's own returns whose id was recorded by the sweep.
    pub own_returns: usize,
    /// Orders newly settled by a receipt.
    pub settled_orders: u64,
    /// Payments newly settled.
    pub settled_payments: u64,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        *self == SweepReport::default()
    }
}

/// One reconciliation pass (see the module documentation).
pub async fn sweep(db: &DatabaseConnection, events: &OrderEvents) -> ApiResult<SweepReport> {
    let mut report = SweepReport::default();
    reconcile_returns(db, events, &mut report).await?;
    let (orders, payments) = settle(db, Utc::now()).await?;
    report.settled_orders = orders;
    report.settled_payments = payments;
    Ok(report)
}

/// A live sales return in Mahak referencing an order's invoice, not yet on the order.
struct ReturnCandidate {
    order_number: i64,
    return_id: i64,
    return_client_id: Option<i64>,
    return_code: Option<i64>,
}

async fn reconcile_returns(
    db: &DatabaseConnection,
    events: &OrderEvents,
    report: &mut SweepReport,
) -> ApiResult<()> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all(statement(
            backend,
            "SELECT o.number AS order_number, m.mahak_id AS return_id, \
                    m.mahak_client_id AS return_client_id, m.mahak_code AS return_code \
             FROM mahak_orders m JOIN orders o ON o.mahak_order_id = m.reference_order_mahak_id \
             WHERE m.order_type = $1 AND m.deleted_at IS NULL AND o.mahak_return_id IS NULL \
             ORDER BY m.mahak_id LIMIT $2",
            [SALES_RETURN.into(), (RETURNS_PER_SWEEP as i64).into()],
        ))
        .await?;
    let mut candidates = Vec::with_capacity(rows.len());
    for row in rows {
        candidates.push(ReturnCandidate {
            order_number: row.try_get("", "order_number")?,
            return_id: row.try_get("", "return_id")?,
            return_client_id: row.try_get("", "return_client_id")?,
            return_code: row.try_get("", "return_code")?,
        });
    }
    let mut seen = std::collections::HashSet::new();
    for candidate in candidates {
        // Several returns of one invoice (partial returns): the first one links the order.
        if !seen.insert(candidate.order_number) {
            continue;
        }
        match apply_return(db, &candidate).await? {
            ReturnOutcome::Skipped => {}
            ReturnOutcome::Own => report.own_returns += 1,
            ReturnOutcome::FromMahak { published } => {
                report.returns += 1;
                if let Some(event) = published {
                    report.refunded += 1;
                    events.publish(event);
                }
            }
        }
    }
    Ok(())
}

enum ReturnOutcome {
    /// Someone else (another replica, a concurrent transition) changed the order first.
    Skipped,
    /// The store's own pushed return: its id recorded.
    Own,
    /// A return made in Mahak, with the status change to publish if there was one.
    FromMahak { published: Option<OrderEvent> },
}

async fn apply_return(
    db: &DatabaseConnection,
    candidate: &ReturnCandidate,
) -> ApiResult<ReturnOutcome> {
    let txn = db.begin().await?;
    let Some(order) = orders::Entity::find()
        .filter(orders::Column::Number.eq(candidate.order_number))
        .one(&txn)
        .await?
    else {
        return Ok(ReturnOutcome::Skipped);
    };
    if order.mahak_return_id.is_some() {
        return Ok(ReturnOutcome::Skipped);
    }
    let now = Utc::now();
    let own = order.mahak_return_client_id.is_some()
        && candidate.return_client_id == order.mahak_return_client_id;
    if own {
        let done = orders::Entity::update_many()
            .col_expr(
                orders::Column::MahakReturnId,
                Expr::value(candidate.return_id),
            )
            .col_expr(orders::Column::MahakReturnState, Expr::value(state::PUSHED))
            .col_expr(
                orders::Column::MahakReturnError,
                Expr::value(Option::<String>::None),
            )
            .filter(orders::Column::Id.eq(order.id))
            .filter(orders::Column::MahakReturnId.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        return Ok(if done.rows_affected == 1 {
            ReturnOutcome::Own
        } else {
            ReturnOutcome::Skipped
        });
    }
    // Bumping `version` makes a transition computed from an older read (a staff refund at
    // this moment, which would queue a second return to Mahak) fail with CONFLICT.
    let linked = orders::Entity::update_many()
        .col_expr(
            orders::Column::MahakReturnId,
            Expr::value(candidate.return_id),
        )
        .col_expr(
            orders::Column::MahakReturnState,
            Expr::value(state::FROM_MAHAK),
        )
        .col_expr(
            orders::Column::MahakReturnError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(orders::Column::Version, Expr::value(order.version + 1))
        .col_expr(orders::Column::UpdatedAt, Expr::value(now))
        .filter(orders::Column::Id.eq(order.id))
        .filter(orders::Column::MahakReturnId.is_null())
        .filter(orders::Column::Version.eq(order.version))
        .exec(&txn)
        .await?;
    if linked.rows_affected != 1 {
        return Ok(ReturnOutcome::Skipped);
    }
    let linked = orders::Entity::find_by_id(order.id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order {} vanished", order.id)))?;
    let from = OrderStatus::parse(&linked.status);
    let code = candidate
        .return_code
        .filter(|c| *c > 0)
        .unwrap_or(candidate.return_id);
    let after = match from {
        Some(from) if from.can_become(OrderStatus::Refunded) => Some(
            order_rules::transition(
                &txn,
                &linked,
                OrderStatus::Refunded,
                ACTOR,
                &format!("returned in Mahak (sales return {code})"),
            )
            .await?,
        ),
        _ => None,
    };
    order_events::ActiveModel {
        id: sea_orm::NotSet,
        order_id: Set(order.id),
        kind: Set("mahak_return".into()),
        from_status: Set(None),
        to_status: Set(None),
        actor: Set(ACTOR.into()),
        message: Set(format!("sales return {code} entered in Mahak")),
        data: Set(Some(json!({
            "mahakReturnId": candidate.return_id,
            "mahakReturnClientId": candidate.return_client_id,
            "mahakReturnCode": candidate.return_code,
            "mahakOrderId": linked.mahak_order_id,
        }))),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if let Some(after) = &after {
        crate::notifications::notify_order(
            &txn,
            after,
            crate::notifications::Template::OrderReturned,
        )
        .await?;
    }
    txn.commit().await?;
    tracing::info!(
        order = order.number,
        mahak_return_id = candidate.return_id,
        refunded = after.is_some(),
        "sales return from Mahak recorded"
    );
    Ok(ReturnOutcome::FromMahak {
        published: after.and_then(|after| OrderEvent::between(&linked, &after)),
    })
}

/// Marks orders with a live receipt in Mahak settled, then their paid payments; returns how
/// many orders and payments were newly settled.
pub async fn settle<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> ApiResult<(u64, u64)> {
    let backend = db.get_database_backend();
    let orders = db
        .execute(statement(
            backend,
            "UPDATE orders SET mahak_settled_at = $1 \
             WHERE mahak_settled_at IS NULL \
               AND (mahak_order_id IS NOT NULL OR mahak_order_client_id IS NOT NULL) \
               AND EXISTS (SELECT 1 FROM mahak_receipts r WHERE r.deleted_at IS NULL \
                   AND (r.order_mahak_id = orders.mahak_order_id \
                        OR r.order_client_id = orders.mahak_order_client_id))",
            [now.into()],
        ))
        .await?
        .rows_affected();
    let payments = db
        .execute(statement(
            backend,
            "UPDATE payments SET mahak_settled_at = \
                 (SELECT o.mahak_settled_at FROM orders o WHERE o.id = payments.order_id) \
             WHERE status = 'paid' AND mahak_settled_at IS NULL \
               AND EXISTS (SELECT 1 FROM orders o WHERE o.id = payments.order_id \
                   AND o.mahak_settled_at IS NOT NULL)",
            [],
        ))
        .await?
        .rows_affected();
    Ok((orders, payments))
}

/// Whether one of the order's payments is paid, was verified before `now - grace`, and the
/// order has no receipt in Mahak yet (`mahak_settled_at` unset).
pub fn receipt_missing(
    order: &orders::Model,
    payments: &[payments::Model],
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> bool {
    order.mahak_settled_at.is_none()
        && payments.iter().any(|p| {
            p.order_id == order.id
                && p.status == "paid"
                && p.verified_at.is_some_and(|at| at < now - grace)
        })
}

/// Where an order stands in Mahak's books, one word for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountingState {
    /// Nothing sent to Mahak (an unpaid order).
    NotInvoiced,
    /// The invoice or the return is queued for a push, or being retried.
    Pending,
    /// Mahak has the invoice; no receipt seen yet.
    Invoiced,
    /// A receipt for the invoice was seen in Mahak.
    Settled,
    /// A sales return is in Mahak (pushed by the store or entered there).
    Returned,
    /// Mahak rejected the invoice or the return; retried until the limit.
    Failed,
    /// The push was given up; staff can `retryMahakPush`.
    Dead,
}

/// The order's [`AccountingState`]: a dead push first, then a failed one, then a return, a
/// pending push, a receipt, the invoice.
pub fn accounting_state(order: &orders::Model) -> AccountingState {
    let invoice = order.mahak_state.as_str();
    let ret = order.mahak_return_state.as_deref().unwrap_or("");
    if invoice == state::DEAD || ret == state::DEAD {
        AccountingState::Dead
    } else if invoice == state::FAILED || ret == state::FAILED {
        AccountingState::Failed
    } else if order.mahak_return_id.is_some() {
        AccountingState::Returned
    } else if invoice == state::PENDING || ret == state::PENDING {
        AccountingState::Pending
    } else if order.mahak_settled_at.is_some() {
        AccountingState::Settled
    } else if order.mahak_order_id.is_some() || invoice == state::PUSHED {
        AccountingState::Invoiced
    } else {
        AccountingState::NotInvoiced
    }
}

fn retryable(push_state: Option<&str>) -> bool {
    matches!(push_state, Some(s) if s == state::FAILED || s == state::DEAD)
}

/// Staff push again the invoice and/or return of order `number` whose push is `failed` or
/// `dead`: in one transaction the state goes back to `pending` (guarded by the state read),
/// a fresh outbox job is queued and an audit entry written. `CONFLICT` when neither push
/// failed (a pushed, pending or never pushed order); `NOT_FOUND` for an unknown number.
pub async fn retry_push(
    db: &DatabaseConnection,
    staff_id: Uuid,
    number: &str,
) -> ApiResult<orders::Model> {
    let number = order_rules::parse_number(number).ok_or(ApiError::not_found("order"))?;
    let txn = db.begin().await?;
    let order = orders::Entity::find()
        .filter(orders::Column::Number.eq(number))
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("order"))?;
    let mut kinds = Vec::new();
    if retryable(Some(&order.mahak_state)) {
        kinds.push(PushKind::Invoice);
    }
    if retryable(order.mahak_return_state.as_deref()) {
        kinds.push(PushKind::Return);
    }
    if kinds.is_empty() {
        return Err(ApiError::Conflict {
            message: format!(
                "nothing to push again: the invoice is {} and the return is {}; only a failed or dead push can be retried",
                order.mahak_state,
                order.mahak_return_state.as_deref().unwrap_or("not due"),
            ),
        });
    }
    for kind in &kinds {
        let (state_col, error_col, seen) = match kind {
            PushKind::Invoice => (
                orders::Column::MahakState,
                orders::Column::MahakError,
                order.mahak_state.clone(),
            ),
            PushKind::Return => (
                orders::Column::MahakReturnState,
                orders::Column::MahakReturnError,
                order.mahak_return_state.clone().unwrap_or_default(),
            ),
        };
        let updated = orders::Entity::update_many()
            .col_expr(state_col, Expr::value(state::PENDING))
            .col_expr(error_col, Expr::value(Option::<String>::None))
            .col_expr(orders::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(orders::Column::Id.eq(order.id))
            .filter(state_col.eq(seen))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(ApiError::Conflict {
                message: "the order's Mahak state changed meanwhile; reload it".into(),
            });
        }
        let job = PushJob {
            kind: *kind,
            order_id: order.id,
        };
        crate::outbox::enqueue(
            &txn,
            job.topic(),
            &order.id.to_string(),
            serde_json::to_value(job).map_err(ApiError::internal)?,
        )
        .await?;
    }
    let pushes: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            PushKind::Invoice => "invoice",
            PushKind::Return => "return",
        })
        .collect();
    crate::staff::audit::record(
        &txn,
        staff_id,
        "order.mahak_retry",
        "order",
        &order.id.to_string(),
        Some(json!({
            "number": order.number,
            "mahakState": order.mahak_state,
            "mahakError": order.mahak_error,
            "mahakReturnState": order.mahak_return_state,
            "mahakReturnError": order.mahak_return_error,
        })),
        Some(json!({ "number": order.number, "retried": pushes })),
    )
    .await?;
    let after = orders::Entity::find_by_id(order.id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order vanished")))?;
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_are_valid_and_bad_values_name_their_key() {
        ReconcileSettings::default().validate().unwrap();
        let bad = |s: ReconcileSettings| s.validate().unwrap_err().to_string();
        assert!(bad(ReconcileSettings {
            interval_secs: 86_401,
            ..Default::default()
        })
        .contains("reconcile.interval_secs"));
        assert!(bad(ReconcileSettings {
            receipt_grace_secs: 0,
            ..Default::default()
        })
        .contains("reconcile.receipt_grace_secs"));
    }
}
