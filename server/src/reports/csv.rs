//! CSV exports of the reports: one header row, then one row per report row, UTF-8 with a byte
//! order mark (so spreadsheet programs show Persian text correctly), quoted where needed by
//! the `csv` crate. Text that a spreadsheet would run as a formula (starting with `=`, `+`,
//! `-`, `@`, tab or carriage return) is prefixed with `'`.

use super::{Bucket, DateRange, TopBy};
use crate::error::{ApiError, ApiResult};
use sea_orm::ConnectionTrait;

/// The reports that can be exported, by their name in the URL
/// (`/admin/reports/{name}.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Sales,
    TopProducts,
    OrdersByStatus,
    PaymentSuccess,
    Customers,
}

impl Report {
    pub const ALL: [Report; 5] = [
        Report::Sales,
        Report::TopProducts,
        Report::OrdersByStatus,
        Report::PaymentSuccess,
        Report::Customers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Report::Sales => "sales",
            Report::TopProducts => "top-products",
            Report::OrdersByStatus => "orders-by-status",
            Report::PaymentSuccess => "payment-success",
            Report::Customers => "customers",
        }
    }

    pub fn parse(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// The query string of an export: `from`, `to` (`YYYY-MM-DD`), `bucket` (`day`, `week`,
/// `month`; default `day`), `limit` (top products, default 20), `by` (`revenue` or `units`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ExportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub bucket: Option<String>,
    pub limit: Option<i64>,
    pub by: Option<String>,
}

/// A rendered export.
#[derive(Debug, Clone)]
pub struct CsvFile {
    /// `sales-2026-11-01-2026-11-30.csv`.
    pub filename: String,
    pub body: Vec<u8>,
}

pub const DEFAULT_TOP_LIMIT: i64 = 20;

fn required<'a>(field: &'static str, value: &'a Option<String>) -> ApiResult<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_input(field, format!("`{field}` is required (YYYY-MM-DD)")))
}

/// Runs `report` for the query and renders it.
pub async fn export<C: ConnectionTrait>(
    db: &C,
    report: Report,
    query: &ExportQuery,
) -> ApiResult<CsvFile> {
    let (from, to) =
        DateRange::parse_dates(required("from", &query.from)?, required("to", &query.to)?)?;
    let bucket = match query.bucket.as_deref() {
        None | Some("") => Bucket::Day,
        Some(text) => Bucket::parse(text)
            .ok_or_else(|| ApiError::bad_input("bucket", "bucket must be day, week or month"))?,
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let header: &[&str] = match report {
        Report::Sales => {
            let range = DateRange::for_bucket(from, to, bucket)?;
            let sales = super::sales(db, &range, bucket).await?;
            for row in sales.rows {
                rows.push(vec![
                    row.bucket_start.to_string(),
                    row.orders.to_string(),
                    row.revenue.to_string(),
                    row.average_order.to_string(),
                ]);
            }
            &[
                "bucket_start",
                "orders",
                "revenue_rial",
                "average_order_rial",
            ]
        }
        Report::TopProducts => {
            let range = DateRange::new(from, to, super::MAX_DAYS)?;
            let by = match query.by.as_deref() {
                None | Some("") | Some("revenue") => TopBy::Revenue,
                Some("units") => TopBy::Units,
                Some(_) => return Err(ApiError::bad_input("by", "by must be revenue or units")),
            };
            let limit = query.limit.unwrap_or(DEFAULT_TOP_LIMIT);
            let top = super::top_products(db, &range, by, limit).await?;
            for (rank, row) in top.into_iter().enumerate() {
                rows.push(vec![
                    (rank + 1).to_string(),
                    row.variant_id.to_string(),
                    row.variant_mahak_id.to_string(),
                    defuse(&row.product_name),
                    defuse(&row.variant_label),
                    row.units.to_string(),
                    row.revenue.to_string(),
                    row.orders.to_string(),
                ]);
            }
            &[
                "rank",
                "variant_id",
                "variant_mahak_id",
                "product_name",
                "variant_label",
                "units",
                "revenue_rial",
                "orders",
            ]
        }
        Report::OrdersByStatus => {
            let range = DateRange::new(from, to, super::MAX_DAYS)?;
            for row in super::orders_by_status(db, &range).await? {
                rows.push(vec![
                    row.status.as_str().to_string(),
                    row.orders.to_string(),
                    row.total.to_string(),
                ]);
            }
            &["status", "orders", "total_rial"]
        }
        Report::PaymentSuccess => {
            let range = DateRange::new(from, to, super::MAX_DAYS)?;
            let stats = super::payment_success_rate(db, &range).await?;
            rows.push(vec![
                stats.attempts.to_string(),
                stats.succeeded.to_string(),
                stats.failed.to_string(),
                stats.cancelled.to_string(),
                stats.pending.to_string(),
                stats.orders.to_string(),
                stats.paid_amount.to_string(),
                stats
                    .success_rate()
                    .map(|r| format!("{r:.4}"))
                    .unwrap_or_default(),
            ]);
            &[
                "attempts",
                "succeeded",
                "failed",
                "cancelled",
                "pending",
                "orders",
                "paid_amount_rial",
                "success_rate",
            ]
        }
        Report::Customers => {
            let range = DateRange::for_bucket(from, to, bucket)?;
            for row in super::customers_new_vs_returning(db, &range, bucket).await? {
                rows.push(vec![
                    row.bucket_start.to_string(),
                    row.new_customers.to_string(),
                    row.returning_customers.to_string(),
                    row.new_orders.to_string(),
                    row.returning_orders.to_string(),
                    row.new_revenue.to_string(),
                    row.returning_revenue.to_string(),
                ]);
            }
            &[
                "bucket_start",
                "new_customers",
                "returning_customers",
                "new_orders",
                "returning_orders",
                "new_revenue_rial",
                "returning_revenue_rial",
            ]
        }
    };
    Ok(CsvFile {
        filename: format!("{}-{from}-{to}.csv", report.name()),
        body: render(header, &rows)?,
    })
}

/// A header and rows as CSV bytes, with a UTF-8 byte order mark.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> ApiResult<Vec<u8>> {
    let mut writer = ::csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record(header).map_err(ApiError::internal)?;
    for row in rows {
        writer.write_record(row).map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("csv: {e}")))
}

/// Text a spreadsheet would evaluate as a formula, made inert with a leading `'`.
fn defuse(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_formulas_defused() {
        let body = render(
            &["name", "n"],
            &[
                vec!["چای, \"ممتاز\"".into(), "1".into()],
                vec![defuse("=HYPERLINK(\"x\")"), "2".into()],
            ],
        )
        .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "\u{feff}name,n\n\"چای, \"\"ممتاز\"\"\",1\n\"'=HYPERLINK(\"\"x\"\")\",2\n"
        );
    }

    #[test]
    fn report_names_round_trip() {
        for report in Report::ALL {
            assert_eq!(Report::parse(report.name()), Some(report));
        }
        assert_eq!(Report::parse("secrets"), None);
    }
}
