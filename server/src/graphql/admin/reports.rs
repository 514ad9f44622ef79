//! Sales reports for the back office (permission `REPORTS`). The figures come from
//! `crate::reports`, one SQL statement per report; every report can also be downloaded as CSV
//! from `GET /admin/reports/{report}.csv` (see `crate::http::reports_csv`).

use async_graphql::{Context, Enum, Object, SimpleObject};

use super::access::{self, Permission};
use super::orders::OrderStatus;
use crate::error::ApiResult;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;
use crate::reports::{self, Bucket, DateRange, TopBy};

fn db<'a>(ctx: &Context<'a>) -> &'a sea_orm::DatabaseConnection {
    &ctx.data_unchecked::<Services>().db
}

/// How a report groups time, on the shop's calendar (Asia/Tehran).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReportBucket {
    /// One row per day (a range of at most 731 days).
    Day,
    /// One row per week, Saturday to Friday (the Iranian week).
    Week,
    /// One row per calendar month (Gregorian).
    Month,
}

impl From<ReportBucket> for Bucket {
    fn from(bucket: ReportBucket) -> Self {
        match bucket {
            ReportBucket::Day => Bucket::Day,
            ReportBucket::Week => Bucket::Week,
            ReportBucket::Month => Bucket::Month,
        }
    }
}

/// What `topProducts` ranks by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TopProductsBy {
    /// Revenue first, then units.
    Revenue,
    /// Units sold first, then revenue.
    Units,
}

/// Sales in one bucket of time.
#[derive(SimpleObject)]
pub struct SalesRow {
    /// First day of the bucket, `YYYY-MM-DD` (Tehran calendar). The first and last bucket may
    /// start before or end after the range; only orders inside the range are counted.
    pub bucket_start: String,
    /// Orders sold (placed in the bucket and now paid, processing, shipped or delivered).
    pub orders: i64,
    /// Sum of those orders' grand totals (goods after discount, tax, toll and shipping).
    pub revenue: Rial,
    /// `revenue / orders`, rounded half up; 0 without orders.
    pub average_order: Rial,
}

/// Sales over a date range. A sale is an order placed in the range that is now `PAID`,
/// `PROCESSING`, `SHIPPED` or `DELIVERED`: orders awaiting payment, cancelled (also after
/// payment) and refunded ones do not count. Orders belong to the Tehran day they were placed.
#[derive(SimpleObject)]
pub struct SalesReport {
    /// Every bucket of the range in order, those without sales included (zeros).
    pub rows: Vec<SalesRow>,
    pub total_orders: i64,
    pub total_revenue: Rial,
    /// `totalRevenue / totalOrders`, rounded half up.
    pub average_order: Rial,
}

/// One product variant's sales in the range (from the sold orders' lines).
#[derive(SimpleObject)]
pub struct TopProduct {
    /// 1 for the best seller.
    pub rank: i32,
    /// The variant's id (as in the catalogue's `Variant.id`).
    pub variant_id: String,
    /// The variant's id in Mahak.
    pub variant_mahak_id: String,
    /// The product's name as it was sold (order lines keep a copy).
    pub product_name: String,
    pub variant_label: String,
    pub units: i64,
    /// Sum of the lines' totals: after discount, with tax and toll (shipping is per order and
    /// not included).
    pub revenue: Rial,
    /// Orders the variant was in.
    pub orders: i64,
}

/// Orders placed in the range, by their current status.
#[derive(SimpleObject)]
pub struct OrdersByStatusRow {
    pub status: OrderStatus,
    pub orders: i64,
    /// Sum of their grand totals.
    pub total: Rial,
}

/// Payment attempts started in the range and how they ended. A customer may make several
/// attempts for one order (each `startPayment` is one).
#[derive(SimpleObject)]
pub struct PaymentSuccessReport {
    pub attempts: i64,
    /// Verified with the gateway and paid.
    pub succeeded: i64,
    /// Refused by the gateway or by verification.
    pub failed: i64,
    /// Cancelled by the customer on the gateway's page.
    pub cancelled: i64,
    /// Not settled yet (the customer has not come back; the sweep will verify them).
    pub pending: i64,
    /// Orders with at least one attempt.
    pub orders: i64,
    /// Sum of the paid attempts' amounts.
    pub paid_amount: Rial,
    /// `succeeded / (succeeded + failed + cancelled)`, between 0 and 1; null when no attempt
    /// is settled.
    pub success_rate: Option<f64>,
}

/// Customers who bought in one bucket: new ones (their first sale ever is in this bucket)
/// and returning ones (they had bought before it).
#[derive(SimpleObject)]
pub struct CustomerCohortRow {
    /// First day of the bucket, `YYYY-MM-DD` (Tehran calendar).
    pub bucket_start: String,
    pub new_customers: i64,
    pub returning_customers: i64,
    /// Orders of the new customers in the bucket.
    pub new_orders: i64,
    pub returning_orders: i64,
    pub new_revenue: Rial,
    pub returning_revenue: Rial,
}

#[derive(Default)]
pub struct ReportsQuery;

/// Dates are `YYYY-MM-DD` on the Tehran calendar, both ends included; `from` must not be
/// after `to`. Ranges by day are at most 731 days long, others at most 3,660 days.
#[Object]
impl ReportsQuery {
    /// Orders, revenue and average order per day, week or month. Permission `REPORTS`.
    async fn sales_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default_with = "ReportBucket::Day")] bucket: ReportBucket,
    ) -> ApiResult<SalesReport> {
        access::require(ctx, Permission::Reports).await?;
        let (from, to) = DateRange::parse_dates(&from, &to)?;
        let range = DateRange::for_bucket(from, to, bucket.into())?;
        let report = reports::sales(db(ctx), &range, bucket.into()).await?;
        Ok(SalesReport {
            rows: report
                .rows
                .into_iter()
                .map(|r| SalesRow {
                    bucket_start: r.bucket_start.to_string(),
                    orders: r.orders,
                    revenue: Rial(r.revenue),
                    average_order: Rial(r.average_order),
                })
                .collect(),
            total_orders: report.total_orders,
            total_revenue: Rial(report.total_revenue),
            average_order: Rial(report.average_order),
        })
    }

    /// The best-selling product variants of the range (sales as in `salesReport`), `limit`
    /// 1 to 100. Permission `REPORTS`.
    async fn top_products(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default = 10)] limit: i32,
        #[graphql(default_with = "TopProductsBy::Revenue")] by: TopProductsBy,
    ) -> ApiResult<Vec<TopProduct>> {
        access::require(ctx, Permission::Reports).await?;
        let (from, to) = DateRange::parse_dates(&from, &to)?;
        let range = DateRange::new(from, to, reports::MAX_DAYS)?;
        let by = match by {
            TopProductsBy::Revenue => TopBy::Revenue,
            TopProductsBy::Units => TopBy::Units,
        };
        let rows = reports::top_products(db(ctx), &range, by, i64::from(limit)).await?;
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| TopProduct {
                rank: i as i32 + 1,
                variant_id: r.variant_id.to_string(),
                variant_mahak_id: r.variant_mahak_id.to_string(),
                product_name: r.product_name,
                variant_label: r.variant_label,
                units: r.units,
                revenue: Rial(r.revenue),
                orders: r.orders,
            })
            .collect())
    }

    /// Orders placed in the range by their current status: every status in the order of the
    /// order's life, zeros included. Permission `REPORTS`.
    async fn orders_by_status(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
    ) -> ApiResult<Vec<OrdersByStatusRow>> {
        access::require(ctx, Permission::Reports).await?;
        let (from, to) = DateRange::parse_dates(&from, &to)?;
        let range = DateRange::new(from, to, reports::MAX_DAYS)?;
        Ok(reports::orders_by_status(db(ctx), &range)
            .await?
            .into_iter()
            .map(|r| OrdersByStatusRow {
                status: r.status.into(),
                orders: r.orders,
                total: Rial(r.total),
            })
            .collect())
    }

    /// Payment attempts started in the range and their outcome. Permission `REPORTS`.
    async fn payment_success_rate(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
    ) -> ApiResult<PaymentSuccessReport> {
        access::require(ctx, Permission::Reports).await?;
        let (from, to) = DateRange::parse_dates(&from, &to)?;
        let range = DateRange::new(from, to, reports::MAX_DAYS)?;
        let stats = reports::payment_success_rate(db(ctx), &range).await?;
        Ok(PaymentSuccessReport {
            success_rate: stats.success_rate(),
            attempts: stats.attempts,
            succeeded: stats.succeeded,
            failed: stats.failed,
            cancelled: stats.cancelled,
            pending: stats.pending,
            orders: stats.orders,
            paid_amount: Rial(stats.paid_amount),
        })
    }

    /// New versus returning customers per day, week or month (sales as in `salesReport`;
    /// a customer is new in the bucket holding their first sale ever). Permission `REPORTS`.
    async fn customer_cohorts(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default_with = "ReportBucket::Week")] bucket: ReportBucket,
    ) -> ApiResult<Vec<CustomerCohortRow>> {
        access::require(ctx, Permission::Reports).await?;
        let (from, to) = DateRange::parse_dates(&from, &to)?;
        let range = DateRange::for_bucket(from, to, bucket.into())?;
        Ok(
            reports::customers_new_vs_returning(db(ctx), &range, bucket.into())
                .await?
                .into_iter()
                .map(|r| CustomerCohortRow {
                    bucket_start: r.bucket_start.to_string(),
                    new_customers: r.new_customers,
                    returning_customers: r.returning_customers,
                    new_orders: r.new_orders,
                    returning_orders: r.returning_orders,
                    new_revenue: Rial(r.new_revenue),
                    returning_revenue: Rial(r.returning_revenue),
                })
                .collect(),
        )
    }
}
