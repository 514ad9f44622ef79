//! The reconciliation report: per Tehran day, the orders paid in the store against the
//! invoices and receipts found in Mahak, and every difference per order.
//!
//! - An order belongs to the Tehran day it was paid (`orders.paid_at`; the calendar of
//!   `crate::reports`: the real zone on PostgreSQL, a fixed +03:30 on SQLite), whatever its
//!   status now (an order paid and later refunded was still paid that day).
//! - Its **invoice** is the live `mahak_orders` row of type 201 whose ClientId is the
//!   order's `mahak_order_client_id` (or whose id is its `mahak_order_id`). The invoice's
//!   amount is what can be computed exactly from its lines: the sum over the live
//!   `mahak_order_details` of `price × count1 − discount`, less the invoice's own
//!   `discount`; it is compared with the order's goods after discount (`subtotal −
//!   discount_total`; tax, toll and shipping are not on the lines). Lines with a fractional
//!   `count1` make the amount not computable: no amount comparison then.
//! - Its **receipts** are the live `mahak_receipts` whose `order_mahak_id` is the invoice's
//!   id or whose `order_client_id` is its ClientId; a receipt's amount is its `cash_amount`
//!   plus its live cheques (`mahak_cheques` by receipt id or ClientId). Their sum is
//!   compared with the order's paid payments.
//! - Differences: [`DifferenceKind`]. A receipt is only reported missing once the payment
//!   was verified more than `reconcile.receipt_grace_secs` ago.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use entity::{mahak_cheques, mahak_order_details, mahak_orders, mahak_receipts, orders, payments};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder};

use super::{ReconcileSettings, SALES_INVOICE};
use crate::error::{ApiError, ApiResult};
use crate::reports::DateRange;

/// Longest range of the report, in days.
pub const MAX_DAYS: i64 = 366;
/// Ids per `IN (...)` list.
const CHUNK: usize = 500;

/// What differs between the store and Mahak for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DifferenceKind {
    /// Paid in the store, no invoice in Mahak.
    MissingInvoice,
    /// The invoice's goods after discount differ from the order's.
    InvoiceAmountDiffers,
    /// A payment verified longer ago than the grace time, and no receipt in Mahak.
    ReceiptMissing,
    /// The receipts in Mahak add up to another amount than the store's paid payments.
    ReceiptAmountDiffers,
}

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::MissingInvoice => "missing_invoice",
            DifferenceKind::InvoiceAmountDiffers => "invoice_amount_differs",
            DifferenceKind::ReceiptMissing => "receipt_missing",
            DifferenceKind::ReceiptAmountDiffers => "receipt_amount_differs",
        }
    }
}

/// One difference of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The Tehran day the order was paid.
    pub day: NaiveDate,
    pub order_number: i64,
    pub kind: DifferenceKind,
    /// The store's amount compared (goods after discount, or paid amount), Rial.
    pub store_amount: i64,
    /// Mahak's amount, when there is one to compare.
    pub mahak_amount: Option<i64>,
    /// The order's invoice push state (`orders.mahak_state`), for context.
    pub push_state: String,
}

/// One Tehran day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    pub day: NaiveDate,
    /// Orders paid in the store that day, and their grand totals.
    pub paid_orders: i64,
    pub paid_total: i64,
    /// Of those, orders with an invoice in Mahak, and the invoices' computable amounts.
    pub invoiced_orders: i64,
    pub invoiced_total: i64,
    /// Of those, orders with at least one receipt in Mahak, and the receipts' amounts.
    pub receipted_orders: i64,
    pub receipt_total: i64,
    /// Differences of the day's orders.
    pub differences: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconciliation {
    /// Every day of the range, in order, days without orders included.
    pub days: Vec<DayRow>,
    /// Every difference, by day, order number and kind.
    pub differences: Vec<Difference>,
}

/// The Tehran calendar day of `at`, on the calendar `backend`'s reports use.
pub fn tehran_day(at: DateTime<Utc>, backend: DbBackend) -> NaiveDate {
    if backend == DbBackend::Sqlite {
        return (at + chrono::Duration::minutes(210)).date_naive();
    }
    chrono_tz::Asia::Tehran
        .from_utc_datetime(&at.naive_utc())
        .date_naive()
}

/// The checked range of the report (at most [`MAX_DAYS`] days).
pub fn range(from: &str, to: &str) -> ApiResult<DateRange> {
    let (from, to) = DateRange::parse_dates(from, to)?;
    DateRange::new(from, to, MAX_DAYS)
}

fn chunks<T: Clone>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    items.chunks(CHUNK).map(<[T]>::to_vec)
}

/// `price × count1 − discount` exactly, or `None` for a fractional or absurd count.
fn line_amount(line: &mahak_order_details::Model) -> Option<i64> {
    if !line.count1.is_finite() || line.count1.fract() != 0.0 || line.count1.abs() > 1e12 {
        return None;
    }
    let count = line.count1 as i64;
    line.price.checked_mul(count)?.checked_sub(line.discount)
}

/// Builds the report for `range`, as of `now`.
pub async fn reconciliation<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
    settings: &ReconcileSettings,
    now: DateTime<Utc>,
) -> ApiResult<Reconciliation> {
    let backend = db.get_database_backend();
    let (start, end) = range.bounds(backend);
    let paid = orders::Entity::find()
        .filter(orders::Column::PaidAt.gte(start))
        .filter(orders::Column::PaidAt.lt(end))
        .order_by_asc(orders::Column::PaidAt)
        .order_by_asc(orders::Column::Number)
        .all(db)
        .await?;

    // Invoices by the order's ClientId or id.
    let client_ids: Vec<i64> = paid
        .iter()
        .filter_map(|o| o.mahak_order_client_id)
        .collect();
    let mahak_ids: Vec<i64> = paid.iter().filter_map(|o| o.mahak_order_id).collect();
    let mut invoices: Vec<mahak_orders::Model> = Vec::new();
    for ids in chunks(&client_ids) {
        invoices.extend(
            mahak_orders::Entity::find()
                .filter(mahak_orders::Column::OrderType.eq(SALES_INVOICE))
                .filter(mahak_orders::Column::DeletedAt.is_null())
                .filter(mahak_orders::Column::MahakClientId.is_in(ids))
                .all(db)
                .await?,
        );
    }
    for ids in chunks(&mahak_ids) {
        invoices.extend(
            mahak_orders::Entity::find()
                .filter(mahak_orders::Column::OrderType.eq(SALES_INVOICE))
                .filter(mahak_orders::Column::DeletedAt.is_null())
                .filter(mahak_orders::Column::MahakId.is_in(ids))
                .all(db)
                .await?,
        );
    }
    let mut invoice_by_client: HashMap<i64, &mahak_orders::Model> = HashMap::new();
    let mut invoice_by_id: HashMap<i64, &mahak_orders::Model> = HashMap::new();
    for invoice in &invoices {
        if let Some(client) = invoice.mahak_client_id {
            invoice_by_client.insert(client, invoice);
        }
        invoice_by_id.insert(invoice.mahak_id, invoice);
    }
    let invoice_ids: Vec<i64> = invoice_by_id.keys().copied().collect();
    let mut lines: HashMap<i64, Vec<mahak_order_details::Model>> = HashMap::new();
    for ids in chunks(&invoice_ids) {
        for line in mahak_order_details::Entity::find()
            .filter(mahak_order_details::Column::DeletedAt.is_null())
            .filter(mahak_order_details::Column::OrderMahakId.is_in(ids))
            .all(db)
            .await?
        {
            if let Some(order) = line.order_mahak_id {
                lines.entry(order).or_default().push(line);
            }
        }
    }

    // Receipts by the invoice's id or ClientId (the order's, when the invoice is not synced).
    let mut receipt_order_ids: Vec<i64> = mahak_ids.clone();
    receipt_order_ids.extend(invoice_ids.iter().copied());
    receipt_order_ids.sort_unstable();
    receipt_order_ids.dedup();
    let mut receipts: HashMap<i64, mahak_receipts::Model> = HashMap::new();
    for ids in chunks(&receipt_order_ids) {
        for r in mahak_receipts::Entity::find()
            .filter(mahak_receipts::Column::DeletedAt.is_null())
            .filter(mahak_receipts::Column::OrderMahakId.is_in(ids))
            .all(db)
            .await?
        {
            receipts.insert(r.mahak_id, r);
        }
    }
    for ids in chunks(&client_ids) {
        for r in mahak_receipts::Entity::find()
            .filter(mahak_receipts::Column::DeletedAt.is_null())
            .filter(mahak_receipts::Column::OrderClientId.is_in(ids))
            .all(db)
            .await?
        {
            receipts.insert(r.mahak_id, r);
        }
    }
    let receipt_ids: Vec<i64> = receipts.keys().copied().collect();
    let receipt_client_ids: Vec<i64> = receipts
        .values()
        .filter_map(|r| r.mahak_client_id)
        .collect();
    let mut cheques: HashMap<i64, mahak_cheques::Model> = HashMap::new();
    for (ids, client) in chunks(&receipt_ids)
        .map(|c| (c, false))
        .chain(chunks(&receipt_client_ids).map(|c| (c, true)))
    {
        let column = if client {
            mahak_cheques::Column::ReceiptClientId
        } else {
            mahak_cheques::Column::ReceiptMahakId
        };
        for c in mahak_cheques::Entity::find()
            .filter(mahak_cheques::Column::DeletedAt.is_null())
            .filter(column.is_in(ids))
            .all(db)
            .await?
        {
            cheques.insert(c.mahak_id, c);
        }
    }
    let receipt_amount = |r: &mahak_receipts::Model| -> i64 {
        r.cash_amount
            + cheques
                .values()
                .filter(|c| {
                    c.receipt_mahak_id == Some(r.mahak_id)
                        || (r.mahak_client_id.is_some() && c.receipt_client_id == r.mahak_client_id)
                })
                .map(|c| c.amount)
                .sum::<i64>()
    };

    let order_ids: Vec<uuid::Uuid> = paid.iter().map(|o| o.id).collect();
    let mut paid_payments: HashMap<uuid::Uuid, Vec<payments::Model>> = HashMap::new();
    for ids in chunks(&order_ids) {
        for p in payments::Entity::find()
            .filter(payments::Column::Status.eq("paid"))
            .filter(payments::Column::OrderId.is_in(ids))
            .all(db)
            .await?
        {
            paid_payments.entry(p.order_id).or_default().push(p);
        }
    }

    let mut days: BTreeMap<NaiveDate, DayRow> = BTreeMap::new();
    let mut day = range.from;
    while day <= range.to {
        days.insert(
            day,
            DayRow {
                day,
                paid_orders: 0,
                paid_total: 0,
                invoiced_orders: 0,
                invoiced_total: 0,
                receipted_orders: 0,
                receipt_total: 0,
                differences: 0,
            },
        );
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    let grace = settings.grace();
    let mut differences = Vec::new();
    for order in &paid {
        let Some(paid_at) = order.paid_at else {
            continue;
        };
        let day = tehran_day(paid_at, backend);
        let Some(row) = days.get_mut(&day) else {
            continue;
        };
        row.paid_orders += 1;
        row.paid_total += order.grand_total;
        let mut differ = |kind, store_amount, mahak_amount| {
            differences.push(Difference {
                day,
                order_number: order.number,
                kind,
                store_amount,
                mahak_amount,
                push_state: order.mahak_state.clone(),
            });
        };
        let invoice = order
            .mahak_order_client_id
            .and_then(|c| invoice_by_client.get(&c))
            .or_else(|| order.mahak_order_id.and_then(|id| invoice_by_id.get(&id)))
            .copied();
        let goods = order.subtotal - order.discount_total;
        match invoice {
            None => differ(DifferenceKind::MissingInvoice, goods, None),
            Some(invoice) => {
                row.invoiced_orders += 1;
                let amount = lines
                    .get(&invoice.mahak_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(line_amount)
                    .sum::<Option<i64>>()
                    .map(|sum| sum - invoice.discount);
                if let Some(amount) = amount {
                    row.invoiced_total += amount;
                    if amount != goods {
                        differ(DifferenceKind::InvoiceAmountDiffers, goods, Some(amount));
                    }
                }
            }
        }
        let invoice_id = invoice.map(|i| i.mahak_id).or(order.mahak_order_id);
        let matched: Vec<&mahak_receipts::Model> = {
            let mut seen = HashSet::new();
            receipts
                .values()
                .filter(|r| {
                    (invoice_id.is_some() && r.order_mahak_id == invoice_id)
                        || (order.mahak_order_client_id.is_some()
                            && r.order_client_id == order.mahak_order_client_id)
                })
                .filter(|r| seen.insert(r.mahak_id))
                .collect()
        };
        let payments = paid_payments
            .get(&order.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let paid_amount: i64 = payments.iter().map(|p| p.amount).sum();
        if matched.is_empty() {
            let overdue = payments
                .iter()
                .any(|p| p.verified_at.is_some_and(|at| at < now - grace));
            if overdue {
                differ(DifferenceKind::ReceiptMissing, paid_amount, None);
            }
        } else {
            let amount: i64 = matched.iter().map(|r| receipt_amount(r)).sum();
            row.receipted_orders += 1;
            row.receipt_total += amount;
            if amount != paid_amount {
                differ(
                    DifferenceKind::ReceiptAmountDiffers,
                    paid_amount,
                    Some(amount),
                );
            }
        }
    }
    differences.sort_by_key(|d| (d.day, d.order_number, d.kind));
    for difference in &differences {
        if let Some(row) = days.get_mut(&difference.day) {
            row.differences += 1;
        }
    }
    Ok(Reconciliation {
        days: days.into_values().collect(),
        differences,
    })
}

/// The report as CSV (`GET /admin/reports/mahak-reconciliation.csv?from=&to=`): one row per
/// difference, after one row per day (`row` = `day` or `difference`).
pub async fn csv<C: ConnectionTrait>(
    db: &C,
    from: Option<&str>,
    to: Option<&str>,
    settings: &ReconcileSettings,
) -> ApiResult<crate::reports::csv::CsvFile> {
    let required = |field: &'static str, value: Option<&str>| {
        value
            .filter(|v| !v.trim().is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::bad_input(field, format!("`{field}` is required (YYYY-MM-DD)"))
            })
    };
    let (from, to) = (required("from", from)?, required("to", to)?);
    let range = range(&from, &to)?;
    let report = reconciliation(db, &range, settings, Utc::now()).await?;
    let mut rows = Vec::new();
    for d in &report.days {
        rows.push(vec![
            "day".into(),
            d.day.to_string(),
            d.paid_orders.to_string(),
            d.paid_total.to_string(),
            d.invoiced_orders.to_string(),
            d.invoiced_total.to_string(),
            d.receipted_orders.to_string(),
            d.receipt_total.to_string(),
            d.differences.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for d in &report.differences {
        rows.push(vec![
            "difference".into(),
            d.day.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            d.order_number.to_string(),
            d.kind.as_str().into(),
            d.store_amount.to_string(),
            d.mahak_amount.map(|a| a.to_string()).unwrap_or_default(),
            d.push_state.clone(),
        ]);
    }
    let header = [
        "row",
        "day",
        "paid_orders",
        "paid_total_rial",
        "invoiced_orders",
        "invoiced_total_rial",
        "receipted_orders",
        "receipt_total_rial",
        "differences",
        "order_number",
        "difference",
        "store_amount_rial",
        "mahak_amount_rial",
        "push_state",
    ];
    Ok(crate::reports::csv::CsvFile {
        filename: format!("mahak-reconciliation-{}-{}.csv", range.from, range.to),
        body: crate::reports::csv::render(&header, &rows)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(price: i64, count1: f64, discount: i64) -> mahak_order_details::Model {
        mahak_order_details::Model {
            id: 1,
            mahak_id: 1,
            mahak_client_id: None,
            mahak_code: None,
            row_version: 1,
            deleted_at: None,
            payload: serde_json::json!({}),
            synced_at: Utc::now(),
            order_mahak_id: Some(1),
            variant_mahak_id: None,
            warehouse_mahak_id: None,
            item_type: 1,
            price,
            count1,
            discount,
            tax_percent: 0.0,
            toll_percent: 0.0,
        }
    }

    #[test]
    fn line_amounts_are_exact_or_not_computed() {
        assert_eq!(line_amount(&line(1_000_000, 2.0, 50_000)), Some(1_950_000));
        assert_eq!(line_amount(&line(1_000, 1.5, 0)), None);
        assert_eq!(line_amount(&line(i64::MAX, 2.0, 0)), None);
        assert_eq!(line_amount(&line(1, f64::NAN, 0)), None);
    }

    #[test]
    fn tehran_days_follow_the_reports_calendar() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 20, 29, 0).unwrap();
        let next = Utc.with_ymd_and_hms(2026, 11, 27, 20, 31, 0).unwrap();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert_eq!(tehran_day(at, backend).to_string(), "2026-11-27");
            assert_eq!(tehran_day(next, backend).to_string(), "2026-11-28");
        }
    }
}
