//! Customers' standing in Mahak's books and ordering on account, end to end over HTTP against
//! the real server on PostgreSQL: `me { accountBalance }`, the admin `accountStanding`, and
//! `payOnAccount` (allowed within the credit, refused with `CREDIT_REFUSED` and the reason when
//! not linked, over the limit or inactive, `NOT_FOUND` for someone else's order, one winner
//! among concurrent calls, the Mahak invoice queued and no payment recorded, the status change
//! published to `orderStatusChanged`). The Mahak mirror rows are written directly, as the sync
//! writes them; one test runs the embedded sync against the Mahak simulator and follows a
//! balance changed in "Mahak" to `me`.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::{
    customers, mahak_people, mahak_transactions, mahak_visitor_people, order_events, orders,
    outbox, payments,
};
use futures::{SinkExt, StreamExt};
use kavenegar_sim::Kavenegar;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter,
};
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::simulator::{self, DataSizes, SimulatorConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BALANCE: &str =
    "{ me { accountBalance { balance credit pendingCharges available status reason
    transactions { date debit credit balance description } } } }";

const PAY: &str =
    "mutation($o: String!) { payOnAccount(orderNumber: $o) { number status paidAt } }";

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
}

async fn start(db: &TestDb) -> Shop {
    start_with(db, &[]).await
}

async fn start_with(db: &TestDb, extra: &[(&str, &str)]) -> Shop {
    let env = [("APP__DATABASE__MAX_CONNECTIONS", "16")];
    let env: Vec<(&str, &str)> = env.iter().chain(extra).copied().collect();
    let (server, sms) = shop::start(db, &env).await;
    Shop {
        server,
        sms,
        conn: db.connect().await,
    }
}

impl Shop {
    async fn gql(&self, query: &str, variables: Value, token: &str) -> Value {
        shop::gql(&self.server, query, variables, Some(token), None).await
    }

    async fn sign_in(&self, national: &str) -> String {
        shop::sign_in(&self.server, &self.sms, national, None).await
    }

    async fn customer(&self, national: &str) -> customers::Model {
        let phone = format!("+98{}", &national[1..]);
        customers::Entity::find()
            .filter(customers::Column::Phone.eq(phone))
            .one(&self.conn)
            .await
            .unwrap()
            .expect("the customer exists")
    }

    /// Links the customer to Mahak person `person`, as the push does.
    async fn link(&self, national: &str, person: i64) {
        let customer = self.customer(national).await;
        customers::Entity::update_many()
            .col_expr(customers::Column::MahakPersonId, Expr::value(person))
            .filter(customers::Column::Id.eq(customer.id))
            .exec(&self.conn)
            .await
            .unwrap();
    }

    /// Fills the cart with one unit of `variant`, checks out; returns (number, grand total).
    async fn order(&self, token: &str, variant: i64) -> (String, i64) {
        let body = self
            .gql(
                "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { id } }",
                json!({ "v": variant.to_string() }),
                token,
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let address = shop::add_home_address(&self.server, token).await;
        let body = self
            .gql(
                "mutation($i: CheckoutInput!) { checkout(input: $i) { number status grandTotal } }",
                json!({ "i": { "addressId": address } }),
                token,
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let order = &body["data"]["checkout"];
        assert_eq!(order["status"], "PENDING_PAYMENT");
        (
            order["number"].as_str().unwrap().to_string(),
            order["grandTotal"].as_i64().unwrap(),
        )
    }

    async fn balance(&self, token: &str) -> Value {
        let body = self.gql(BALANCE, json!({}), token).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["me"]["accountBalance"].clone()
    }

    async fn pay(&self, token: &str, order: &str) -> Value {
        self.gql(PAY, json!({ "o": order }), token).await
    }

    async fn order_row(&self, number: &str) -> orders::Model {
        orders::Entity::find()
            .filter(orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .one(&self.conn)
            .await
            .unwrap()
            .expect("the order exists")
    }

    async fn events(&self, order: &orders::Model) -> Vec<order_events::Model> {
        order_events::Entity::find()
            .filter(order_events::Column::OrderId.eq(order.id))
            .all(&self.conn)
            .await
            .unwrap()
    }

    async fn invoice_jobs(&self, order: &orders::Model) -> u64 {
        outbox::Entity::find()
            .filter(outbox::Column::Topic.eq("mahak.push.invoice"))
            .filter(outbox::Column::AggregateId.eq(order.id.to_string()))
            .count(&self.conn)
            .await
            .unwrap()
    }

    async fn payments(&self, order: &orders::Model) -> u64 {
        payments::Entity::find()
            .filter(payments::Column::OrderId.eq(order.id))
            .count(&self.conn)
            .await
            .unwrap()
    }

    /// The order is exactly as checkout left it: unpaid, same version, only its placing in
    /// the history, no invoice queued, no payment.
    async fn assert_untouched(&self, number: &str) {
        let order = self.order_row(number).await;
        assert_eq!(order.status, "pending_payment");
        assert_eq!(order.version, 0, "{order:?}");
        assert!(order.paid_at.is_none());
        let events = self.events(&order).await;
        assert!(
            events.iter().all(|e| e.to_status.as_deref() != Some("paid")
                && e.kind != server::account_credit::CHARGED_ON_ACCOUNT),
            "{events:?}"
        );
        assert_eq!(self.invoice_jobs(&order).await, 0);
        assert_eq!(self.payments(&order).await, 0);
    }
}

/// Seeds a product with one variant; returns the variant's local id.
async fn product(conn: &DatabaseConnection, mahak_id: i64) -> i64 {
    let mut spec = ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
    spec.variants = vec![(Some(1_000_000), 50.0)];
    seed::product(conn, &spec).await;
    entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(mahak_id * 10))
        .one(conn)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A Mahak person in the mirror, as the sync writes it.
async fn person(conn: &DatabaseConnection, mahak_id: i64, balance: i64, credit: i64) {
    mahak_people::Entity::insert(mahak_people::ActiveModel {
        id: NotSet,
        mahak_id: Set(mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(mahak_id)),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({ "PersonId": mahak_id, "Balance": balance, "Credit": credit })),
        synced_at: Set(Utc::now()),
        person_group_mahak_id: Set(None),
        first_name: Set(Some("سارا".into())),
        last_name: Set(Some("احمدی".into())),
        organization: Set(None),
        mobile: Set(None),
        mobile_e164: Set(None),
        email: Set(None),
        national_code: Set(None),
        sell_price_level: Set(Some(1)),
        credit: Set(credit),
        balance: Set(balance),
    })
    .exec(conn)
    .await
    .unwrap();
}

/// The person's link to the store's visitor, live or deleted.
async fn visitor_link(conn: &DatabaseConnection, mahak_id: i64, person: i64, deleted: bool) {
    mahak_visitor_people::Entity::insert(mahak_visitor_people::ActiveModel {
        id: NotSet,
        mahak_id: Set(mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(deleted.then(Utc::now)),
        payload: Set(json!({ "VisitorPersonId": mahak_id, "PersonId": person })),
        synced_at: Set(Utc::now()),
        person_mahak_id: Set(Some(person)),
        visitor_id: Set(Some(1)),
    })
    .exec(conn)
    .await
    .unwrap();
}

/// One ledger line on `day` of November 2025.
async fn ledger(
    conn: &DatabaseConnection,
    mahak_id: i64,
    person: i64,
    day: u32,
    (debt, credit, balance): (i64, i64, i64),
    deleted: bool,
) {
    mahak_transactions::Entity::insert(mahak_transactions::ActiveModel {
        id: NotSet,
        mahak_id: Set(mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(mahak_id)),
        row_version: Set(1),
        deleted_at: Set(deleted.then(Utc::now)),
        payload: Set(json!({ "TransactionId": mahak_id })),
        synced_at: Set(Utc::now()),
        person_mahak_id: Set(Some(person)),
        transaction_type: Set(Some(1)),
        debt_amount: Set(debt),
        credit_amount: Set(credit),
        balance: Set(balance),
        transaction_date: Set(Some(Utc.with_ymd_and_hms(2025, 11, day, 9, 0, 0).unwrap())),
        description: Set(Some(format!("line {mahak_id}"))),
    })
    .exec(conn)
    .await
    .unwrap();
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_customer_mahak_does_not_know_is_not_linked_and_cannot_order_on_account() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 800).await;
    let token = shop.sign_in("09121120001").await;
    let (order, _) = shop.order(&token, variant).await;

    let balance = shop.balance(&token).await;
    assert_eq!(balance["status"], "NOT_LINKED", "{balance}");
    assert!(balance["balance"].is_null());
    assert!(balance["credit"].is_null());
    assert_eq!(balance["available"], 0);
    assert_eq!(balance["transactions"], json!([]));
    let reason = balance["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("not in the store's books"), "{reason}");

    let body = shop.pay(&token, &order).await;
    assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
    assert_eq!(message(&body), reason);
    assert!(body["data"].is_null(), "{body}");
    shop.assert_untouched(&order).await;

    // Linked to a person the mirror does not hold yet: still not linked.
    shop.link("09121120001", 4242).await;
    assert_eq!(shop.balance(&token).await["status"], "NOT_LINKED");
    let body = shop.pay(&token, &order).await;
    assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
    shop.assert_untouched(&order).await;

    // Without signing in there is no account.
    let anonymous = shop::gql(&shop.server, PAY, json!({ "o": order }), None, None).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
}

#[tokio::test]
async fn within_the_credit_the_order_is_charged_to_the_account_and_invoiced() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 810).await;
    let token = shop.sign_in("09121120011").await;
    let (order, total) = shop.order(&token, variant).await;
    let (second, second_total) = shop.order(&token, variant).await;
    assert!(total > 0);

    // The order just fits: balance + total == credit.
    let owed = 250_000;
    person(&shop.conn, 501, owed, owed + total).await;
    visitor_link(&shop.conn, 9501, 501, false).await;
    ledger(&shop.conn, 7001, 501, 1, (400_000, 0, 400_000), false).await;
    ledger(&shop.conn, 7003, 501, 20, (0, 150_000, 250_000), false).await;
    ledger(&shop.conn, 7002, 501, 10, (0, 0, 400_000), true).await;
    ledger(&shop.conn, 7004, 502, 25, (1, 0, 1), false).await; // someone else's
    shop.link("09121120011", 501).await;

    let balance = shop.balance(&token).await;
    assert_eq!(balance["status"], "ACTIVE", "{balance}");
    assert!(balance["reason"].is_null());
    assert_eq!(balance["balance"], owed);
    assert_eq!(balance["credit"], owed + total);
    assert_eq!(balance["pendingCharges"], 0);
    assert_eq!(balance["available"], total);
    // Newest first; the deleted line and the other person's are left out.
    let lines = balance["transactions"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{balance}");
    assert_eq!(lines[0]["description"], "line 7003");
    assert_eq!(lines[0]["credit"], 150_000);
    assert_eq!(lines[0]["balance"], 250_000);
    assert_eq!(lines[0]["date"], "2025-11-20T09:00:00+00:00");
    assert_eq!(lines[1]["description"], "line 7001");
    assert_eq!(lines[1]["debit"], 400_000);
    let one = shop
        .gql(
            "{ me { accountBalance { transactions(first: 1) { description } } } }",
            json!({}),
            &token,
        )
        .await;
    assert_eq!(
        one["data"]["me"]["accountBalance"]["transactions"],
        json!([{ "description": "line 7003" }]),
        "{one}"
    );
    let too_many = shop
        .gql(
            "{ me { accountBalance { transactions(first: 101) { description } } } }",
            json!({}),
            &token,
        )
        .await;
    assert_eq!(error_codes(&too_many), ["BAD_USER_INPUT"], "{too_many}");

    // The customer watches the order, then pays on account.
    let mut ws = customer_socket(&shop.server, &token).await;
    send(
        &mut ws,
        json!({ "id": "w", "type": "subscribe", "payload": { "query": "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { orderNumber fromStatus status } }", "variables": { "n": order } } }),
    )
    .await;
    let first = recv(&mut ws).await;
    assert_eq!(
        first["payload"]["data"]["orderStatusChanged"]["status"], "PENDING_PAYMENT",
        "{first}"
    );

    let body = shop.pay(&token, &order).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["payOnAccount"]["number"], order.as_str());
    assert_eq!(body["data"]["payOnAccount"]["status"], "PAID");
    assert!(body["data"]["payOnAccount"]["paidAt"].is_string());

    let live = recv(&mut ws).await;
    assert_eq!(
        live["payload"]["data"]["orderStatusChanged"],
        json!({ "orderNumber": order, "fromStatus": "PENDING_PAYMENT", "status": "PAID" }),
        "{live}"
    );

    let row = shop.order_row(&order).await;
    assert_eq!(row.status, "paid");
    assert_eq!(row.version, 1);
    assert!(row.paid_at.is_some());
    assert_eq!(
        shop.invoice_jobs(&row).await,
        1,
        "the Mahak invoice is queued"
    );
    assert_eq!(shop.payments(&row).await, 0, "no money was received");
    let events = shop.events(&row).await;
    let paid: Vec<_> = events
        .iter()
        .filter(|e| e.to_status.as_deref() == Some("paid"))
        .collect();
    assert_eq!(paid.len(), 1, "{events:?}");
    assert_eq!(paid[0].message, "charged to the customer's Mahak account");
    assert_eq!(paid[0].actor, "customer");
    let note = events
        .iter()
        .find(|e| e.kind == "charged_on_account")
        .expect("a charged_on_account note");
    assert!(
        note.message
            .contains(&format!("{total} Rial charged to Mahak person 501")),
        "{}",
        note.message
    );

    // Until Mahak's books show it, the order counts against the credit: the second order
    // does not fit any more.
    let balance = shop.balance(&token).await;
    assert_eq!(balance["balance"], owed);
    assert_eq!(balance["pendingCharges"], total);
    assert_eq!(balance["available"], 0);
    assert_eq!(balance["status"], "ACTIVE", "{balance}");
    let body = shop.pay(&token, &second).await;
    assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
    assert_eq!(
        message(&body),
        format!(
            "the order total ({second_total} Rial) is more than the credit available on your account (0 Rial)"
        )
    );
    shop.assert_untouched(&second).await;

    // Paying again is a conflict; the order stays paid once.
    let again = shop.pay(&token, &order).await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    assert_eq!(shop.invoice_jobs(&row).await, 1);

    // Staff see the same standing and ledger.
    let staff = admin::staff_token(&shop.server, &db, &["customers"]).await;
    let customer = shop.customer("09121120011").await;
    let body = admin::admin_gql(
        &shop.server,
        Some(&staff),
        "query($id: ID!) { customer(id: $id) { mahakBalance accountStanding { linked personMahakId balance credit pendingCharges available status reason syncedAt transactions(first: 5) { mahakId debit credit balance description } } } }",
        json!({ "id": customer.id.to_string() }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let standing = &body["data"]["customer"]["accountStanding"];
    assert_eq!(body["data"]["customer"]["mahakBalance"], owed);
    assert_eq!(standing["linked"], true);
    assert_eq!(standing["personMahakId"], 501);
    assert_eq!(standing["balance"], owed);
    assert_eq!(standing["credit"], owed + total);
    assert_eq!(standing["pendingCharges"], total);
    assert_eq!(standing["available"], 0);
    assert_eq!(standing["status"], "ACTIVE");
    assert!(standing["syncedAt"].is_string());
    let ids: Vec<i64> = standing["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["mahakId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [7003, 7001]);

    // Once the person's row in the mirror changed after the invoice was pushed, the balance
    // Mahak sent includes the order, and it no longer counts as pending.
    let pushed_at = Utc::now();
    orders::Entity::update_many()
        .col_expr(orders::Column::MahakPushedAt, Expr::value(pushed_at))
        .filter(orders::Column::Id.eq(row.id))
        .exec(&shop.conn)
        .await
        .unwrap();
    mahak_people::Entity::update_many()
        .col_expr(mahak_people::Column::Balance, Expr::value(owed + total))
        .col_expr(
            mahak_people::Column::SyncedAt,
            Expr::value(pushed_at + chrono::Duration::seconds(1)),
        )
        .filter(mahak_people::Column::MahakId.eq(501))
        .exec(&shop.conn)
        .await
        .unwrap();
    let balance = shop.balance(&token).await;
    assert_eq!(balance["balance"], owed + total);
    assert_eq!(balance["pendingCharges"], 0);
    assert_eq!(balance["available"], 0);
    assert_eq!(balance["status"], "ACTIVE", "{balance}");
}

#[tokio::test]
async fn over_the_limit_the_order_is_refused_with_the_reason_and_left_unchanged() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 820).await;
    let token = shop.sign_in("09121120021").await;
    let (order, total) = shop.order(&token, variant).await;
    person(&shop.conn, 601, 5_000_001, 5_000_000).await;
    visitor_link(&shop.conn, 9601, 601, false).await;
    shop.link("09121120021", 601).await;

    let balance = shop.balance(&token).await;
    assert_eq!(balance["status"], "OVER_LIMIT", "{balance}");
    assert_eq!(balance["available"], 0);
    let reason = balance["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "your account owes 5000001 Rial, more than its credit limit of 5000000 Rial"
    );
    let body = shop.pay(&token, &order).await;
    assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
    assert_eq!(message(&body), reason);
    shop.assert_untouched(&order).await;

    // Within the limit but the order is one Rial too much: refused too.
    mahak_people::Entity::update_many()
        .col_expr(mahak_people::Column::Balance, Expr::value(0i64))
        .col_expr(mahak_people::Column::Credit, Expr::value(total - 1))
        .filter(mahak_people::Column::MahakId.eq(601))
        .exec(&shop.conn)
        .await
        .unwrap();
    let balance = shop.balance(&token).await;
    assert_eq!(balance["status"], "ACTIVE", "{balance}");
    assert_eq!(balance["available"], total - 1);
    let body = shop.pay(&token, &order).await;
    assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
    assert_eq!(
        message(&body),
        format!(
            "the order total ({total} Rial) is more than the credit available on your account ({} Rial)",
            total - 1
        )
    );
    shop.assert_untouched(&order).await;

    // A store that owes the customer extends what they may charge.
    mahak_people::Entity::update_many()
        .col_expr(mahak_people::Column::Balance, Expr::value(-1i64))
        .filter(mahak_people::Column::MahakId.eq(601))
        .exec(&shop.conn)
        .await
        .unwrap();
    let body = shop.pay(&token, &order).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["payOnAccount"]["status"], "PAID");
}

#[tokio::test]
async fn an_inactive_mahak_account_is_refused() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 830).await;

    // The person is deleted in Mahak.
    let deleted = shop.sign_in("09121120031").await;
    let (deleted_order, _) = shop.order(&deleted, variant).await;
    person(&shop.conn, 701, 0, 100_000_000).await;
    visitor_link(&shop.conn, 9701, 701, false).await;
    mahak_people::Entity::update_many()
        .col_expr(mahak_people::Column::DeletedAt, Expr::value(Utc::now()))
        .filter(mahak_people::Column::MahakId.eq(701))
        .exec(&shop.conn)
        .await
        .unwrap();
    shop.link("09121120031", 701).await;

    // The person's only visitor link is deleted (taken off the store).
    let unlinked = shop.sign_in("09121120032").await;
    let (unlinked_order, _) = shop.order(&unlinked, variant).await;
    person(&shop.conn, 702, 0, 100_000_000).await;
    visitor_link(&shop.conn, 9702, 702, true).await;
    shop.link("09121120032", 702).await;

    for (token, order) in [(&deleted, &deleted_order), (&unlinked, &unlinked_order)] {
        let balance = shop.balance(token).await;
        assert_eq!(balance["status"], "INACTIVE", "{balance}");
        assert_eq!(balance["available"], 0);
        // Still linked: the figures are shown.
        assert_eq!(balance["credit"], 100_000_000);
        let reason = balance["reason"].as_str().unwrap();
        assert_eq!(
            reason,
            "your account in the store's books is inactive; contact the store"
        );
        let body = shop.pay(token, order).await;
        assert_eq!(error_codes(&body), ["CREDIT_REFUSED"], "{body}");
        assert_eq!(message(&body), reason);
        shop.assert_untouched(order).await;
    }

    // Tied to the visitor again (a live link beside the deleted one): active.
    visitor_link(&shop.conn, 9703, 702, false).await;
    assert_eq!(shop.balance(&unlinked).await["status"], "ACTIVE");
    let body = shop.pay(&unlinked, &unlinked_order).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn another_customers_order_is_not_found() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 840).await;
    let alice = shop.sign_in("09121120041").await;
    let bob = shop.sign_in("09121120042").await;
    let (order, _) = shop.order(&alice, variant).await;
    // Bob has plenty of credit; Alice's order is still not his to charge.
    person(&shop.conn, 801, 0, 1_000_000_000).await;
    shop.link("09121120042", 801).await;
    assert_eq!(shop.balance(&bob).await["status"], "ACTIVE");

    for number in [order.as_str(), "99999999", "not-a-number"] {
        let body = shop.pay(&bob, number).await;
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{number}: {body}");
    }
    shop.assert_untouched(&order).await;
}

#[tokio::test]
async fn of_concurrent_charges_of_one_order_exactly_one_wins() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 850).await;
    let token = shop.sign_in("09121120051").await;
    let (order, _) = shop.order(&token, variant).await;
    person(&shop.conn, 901, 0, 1_000_000_000).await;
    shop.link("09121120051", 901).await;

    let calls = (0..6).map(|_| shop.pay(&token, &order));
    let answers = futures::future::join_all(calls).await;
    let won = answers.iter().filter(|b| b["errors"].is_null()).count();
    let lost: Vec<Vec<String>> = answers
        .iter()
        .filter(|b| !b["errors"].is_null())
        .map(error_codes)
        .collect();
    assert_eq!(won, 1, "{answers:?}");
    assert!(lost.iter().all(|codes| codes == &["CONFLICT"]), "{lost:?}");

    let row = shop.order_row(&order).await;
    assert_eq!(row.status, "paid");
    assert_eq!(row.version, 1);
    let events = shop.events(&row).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.to_status.as_deref() == Some("paid"))
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "charged_on_account")
            .count(),
        1
    );
    assert_eq!(shop.invoice_jobs(&row).await, 1);
    assert_eq!(shop.payments(&row).await, 0);
}

/// Two orders that each fit the credit but not together, charged at the same time: one is
/// charged, the other refused (the second decision sees the first's pending charge).
#[tokio::test]
async fn concurrent_charges_of_two_orders_cannot_both_use_the_same_credit() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 860).await;
    let token = shop.sign_in("09121120081").await;
    let (first, total) = shop.order(&token, variant).await;
    let (second, second_total) = shop.order(&token, variant).await;
    assert_eq!(total, second_total);
    person(&shop.conn, 1001, 0, total + total / 2).await;
    shop.link("09121120081", 1001).await;

    for _ in 0..3 {
        let (a, b) = tokio::join!(shop.pay(&token, &first), shop.pay(&token, &second));
        let won = [&a, &b]
            .iter()
            .filter(|body| body["errors"].is_null())
            .count();
        let refused: Vec<Vec<String>> = [&a, &b]
            .iter()
            .filter(|body| !body["errors"].is_null())
            .map(|body| error_codes(body))
            .collect();
        // After the first round one order is paid: later rounds see CONFLICT for it and
        // CREDIT_REFUSED for the other; never two wins over all rounds.
        assert!(won <= 1, "{a} {b}");
        assert!(
            refused
                .iter()
                .all(|codes| codes == &["CREDIT_REFUSED"] || codes == &["CONFLICT"]),
            "{refused:?}"
        );
    }
    let paid = [shop.order_row(&first).await, shop.order_row(&second).await]
        .iter()
        .filter(|o| o.status == "paid")
        .count();
    assert_eq!(paid, 1);
    let balance = shop.balance(&token).await;
    assert_eq!(balance["pendingCharges"], total);
    assert_eq!(balance["available"], total / 2);
}

#[tokio::test]
async fn pay_on_account_is_rate_limited_per_customer() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let token = shop.sign_in("09121120061").await;
    let other = shop.sign_in("09121120062").await;
    for _ in 0..server::account_credit::RATE_LIMIT {
        let body = shop.pay(&token, "99999999").await;
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    }
    let body = shop.pay(&token, "99999999").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0));
    // Another customer has their own budget.
    let body = shop.pay(&other, "99999999").await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
}

/// A balance changed in "Mahak" (the simulator) reaches `me { accountBalance }` through the
/// sync running inside the server.
#[tokio::test]
async fn a_balance_changed_in_mahak_flows_through_the_sync_to_me() {
    let db = TestDb::postgres().await;
    let sim = simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(10),
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    let base_url = sim.base_url();
    let shop = start_with(
        &db,
        &[
            ("APP__SYNC__EMBEDDED", "true"),
            ("APP__MAHAK__BASE_URL", &base_url),
            ("APP__SYNC__INTERVAL_SECS", "1"),
            ("APP__STORAGE__MAHAK_IMPORT_INTERVAL_SECS", "0"),
        ],
    )
    .await;

    // A live Mahak person with ledger lines, once the first sync brought them in.
    let control = sim.control();
    let person_id = control
        .snapshot(Entity::Person)
        .into_iter()
        .filter(|p| !p.deleted)
        .map(|p| p.id)
        .find(|&id| {
            control
                .snapshot(Entity::Transaction)
                .iter()
                .any(|t| !t.deleted && t.row["PersonId"] == id)
        })
        .expect("a person with transactions");
    let mut synced = None;
    for _ in 0..600 {
        let person = mahak_people::Entity::find()
            .filter(mahak_people::Column::MahakId.eq(person_id))
            .one(&shop.conn)
            .await
            .unwrap();
        let lines = mahak_transactions::Entity::find()
            .filter(mahak_transactions::Column::PersonMahakId.eq(person_id))
            .count(&shop.conn)
            .await
            .unwrap();
        if let (Some(person), true) = (person, lines > 0) {
            synced = Some(person);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let synced = synced.expect("the person and their ledger synced within 60 s");

    let token = shop.sign_in("09121120071").await;
    shop.link("09121120071", person_id).await;
    let before = shop.balance(&token).await;
    assert_eq!(before["balance"], synced.balance, "{before}");
    assert_eq!(before["credit"], synced.credit, "{before}");
    assert!(
        !before["transactions"].as_array().unwrap().is_empty(),
        "{before}"
    );

    // In "Mahak": the customer now owes 1,234,560 Rial against a credit of 2,000,000.
    assert!(control.patch_row(
        Entity::Person,
        person_id,
        json!({ "Balance": 1_234_560.0, "Credit": 2_000_000.0 })
    ));
    let mut after = Value::Null;
    for _ in 0..600 {
        after = shop.balance(&token).await;
        if after["balance"] == 1_234_560 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        after["balance"], 1_234_560,
        "not synced within 60 s: {after}"
    );
    assert_eq!(after["credit"], 2_000_000);
    assert_eq!(after["available"], 2_000_000 - 1_234_560);
    assert_eq!(after["status"], "ACTIVE");

    // Over the limit in Mahak: the customer is told so.
    assert!(control.patch_row(Entity::Person, person_id, json!({ "Credit": 1_000_000.0 })));
    for _ in 0..600 {
        after = shop.balance(&token).await;
        if after["credit"] == 1_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        after["credit"], 1_000_000,
        "not synced within 60 s: {after}"
    );
    assert_eq!(after["status"], "OVER_LIMIT", "{after}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` socket on `/graphql`, initialised with the customer's token.
async fn customer_socket(server: &TestServer, token: &str) -> Ws {
    let url = server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake");
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message (WebSocket pings skipped).
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("socket open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}
