//! The push from the store to Mahak end to end: the real server binary on PostgreSQL with
//! its embedded sync against a Mahak simulator over HTTP; a customer signs in, checks out and
//! pays on the sandbox gateway over HTTP; the outbox carries the sales invoice to the
//! simulator's `SaveAllData`. What the simulator stored is read back from its control API.
//!
//! - a paid order appears in Mahak as a person + visitor link, an invoice with its lines, a
//!   receipt and a bank-transfer cheque, with the store's amounts and ids;
//! - answers lost after Mahak saved the rows: the retries send the same ClientIds and Mahak
//!   ends with one invoice, not several;
//! - rows Mahak rejects (a product detail it no longer has, a warehouse that does not exist)
//!   leave the order `failed` with Mahak's reason, visible to staff, and the push recovers on
//!   its own once the cause is fixed in Mahak; a cause never fixed ends `dead`;
//! - refunding the order afterwards pushes a sales return referencing the invoice.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::TestDb;
use entity::{customers, order_lines, orders, outbox, payments, sync_runs, warehouses};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::simulator::{self, DataSizes, Faults, RunningSimulator, SimulatorConfig};

use admin::{admin_gql, staff_token};
use common::TestServer;
use kavenegar_sim::Kavenegar;

struct Store {
    server: TestServer,
    sms: Kavenegar,
    sim: RunningSimulator,
    conn: DatabaseConnection,
    /// Does not follow redirects (the sandbox payment page answers with them).
    browser: reqwest::Client,
}

/// A simulator, and the server with the embedded sync against it (one run at start, then
/// an hour's pause) and an outbox polled every 100 ms that retries after 1 s.
async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Store {
    start_with(db, extra, |_| {}).await
}

/// [`start`], with `prepare` changing Mahak before the first sync.
async fn start_with(
    db: &TestDb,
    extra: &[(&str, &str)],
    prepare: impl FnOnce(&RunningSimulator),
) -> Store {
    let sim = simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(10),
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    prepare(&sim);
    let base_url = sim.base_url();
    let env = [
        ("APP__SYNC__EMBEDDED", "true"),
        ("APP__MAHAK__BASE_URL", base_url.as_str()),
        ("APP__SYNC__INTERVAL_SECS", "3600"),
        ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
        ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
        ("APP__OUTBOX__RETRY_MAX_SECS", "1"),
        ("APP__DATABASE__MAX_CONNECTIONS", "8"),
    ];
    let env: Vec<(&str, &str)> = env.iter().chain(extra).copied().collect();
    let (server, sms) = shop::start(db, &env).await;
    let conn = db.connect().await;
    wait_for_first_sync(&conn).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Store {
        server,
        sms,
        sim,
        conn,
        browser,
    }
}

async fn wait_for_first_sync(conn: &DatabaseConnection) {
    for _ in 0..600 {
        let succeeded = sync_runs::Entity::find()
            .filter(sync_runs::Column::Outcome.eq("succeeded"))
            .count(conn)
            .await
            .unwrap();
        if succeeded > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the first sync did not succeed within 60 s");
}

/// The path and query of an absolute URL (the configured public base is not the test's).
fn local(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

impl Store {
    async fn gql(&self, query: &str, variables: Value, token: &str) -> Value {
        let body = shop::gql(&self.server, query, variables, Some(token), None).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// A customer buys two units of a synced variant Mahak knows; returns the customer's
    /// token, the order number and the variant's Mahak id.
    async fn checkout(&self, phone: &str) -> (String, String, i64) {
        let token = shop::sign_in(&self.server, &self.sms, phone, None).await;
        let candidates = entity::variants::Entity::find()
            .filter(entity::variants::Column::DeletedAt.is_null())
            .all(&self.conn)
            .await
            .unwrap();
        let mut bought = None;
        for variant in candidates {
            let body = shop::gql(
                &self.server,
                "mutation($v: ID!) { addToCart(variantId: $v, quantity: 2) { itemCount } }",
                json!({ "v": variant.id.to_string() }),
                Some(&token),
                None,
            )
            .await;
            if body["errors"].is_null() {
                bought = Some(variant.mahak_id);
                break;
            }
        }
        let variant = bought.expect("a synced variant the shop sells");
        let address = shop::add_home_address(&self.server, &token).await;
        let data = self
            .gql(
                "mutation($i: CheckoutInput!) { checkout(input: $i) { number } }",
                json!({ "i": { "addressId": address } }),
                &token,
            )
            .await;
        let number = data["checkout"]["number"].as_str().unwrap().to_string();
        (token, number, variant)
    }

    /// Pays `number` on the sandbox gateway's page, as a browser does.
    async fn pay(&self, token: &str, number: &str) {
        let data = self
            .gql(
                "mutation($o: String!) { startPayment(orderNumber: $o) { redirectUrl } }",
                json!({ "o": number }),
                token,
            )
            .await;
        let page = local(data["startPayment"]["redirectUrl"].as_str().unwrap());
        let pressed = self
            .browser
            .post(self.server.url(&format!("{page}/pay")))
            .send()
            .await
            .unwrap();
        assert_eq!(pressed.status(), 303);
        let callback = local(pressed.headers()["location"].to_str().unwrap());
        let answered = self
            .browser
            .get(self.server.url(&callback))
            .send()
            .await
            .unwrap();
        // The result page itself (no `payment.result_url` to redirect to is configured).
        assert_eq!(answered.status(), 200);
        let order = self.order(number).await;
        assert_eq!(order.status, "paid");
    }

    async fn order(&self, number: &str) -> orders::Model {
        orders::Entity::find()
            .filter(orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .one(&self.conn)
            .await
            .unwrap()
            .expect("order")
    }

    /// Waits (up to 60 s) until `check` holds for the order; returns it.
    async fn wait_order(
        &self,
        number: &str,
        what: &str,
        check: impl Fn(&orders::Model) -> bool,
    ) -> orders::Model {
        for _ in 0..600 {
            let order = self.order(number).await;
            if check(&order) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let order = self.order(number).await;
        panic!("order {number}: {what} did not happen within 60 s: {order:?}");
    }

    /// The simulator's live rows of `entity` whose `field` equals `value`.
    fn mahak_rows(&self, entity: Entity, field: &str, value: &Value) -> Vec<Value> {
        self.sim
            .control()
            .snapshot(entity)
            .into_iter()
            .filter(|r| !r.deleted && &r.row[field] == value)
            .map(|r| r.row)
            .collect()
    }
}

#[tokio::test]
async fn a_paid_order_appears_in_mahak_as_invoice_lines_and_receipt() {
    paid_order_appears_in_mahak(TestDb::postgres().await).await;
}

/// The embedded default's database: ClientIds come from the counter table, not a sequence.
#[tokio::test]
async fn a_paid_order_appears_in_mahak_on_sqlite_too() {
    paid_order_appears_in_mahak(TestDb::sqlite()).await;
}

async fn paid_order_appears_in_mahak(db: TestDb) {
    let store = start(&db, &[]).await;
    let (token, number, variant) = store.checkout("09121230001").await;
    // Nothing goes to Mahak before payment.
    assert_eq!(store.order(&number).await.mahak_state, "not_pushed");
    store.pay(&token, &number).await;

    let order = store
        .wait_order(&number, "the push", |o| o.mahak_state == "pushed")
        .await;
    assert!(order.mahak_error.is_none(), "{order:?}");
    assert!(order.mahak_pushed_at.is_some());
    let invoice_id = order.mahak_order_id.expect("Mahak's invoice id stored");
    let client_id = order.mahak_order_client_id.expect("ClientId stored");
    assert!(order.mahak_row_version.is_some());

    // The invoice, as Mahak stored it.
    let invoices = store.mahak_rows(Entity::Order, "OrderClientId", &json!(client_id));
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let invoice = &invoices[0];
    assert_eq!(invoice["OrderId"], invoice_id);
    assert_eq!(invoice["OrderType"], 201);
    assert!(invoice["VisitorId"].as_i64().unwrap() > 0, "{invoice}");
    assert_eq!(invoice["SendCost"], json!(order.shipping_total as f64));

    // The customer was new to Mahak: created as a person (mobile in Mahak's format) linked
    // to the visitor, and the invoice is theirs.
    let customer = customers::Entity::find_by_id(order.customer_id)
        .one(&store.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.mahak_state, "pushed");
    let person_id = customer.mahak_person_id.expect("person id stored");
    assert_eq!(invoice["PersonId"], person_id);
    let people = store.mahak_rows(Entity::Person, "PersonId", &json!(person_id));
    assert_eq!(people[0]["Mobile"], "09121230001");
    assert_eq!(
        people[0]["PersonClientId"],
        json!(customer.mahak_person_client_id.unwrap())
    );
    let links = store.mahak_rows(Entity::VisitorPerson, "PersonId", &json!(person_id));
    assert_eq!(links.len(), 1, "{links:?}");

    // One line per order line, with the store's price, count, discount and warehouse.
    let lines = order_lines::Entity::find()
        .filter(order_lines::Column::OrderId.eq(order.id))
        .all(&store.conn)
        .await
        .unwrap();
    let details = store.mahak_rows(Entity::OrderDetail, "OrderId", &json!(invoice_id));
    assert_eq!(details.len(), lines.len(), "{details:?}");
    let first_store = warehouses::Entity::find()
        .filter(warehouses::Column::DeletedAt.is_null())
        .all(&store.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.mahak_id)
        .min()
        .unwrap();
    for line in &lines {
        let detail = details
            .iter()
            .find(|d| d["OrderDetailClientId"] == json!(line.mahak_detail_client_id.unwrap()))
            .expect("the line's detail");
        assert_eq!(
            detail["OrderDetailId"],
            json!(line.mahak_detail_id.unwrap())
        );
        assert_eq!(detail["ProductDetailId"], variant);
        assert_eq!(detail["ItemType"], 1);
        assert_eq!(detail["Price"], json!(line.unit_price as f64));
        assert_eq!(detail["Count1"], json!(2.0));
        assert_eq!(detail["Discount"], json!(line.discount as f64));
        assert_eq!(detail["StoreId"], first_store);
        assert_eq!(
            detail["TaxPercent"],
            json!(f64::from(line.tax_bp.unwrap()) / 100.0)
        );
    }

    // The payment: a receipt against the invoice carrying the gateway's reference, with one
    // bank-transfer cheque for the amount paid.
    let payment = payments::Entity::find()
        .filter(payments::Column::OrderId.eq(order.id))
        .filter(payments::Column::Status.eq("paid"))
        .one(&store.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.mahak_state, "pushed");
    let receipt_id = payment.mahak_receipt_id.expect("receipt id stored");
    let receipts = store.mahak_rows(Entity::Receipt, "ReceiptId", &json!(receipt_id));
    assert_eq!(receipts[0]["OrderId"], invoice_id);
    assert_eq!(receipts[0]["PersonId"], person_id);
    assert_eq!(
        receipts[0]["TrackingCode"],
        json!(payment.reference_id.clone().unwrap())
    );
    let cheques = store.mahak_rows(Entity::Cheque, "ReceiptId", &json!(receipt_id));
    assert_eq!(cheques.len(), 1, "{cheques:?}");
    assert_eq!(cheques[0]["Type"], 2);
    assert_eq!(cheques[0]["Amount"], json!(order.grand_total as f64));
    assert_eq!(
        cheques[0]["ChequeId"],
        json!(payment.mahak_cheque_id.unwrap())
    );
    assert_eq!(payment.amount, order.grand_total);

    // The amounts agree: the lines' net plus tax and toll plus shipping is what was paid.
    let net: i64 = lines.iter().map(|l| l.line_total).sum();
    assert_eq!(net + order.shipping_total, order.grand_total);

    // One call did it all.
    let stats = store.sim.control().stats();
    assert_eq!(stats.save_all_data_requests, 1, "{stats:?}");
}

#[tokio::test]
async fn a_push_repeated_after_lost_answers_does_not_duplicate_in_mahak() {
    let db = TestDb::postgres().await;
    // Enough outbox attempts to outlast the client's circuit breaker (open for 30 s after
    // five failed calls in a row).
    let store = start(&db, &[("APP__OUTBOX__MAX_ATTEMPTS", "200")]).await;
    let (token, number, _) = store.checkout("09121230002").await;
    // Every answer is cut after Mahak has saved the rows: the client's own retries and then
    // the outbox's retries all re-send the invoice.
    store.sim.control().set_faults(Faults {
        drop_connection_rate: 1.0,
        ..Faults::default()
    });
    store.pay(&token, &number).await;
    let pending = store
        .wait_order(&number, "a failed send", |o| o.mahak_error.is_some())
        .await;
    let sent = store.sim.control().stats().save_all_data_requests;
    assert!(sent >= 2, "{sent} SaveAllData calls");
    assert_eq!(pending.mahak_state, "pending", "{pending:?}");
    assert!(pending.mahak_order_id.is_none());
    let error = pending.mahak_error.clone().unwrap();
    assert!(error.contains("SaveAllData"), "{error}");
    let client_id = pending
        .mahak_order_client_id
        .expect("ClientId before the first send");

    // Answers come through again: a later retry gets them.
    store.sim.control().set_faults(Faults::default());
    let order = store
        .wait_order(&number, "the push", |o| o.mahak_state == "pushed")
        .await;
    assert_eq!(
        order.mahak_order_client_id,
        Some(client_id),
        "ClientId kept"
    );

    let invoices = store.mahak_rows(Entity::Order, "OrderClientId", &json!(client_id));
    assert_eq!(
        invoices.len(),
        1,
        "one invoice after {sent}+ sends: {invoices:?}"
    );
    let invoice_id = order.mahak_order_id.unwrap();
    assert_eq!(invoices[0]["OrderId"], invoice_id);
    let all_invoices = store
        .sim
        .control()
        .snapshot(Entity::Order)
        .into_iter()
        .filter(|r| r.row["OrderClientId"].as_i64().unwrap_or(0) >= 1_000_000_000)
        .count();
    assert_eq!(all_invoices, 1);
    let lines = order_lines::Entity::find()
        .filter(order_lines::Column::OrderId.eq(order.id))
        .count(&store.conn)
        .await
        .unwrap();
    let details = store.mahak_rows(Entity::OrderDetail, "OrderId", &json!(invoice_id));
    assert_eq!(details.len() as u64, lines);
    assert_eq!(
        store
            .mahak_rows(Entity::Receipt, "OrderId", &json!(invoice_id))
            .len(),
        1
    );
    assert_eq!(
        store
            .mahak_rows(Entity::Person, "Mobile", &json!("09121230002"))
            .len(),
        1
    );
}

#[tokio::test]
async fn a_line_mahak_rejects_fails_visibly_and_recovers_once_fixed_in_mahak() {
    let db = TestDb::postgres().await;
    let store = start(&db, &[]).await;
    let (token, number, variant) = store.checkout("09121230003").await;
    // The variant is removed in Mahak after the customer bought it.
    assert!(store
        .sim
        .control()
        .delete_row(Entity::ProductDetail, variant));
    store.pay(&token, &number).await;

    let failed = store
        .wait_order(&number, "the rejection", |o| o.mahak_state == "failed")
        .await;
    let reason = failed.mahak_error.clone().unwrap();
    assert!(
        reason.contains("OrderDetail #1") && reason.contains("ProductDetail"),
        "Mahak's reason kept: {reason}"
    );

    // Staff see it.
    let staff = staff_token(&store.server, &db, &["orders"]).await;
    let body = admin_gql(
        &store.server,
        Some(&staff),
        "query($n: String!) { order(number: $n) { mahak { state error } } }",
        json!({ "n": number }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["order"]["mahak"]["state"], "failed");
    assert!(body["data"]["order"]["mahak"]["error"]
        .as_str()
        .unwrap()
        .contains("ProductDetail"));

    // Fixed in Mahak: the next retry goes through, without a second invoice.
    assert!(store
        .sim
        .control()
        .undelete_row(Entity::ProductDetail, variant));
    let order = store
        .wait_order(&number, "the push after the fix", |o| {
            o.mahak_state == "pushed"
        })
        .await;
    assert!(order.mahak_error.is_none());
    let invoices = store.mahak_rows(
        Entity::Order,
        "OrderClientId",
        &json!(order.mahak_order_client_id.unwrap()),
    );
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let details = store.mahak_rows(
        Entity::OrderDetail,
        "OrderId",
        &json!(order.mahak_order_id.unwrap()),
    );
    assert!(details.iter().all(|d| d["ProductDetailId"] == variant));
    assert!(!details.is_empty());
}

#[tokio::test]
async fn a_missing_warehouse_fails_until_it_exists_in_mahak() {
    let db = TestDb::postgres().await;
    let store = start(&db, &[("APP__PUSH__STORE_ID", "987654")]).await;
    let (token, number, _) = store.checkout("09121230004").await;
    store.pay(&token, &number).await;
    let failed = store
        .wait_order(&number, "the rejection", |o| o.mahak_state == "failed")
        .await;
    let reason = failed.mahak_error.unwrap();
    assert!(reason.contains("Store"), "{reason}");

    store.sim.control().upsert_row(
        Entity::Store,
        json!({ "StoreId": 987654, "StoreCode": 987654, "Name": "انبار فروشگاه اینترنتی", "Deleted": false }),
    );
    let order = store
        .wait_order(&number, "the push after the fix", |o| {
            o.mahak_state == "pushed"
        })
        .await;
    let details = store.mahak_rows(
        Entity::OrderDetail,
        "OrderId",
        &json!(order.mahak_order_id.unwrap()),
    );
    assert!(!details.is_empty());
    assert!(
        details.iter().all(|d| d["StoreId"] == 987654),
        "{details:?}"
    );
}

#[tokio::test]
async fn a_rejection_never_fixed_is_given_up_after_the_limit() {
    let db = TestDb::postgres().await;
    let store = start(&db, &[("APP__OUTBOX__MAX_ATTEMPTS", "2")]).await;
    let (token, number, variant) = store.checkout("09121230005").await;
    store
        .sim
        .control()
        .delete_row(Entity::ProductDetail, variant);
    store.pay(&token, &number).await;
    let dead = store
        .wait_order(&number, "giving up", |o| o.mahak_state == "dead")
        .await;
    assert!(dead.mahak_error.unwrap().contains("ProductDetail"));
    let job = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq("mahak.push.invoice"))
        .filter(outbox::Column::AggregateId.eq(dead.id.to_string()))
        .one(&store.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 2);
    assert!(job.failed_at.is_some());
    assert_eq!(store.sim.control().stats().save_all_data_requests, 2);
}

#[tokio::test]
async fn refunding_a_pushed_order_pushes_a_sales_return_referencing_the_invoice() {
    let db = TestDb::postgres().await;
    let store = start(&db, &[]).await;
    let (token, number, variant) = store.checkout("09121230006").await;
    store.pay(&token, &number).await;
    let pushed = store
        .wait_order(&number, "the push", |o| o.mahak_state == "pushed")
        .await;
    assert!(pushed.mahak_return_state.is_none());

    let staff = staff_token(&store.server, &db, &["orders"]).await;
    let body = admin_gql(
        &store.server,
        Some(&staff),
        "mutation($n: String!) { refundOrder(number: $n, reason: \"damaged in transit\") { status } }",
        json!({ "n": number }),
    )
    .await;
    assert_eq!(body["data"]["refundOrder"]["status"], "REFUNDED", "{body}");

    let order = store
        .wait_order(&number, "the return", |o| {
            o.mahak_return_state.as_deref() == Some("pushed")
        })
        .await;
    let return_id = order.mahak_return_id.expect("Mahak's return id stored");
    let returns = store.mahak_rows(Entity::Order, "OrderId", &json!(return_id));
    assert_eq!(returns.len(), 1);
    assert_eq!(returns[0]["OrderType"], 202);
    assert_eq!(
        returns[0]["ReferenceOrderId"],
        json!(pushed.mahak_order_id.unwrap())
    );
    assert_eq!(
        returns[0]["PersonId"],
        json!(customers::Entity::find_by_id(order.customer_id)
            .one(&store.conn)
            .await
            .unwrap()
            .unwrap()
            .mahak_person_id
            .unwrap())
    );
    let lines = store.mahak_rows(Entity::OrderDetail, "OrderId", &json!(return_id));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["ProductDetailId"], variant);
    assert_eq!(lines[0]["Count1"], json!(2.0));
}

#[tokio::test]
async fn a_customer_mahak_already_knows_by_mobile_is_linked_not_created_again() {
    let db = TestDb::postgres().await;
    let mut person_id = 0;
    let store = start_with(&db, &[], |sim| {
        person_id = sim.control().upsert_row(
            Entity::Person,
            json!({ "PersonId": 77_001, "PersonCode": 77_001, "FirstName": "مریم",
                    "LastName": "کاظمی", "Mobile": "0912 123 0007", "Deleted": false }),
        );
    })
    .await;
    let (token, number, _) = store.checkout("09121230007").await;
    store.pay(&token, &number).await;
    let order = store
        .wait_order(&number, "the push", |o| o.mahak_state == "pushed")
        .await;

    let customer = customers::Entity::find_by_id(order.customer_id)
        .one(&store.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.mahak_person_id, Some(person_id));
    assert_eq!(customer.mahak_state, "linked");
    assert!(
        customer.mahak_person_client_id.is_none(),
        "no person pushed"
    );
    let invoices = store.mahak_rows(
        Entity::Order,
        "OrderId",
        &json!(order.mahak_order_id.unwrap()),
    );
    assert_eq!(invoices[0]["PersonId"], person_id);
    // Still the one person with that mobile in Mahak, and no new visitor link.
    let people: Vec<_> = store
        .sim
        .control()
        .snapshot(Entity::Person)
        .into_iter()
        .filter(|p| {
            p.row["Mobile"]
                .as_str()
                .is_some_and(|m| m.replace(' ', "") == "09121230007")
        })
        .collect();
    assert_eq!(people.len(), 1, "{people:?}");
    assert!(store
        .mahak_rows(Entity::VisitorPerson, "PersonId", &json!(person_id))
        .is_empty());
}
