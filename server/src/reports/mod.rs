//! Admin reports, each computed by ONE SQL statement that runs on PostgreSQL 15 and on SQLite.
//!
//! - What counts as a sale: an order in `paid`, `processing`, `shipped` or `delivered`
//!   ([`SALES_STATUSES`]). Orders still `pending_payment`, `cancelled` ones (also those
//!   cancelled after payment) and `refunded` ones are not sales. Revenue is the orders'
//!   `grand_total` (what the customer paid: goods after discount, tax, toll and shipping).
//! - Orders belong to the day they were placed (`placed_at`) on the shop's calendar,
//!   Asia/Tehran: `AT TIME ZONE 'Asia/Tehran'` on PostgreSQL, a fixed +03:30 on SQLite (Iran
//!   has kept +03:30 all year since 2023). Weeks start on Saturday, months on the 1st.
//! - A date range is two calendar dates, both included: from 00:00 Tehran on `from` to 00:00
//!   Tehran on the day after `to`. The statements select orders by `placed_at` within those
//!   two instants, which the index `idx_orders_placed_at_report` serves (migration
//!   `m20261127_000003`); `server/tests/reports.rs` checks the plans with `EXPLAIN`.
//!
//! Every report has a `*_statement` function building its SQL (so the tests can `EXPLAIN`
//! exactly what runs) and an async function running it. Money is `i64` Rial throughout;
//! averages are rounded half up.

pub mod csv;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::commerce::orders::OrderStatus;
use crate::error::{ApiError, ApiResult};

/// The order states that count as sales.
pub const SALES_STATUSES: [OrderStatus; 4] = [
    OrderStatus::Paid,
    OrderStatus::Processing,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
];

/// Longest range, in days, of a report by day.
pub const MAX_DAYS_BY_DAY: i64 = 731;
/// Longest range, in days, of any other report.
pub const MAX_DAYS: i64 = 3_660;
/// Most products `top_products` returns.
pub const MAX_TOP_PRODUCTS: u32 = 100;

/// Tehran's offset used on SQLite, in minutes.
const SQLITE_TEHRAN_MINUTES: i64 = 210;

/// How a report groups orders in time (Tehran calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// Saturday to Friday.
    Week,
    /// Calendar month (Gregorian).
    Month,
}

impl Bucket {
    pub fn parse(text: &str) -> Option<Bucket> {
        match text.to_ascii_lowercase().as_str() {
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            "month" => Some(Bucket::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }

    fn max_days(self) -> i64 {
        match self {
            Bucket::Day => MAX_DAYS_BY_DAY,
            Bucket::Week | Bucket::Month => MAX_DAYS,
        }
    }

    /// The first day of the bucket holding `date`.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => date,
            Bucket::Week => {
                let since_saturday = (date.weekday().num_days_from_sunday() + 1) % 7;
                date - Days::new(u64::from(since_saturday))
            }
            Bucket::Month => date.with_day(1).unwrap_or(date),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => start + Days::new(1),
            Bucket::Week => start + Days::new(7),
            Bucket::Month => start + Months::new(1),
        }
    }

    /// The start dates of the buckets covering `range`, in order. The first and the last may
    /// reach outside the range (a week starting before `from`); only orders inside the range
    /// are counted in them.
    pub fn starts(self, range: &DateRange) -> Vec<NaiveDate> {
        let mut starts = Vec::new();
        let mut start = self.start_of(range.from);
        while start <= range.to {
            starts.push(start);
            start = self.next(start);
        }
        starts
    }
}

/// Two Tehran calendar dates, both included, `from <= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// Checks the range: `from <= to` and at most `max_days` days long (both ends counted).
    /// Errors are `BAD_USER_INPUT` on `to`.
    pub fn new(from: NaiveDate, to: NaiveDate, max_days: i64) -> ApiResult<DateRange> {
        if from > to {
            return Err(ApiError::bad_input(
                "to",
                format!("the range ends ({to}) before it starts ({from})"),
            ));
        }
        let days = (to - from).num_days() + 1;
        if days > max_days {
            return Err(ApiError::bad_input(
                "to",
                format!("the range is {days} days long; at most {max_days} days are allowed"),
            ));
        }
        Ok(DateRange { from, to })
    }

    /// A range for a report grouped by `bucket` (by day at most [`MAX_DAYS_BY_DAY`] days).
    pub fn for_bucket(from: NaiveDate, to: NaiveDate, bucket: Bucket) -> ApiResult<DateRange> {
        DateRange::new(from, to, bucket.max_days())
    }

    /// Parses `YYYY-MM-DD` dates (`BAD_USER_INPUT` on `from` / `to`).
    pub fn parse_dates(from: &str, to: &str) -> ApiResult<(NaiveDate, NaiveDate)> {
        Ok((parse_date("from", from)?, parse_date("to", to)?))
    }

    /// The instants the range covers: `[from 00:00 Tehran, (to + 1 day) 00:00 Tehran)`, on
    /// the calendar `backend` computes buckets with.
    pub fn bounds(&self, backend: DbBackend) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(self.from, backend),
            local_midnight(self.to + Days::new(1), backend),
        )
    }
}

/// A `YYYY-MM-DD` date, or `BAD_USER_INPUT` on `field`.
pub fn parse_date(field: &'static str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_input(
            field,
            format!("`{text}` is not a date; write it as YYYY-MM-DD (e.g. 2026-11-27)"),
        )
    })
}

/// 00:00 in Tehran on `date`, in UTC. PostgreSQL buckets with the real zone (which had
/// daylight saving time until 2022); SQLite with the fixed +03:30, so the bounds follow the
/// same calendar as the buckets.
fn local_midnight(date: NaiveDate, backend: DbBackend) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    let fixed =
        || Utc.from_utc_datetime(&midnight) - chrono::Duration::minutes(SQLITE_TEHRAN_MINUTES);
    if backend == DbBackend::Sqlite {
        return fixed();
    }
    // Iran moved its clocks at midnight, so a midnight may not exist (then 01:00 is the day's
    // first instant) or exist twice (the first one starts the day).
    match chrono_tz::Asia::Tehran.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => chrono_tz::Asia::Tehran
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(fixed, |t| t.with_timezone(&Utc)),
    }
}

/// `amount / count` rounded half up (0 when `count` is 0).
pub fn average(amount: i64, count: i64) -> i64 {
    if count <= 0 {
        return 0;
    }
    let (amount, count) = (i128::from(amount), i128::from(count));
    let rounded = if amount >= 0 {
        (2 * amount + count) / (2 * count)
    } else {
        -((-2 * amount + count) / (2 * count))
    };
    rounded as i64
}

// ---------------------------------------------------------------------------------------------
// SQL building blocks

/// The `n`th bind parameter (1-based) in the backend's syntax.
fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// `('paid', 'processing', ...)`: constants of this module, never user input.
fn sales_statuses_sql() -> String {
    let list: Vec<String> = SALES_STATUSES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", list.join(", "))
}

/// The start date of the Tehran-calendar bucket holding the timestamp `expr`, as
/// `YYYY-MM-DD` text.
fn bucket_sql(backend: DbBackend, bucket: Bucket, expr: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            let local = format!("({expr} AT TIME ZONE 'Asia/Tehran')");
            let start = match bucket {
                Bucket::Day => format!("date_trunc('day', {local})"),
                // date_trunc weeks start on Monday: shift Saturday onto Monday and back.
                Bucket::Week => {
                    format!("(date_trunc('week', {local} + interval '2 days') - interval '2 days')")
                }
                Bucket::Month => format!("date_trunc('month', {local})"),
            };
            format!("to_char({start}, 'YYYY-MM-DD')")
        }
        _ => {
            let shift = format!("'+{SQLITE_TEHRAN_MINUTES} minutes'");
            match bucket {
                Bucket::Day => format!("date({expr}, {shift})"),
                // strftime('%w'): 0 = Sunday ... 6 = Saturday; days since Saturday = (w+1) % 7.
                Bucket::Week => format!(
                    "date({expr}, {shift}, '-' || ((CAST(strftime('%w', {expr}, {shift}) AS INTEGER) + 1) % 7) || ' days')"
                ),
                Bucket::Month => format!("date({expr}, {shift}, 'start of month')"),
            }
        }
    }
}

fn range_values(range: &DateRange, backend: DbBackend) -> Vec<Value> {
    let (start, end) = range.bounds(backend);
    vec![start.into(), end.into()]
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> ApiResult<T> {
    row.try_get("", column)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("report column {column}: {e}")))
}

fn get_date(row: &QueryResult, column: &str) -> ApiResult<NaiveDate> {
    let text: String = get(row, column)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|e| ApiError::internal(anyhow::anyhow!("report bucket {text}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Sales

/// Sales of one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesRow {
    /// First day of the bucket (Tehran calendar).
    pub bucket_start: NaiveDate,
    pub orders: i64,
    /// Sum of the orders' grand totals, Rial.
    pub revenue: i64,
    /// `revenue / orders`, rounded half up; 0 without orders.
    pub average_order: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesReport {
    pub range: DateRange,
    pub bucket: Bucket,
    /// Every bucket of the range, those without sales included (zeros).
    pub rows: Vec<SalesRow>,
    pub total_orders: i64,
    pub total_revenue: i64,
    pub average_order: i64,
}

pub fn sales_statement(backend: DbBackend, range: &DateRange, bucket: Bucket) -> Statement {
    let b = bucket_sql(backend, bucket, "placed_at");
    let sql = format!(
        "SELECT {b} AS bucket, COUNT(*) AS orders, \
         CAST(COALESCE(SUM(grand_total), 0) AS BIGINT) AS revenue \
         FROM orders \
         WHERE placed_at >= {p1} AND placed_at < {p2} AND status IN {statuses} \
         GROUP BY 1 ORDER BY 1",
        p1 = param(backend, 1),
        p2 = param(backend, 2),
        statuses = sales_statuses_sql(),
    );
    Statement::from_sql_and_values(backend, sql, range_values(range, backend))
}

/// Orders, revenue and average order per bucket.
pub async fn sales<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
    bucket: Bucket,
) -> ApiResult<SalesReport> {
    let backend = db.get_database_backend();
    let found = db
        .query_all(sales_statement(backend, range, bucket))
        .await?
        .iter()
        .map(|row| {
            Ok((
                get_date(row, "bucket")?,
                (get(row, "orders")?, get(row, "revenue")?),
            ))
        })
        .collect::<ApiResult<std::collections::HashMap<NaiveDate, (i64, i64)>>>()?;
    let rows: Vec<SalesRow> = bucket
        .starts(range)
        .into_iter()
        .map(|start| {
            let (orders, revenue) = found.get(&start).copied().unwrap_or((0, 0));
            SalesRow {
                bucket_start: start,
                orders,
                revenue,
                average_order: average(revenue, orders),
            }
        })
        .collect();
    let total_orders = rows.iter().map(|r| r.orders).sum();
    let total_revenue = rows.iter().map(|r| r.revenue).sum();
    Ok(SalesReport {
        range: *range,
        bucket,
        rows,
        total_orders,
        total_revenue,
        average_order: average(total_revenue, total_orders),
    })
}

// ---------------------------------------------------------------------------------------------
// Top products

/// What `top_products` ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    Revenue,
    Units,
}

/// One variant's sales in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopProductRow {
    pub variant_id: i64,
    pub variant_mahak_id: i64,
    /// The product's name as sold (order lines copy it).
    pub product_name: String,
    pub variant_label: String,
    pub units: i64,
    /// Sum of the lines' totals (after discount, with tax and toll), Rial.
    pub revenue: i64,
    /// Orders the variant was in.
    pub orders: i64,
}

pub fn top_products_statement(
    backend: DbBackend,
    range: &DateRange,
    by: TopBy,
    limit: u32,
) -> Statement {
    let order = match by {
        TopBy::Revenue => "revenue DESC, units DESC",
        TopBy::Units => "units DESC, revenue DESC",
    };
    let sql = format!(
        "SELECT l.variant_id AS variant_id, MAX(l.variant_mahak_id) AS variant_mahak_id, \
         MAX(l.product_name) AS product_name, MAX(l.variant_label) AS variant_label, \
         CAST(SUM(l.quantity) AS BIGINT) AS units, CAST(SUM(l.line_total) AS BIGINT) AS revenue, \
         COUNT(DISTINCT l.order_id) AS orders \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.placed_at >= {p1} AND o.placed_at < {p2} AND o.status IN {statuses} \
         GROUP BY l.variant_id \
         ORDER BY {order}, l.variant_id \
         LIMIT {p3}",
        p1 = param(backend, 1),
        p2 = param(backend, 2),
        p3 = param(backend, 3),
        statuses = sales_statuses_sql(),
    );
    let mut values = range_values(range, backend);
    values.push(i64::from(limit).into());
    Statement::from_sql_and_values(backend, sql, values)
}

/// The best-selling variants by revenue or units; `limit` 1..=[`MAX_TOP_PRODUCTS`]
/// (`BAD_USER_INPUT` on `limit` otherwise).
pub async fn top_products<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
    by: TopBy,
    limit: i64,
) -> ApiResult<Vec<TopProductRow>> {
    let limit = u32::try_from(limit)
        .ok()
        .filter(|l| (1..=MAX_TOP_PRODUCTS).contains(l))
        .ok_or_else(|| {
            ApiError::bad_input("limit", format!("limit must be 1 to {MAX_TOP_PRODUCTS}"))
        })?;
    let backend = db.get_database_backend();
    db.query_all(top_products_statement(backend, range, by, limit))
        .await?
        .iter()
        .map(|row| {
            Ok(TopProductRow {
                variant_id: get(row, "variant_id")?,
                variant_mahak_id: get(row, "variant_mahak_id")?,
                product_name: get(row, "product_name")?,
                variant_label: get(row, "variant_label")?,
                units: get(row, "units")?,
                revenue: get(row, "revenue")?,
                orders: get(row, "orders")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Orders by status

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub status: OrderStatus,
    pub orders: i64,
    /// Sum of the orders' grand totals, Rial.
    pub total: i64,
}

pub fn orders_by_status_statement(backend: DbBackend, range: &DateRange) -> Statement {
    let sql = format!(
        "SELECT status, COUNT(*) AS orders, CAST(COALESCE(SUM(grand_total), 0) AS BIGINT) AS total \
         FROM orders WHERE placed_at >= {p1} AND placed_at < {p2} \
         GROUP BY status",
        p1 = param(backend, 1),
        p2 = param(backend, 2),
    );
    Statement::from_sql_and_values(backend, sql, range_values(range, backend))
}

/// Orders placed in the range by their current status: every status, in the order of the
/// state machine, zeros included.
pub async fn orders_by_status<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
) -> ApiResult<Vec<StatusRow>> {
    let backend = db.get_database_backend();
    let mut found = std::collections::HashMap::new();
    for row in db
        .query_all(orders_by_status_statement(backend, range))
        .await?
    {
        let text: String = get(&row, "status")?;
        let status = OrderStatus::parse(&text).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("orders hold an unknown status {text}"))
        })?;
        found.insert(status, (get(&row, "orders")?, get(&row, "total")?));
    }
    Ok(OrderStatus::ALL
        .into_iter()
        .map(|status| {
            let (orders, total) = found.get(&status).copied().unwrap_or((0, 0));
            StatusRow {
                status,
                orders,
                total,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Payment success rate

/// Payment attempts started in the range and how they ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStats {
    pub attempts: i64,
    /// Verified and paid.
    pub succeeded: i64,
    /// Failed at the gateway or in verification.
    pub failed: i64,
    /// The customer cancelled at the gateway.
    pub cancelled: i64,
    /// Not settled yet (no callback, verification pending).
    pub pending: i64,
    /// Orders with at least one attempt.
    pub orders: i64,
    /// Sum of the paid attempts' amounts, Rial.
    pub paid_amount: i64,
}

impl PaymentStats {
    /// `succeeded / (succeeded + failed + cancelled)`: the share of settled attempts that
    /// were paid; `None` when none is settled.
    pub fn success_rate(&self) -> Option<f64> {
        let settled = self.succeeded + self.failed + self.cancelled;
        (settled > 0).then(|| self.succeeded as f64 / settled as f64)
    }
}

pub fn payment_success_statement(backend: DbBackend, range: &DateRange) -> Statement {
    let sql = format!(
        "SELECT COUNT(*) AS attempts, \
         CAST(COALESCE(SUM(CASE WHEN s.status = 'paid' THEN 1 ELSE 0 END), 0) AS BIGINT) AS succeeded, \
         CAST(COALESCE(SUM(CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed_all, \
         CAST(COALESCE(SUM(s.cancelled), 0) AS BIGINT) AS cancelled, \
         CAST(COALESCE(SUM(CASE WHEN s.status = 'started' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
         COUNT(DISTINCT s.order_id) AS orders, \
         CAST(COALESCE(SUM(CASE WHEN s.status = 'paid' THEN s.amount ELSE 0 END), 0) AS BIGINT) AS paid_amount \
         FROM (SELECT p.status, p.order_id, p.amount, \
               CASE WHEN p.status = 'failed' AND EXISTS (SELECT 1 FROM payment_events e \
                    WHERE e.payment_id = p.id AND e.kind = 'cancelled') THEN 1 ELSE 0 END AS cancelled \
               FROM payments p WHERE p.created_at >= {p1} AND p.created_at < {p2}) s",
        p1 = param(backend, 1),
        p2 = param(backend, 2),
    );
    Statement::from_sql_and_values(backend, sql, range_values(range, backend))
}

/// Payment attempts started in the range (by `payments.created_at`): paid, failed, cancelled
/// by the customer (a `cancelled` payment event), still pending.
pub async fn payment_success_rate<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
) -> ApiResult<PaymentStats> {
    let backend = db.get_database_backend();
    let row = db
        .query_one(payment_success_statement(backend, range))
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("aggregate returned no row")))?;
    let cancelled: i64 = get(&row, "cancelled")?;
    Ok(PaymentStats {
        attempts: get(&row, "attempts")?,
        succeeded: get(&row, "succeeded")?,
        // `cancelled` is only ever set on failed attempts.
        failed: get::<i64>(&row, "failed_all")? - cancelled,
        cancelled,
        pending: get(&row, "pending")?,
        orders: get(&row, "orders")?,
        paid_amount: get(&row, "paid_amount")?,
    })
}

// ---------------------------------------------------------------------------------------------
// New and returning customers

/// Customers who bought in one bucket, split into new (their first sale ever is in this
/// bucket) and returning (they had bought before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortRow {
    pub bucket_start: NaiveDate,
    pub new_customers: i64,
    pub returning_customers: i64,
    pub new_orders: i64,
    pub returning_orders: i64,
    /// Rial.
    pub new_revenue: i64,
    /// Rial.
    pub returning_revenue: i64,
}

pub fn customers_statement(backend: DbBackend, range: &DateRange, bucket: Bucket) -> Statement {
    let statuses = sales_statuses_sql();
    // Evaluated once per customer and bucket (an output of the grouped query), through the
    // index on orders (customer_id, placed_at).
    let first_sale = format!(
        "(SELECT MIN(f.placed_at) FROM orders f \
         WHERE f.customer_id = o.customer_id AND f.status IN {statuses})"
    );
    let first_bucket = bucket_sql(backend, bucket, "per.first_sale");
    let order_bucket = bucket_sql(backend, bucket, "o.placed_at");
    let sum = |when_new: &str, when_returning: &str| {
        format!(
            "CAST(COALESCE(SUM(CASE WHEN t.first_bucket = t.bucket THEN {when_new} ELSE {when_returning} END), 0) AS BIGINT)"
        )
    };
    let sql = format!(
        "SELECT t.bucket AS bucket, \
         {new_customers} AS new_customers, {returning_customers} AS returning_customers, \
         {new_orders} AS new_orders, {returning_orders} AS returning_orders, \
         {new_revenue} AS new_revenue, {returning_revenue} AS returning_revenue \
         FROM (SELECT per.bucket AS bucket, per.orders AS orders, per.revenue AS revenue, \
               {first_bucket} AS first_bucket \
               FROM (SELECT o.customer_id AS customer_id, {order_bucket} AS bucket, \
                     COUNT(*) AS orders, SUM(o.grand_total) AS revenue, \
                     {first_sale} AS first_sale \
                     FROM orders o \
                     WHERE o.placed_at >= {p1} AND o.placed_at < {p2} AND o.status IN {statuses} \
                     GROUP BY o.customer_id, {order_bucket}) per) t \
         GROUP BY t.bucket ORDER BY t.bucket",
        new_customers = sum("1", "0"),
        returning_customers = sum("0", "1"),
        new_orders = sum("t.orders", "0"),
        returning_orders = sum("0", "t.orders"),
        new_revenue = sum("t.revenue", "0"),
        returning_revenue = sum("0", "t.revenue"),
        p1 = param(backend, 1),
        p2 = param(backend, 2),
    );
    Statement::from_sql_and_values(backend, sql, range_values(range, backend))
}

/// New versus returning customers per bucket (every bucket of the range, zeros included).
pub async fn customers_new_vs_returning<C: ConnectionTrait>(
    db: &C,
    range: &DateRange,
    bucket: Bucket,
) -> ApiResult<Vec<CohortRow>> {
    let backend = db.get_database_backend();
    let mut found = std::collections::HashMap::new();
    for row in db
        .query_all(customers_statement(backend, range, bucket))
        .await?
    {
        let start = get_date(&row, "bucket")?;
        found.insert(
            start,
            CohortRow {
                bucket_start: start,
                new_customers: get(&row, "new_customers")?,
                returning_customers: get(&row, "returning_customers")?,
                new_orders: get(&row, "new_orders")?,
                returning_orders: get(&row, "returning_orders")?,
                new_revenue: get(&row, "new_revenue")?,
                returning_revenue: get(&row, "returning_revenue")?,
            },
        );
    }
    Ok(bucket
        .starts(range)
        .into_iter()
        .map(|start| {
            found.remove(&start).unwrap_or(CohortRow {
                bucket_start: start,
                new_customers: 0,
                returning_customers: 0,
                new_orders: 0,
                returning_orders: 0,
                new_revenue: 0,
                returning_revenue: 0,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weeks_start_on_saturday() {
        // 2026-11-28 is a Saturday.
        assert_eq!(
            Bucket::Week.start_of(date("2026-11-28")),
            date("2026-11-28")
        );
        assert_eq!(
            Bucket::Week.start_of(date("2026-11-29")),
            date("2026-11-28")
        );
        assert_eq!(
            Bucket::Week.start_of(date("2026-12-04")),
            date("2026-11-28")
        );
        assert_eq!(
            Bucket::Week.start_of(date("2026-11-27")),
            date("2026-11-21")
        );
        assert_eq!(
            Bucket::Month.start_of(date("2026-11-27")),
            date("2026-11-01")
        );
    }

    #[test]
    fn buckets_cover_the_range() {
        let range = DateRange::new(date("2026-11-27"), date("2026-12-05"), 100).unwrap();
        assert_eq!(Bucket::Day.starts(&range).len(), 9);
        assert_eq!(
            Bucket::Week.starts(&range),
            vec![date("2026-11-21"), date("2026-11-28"), date("2026-12-05")]
        );
        assert_eq!(
            Bucket::Month.starts(&range),
            vec![date("2026-11-01"), date("2026-12-01")]
        );
    }

    #[test]
    fn ranges_are_checked() {
        assert!(DateRange::new(date("2026-11-27"), date("2026-11-27"), 1).is_ok());
        assert!(DateRange::new(date("2026-11-28"), date("2026-11-27"), 10).is_err());
        // 2024 is a leap year: 2024-01-01..=2025-12-31 is 731 days.
        assert!(DateRange::for_bucket(date("2024-01-01"), date("2025-12-31"), Bucket::Day).is_ok());
        assert!(
            DateRange::for_bucket(date("2024-01-01"), date("2026-01-01"), Bucket::Day).is_err()
        );
        assert!(
            DateRange::for_bucket(date("2024-01-01"), date("2026-01-02"), Bucket::Month).is_ok()
        );
        assert!(parse_date("from", "2026-13-01").is_err());
        assert!(parse_date("from", "27/11/2026").is_err());
    }

    #[test]
    fn tehran_midnight() {
        let (start, end) = DateRange::new(date("2026-11-27"), date("2026-11-27"), 1)
            .unwrap()
            .bounds(DbBackend::Postgres);
        assert_eq!(start.to_rfc3339(), "2026-11-26T20:30:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-27T20:30:00+00:00");
        // Summer time in 2021: +04:30.
        let (start, _) = DateRange::new(date("2021-07-01"), date("2021-07-01"), 1)
            .unwrap()
            .bounds(DbBackend::Postgres);
        assert_eq!(start.to_rfc3339(), "2021-06-30T19:30:00+00:00");
        let (start, _) = DateRange::new(date("2021-07-01"), date("2021-07-01"), 1)
            .unwrap()
            .bounds(DbBackend::Sqlite);
        assert_eq!(start.to_rfc3339(), "2021-06-30T20:30:00+00:00");
    }

    #[test]
    fn averages_round_half_up() {
        assert_eq!(average(10, 4), 3); // 2.5
        assert_eq!(average(9, 4), 2); // 2.25
        assert_eq!(average(0, 0), 0);
        assert_eq!(average(7, 1), 7);
    }
}
