//! Reconciliation with Mahak end to end: the real server binary on PostgreSQL, the Mahak
//! simulator over HTTP synced into the mirror tables by a sync worker (here: in the test
//! process), SMS through the Kavenegar simulator, staff and customers over HTTP and WebSocket.
//!
//! The orders are placed and paid through the shop; their invoice push is set up in the
//! database (ids on the order, the invoice and its lines entered in the simulator), so these
//! tests do not depend on the push side. Then, what an accountant does in Mahak:
//! - a sales return referencing the invoice flips the order to REFUNDED, adds the history
//!   event, sends one SMS and reaches an `orderStatusChanged` subscriber; a second sweep
//!   changes nothing;
//! - a receipt settles the order and its payment;
//! - a payment verified long ago without a receipt shows `receiptMissing`;
//! - the reconciliation report (GraphQL and CSV) lists the known differences;
//! - `retryMahakPush` re-queues a dead push and refuses a pushed one.
//!
//! A second test runs the sweep's statements on SQLite.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use admin::{admin_gql, staff_token};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::{audit_entries, order_events, orders, outbox, payments};
use futures::{SinkExt, StreamExt};
use kavenegar_sim::Kavenegar;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, NotSet,
    PaginatorTrait, QueryFilter, Set,
};
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::pipeline::events::Events;
use sync::simulator::{self, Control, DataSizes, SimulatorConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PRICE: i64 = 1_000_000;
const QUANTITY: i64 = 2;

struct Shop<'a> {
    server: &'a TestServer,
    sms: &'a Kavenegar,
    conn: &'a DatabaseConnection,
    staff: String,
}

/// A paid order of the shop.
struct Paid {
    token: String,
    phone: String,
    number: String,
}

impl Shop<'_> {
    async fn admin(&self, query: &str, variables: Value) -> Value {
        admin_gql(self.server, Some(&self.staff), query, variables).await
    }

    /// A customer signed in with `phone` orders two units of a fresh product (price 1,000,000
    /// Rial) and pays on the sandbox gateway.
    async fn paid_order(&self, phone: &str, mahak_id: i64) -> Paid {
        let mut spec = ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
        spec.variants = vec![(Some(PRICE), 10.0)];
        seed::product(self.conn, &spec).await;
        let variant = entity::variants::Entity::find()
            .filter(entity::variants::Column::MahakId.eq(mahak_id * 10))
            .one(self.conn)
            .await
            .unwrap()
            .unwrap()
            .id;
        self.buy(phone, &[variant]).await
    }

    /// A customer signed in with `phone` orders two units of the first of `variants` the shop
    /// sells and pays on the sandbox gateway.
    async fn buy(&self, phone: &str, variants: &[i64]) -> Paid {
        let token = shop::sign_in(self.server, self.sms, phone, None).await;
        let address = shop::add_home_address(self.server, &token).await;
        let gql = |query: &'static str, variables: Value| {
            let token = token.clone();
            async move { shop::gql(self.server, query, variables, Some(&token), None).await }
        };
        let mut added = false;
        for variant in variants {
            let body = gql(
                "mutation($v: ID!, $q: Int!) { addToCart(variantId: $v, quantity: $q) { itemCount } }",
                json!({ "v": variant.to_string(), "q": QUANTITY }),
            )
            .await;
            if body["errors"].is_null() {
                added = true;
                break;
            }
        }
        assert!(added, "none of the variants can be bought");
        let order = gql(
            "mutation($i: CheckoutInput!) { checkout(input: $i) { number } }",
            json!({ "i": { "addressId": address } }),
        )
        .await;
        let number = order["data"]["checkout"]["number"]
            .as_str()
            .unwrap_or_else(|| panic!("{order}"))
            .to_string();
        let started = gql(
            "mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }",
            json!({ "n": number }),
        )
        .await;
        let page = started["data"]["startPayment"]["redirectUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("{started}"))
            .to_string();
        let html = self
            .server
            .client
            .get(&page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .filter(|a| a.ends_with("/pay"))
            .unwrap_or_else(|| panic!("a pay form on {html}"))
            .to_string();
        let paid = self
            .server
            .client
            .post(self.server.url(&action))
            .send()
            .await
            .unwrap();
        assert!(paid.status().is_success() || paid.status().is_redirection());
        assert_eq!(self.mahak(&number).await["status"], "PAID");
        Paid {
            token,
            phone: phone.to_string(),
            number,
        }
    }

    /// The order's status and Mahak link, as staff see them.
    async fn mahak(&self, number: &str) -> Value {
        let body = self
            .admin(
                "query($n: String!) { order(number: $n) { status
                    history { kind fromStatus toStatus actor }
                    mahak { state orderId returnState returnId returnError settledAt receiptMissing accountingState } } }",
                json!({ "n": number }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["order"].clone()
    }

    /// Polls the order until `done` holds (60 s at most, so a broken server fails the test).
    async fn wait_for(&self, number: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let order = self.mahak(number).await;
            if done(&order) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("order {number}: {what} did not happen within 60 s");
    }

    async fn order_row(&self, number: &str) -> orders::Model {
        orders::Entity::find()
            .filter(orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .one(self.conn)
            .await
            .unwrap()
            .unwrap()
    }

    /// What the invoice push would have done: the invoice (with a line of `price` × 2) in
    /// Mahak, its ids on the order, state `pushed`.
    async fn invoiced(&self, mahak: &Control, number: &str, invoice_id: i64, price: i64) {
        let client_id = 7_000_000_000 + invoice_id;
        mahak.upsert_row(
            Entity::Order,
            json!({ "OrderId": invoice_id, "OrderClientId": client_id, "OrderType": 201,
                    "OrderCode": invoice_id, "Description": format!("Online order {number}") }),
        );
        mahak.upsert_row(
            Entity::OrderDetail,
            json!({ "OrderDetailId": invoice_id, "OrderId": invoice_id, "OrderClientId": client_id,
                    "ItemType": 1, "Price": price, "Count1": QUANTITY, "Discount": 0, "StoreId": 1 }),
        );
        mark_invoiced(self.conn, number, invoice_id, client_id).await;
    }

    async fn set_state(&self, number: &str, state: &str, error: Option<&str>) {
        orders::Entity::update_many()
            .col_expr(orders::Column::MahakState, Expr::value(state))
            .col_expr(
                orders::Column::MahakError,
                Expr::value(error.map(str::to_string)),
            )
            .filter(orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .exec(self.conn)
            .await
            .unwrap();
    }

    fn texts_to(&self, phone: &str, containing: &str) -> usize {
        let e164 = format!("+98{}", &phone[1..]);
        self.sms
            .sent()
            .iter()
            .filter(|s| s.receptor == phone || s.receptor == e164)
            .filter(|s| s.message.as_deref().is_some_and(|m| m.contains(containing)))
            .count()
    }
}

/// The invoice's ids on the order, state `pushed` (on either backend).
async fn mark_invoiced(conn: &DatabaseConnection, number: &str, invoice_id: i64, client_id: i64) {
    orders::Entity::update_many()
        .col_expr(orders::Column::MahakOrderId, Expr::value(invoice_id))
        .col_expr(orders::Column::MahakOrderClientId, Expr::value(client_id))
        .col_expr(orders::Column::MahakState, Expr::value("pushed"))
        .col_expr(
            orders::Column::MahakPushedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(orders::Column::Number.eq(number.parse::<i64>().unwrap()))
        .exec(conn)
        .await
        .unwrap();
}

fn today_tehran() -> chrono::NaiveDate {
    use chrono::TimeZone;
    chrono_tz::Asia::Tehran
        .from_utc_datetime(&chrono::Utc::now().naive_utc())
        .date_naive()
}

#[tokio::test]
async fn returns_and_receipts_made_in_mahak_reach_the_store_and_differences_are_reported() {
    let db = TestDb::postgres().await;
    let sim = simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(3),
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    let mahak = sim.control();
    // The server talks to no Mahak (so nothing is pushed behind the test's back); it sweeps
    // every second. The sync runs in the test.
    let (server, sms) = shop::start(
        &db,
        &[
            ("APP__RECONCILE__INTERVAL_SECS", "1"),
            ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
            ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
        ],
    )
    .await;
    let conn = db.connect().await;
    let settings = sync::worker::SyncSettings::default();
    let client = sync::worker::connect_mahak(
        &sync::settings::MahakSettings {
            base_url: Some(sim.base_url()),
            ..Default::default()
        },
        &settings,
    )
    .await
    .unwrap();
    let runner = sync::worker::build_runner(
        &conn,
        client.client.clone(),
        &Default::default(),
        &settings,
        Events::default(),
    )
    .await
    .unwrap();
    runner.run_once("setup").await.unwrap();
    let shop = Shop {
        server: &server,
        sms: &sms,
        conn: &conn,
        staff: staff_token(&server, &db, &["orders", "reports"]).await,
    };

    // A: returned in Mahak. B: invoiced at the wrong price. C: receipted. D: paid two days
    // ago, no receipt. E: its push died.
    let a = shop.paid_order("09121117001", 870_001).await;
    let b = shop.paid_order("09121117002", 870_002).await;
    let c = shop.paid_order("09121117003", 870_003).await;
    let d = shop.paid_order("09121117004", 870_004).await;
    let e = shop.paid_order("09121117005", 870_005).await;
    shop.invoiced(&mahak, &a.number, 990_001, PRICE).await;
    shop.invoiced(&mahak, &b.number, 990_002, 900_000).await;
    shop.invoiced(&mahak, &c.number, 990_003, PRICE).await;
    shop.invoiced(&mahak, &d.number, 990_004, PRICE).await;
    shop.set_state(
        &e.number,
        "dead",
        Some("Mahak rejected the push: unknown product detail"),
    )
    .await;
    conn.execute(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "UPDATE payments SET verified_at = now() - interval '2 days' \
         WHERE order_id = (SELECT id FROM orders WHERE number = $1)",
        [d.number.parse::<i64>().unwrap().into()],
    ))
    .await
    .unwrap();
    let paid_texts = shop.texts_to(&a.phone, "پرداخت شد");

    // The customer of A watches the order.
    let url = server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for message in [
        json!({ "type": "connection_init", "payload": { "authToken": a.token } }),
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { fromStatus status } }",
            "variables": { "n": a.number } } }),
    ] {
        ws.send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    let mut next = async || -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
                .await
                .expect("a message within 60 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = frame {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_ne!(message["type"], "error", "{message}");
                if message["type"] == "next" {
                    return message["payload"]["data"]["orderStatusChanged"].clone();
                }
            }
        }
    };
    assert_eq!(next().await["status"], "PAID");

    // Before anything happens in Mahak: invoiced, nothing settled; D's receipt is overdue.
    let before = shop.mahak(&a.number).await;
    assert_eq!(before["mahak"]["accountingState"], "INVOICED", "{before}");
    assert_eq!(before["mahak"]["receiptMissing"], false);
    assert!(before["mahak"]["returnId"].is_null());
    let overdue = shop.mahak(&d.number).await;
    assert_eq!(overdue["mahak"]["receiptMissing"], true, "{overdue}");
    assert_eq!(overdue["mahak"]["accountingState"], "INVOICED");
    assert_eq!(
        shop.mahak(&e.number).await["mahak"]["accountingState"],
        "DEAD"
    );

    // In Mahak: a sales return of A's invoice, and a receipt (bank transfer) for C's.
    let return_id = mahak.upsert_row(
        Entity::Order,
        json!({ "OrderId": 990_101, "OrderClientId": 5_550_001, "OrderType": 202,
                "OrderCode": 4711, "ReferenceOrderId": 990_001 }),
    );
    let c_total = shop.order_row(&c.number).await.grand_total;
    mahak.upsert_row(
        Entity::Receipt,
        json!({ "ReceiptId": 990_201, "ReceiptClientId": 5_560_001, "OrderId": 990_003,
                "CashAmount": 0 }),
    );
    mahak.upsert_row(
        Entity::Cheque,
        json!({ "ChequeId": 990_301, "ReceiptId": 990_201, "Type": 2, "Amount": c_total }),
    );
    runner.run_once("test").await.unwrap();

    let returned = shop
        .wait_for(&a.number, "the return", |o| o["status"] == "REFUNDED")
        .await;
    assert_eq!(returned["mahak"]["returnId"], return_id, "{returned}");
    assert_eq!(returned["mahak"]["returnState"], "from_mahak");
    assert_eq!(returned["mahak"]["accountingState"], "RETURNED");
    let history = returned["history"].as_array().unwrap();
    assert!(
        history.iter().any(|h| h["kind"] == "status_changed"
            && h["fromStatus"] == "PAID"
            && h["toStatus"] == "REFUNDED"
            && h["actor"] == "mahak"),
        "{returned}"
    );
    let events = order_events::Entity::find()
        .filter(order_events::Column::OrderId.eq(shop.order_row(&a.number).await.id))
        .filter(order_events::Column::Kind.eq("mahak_return"))
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data.as_ref().unwrap()["mahakReturnId"], 990_101);
    assert_eq!(events[0].data.as_ref().unwrap()["mahakReturnCode"], 4711);
    // The subscriber sees it; the return came from Mahak, so none is queued back to it.
    let change = next().await;
    assert_eq!(
        change,
        json!({ "fromStatus": "PAID", "status": "REFUNDED" })
    );
    let a_row = shop.order_row(&a.number).await;
    let queued_returns = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq("mahak.push.return"))
        .filter(outbox::Column::AggregateId.eq(a_row.id.to_string()))
        .count(&conn)
        .await
        .unwrap();
    assert_eq!(queued_returns, 0);
    // One SMS about the return (delivered by the outbox), the payment's SMS unchanged.
    for _ in 0..600 {
        if shop.texts_to(&a.phone, "مرجوع") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shop.texts_to(&a.phone, "مرجوع"), 1);
    assert_eq!(shop.texts_to(&a.phone, "پرداخت شد"), paid_texts);

    let settled = shop
        .wait_for(&c.number, "the receipt", |o| {
            o["mahak"]["settledAt"].is_string()
        })
        .await;
    assert_eq!(settled["mahak"]["accountingState"], "SETTLED", "{settled}");
    assert_eq!(settled["mahak"]["receiptMissing"], false);
    assert_eq!(settled["status"], "PAID");
    let c_payment = payments::Entity::find()
        .filter(payments::Column::OrderId.eq(shop.order_row(&c.number).await.id))
        .filter(payments::Column::Status.eq("paid"))
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert!(c_payment.mahak_settled_at.is_some());

    // Another sweep (as another replica would run) finds nothing left to do, and the
    // server's own sweeps did not add a second event, SMS or status change.
    let again = server::reconcile::sweep(&conn, &server::events::OrderEvents::default())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    runner.run_once("again").await.unwrap();
    let again = server::reconcile::sweep(&conn, &server::events::OrderEvents::default())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        order_events::Entity::find()
            .filter(order_events::Column::OrderId.eq(a_row.id))
            .filter(order_events::Column::Kind.eq("mahak_return"))
            .count(&conn)
            .await
            .unwrap(),
        1
    );
    assert_eq!(shop.texts_to(&a.phone, "مرجوع"), 1);
    assert_eq!(shop.order_row(&a.number).await.version, a_row.version);

    // The report: today, B's invoice at the wrong price, D's missing receipt, E's missing
    // invoice; A and C agree with Mahak.
    let today = today_tehran();
    let from = (today - chrono::Days::new(1)).to_string();
    let to = (today + chrono::Days::new(1)).to_string();
    let body = shop
        .admin(
            "query($f: String!, $t: String!) { mahakReconciliation(from: $f, to: $t) {
                days { day paidOrders paidTotal invoicedOrders invoicedTotal receiptedOrders receiptTotal differences }
                differences { day orderNumber kind storeAmount mahakAmount pushState } } }",
            json!({ "f": from, "t": to }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let report = &body["data"]["mahakReconciliation"];
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 3, "{report}");
    let row = days.iter().find(|d| d["day"] == today.to_string()).unwrap();
    let grand_total = shop.order_row(&a.number).await.grand_total;
    assert_eq!(row["paidOrders"], 5, "{row}");
    assert_eq!(row["paidTotal"], 5 * grand_total, "{row}");
    assert_eq!(row["invoicedOrders"], 4);
    assert_eq!(
        row["invoicedTotal"],
        3 * PRICE * QUANTITY + 900_000 * QUANTITY
    );
    assert_eq!(row["receiptedOrders"], 1);
    assert_eq!(row["receiptTotal"], c_total);
    assert_eq!(row["differences"], 3);
    let goods = PRICE * QUANTITY;
    assert_eq!(
        report["differences"],
        json!([
            { "day": today.to_string(), "orderNumber": b.number, "kind": "INVOICE_AMOUNT_DIFFERS",
              "storeAmount": goods, "mahakAmount": 900_000 * QUANTITY, "pushState": "pushed" },
            { "day": today.to_string(), "orderNumber": d.number, "kind": "RECEIPT_MISSING",
              "storeAmount": grand_total, "mahakAmount": null, "pushState": "pushed" },
            { "day": today.to_string(), "orderNumber": e.number, "kind": "MISSING_INVOICE",
              "storeAmount": goods, "mahakAmount": null, "pushState": "dead" },
        ]),
        "{report}"
    );
    // The same as CSV.
    let csv = server
        .client
        .get(server.url(&format!(
            "/admin/reports/mahak-reconciliation.csv?from={from}&to={to}"
        )))
        .bearer_auth(&shop.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "difference,{today},,,,,,,,{},invoice_amount_differs,{goods},{},pushed",
            b.number,
            900_000 * QUANTITY
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + 3 + 3, "{text}");
    // Bad ranges are the caller's error.
    let bad = shop
        .admin(
            "{ mahakReconciliation(from: \"2026-01-02\", to: \"2026-01-01\") { days { day } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"]);

    // retryMahakPush: E's dead invoice push is queued again, with an audit entry; a pushed
    // or already pending one is refused.
    let e_row = shop.order_row(&e.number).await;
    let queued = || async {
        outbox::Entity::find()
            .filter(outbox::Column::Topic.eq("mahak.push.invoice"))
            .filter(outbox::Column::AggregateId.eq(e_row.id.to_string()))
            .count(&conn)
            .await
            .unwrap()
    };
    let queued_before = queued().await;
    let retried = shop
        .admin(
            "mutation($n: String!) { retryMahakPush(orderNumber: $n) { number mahak { state error accountingState } } }",
            json!({ "n": e.number }),
        )
        .await;
    assert!(retried["errors"].is_null(), "{retried}");
    assert_eq!(
        retried["data"]["retryMahakPush"]["mahak"],
        json!({ "state": "pending", "error": null, "accountingState": "PENDING" })
    );
    assert_eq!(queued().await, queued_before + 1);
    let job = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq("mahak.push.invoice"))
        .filter(outbox::Column::AggregateId.eq(e_row.id.to_string()))
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .max_by_key(|row| row.created_at)
        .unwrap();
    assert_eq!(
        job.payload,
        json!({ "kind": "invoice", "orderId": e_row.id.to_string() })
    );
    let audit = audit_entries::Entity::find()
        .filter(audit_entries::Column::Action.eq("order.mahak_retry"))
        .filter(audit_entries::Column::TargetId.eq(e_row.id.to_string()))
        .one(&conn)
        .await
        .unwrap()
        .expect("an audit entry");
    assert_eq!(audit.before.unwrap()["mahakState"], "dead");
    for number in [&e.number, &c.number] {
        let refused = shop
            .admin(
                "mutation($n: String!) { retryMahakPush(orderNumber: $n) { number } }",
                json!({ "n": number }),
            )
            .await;
        assert_eq!(error_codes(&refused), ["CONFLICT"], "{refused}");
    }
    assert_eq!(queued().await, queued_before + 1);
    let unknown = shop
        .admin(
            "mutation { retryMahakPush(orderNumber: \"999999999\") { number } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"]);
    // Without the orders permission.
    let reporter = staff_token(&server, &db, &["reports"]).await;
    let refused = admin_gql(
        &server,
        Some(&reporter),
        "mutation($n: String!) { retryMahakPush(orderNumber: $n) { number } }",
        json!({ "n": e.number }),
    )
    .await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"]);
    drop(client);
    sim.shutdown().await;
}

/// The sweep's statements on SQLite (the embedded default): the mirror rows are written as
/// the sync would write them; the sweep runs in the test, the server delivers the SMS.
#[tokio::test]
async fn the_sweep_runs_on_sqlite() {
    let db = TestDb::sqlite();
    let (server, sms) = shop::start(
        &db,
        &[
            ("APP__RECONCILE__INTERVAL_SECS", "0"),
            ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
        ],
    )
    .await;
    let conn = db.connect().await;
    let shop = Shop {
        server: &server,
        sms: &sms,
        conn: &conn,
        staff: staff_token(&server, &db, &["orders", "reports"]).await,
    };
    let returned = shop.paid_order("09121118001", 880_001).await;
    let receipted = shop.paid_order("09121118002", 880_002).await;
    mark_invoiced(&conn, &returned.number, 991_001, 7_000_991_001).await;
    mark_invoiced(&conn, &receipted.number, 991_002, 7_000_991_002).await;
    let now = chrono::Utc::now();
    entity::mahak_orders::ActiveModel {
        id: NotSet,
        mahak_id: Set(991_101),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(12)),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({ "OrderId": 991_101 })),
        synced_at: Set(now),
        order_type: Set(202),
        person_mahak_id: Set(None),
        visitor_id: Set(None),
        reference_order_mahak_id: Set(Some(991_001)),
        order_date: Set(None),
        discount: Set(0),
        send_cost: Set(0),
        other_cost: Set(0),
        description: Set(None),
        shipping_address: Set(None),
    }
    .insert(&conn)
    .await
    .unwrap();
    // A receipt that names the invoice by its ClientId only.
    entity::mahak_receipts::ActiveModel {
        id: NotSet,
        mahak_id: Set(991_201),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({ "ReceiptId": 991_201 })),
        synced_at: Set(now),
        person_mahak_id: Set(None),
        order_mahak_id: Set(Some(0)),
        order_client_id: Set(Some(7_000_991_002)),
        visitor_id: Set(None),
        cash_amount: Set(5),
        receipt_date: Set(None),
        description: Set(None),
    }
    .insert(&conn)
    .await
    .unwrap();

    let events = server::events::OrderEvents::default();
    let mut published = events.subscribe();
    let report = server::reconcile::sweep(&conn, &events).await.unwrap();
    assert_eq!(
        (report.returns, report.refunded, report.own_returns),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!((report.settled_orders, report.settled_payments), (1, 1));
    let event = published.try_recv().expect("the change is published");
    assert_eq!(
        (event.from.as_str(), event.to.as_str()),
        ("paid", "refunded")
    );
    let order = shop.mahak(&returned.number).await;
    assert_eq!(order["status"], "REFUNDED", "{order}");
    assert_eq!(order["mahak"]["returnId"], 991_101);
    assert_eq!(order["mahak"]["accountingState"], "RETURNED");
    let settled = shop.mahak(&receipted.number).await;
    assert!(settled["mahak"]["settledAt"].is_string(), "{settled}");
    assert_eq!(settled["mahak"]["accountingState"], "SETTLED");
    // The report reads the receipt (cash 5, no cheques) on SQLite too.
    let today = today_tehran().to_string();
    let body = shop
        .admin(
            "query($d: String!) { mahakReconciliation(from: $d, to: $d) { differences { orderNumber kind mahakAmount } } }",
            json!({ "d": today }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let differences = body["data"]["mahakReconciliation"]["differences"]
        .as_array()
        .unwrap();
    assert!(
        differences
            .iter()
            .any(|d| d["orderNumber"] == receipted.number
                && d["kind"] == "RECEIPT_AMOUNT_DIFFERS"
                && d["mahakAmount"] == 5),
        "{body}"
    );

    let again = server::reconcile::sweep(&conn, &events).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert!(published.try_recv().is_err());
    for _ in 0..600 {
        if shop.texts_to(&returned.phone, "مرجوع") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shop.texts_to(&returned.phone, "مرجوع"), 1);
}

/// The whole way with the real push (the embedded sync and the outbox against the
/// simulator): the paid order is invoiced in Mahak, the receipt pushed with it comes back and
/// settles it, and a return an accountant enters in Mahak refunds it in the store without a
/// return being pushed back.
#[tokio::test]
async fn a_pushed_invoice_is_settled_by_its_receipt_and_refunded_by_a_return_in_mahak() {
    let db = TestDb::postgres().await;
    let sim = simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(10),
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    let base_url = sim.base_url();
    let (server, sms) = shop::start(
        &db,
        &[
            ("APP__SYNC__EMBEDDED", "true"),
            ("APP__MAHAK__BASE_URL", base_url.as_str()),
            ("APP__SYNC__INTERVAL_SECS", "1"),
            ("APP__RECONCILE__INTERVAL_SECS", "1"),
            ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
            ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
            ("APP__OUTBOX__RETRY_MAX_SECS", "1"),
            ("APP__DATABASE__MAX_CONNECTIONS", "8"),
        ],
    )
    .await;
    let conn = db.connect().await;
    let shop = Shop {
        server: &server,
        sms: &sms,
        conn: &conn,
        staff: staff_token(&server, &db, &["orders"]).await,
    };
    // A whole run, not just the variants: their prices and stock come in other entities,
    // and a variant without them cannot be bought.
    for _ in 0..600 {
        let succeeded = entity::sync_runs::Entity::find()
            .filter(entity::sync_runs::Column::Outcome.eq("succeeded"))
            .count(&conn)
            .await
            .unwrap();
        if succeeded > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let variants: Vec<i64> = entity::variants::Entity::find()
        .filter(entity::variants::Column::DeletedAt.is_null())
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    let paid = shop.buy("09121119001", &variants).await;

    let settled = shop
        .wait_for(&paid.number, "the invoice and its receipt", |o| {
            o["mahak"]["accountingState"] == "SETTLED"
        })
        .await;
    assert_eq!(settled["mahak"]["state"], "pushed", "{settled}");
    let invoice_id = settled["mahak"]["orderId"].as_i64().expect("invoice id");
    let row = shop.order_row(&paid.number).await;
    let payment = payments::Entity::find()
        .filter(payments::Column::OrderId.eq(row.id))
        .filter(payments::Column::Status.eq("paid"))
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert!(payment.mahak_settled_at.is_some());

    let return_id = sim.control().upsert_row(
        Entity::Order,
        json!({ "OrderType": 202, "ReferenceOrderId": invoice_id, "OrderClientId": 5_570_001 }),
    );
    let returned = shop
        .wait_for(&paid.number, "the return", |o| o["status"] == "REFUNDED")
        .await;
    assert_eq!(returned["mahak"]["returnId"], return_id, "{returned}");
    assert_eq!(returned["mahak"]["returnState"], "from_mahak");
    assert_eq!(returned["mahak"]["accountingState"], "RETURNED");
    let row = shop.order_row(&paid.number).await;
    assert!(row.mahak_return_client_id.is_none());
    assert_eq!(
        outbox::Entity::find()
            .filter(outbox::Column::Topic.eq("mahak.push.return"))
            .filter(outbox::Column::AggregateId.eq(row.id.to_string()))
            .count(&conn)
            .await
            .unwrap(),
        0
    );
    // Mahak holds the store's invoice and the accountant's return, no return of the store.
    let returns: Vec<_> = sim
        .control()
        .snapshot(Entity::Order)
        .into_iter()
        .filter(|r| !r.deleted && r.row["ReferenceOrderId"] == invoice_id)
        .collect();
    assert_eq!(returns.len(), 1, "{returns:?}");
    for _ in 0..600 {
        if shop.texts_to(&paid.phone, "مرجوع") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shop.texts_to(&paid.phone, "مرجوع"), 1);
    drop(server);
    sim.shutdown().await;
}
