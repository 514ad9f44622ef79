//! Reconciliation with Mahak for staff: the per-day report of orders paid in the store
//! against invoices and receipts in Mahak (permission `REPORTS`, also as CSV at
//! `GET /admin/reports/mahak-reconciliation.csv`), and pushing a failed or dead invoice or
//! return again (permission `ORDERS`). Rules in `crate::reconcile`.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::Utc;

use super::access::{self, Permission};
use super::orders::{one_order, AdminOrder};
use crate::error::ApiResult;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;
use crate::reconcile::report::{self, DifferenceKind};
use crate::reconcile::{self as rules, ReconcileSettings};

/// Where an order stands in Mahak's books (`AdminOrder.mahak.accountingState`). When
/// several apply, the first in this list wins except that `DEAD` and `FAILED` come first.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccountingState {
    /// Nothing sent to Mahak (an unpaid order).
    NotInvoiced,
    /// The invoice or the return is queued for a push, or being retried.
    Pending,
    /// Mahak has the invoice; no receipt for it seen yet.
    Invoiced,
    /// A receipt for the invoice was seen in Mahak.
    Settled,
    /// A sales return is in Mahak (pushed by the store or entered there).
    Returned,
    /// Mahak rejected the invoice or the return (reason in `error` / `returnError`); retried
    /// automatically until the limit.
    Failed,
    /// The push was given up after the retry limit; `retryMahakPush` queues it again.
    Dead,
}

impl From<rules::AccountingState> for AccountingState {
    fn from(state: rules::AccountingState) -> Self {
        match state {
            rules::AccountingState::NotInvoiced => AccountingState::NotInvoiced,
            rules::AccountingState::Pending => AccountingState::Pending,
            rules::AccountingState::Invoiced => AccountingState::Invoiced,
            rules::AccountingState::Settled => AccountingState::Settled,
            rules::AccountingState::Returned => AccountingState::Returned,
            rules::AccountingState::Failed => AccountingState::Failed,
            rules::AccountingState::Dead => AccountingState::Dead,
        }
    }
}

/// What differs between the store and Mahak for one order.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MahakDifferenceKind {
    /// Paid in the store, no invoice in Mahak.
    MissingInvoice,
    /// The invoice's lines (`price × count1 − discount`, less the invoice's discount) add up
    /// to another amount than the order's goods after discount.
    InvoiceAmountDiffers,
    /// A payment was verified longer ago than `reconcile.receipt_grace_secs` and Mahak has no
    /// receipt for the order.
    ReceiptMissing,
    /// The receipts in Mahak (cash plus cheques) add up to another amount than the store's
    /// paid payments.
    ReceiptAmountDiffers,
}

impl From<DifferenceKind> for MahakDifferenceKind {
    fn from(kind: DifferenceKind) -> Self {
        match kind {
            DifferenceKind::MissingInvoice => MahakDifferenceKind::MissingInvoice,
            DifferenceKind::InvoiceAmountDiffers => MahakDifferenceKind::InvoiceAmountDiffers,
            DifferenceKind::ReceiptMissing => MahakDifferenceKind::ReceiptMissing,
            DifferenceKind::ReceiptAmountDiffers => MahakDifferenceKind::ReceiptAmountDiffers,
        }
    }
}

/// One Tehran day of the reconciliation.
#[derive(SimpleObject)]
pub struct MahakReconciliationDay {
    /// `YYYY-MM-DD` (Tehran calendar).
    pub day: String,
    /// Orders paid in the store that day (whatever their status now), and their grand totals.
    pub paid_orders: i64,
    pub paid_total: Rial,
    /// Of those, orders whose invoice is in Mahak, and the invoices' goods after discount
    /// (where computable).
    pub invoiced_orders: i64,
    pub invoiced_total: Rial,
    /// Of those, orders with a receipt in Mahak, and the receipts' amounts.
    pub receipted_orders: i64,
    pub receipt_total: Rial,
    /// Differences of the day's orders (listed in `differences`).
    pub differences: i64,
}

/// One difference of one order.
#[derive(SimpleObject)]
pub struct MahakDifference {
    /// The Tehran day the order was paid, `YYYY-MM-DD`.
    pub day: String,
    pub order_number: String,
    pub kind: MahakDifferenceKind,
    /// What the store has: goods after discount for invoice differences, the paid amount
    /// for receipt differences.
    pub store_amount: Rial,
    /// What Mahak has, when there is something to compare.
    pub mahak_amount: Option<Rial>,
    /// The invoice's push state (`not_pushed`, `pending`, `pushed`, `failed`, `dead`).
    pub push_state: String,
}

#[derive(SimpleObject)]
pub struct MahakReconciliation {
    /// Every day of the range in order, days without orders included.
    pub days: Vec<MahakReconciliationDay>,
    /// Every difference, by day and order number.
    pub differences: Vec<MahakDifference>,
}

#[derive(Default)]
pub struct ReconcileQuery;

#[Object]
impl ReconcileQuery {
    /// Orders paid in the store per Tehran day against the invoices and receipts found in
    /// Mahak, with every difference per order. `from` and `to` are `YYYY-MM-DD`, both
    /// included, at most 366 days. Permission `REPORTS`.
    async fn mahak_reconciliation(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
    ) -> ApiResult<MahakReconciliation> {
        access::require(ctx, Permission::Reports).await?;
        let range = report::range(&from, &to)?;
        let settings = ctx
            .data_opt::<ReconcileSettings>()
            .cloned()
            .unwrap_or_default();
        let db = &ctx.data_unchecked::<Services>().db;
        let report = report::reconciliation(db, &range, &settings, Utc::now()).await?;
        Ok(MahakReconciliation {
            days: report
                .days
                .into_iter()
                .map(|d| MahakReconciliationDay {
                    day: d.day.to_string(),
                    paid_orders: d.paid_orders,
                    paid_total: Rial(d.paid_total),
                    invoiced_orders: d.invoiced_orders,
                    invoiced_total: Rial(d.invoiced_total),
                    receipted_orders: d.receipted_orders,
                    receipt_total: Rial(d.receipt_total),
                    differences: d.differences,
                })
                .collect(),
            differences: report
                .differences
                .into_iter()
                .map(|d| MahakDifference {
                    day: d.day.to_string(),
                    order_number: d.order_number.to_string(),
                    kind: d.kind.into(),
                    store_amount: Rial(d.store_amount),
                    mahak_amount: d.mahak_amount.map(Rial),
                    push_state: d.push_state,
                })
                .collect(),
        })
    }
}

#[derive(Default)]
pub struct ReconcileMutation;

#[Object]
impl ReconcileMutation {
    /// Pushes the order's invoice and/or sales return to Mahak again when that push is
    /// `failed` or `dead`: back to `pending`, with a fresh job in the outbox, and an audit
    /// entry. `CONFLICT` for an order with no failed or dead push (pushed, pending, never
    /// pushed). Needs `orders`.
    async fn retry_mahak_push(
        &self,
        ctx: &Context<'_>,
        order_number: String,
    ) -> ApiResult<AdminOrder> {
        let staff = access::require(ctx, Permission::Orders).await?;
        let db = &ctx.data_unchecked::<Services>().db;
        let order = rules::retry_push(db, staff.id, &order_number).await?;
        one_order(db, order).await
    }
}
