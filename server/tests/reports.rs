//! Admin reports: every figure checked exactly on a known set of orders (on PostgreSQL and on
//! SQLite, the embedded default), including orders near Tehran's midnight; the GraphQL
//! queries and the CSV exports over HTTP against the real server with a staff token; and the
//! query plans on 100,000 orders (`EXPLAIN`: the orders are read through an index).

mod admin;
mod common;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{TestDb, TestServer};
use entity::{customers, order_lines, orders, payment_events, payments};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, NotSet, Set, Statement,
};
use serde_json::{json, Value};
use server::reports::{self, Bucket, DateRange, TopBy};
use uuid::Uuid;

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// A Tehran wall-clock time (+03:30) as UTC.
fn tehran(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(3 * 3600 + 1800)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn customer(db: &DatabaseConnection, phone: &str) -> Uuid {
    let now = Utc::now();
    customers::ActiveModel {
        id: Set(Uuid::new_v4()),
        phone: Set(phone.into()),
        first_name: Set(None),
        last_name: Set(None),
        email: Set(None),
        status: Set("active".into()),
        mahak_person_id: Set(None),
        mahak_person_client_id: Set(None),
        mahak_row_version: Set(None),
        mahak_state: Set("not_pushed".into()),
        mahak_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

/// A line: variant id, product name, quantity, line total.
type Line<'a> = (i64, &'a str, i32, i64);

async fn order(
    db: &DatabaseConnection,
    number: i64,
    customer_id: Uuid,
    status: &str,
    placed_at: DateTime<Utc>,
    grand_total: i64,
    lines: &[Line<'_>],
) -> Uuid {
    let id = Uuid::new_v4();
    orders::ActiveModel {
        id: Set(id),
        number: Set(number),
        customer_id: Set(customer_id),
        status: Set(status.into()),
        subtotal: Set(grand_total),
        discount_total: Set(0),
        tax_total: Set(0),
        toll_total: Set(0),
        shipping_total: Set(0),
        grand_total: Set(grand_total),
        coupon_code: Set(None),
        shipping_address: Set(json!({})),
        customer_note: Set(String::new()),
        placed_at: Set(Some(placed_at)),
        paid_at: Set(None),
        cancelled_at: Set(None),
        mahak_order_id: Set(None),
        mahak_order_client_id: Set(None),
        mahak_row_version: Set(None),
        mahak_state: Set("not_pushed".into()),
        mahak_error: Set(None),
        mahak_pushed_at: Set(None),
        version: Set(0),
        idempotency_key: Set(None),
        created_at: Set(placed_at),
        updated_at: Set(placed_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for (variant, name, quantity, total) in lines {
        order_lines::ActiveModel {
            id: Set(Uuid::new_v4()),
            order_id: Set(id),
            variant_id: Set(*variant),
            variant_mahak_id: Set(variant + 1000),
            product_name: Set((*name).into()),
            variant_label: Set(String::new()),
            unit_price: Set(total / i64::from(*quantity)),
            quantity: Set(*quantity),
            discount: Set(0),
            tax: Set(0),
            toll: Set(0),
            line_total: Set(*total),
            mahak_detail_client_id: Set(None),
            mahak_detail_id: Set(None),
            mahak_return_detail_client_id: Set(None),
            tax_bp: Set(None),
            toll_bp: Set(None),
        }
        .insert(db)
        .await
        .unwrap();
    }
    id
}

/// A payment attempt; `event` is the kind of its closing event (`cancelled`, `failed`).
async fn payment(
    db: &DatabaseConnection,
    order_id: Uuid,
    status: &str,
    amount: i64,
    at: DateTime<Utc>,
    event: Option<&str>,
) {
    let id = Uuid::new_v4();
    payments::ActiveModel {
        id: Set(id),
        order_id: Set(order_id),
        provider: Set("sandbox".into()),
        amount: Set(amount),
        status: Set(status.into()),
        authority: Set(Some(id.simple().to_string())),
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
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await
    .unwrap();
    if let Some(kind) = event {
        payment_events::ActiveModel {
            id: NotSet,
            payment_id: Set(id),
            kind: Set(kind.into()),
            data: Set(None),
            created_at: Set(at),
        }
        .insert(db)
        .await
        .unwrap();
    }
}

const TEA: i64 = 101;
const COFFEE: i64 = 102;
const HONEY: i64 = 103;
const FORMULA: i64 = 104;

/// The known data set. Range of the checks: 2026-11-20 (Friday) ..= 2026-11-26 (Thursday),
/// Tehran; 2026-11-21 is a Saturday.
///
/// | # | customer | status | placed (Tehran) | grand total |
/// |---|---|---|---|---|
/// | 1 | A | paid | 11-21 10:00 | 1,000,000 |
/// | 10 | A | paid | 11-21 20:00 | 1 |
/// | 2 | A | delivered | 11-23 23:50 (20:20 UTC) | 500,001 |
/// | 3 | B | processing | 11-24 00:10 (11-23 20:40 UTC) | 300,000 |
/// | 4 | B | cancelled | 11-24 12:00 | 9,999,999 |
/// | 5 | C | pending_payment | 11-25 09:00 | 700,000 |
/// | 6 | C | refunded | 11-22 15:00 | 200,000 |
/// | 7 | B | shipped | 11-26 23:59 | 250,000 |
/// | 8 | E | paid | 11-19 23:59 (outside) | 1,234 |
/// | 9 | D | paid | 11-25 12:00 | 100,000 |
/// | 11 | E | paid | 11-27 00:00 (outside) | 4,321 |
/// | 12 | D | paid | 11-10 12:00 (outside) | 50,000 |
async fn seed(db: &DatabaseConnection) {
    let a = customer(db, "+989120000001").await;
    let b = customer(db, "+989120000002").await;
    let c = customer(db, "+989120000003").await;
    let d = customer(db, "+989120000004").await;
    let e = customer(db, "+989120000005").await;
    let tea = |q, t| (TEA, "چای", q, t);
    let coffee = |q, t| (COFFEE, "قهوه", q, t);
    let honey = |q, t| (HONEY, "عسل, \"ممتاز\"", q, t);

    let o1 = order(
        db,
        1,
        a,
        "paid",
        tehran(2026, 11, 21, 10, 0),
        1_000_000,
        &[tea(2, 600_000), coffee(1, 400_000)],
    )
    .await;
    order(
        db,
        10,
        a,
        "paid",
        tehran(2026, 11, 21, 20, 0),
        1,
        &[coffee(1, 1)],
    )
    .await;
    let o2 = order(
        db,
        2,
        a,
        "delivered",
        tehran(2026, 11, 23, 23, 50),
        500_001,
        &[tea(1, 500_001)],
    )
    .await;
    let o3 = order(
        db,
        3,
        b,
        "processing",
        tehran(2026, 11, 24, 0, 10),
        300_000,
        &[honey(3, 300_000)],
    )
    .await;
    let o4 = order(
        db,
        4,
        b,
        "cancelled",
        tehran(2026, 11, 24, 12, 0),
        9_999_999,
        &[honey(50, 9_999_999)],
    )
    .await;
    let o5 = order(
        db,
        5,
        c,
        "pending_payment",
        tehran(2026, 11, 25, 9, 0),
        700_000,
        &[tea(7, 700_000)],
    )
    .await;
    order(
        db,
        6,
        c,
        "refunded",
        tehran(2026, 11, 22, 15, 0),
        200_000,
        &[tea(2, 200_000)],
    )
    .await;
    order(
        db,
        7,
        b,
        "shipped",
        tehran(2026, 11, 26, 23, 59),
        250_000,
        &[coffee(2, 250_000)],
    )
    .await;
    let o8 = order(
        db,
        8,
        e,
        "paid",
        tehran(2026, 11, 19, 23, 59),
        1_234,
        &[tea(1, 1_234)],
    )
    .await;
    order(
        db,
        9,
        d,
        "paid",
        tehran(2026, 11, 25, 12, 0),
        100_000,
        &[(FORMULA, "=SUM(A1:A9)", 1, 100_000)],
    )
    .await;
    order(
        db,
        11,
        e,
        "paid",
        tehran(2026, 11, 27, 0, 0),
        4_321,
        &[tea(1, 4_321)],
    )
    .await;
    order(
        db,
        12,
        d,
        "paid",
        tehran(2026, 11, 10, 12, 0),
        50_000,
        &[tea(1, 50_000)],
    )
    .await;

    payment(
        db,
        o1,
        "failed",
        1_000_000,
        tehran(2026, 11, 21, 9, 55),
        Some("cancelled"),
    )
    .await;
    payment(
        db,
        o1,
        "paid",
        1_000_000,
        tehran(2026, 11, 21, 10, 1),
        Some("paid"),
    )
    .await;
    payment(db, o2, "paid", 500_001, tehran(2026, 11, 23, 23, 51), None).await;
    payment(
        db,
        o3,
        "failed",
        300_000,
        tehran(2026, 11, 24, 0, 11),
        Some("failed"),
    )
    .await;
    payment(db, o3, "paid", 300_000, tehran(2026, 11, 24, 0, 15), None).await;
    payment(db, o5, "started", 700_000, tehran(2026, 11, 25, 9, 1), None).await;
    payment(
        db,
        o4,
        "failed",
        9_999_999,
        tehran(2026, 11, 24, 12, 1),
        Some("cancelled"),
    )
    .await;
    payment(db, o8, "paid", 1_234, tehran(2026, 11, 19, 23, 59), None).await;
}

fn range() -> DateRange {
    DateRange::new(date("2026-11-20"), date("2026-11-26"), 31).unwrap()
}

/// Every report on the known data set, every figure.
async fn check_figures(db: &DatabaseConnection) {
    let range = range();

    let sales = reports::sales(db, &range, Bucket::Day).await.unwrap();
    let rows: Vec<(String, i64, i64, i64)> = sales
        .rows
        .iter()
        .map(|r| {
            (
                r.bucket_start.to_string(),
                r.orders,
                r.revenue,
                r.average_order,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-11-20".into(), 0, 0, 0),
            // 1,000,001 / 2 = 500,000.5: rounded half up.
            ("2026-11-21".into(), 2, 1_000_001, 500_001),
            ("2026-11-22".into(), 0, 0, 0),
            // 23:50 Tehran stays on the 23rd...
            ("2026-11-23".into(), 1, 500_001, 500_001),
            // ...00:10 Tehran is the 24th although it is the 23rd in UTC.
            ("2026-11-24".into(), 1, 300_000, 300_000),
            ("2026-11-25".into(), 1, 100_000, 100_000),
            ("2026-11-26".into(), 1, 250_000, 250_000),
        ]
    );
    assert_eq!(sales.total_orders, 6);
    assert_eq!(sales.total_revenue, 2_150_002);
    assert_eq!(sales.average_order, 358_334); // 358,333.67

    let weekly = reports::sales(db, &range, Bucket::Week).await.unwrap();
    let rows: Vec<(String, i64, i64)> = weekly
        .rows
        .iter()
        .map(|r| (r.bucket_start.to_string(), r.orders, r.revenue))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-11-14".into(), 0, 0),
            ("2026-11-21".into(), 6, 2_150_002)
        ]
    );
    let monthly = reports::sales(db, &range, Bucket::Month).await.unwrap();
    assert_eq!(monthly.rows.len(), 1);
    assert_eq!(monthly.rows[0].bucket_start, date("2026-11-01"));
    assert_eq!(monthly.rows[0].orders, 6);
    assert_eq!(monthly.rows[0].revenue, 2_150_002);

    let top = reports::top_products(db, &range, TopBy::Revenue, 10)
        .await
        .unwrap();
    let rows: Vec<(i64, i64, String, i64, i64, i64)> = top
        .iter()
        .map(|r| {
            (
                r.variant_id,
                r.variant_mahak_id,
                r.product_name.clone(),
                r.units,
                r.revenue,
                r.orders,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (TEA, 1101, "چای".into(), 3, 1_100_001, 2),
            (COFFEE, 1102, "قهوه".into(), 4, 650_001, 3),
            (HONEY, 1103, "عسل, \"ممتاز\"".into(), 3, 300_000, 1),
            (FORMULA, 1104, "=SUM(A1:A9)".into(), 1, 100_000, 1),
        ]
    );
    let by_units: Vec<i64> = reports::top_products(db, &range, TopBy::Units, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.variant_id)
        .collect();
    assert_eq!(by_units, vec![COFFEE, TEA, HONEY, FORMULA]);
    let two: Vec<i64> = reports::top_products(db, &range, TopBy::Revenue, 2)
        .await
        .unwrap()
        .iter()
        .map(|r| r.variant_id)
        .collect();
    assert_eq!(two, vec![TEA, COFFEE]);
    for bad in [0, 101] {
        let err = reports::top_products(db, &range, TopBy::Revenue, bad)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
    }

    let statuses: Vec<(&str, i64, i64)> = reports::orders_by_status(db, &range)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.status.as_str(), r.orders, r.total))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("pending_payment", 1, 700_000),
            ("paid", 3, 1_100_001),
            ("processing", 1, 300_000),
            ("shipped", 1, 250_000),
            ("delivered", 1, 500_001),
            ("cancelled", 1, 9_999_999),
            ("refunded", 1, 200_000),
        ]
    );

    let payments = reports::payment_success_rate(db, &range).await.unwrap();
    assert_eq!(
        payments,
        reports::PaymentStats {
            attempts: 7,
            succeeded: 3,
            failed: 1,
            cancelled: 2,
            pending: 1,
            orders: 5,
            paid_amount: 1_800_001,
        }
    );
    assert_eq!(payments.success_rate(), Some(0.5));

    let cohorts: Vec<(String, i64, i64, i64, i64, i64, i64)> =
        reports::customers_new_vs_returning(db, &range, Bucket::Day)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.bucket_start.to_string(),
                    r.new_customers,
                    r.returning_customers,
                    r.new_orders,
                    r.returning_orders,
                    r.new_revenue,
                    r.returning_revenue,
                )
            })
            .collect();
    assert_eq!(
        cohorts,
        vec![
            ("2026-11-20".into(), 0, 0, 0, 0, 0, 0),
            // A's first sale ever.
            ("2026-11-21".into(), 1, 0, 2, 0, 1_000_001, 0),
            ("2026-11-22".into(), 0, 0, 0, 0, 0, 0),
            // A again: returning.
            ("2026-11-23".into(), 0, 1, 0, 1, 0, 500_001),
            // B's first sale (their cancelled order does not count).
            ("2026-11-24".into(), 1, 0, 1, 0, 300_000, 0),
            // D bought on 11-10, before the range: returning.
            ("2026-11-25".into(), 0, 1, 0, 1, 0, 100_000),
            ("2026-11-26".into(), 0, 1, 0, 1, 0, 250_000),
        ]
    );
    let weekly: Vec<(String, i64, i64, i64, i64)> =
        reports::customers_new_vs_returning(db, &range, Bucket::Week)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.bucket_start.to_string(),
                    r.new_customers,
                    r.returning_customers,
                    r.new_orders,
                    r.new_revenue,
                )
            })
            .collect();
    assert_eq!(
        weekly,
        vec![
            ("2026-11-14".into(), 0, 0, 0, 0),
            ("2026-11-21".into(), 2, 1, 5, 2_050_002),
        ]
    );
}

#[tokio::test]
async fn figures_are_exact_on_postgres() {
    let test_db = TestDb::postgres().await;
    let db = test_db.connect().await;
    seed(&db).await;
    check_figures(&db).await;
}

#[tokio::test]
async fn figures_are_exact_on_sqlite() {
    let test_db = TestDb::sqlite();
    let db = test_db.connect().await;
    seed(&db).await;
    check_figures(&db).await;
}

#[tokio::test]
async fn ranges_are_validated() {
    let err = DateRange::new(date("2026-11-27"), date("2026-11-26"), 10).unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
    let err =
        DateRange::for_bucket(date("2020-01-01"), date("2026-11-26"), Bucket::Day).unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
    assert!(DateRange::for_bucket(date("2020-01-01"), date("2026-11-26"), Bucket::Month).is_ok());
    assert_eq!(
        reports::parse_date("from", "1405-09-06x")
            .unwrap_err()
            .code(),
        "BAD_USER_INPUT"
    );
}

// ---------------------------------------------------------------------------------------------
// Query plans on 100,000 orders

/// Seeds 20,000 customers, 100,000 orders placed every 5 minutes back from 2026-11-26 (about
/// 347 days, ~290 a day), two lines each, and one payment each (a fifth failed, half of those
/// cancelled), each table in one `INSERT ... SELECT ... FROM generate_series`.
async fn seed_volume(db: &DatabaseConnection) {
    let statements = [
        "INSERT INTO customers (id, phone, status, mahak_state, created_at, updated_at) \
         SELECT md5('c' || i)::uuid, '+98912' || lpad(i::text, 7, '0'), 'active', 'not_pushed', \
                now(), now() \
         FROM generate_series(0, 19999) AS i",
        "INSERT INTO orders (id, number, customer_id, status, subtotal, discount_total, tax_total, \
                toll_total, shipping_total, grand_total, shipping_address, placed_at, created_at, \
                updated_at) \
         SELECT md5('o' || i)::uuid, 1000000 + i, md5('c' || ((i * 7919) % 20000))::uuid, \
                (ARRAY['paid','processing','shipped','delivered','delivered','delivered', \
                       'cancelled','pending_payment','refunded','paid'])[1 + i % 10], \
                100000 + (i % 997) * 1000, 0, 0, 0, 0, 100000 + (i % 997) * 1000, '{}'::jsonb, \
                TIMESTAMPTZ '2026-11-26 20:00:00+00' - i * interval '5 minutes', \
                TIMESTAMPTZ '2026-11-26 20:00:00+00' - i * interval '5 minutes', \
                TIMESTAMPTZ '2026-11-26 20:00:00+00' - i * interval '5 minutes' \
         FROM generate_series(1, 100000) AS i",
        "INSERT INTO order_lines (id, order_id, variant_id, variant_mahak_id, product_name, \
                variant_label, unit_price, quantity, discount, tax, toll, line_total) \
         SELECT gen_random_uuid(), o.id, (o.number * k) % 500, 10000 + (o.number * k) % 500, \
                'product ' || ((o.number * k) % 500), '', 50000, k, 0, 0, 0, 50000 * k \
         FROM orders o CROSS JOIN generate_series(1, 2) AS k",
        "INSERT INTO payments (id, order_id, provider, amount, status, authority, mahak_state, \
                created_at, updated_at) \
         SELECT md5('p' || o.number)::uuid, o.id, 'sandbox', o.grand_total, \
                CASE WHEN o.number % 5 = 0 THEN 'failed' WHEN o.number % 50 = 1 THEN 'started' \
                     ELSE 'paid' END, \
                'A' || o.number, 'not_pushed', o.placed_at, o.placed_at \
         FROM orders o",
        "INSERT INTO payment_events (payment_id, kind, created_at) \
         SELECT p.id, CASE WHEN p.amount % 2 = 0 THEN 'cancelled' ELSE 'failed' END, p.created_at \
         FROM payments p WHERE p.status = 'failed'",
        "ANALYZE",
    ];
    for sql in statements {
        db.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }
}

/// Every plan node that reads `table`, as (node type, index name).
fn scans_of(plan: &Value, table: &str, found: &mut Vec<(String, String)>) {
    if plan["Relation Name"] == table {
        found.push((
            plan["Node Type"].as_str().unwrap_or_default().to_string(),
            plan["Index Name"].as_str().unwrap_or_default().to_string(),
        ));
    }
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            scans_of(child, table, found);
        }
    }
}

/// Bitmap heap scans name their index on the child node; collect index names too.
fn index_names(plan: &Value, found: &mut Vec<String>) {
    if let Some(name) = plan["Index Name"].as_str() {
        found.push(name.to_string());
    }
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            index_names(child, found);
        }
    }
}

async fn explain(db: &DatabaseConnection, statement: Statement) -> Value {
    let explain = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("EXPLAIN (FORMAT JSON) {}", statement.sql),
        statement.values.map(|v| v.0).unwrap_or_default(),
    );
    let row = db.query_one(explain).await.unwrap().unwrap();
    let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
    plan[0]["Plan"].clone()
}

#[tokio::test]
async fn plans_read_orders_by_index_on_100k_orders() {
    let test_db = TestDb::postgres().await;
    let db = test_db.connect().await;
    seed_volume(&db).await;
    let count = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM orders",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(count, 100_000);

    // The last 30 days of the data set.
    let range = DateRange::new(date("2026-10-28"), date("2026-11-26"), 31).unwrap();
    let pg = DbBackend::Postgres;
    let cases = [
        (
            "sales by day",
            reports::sales_statement(pg, &range, Bucket::Day),
            "orders",
        ),
        (
            "sales by week",
            reports::sales_statement(pg, &range, Bucket::Week),
            "orders",
        ),
        (
            "top products",
            reports::top_products_statement(pg, &range, TopBy::Revenue, 20),
            "orders",
        ),
        (
            "orders by status",
            reports::orders_by_status_statement(pg, &range),
            "orders",
        ),
        (
            "customers",
            reports::customers_statement(pg, &range, Bucket::Day),
            "orders",
        ),
        (
            "payment success",
            reports::payment_success_statement(pg, &range),
            "payments",
        ),
    ];
    for (name, statement, table) in cases {
        let plan = explain(&db, statement).await;
        let mut scans = Vec::new();
        scans_of(&plan, table, &mut scans);
        assert!(
            !scans.is_empty(),
            "{name}: {table} not in the plan\n{plan:#}"
        );
        for (node, _) in &scans {
            assert_ne!(node, "Seq Scan", "{name}: {table} read whole\n{plan:#}");
            assert!(
                node.contains("Index") || node == "Bitmap Heap Scan",
                "{name}: {table} read by {node}\n{plan:#}"
            );
        }
        let mut indexes = Vec::new();
        index_names(&plan, &mut indexes);
        eprintln!("{name}: {table} read by {scans:?}, indexes {indexes:?}");
        let expected = if table == "orders" {
            "idx_orders_placed_at_report"
        } else {
            "idx_payments_created_at"
        };
        assert!(
            indexes.iter().any(|i| i == expected),
            "{name}: {expected} unused ({indexes:?})\n{plan:#}"
        );
    }

    // And the reports answer on that volume, agreeing with a plain count of the range.
    let (start, end) = range.bounds(pg);
    let in_range = db
        .query_one(Statement::from_sql_and_values(
            pg,
            "SELECT COUNT(*) AS n FROM orders WHERE placed_at >= $1 AND placed_at < $2",
            [start.into(), end.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    // One order every 5 minutes from 19:55 UTC on the 26th back to 20:30 UTC on 10-27.
    assert_eq!(in_range, 8_634);
    let statuses = reports::orders_by_status(&db, &range).await.unwrap();
    assert_eq!(statuses.iter().map(|s| s.orders).sum::<i64>(), in_range);
    let sales = reports::sales(&db, &range, Bucket::Day).await.unwrap();
    assert_eq!(sales.rows.len(), 30);
    // The sales are exactly the orders in sales states (statuses cycle with the order number).
    let sold: i64 = statuses
        .iter()
        .filter(|s| reports::SALES_STATUSES.contains(&s.status))
        .map(|s| s.orders)
        .sum();
    assert_eq!(sales.total_orders, sold);
}

// ---------------------------------------------------------------------------------------------
// Over HTTP: the admin schema's report queries and the CSV exports

const RANGE: &str = r#"from: "2026-11-20", to: "2026-11-26""#;

async fn csv_get(server: &TestServer, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The records of a CSV answer (header first), after its byte order mark.
async fn csv_records(response: reqwest::Response) -> Vec<Vec<String>> {
    csv_records_from(&response.bytes().await.unwrap())
}

fn rows(records: &[Vec<String>]) -> Vec<Vec<&str>> {
    records
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

#[tokio::test]
async fn reports_over_graphql_and_csv() {
    let test_db = TestDb::postgres().await;
    let db = test_db.connect().await;
    seed(&db).await;
    // The data set's unpaid order and open payment are old: keep the server's sweeps from
    // cancelling the one and verifying the other.
    let server = TestServer::start_with(
        &test_db,
        &[
            ("APP__CHECKOUT__PAYMENT_TIMEOUT_SECS", "3153600000"),
            ("APP__PAYMENT__RECONCILE_AFTER_SECS", "3153600000"),
        ],
    )
    .await;
    let token = admin::staff_token(&server, &test_db, &["reports"]).await;
    let content_only = admin::staff_token(&server, &test_db, &["content"]).await;

    let body = admin::admin_gql(
        &server,
        Some(&token),
        &format!(
            "{{ salesReport({RANGE}, bucket: DAY) {{ totalOrders totalRevenue averageOrder rows {{ bucketStart orders revenue averageOrder }} }}
               weekly: salesReport({RANGE}, bucket: WEEK) {{ rows {{ bucketStart orders revenue }} }}
               topProducts({RANGE}, limit: 2) {{ rank variantId variantMahakId productName units revenue orders }}
               byUnits: topProducts({RANGE}, by: UNITS) {{ variantId }}
               ordersByStatus({RANGE}) {{ status orders total }}
               paymentSuccessRate({RANGE}) {{ attempts succeeded failed cancelled pending orders paidAmount successRate }}
               customerCohorts({RANGE}, bucket: DAY) {{ bucketStart newCustomers returningCustomers newOrders returningOrders newRevenue returningRevenue }} }}"
        ),
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let data = &body["data"];
    assert_eq!(data["salesReport"]["totalOrders"], 6);
    assert_eq!(data["salesReport"]["totalRevenue"], 2_150_002);
    assert_eq!(data["salesReport"]["averageOrder"], 358_334);
    assert_eq!(
        data["salesReport"]["rows"][1],
        json!({ "bucketStart": "2026-11-21", "orders": 2, "revenue": 1_000_001, "averageOrder": 500_001 })
    );
    assert_eq!(
        data["salesReport"]["rows"][4],
        json!({ "bucketStart": "2026-11-24", "orders": 1, "revenue": 300_000, "averageOrder": 300_000 })
    );
    assert_eq!(
        data["weekly"]["rows"],
        json!([
            { "bucketStart": "2026-11-14", "orders": 0, "revenue": 0 },
            { "bucketStart": "2026-11-21", "orders": 6, "revenue": 2_150_002 },
        ])
    );
    assert_eq!(
        data["topProducts"],
        json!([
            { "rank": 1, "variantId": "101", "variantMahakId": "1101", "productName": "چای", "units": 3, "revenue": 1_100_001, "orders": 2 },
            { "rank": 2, "variantId": "102", "variantMahakId": "1102", "productName": "قهوه", "units": 4, "revenue": 650_001, "orders": 3 },
        ])
    );
    assert_eq!(
        data["byUnits"],
        json!([{ "variantId": "102" }, { "variantId": "101" }, { "variantId": "103" }, { "variantId": "104" }])
    );
    assert_eq!(
        data["ordersByStatus"],
        json!([
            { "status": "PENDING_PAYMENT", "orders": 1, "total": 700_000 },
            { "status": "PAID", "orders": 3, "total": 1_100_001 },
            { "status": "PROCESSING", "orders": 1, "total": 300_000 },
            { "status": "SHIPPED", "orders": 1, "total": 250_000 },
            { "status": "DELIVERED", "orders": 1, "total": 500_001 },
            { "status": "CANCELLED", "orders": 1, "total": 9_999_999 },
            { "status": "REFUNDED", "orders": 1, "total": 200_000 },
        ])
    );
    assert_eq!(
        data["paymentSuccessRate"],
        json!({ "attempts": 7, "succeeded": 3, "failed": 1, "cancelled": 2, "pending": 1, "orders": 5, "paidAmount": 1_800_001, "successRate": 0.5 })
    );
    assert_eq!(
        data["customerCohorts"][1],
        json!({ "bucketStart": "2026-11-21", "newCustomers": 1, "returningCustomers": 0, "newOrders": 2, "returningOrders": 0, "newRevenue": 1_000_001, "returningRevenue": 0 })
    );
    assert_eq!(
        data["customerCohorts"][5],
        json!({ "bucketStart": "2026-11-25", "newCustomers": 0, "returningCustomers": 1, "newOrders": 0, "returningOrders": 1, "newRevenue": 0, "returningRevenue": 100_000 })
    );

    // Bad ranges are refused with the field named.
    for (args, field) in [
        (r#"from: "2026-11-27", to: "2026-11-26""#, "to"),
        (r#"from: "2026/11/20", to: "2026-11-26""#, "from"),
        (r#"from: "2020-01-01", to: "2026-11-26", bucket: DAY"#, "to"),
    ] {
        let body = admin::admin_gql(
            &server,
            Some(&token),
            &format!("{{ salesReport({args}) {{ totalOrders }} }}"),
            json!({}),
        )
        .await;
        assert_eq!(common::error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = admin::admin_gql(
        &server,
        Some(&token),
        &format!("{{ topProducts({RANGE}, limit: 0) {{ rank }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "limit", "{body}");

    // CSV: same figures, quoted where needed, formulas defused.
    let query = "from=2026-11-20&to=2026-11-26";
    let response = csv_get(
        &server,
        &format!("/admin/reports/sales.csv?{query}"),
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"sales-2026-11-20-2026-11-26.csv\""
    );
    let records = csv_records(response).await;
    assert_eq!(
        rows(&records),
        vec![
            vec![
                "bucket_start",
                "orders",
                "revenue_rial",
                "average_order_rial"
            ],
            vec!["2026-11-20", "0", "0", "0"],
            vec!["2026-11-21", "2", "1000001", "500001"],
            vec!["2026-11-22", "0", "0", "0"],
            vec!["2026-11-23", "1", "500001", "500001"],
            vec!["2026-11-24", "1", "300000", "300000"],
            vec!["2026-11-25", "1", "100000", "100000"],
            vec!["2026-11-26", "1", "250000", "250000"],
        ]
    );
    let weekly = csv_records(
        csv_get(
            &server,
            &format!("/admin/reports/sales.csv?{query}&bucket=week"),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(weekly[2], ["2026-11-21", "6", "2150002", "358334"]);

    let response = csv_get(
        &server,
        &format!("/admin/reports/top-products.csv?{query}"),
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    // The name with a comma and quotes is quoted, its quotes doubled.
    assert!(text.contains("\"عسل, \"\"ممتاز\"\"\""), "{text}");
    let records = csv_records_from(&bytes);
    assert_eq!(
        rows(&records),
        vec![
            vec![
                "rank",
                "variant_id",
                "variant_mahak_id",
                "product_name",
                "variant_label",
                "units",
                "revenue_rial",
                "orders"
            ],
            vec!["1", "101", "1101", "چای", "", "3", "1100001", "2"],
            vec!["2", "102", "1102", "قهوه", "", "4", "650001", "3"],
            vec!["3", "103", "1103", "عسل, \"ممتاز\"", "", "3", "300000", "1"],
            vec!["4", "104", "1104", "'=SUM(A1:A9)", "", "1", "100000", "1"],
        ]
    );
    let records = csv_records(
        csv_get(
            &server,
            &format!("/admin/reports/orders-by-status.csv?{query}"),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(records.len(), 8);
    assert_eq!(records[2], ["paid", "3", "1100001"]);
    assert_eq!(records[6], ["cancelled", "1", "9999999"]);
    let records = csv_records(
        csv_get(
            &server,
            &format!("/admin/reports/payment-success.csv?{query}"),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(
        records[1],
        ["7", "3", "1", "2", "1", "5", "1800001", "0.5000"]
    );
    let records = csv_records(
        csv_get(
            &server,
            &format!("/admin/reports/customers.csv?{query}&bucket=week"),
            Some(&token),
        )
        .await,
    )
    .await;
    assert_eq!(
        rows(&records),
        vec![
            vec![
                "bucket_start",
                "new_customers",
                "returning_customers",
                "new_orders",
                "returning_orders",
                "new_revenue_rial",
                "returning_revenue_rial"
            ],
            vec!["2026-11-14", "0", "0", "0", "0", "0", "0"],
            vec!["2026-11-21", "2", "1", "5", "1", "2050002", "100000"],
        ]
    );

    // Who may download, and bad requests.
    let path = format!("/admin/reports/sales.csv?{query}");
    assert_eq!(csv_get(&server, &path, None).await.status(), 401);
    assert_eq!(
        csv_get(&server, &path, Some("not-a-token")).await.status(),
        401
    );
    assert_eq!(
        csv_get(&server, &path, Some(&content_only)).await.status(),
        403
    );
    assert_eq!(
        csv_get(
            &server,
            &format!("/admin/reports/secrets.csv?{query}"),
            Some(&token)
        )
        .await
        .status(),
        404
    );
    let response = csv_get(
        &server,
        "/admin/reports/sales.csv?from=2026-11-27&to=2026-11-26",
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["error"]["field"], "to");
    let response = csv_get(
        &server,
        "/admin/reports/sales.csv?to=2026-11-26",
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = csv_get(
        &server,
        &format!("/admin/reports/sales.csv?{query}&bucket=year"),
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 400);
}

fn csv_records_from(bytes: &[u8]) -> Vec<Vec<String>> {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("byte order mark");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}
