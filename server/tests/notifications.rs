//! Effects that happen after a request, end to end against the real server on PostgreSQL: the
//! SMS a paid order sends through the outbox (retried, de-duplicated at Kavenegar's simulator by
//! `localid`, given up after the limit) and the sweep that cancels unpaid orders on schedule,
//! watched over a real `graphql-transport-ws` subscription.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer};
use futures::{SinkExt, StreamExt};
use kavenegar_sim::Kavenegar;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{json, Value};
use server::commerce::orders::{transition, OrderStatus};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PHONE: &str = "09121113300";

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
}

async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Shop {
    let env: Vec<(&str, &str)> = [
        ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
        ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
    ]
    .iter()
    .chain(extra)
    .copied()
    .collect();
    let (server, sms) = shop::start(db, &env).await;
    Shop {
        server,
        sms,
        conn: db.connect().await,
    }
}

impl Shop {
    /// Signs in, buys two units of a fresh product and checks out; returns the token and
    /// the order's number.
    async fn order(&self, mahak_id: i64) -> (String, String) {
        let token = shop::sign_in(&self.server, &self.sms, PHONE, None).await;
        let mut spec = ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
        spec.variants = vec![(Some(1_250_000), 2.0)];
        seed::product(&self.conn, &spec).await;
        let variant = entity::variants::Entity::find()
            .filter(entity::variants::Column::MahakId.eq(mahak_id * 10))
            .one(&self.conn)
            .await
            .unwrap()
            .expect("variant seeded")
            .id;
        let address = shop::add_home_address(&self.server, &token).await;
        let added = shop::gql(
            &self.server,
            "mutation($v: ID!) { addToCart(variantId: $v, quantity: 2) { itemCount } }",
            json!({ "v": variant.to_string() }),
            Some(&token),
            None,
        )
        .await;
        assert!(added["errors"].is_null(), "{added}");
        let order = shop::gql(
            &self.server,
            "mutation($i: CheckoutInput!) { checkout(input: $i) { number } }",
            json!({ "i": { "addressId": address } }),
            Some(&token),
            None,
        )
        .await;
        assert!(order["errors"].is_null(), "{order}");
        let number = order["data"]["checkout"]["number"].as_str().unwrap();
        (token, number.to_string())
    }

    /// Marks the order paid the way a verified payment does: one transaction, through the
    /// state machine (the payment tests drive this through the real gateways).
    async fn mark_paid(&self, number: &str) -> entity::orders::Model {
        let order = entity::orders::Entity::find()
            .filter(entity::orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .one(&self.conn)
            .await
            .unwrap()
            .unwrap();
        let txn = self.conn.begin().await.unwrap();
        let paid = transition(&txn, &order, OrderStatus::Paid, "payment", "test")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        paid
    }

    /// The outbox rows of `topic`, oldest first.
    async fn outbox(&self, topic: &str) -> Vec<entity::outbox::Model> {
        entity::outbox::Entity::find()
            .filter(entity::outbox::Column::Topic.eq(topic))
            .all(&self.conn)
            .await
            .unwrap()
    }

    /// Waits (up to 30 s) until the only `notification.sms` row is settled, processed or given
    /// up; returns it.
    async fn settled_sms(&self) -> entity::outbox::Model {
        for _ in 0..300 {
            let rows = self.outbox("notification.sms").await;
            assert!(rows.len() <= 1, "one notification row: {rows:?}");
            if let Some(row) = rows.into_iter().next() {
                if row.processed_at.is_some() || row.failed_at.is_some() {
                    return row;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the SMS outbox row was not settled within 30 s");
    }

    fn texts(&self) -> Vec<String> {
        self.sms
            .sent()
            .into_iter()
            .filter(|s| s.method == "sms/send")
            .map(|s| s.message.unwrap_or_default())
            .collect()
    }
}

#[tokio::test]
async fn a_paid_order_texts_the_customer_exactly_once_despite_failures() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;
    let (_, number) = shop.order(3300).await;
    // First try: refused (credit too low), nothing sent. Second: sent, but the answer is
    // lost. Third: Kavenegar recognises the `localid` and does not send again.
    shop.sms.refuse_next_sends(1);
    shop.sms.lose_next_answers(1);
    let paid = shop.mark_paid(&number).await;

    // The order's own effect for Mahak is written in the same transaction: its sales
    // invoice, waiting for the push (no Mahak is configured for this server).
    let invoice = shop.outbox("mahak.push.invoice").await;
    assert_eq!(invoice.len(), 1);
    assert_eq!(invoice[0].aggregate_id, paid.id.to_string());
    assert_eq!(invoice[0].payload["kind"], "invoice");
    assert_eq!(invoice[0].payload["orderId"], paid.id.to_string());

    let row = shop.settled_sms().await;
    assert!(row.processed_at.is_some(), "{row:?}");
    assert_eq!(row.attempts, 3, "{row:?}");
    let texts = shop.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let persian_number: String = number
        .chars()
        .map(|c| char::from_u32('۰' as u32 + c.to_digit(10).unwrap()).unwrap())
        .collect();
    assert!(texts[0].contains(&persian_number), "{}", texts[0]);
    assert!(texts[0].contains("پرداخت شد"), "{}", texts[0]);
    let receptors: Vec<String> = shop
        .sms
        .sent()
        .into_iter()
        .filter(|s| s.method == "sms/send")
        .map(|s| s.receptor)
        .collect();
    assert_eq!(receptors, [PHONE]);

    let notification = entity::notifications::Entity::find()
        .one(&shop.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notification.status, "sent");
    assert_eq!(notification.template, "order_paid");
    assert_eq!(notification.attempts, 3);
    assert!(notification.sent_at.is_some());
    assert_eq!(notification.customer_id, Some(paid.customer_id));
}

#[tokio::test]
async fn an_sms_that_keeps_failing_is_given_up_and_recorded() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[("APP__OUTBOX__MAX_ATTEMPTS", "2")]).await;
    let (_, number) = shop.order(3310).await;
    shop.sms.refuse_next_sends(100);
    shop.mark_paid(&number).await;

    let row = shop.settled_sms().await;
    assert!(row.failed_at.is_some(), "{row:?}");
    assert!(row.processed_at.is_none());
    assert_eq!(row.attempts, 2);
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("418"),
        "{row:?}"
    );
    let notification = entity::notifications::Entity::find()
        .one(&shop.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notification.status, "failed");
    assert!(notification.sent_at.is_none());
    assert!(shop.texts().is_empty());
}

#[tokio::test]
async fn unpaid_orders_are_cancelled_on_schedule_and_subscribers_see_it() {
    let db = TestDb::postgres().await;
    let shop = start(
        &db,
        &[
            ("APP__CHECKOUT__PAYMENT_TIMEOUT_SECS", "2"),
            ("APP__CHECKOUT__EXPIRY_SWEEP_SECS", "1"),
        ],
    )
    .await;
    let (token, number) = shop.order(3320).await;

    let url = shop.server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for message in [
        json!({ "type": "connection_init", "payload": { "authToken": token } }),
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { orderNumber fromStatus status } }",
            "variables": { "n": number } } }),
    ] {
        ws.send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    let mut next = async || -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .expect("a message within 30 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    };
    assert_eq!(next().await["type"], "connection_ack");
    let first = next().await;
    let first = &first["payload"]["data"]["orderStatusChanged"];
    assert_eq!(first["status"], "PENDING_PAYMENT", "{first}");
    assert_eq!(first["orderNumber"], number.as_str());
    let change = next().await;
    assert_eq!(
        change["payload"]["data"]["orderStatusChanged"],
        json!({ "orderNumber": number, "fromStatus": "PENDING_PAYMENT", "status": "CANCELLED" }),
        "{change}"
    );

    // The history says why, and the two reserved units are for sale again.
    let order = shop::gql(
        &shop.server,
        "query($n: String!) { order(number: $n) { status history { toStatus message } } }",
        json!({ "n": number }),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        order["data"]["order"]["history"][1],
        json!({ "toStatus": "CANCELLED", "message": "payment not received in time" }),
        "{order}"
    );
    let open: Vec<_> = entity::stock_reservations::Entity::find()
        .filter(entity::stock_reservations::Column::ReleasedAt.is_null())
        .all(&shop.conn)
        .await
        .unwrap();
    assert!(open.is_empty(), "{open:?}");
}
