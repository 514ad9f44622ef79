//! The back office's orders and customers, end to end against the real server on PostgreSQL:
//! filtered lists and the full detail, every staff move of the state machine (and the illegal
//! ones), the customer's subscription and SMS on shipping, refunds through the sandbox gateway
//! via the outbox, and blocking a customer.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use std::time::Duration;

use admin::{admin_gql, staff_token};
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use futures::{SinkExt, StreamExt};
use kavenegar_sim::Kavenegar;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Store {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
    staff: String,
}

async fn start(db: &TestDb) -> Store {
    let (server, sms) = shop::start(
        db,
        &[
            ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
            ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
        ],
    )
    .await;
    let staff = staff_token(&server, db, &["orders", "customers"]).await;
    Store {
        server,
        sms,
        conn: db.connect().await,
        staff,
    }
}

impl Store {
    async fn admin(&self, query: &str, variables: Value) -> Value {
        admin_gql(&self.server, Some(&self.staff), query, variables).await
    }

    async fn shop(&self, query: &str, variables: Value, token: &str) -> Value {
        shop::gql(&self.server, query, variables, Some(token), None).await
    }

    /// A customer signed in with `phone`, with one order of two units of a fresh product;
    /// returns the customer's token and the order number.
    async fn order(&self, phone: &str, mahak_id: i64) -> (String, String) {
        let token = shop::sign_in(&self.server, &self.sms, phone, None).await;
        let mut spec = ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
        spec.variants = vec![(Some(1_000_000), 5.0)];
        seed::product(&self.conn, &spec).await;
        let variant = entity::variants::Entity::find()
            .filter(entity::variants::Column::MahakId.eq(mahak_id * 10))
            .one(&self.conn)
            .await
            .unwrap()
            .unwrap()
            .id;
        let address = shop::add_home_address(&self.server, &token).await;
        let added = self
            .shop(
                "mutation($v: ID!) { addToCart(variantId: $v, quantity: 2) { itemCount } }",
                json!({ "v": variant.to_string() }),
                &token,
            )
            .await;
        assert!(added["errors"].is_null(), "{added}");
        let order = self
            .shop(
                "mutation($i: CheckoutInput!) { checkout(input: $i) { number } }",
                json!({ "i": { "addressId": address } }),
                &token,
            )
            .await;
        assert!(order["errors"].is_null(), "{order}");
        (
            token,
            order["data"]["checkout"]["number"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    /// Pays the order on the sandbox gateway's page, as a browser would.
    async fn pay(&self, token: &str, number: &str) {
        let body = self
            .shop(
                "mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }",
                json!({ "n": number }),
                token,
            )
            .await;
        let page = body["data"]["startPayment"]["redirectUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
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
        // The client follows the redirect to the callback, which verifies and settles.
        let status = self.order_status(number).await;
        assert_eq!(status, "PAID");
    }

    async fn order_status(&self, number: &str) -> String {
        let body = self
            .admin(
                "query($n: String!) { order(number: $n) { status } }",
                json!({ "n": number }),
            )
            .await;
        body["data"]["order"]["status"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string()
    }

    async fn act(&self, mutation: &str, variables: Value) -> Value {
        self.admin(mutation, variables).await
    }
}

const DETAIL: &str = "query($n: String!) { order(number: $n) {
    number status grandTotal trackingCode shippedAt deliveredAt
    customer { phone blocked }
    lines { mahakProductDetailId productName quantity unitPrice lineTotal }
    payments { provider amount status referenceId refundDue events { kind } }
    history { fromStatus toStatus actor message }
    mahak { state orderId clientId error } } }";

#[tokio::test]
async fn staff_move_orders_through_their_life_and_the_customer_follows() {
    let db = TestDb::postgres().await;
    let store = start(&db).await;
    let (token, number) = store.order("09121114401", 4401).await;

    // Illegal moves are refused before payment.
    for (mutation, variables) in [
        (
            "mutation($n: String!) { confirmOrder(number: $n) { status } }",
            json!({ "n": number }),
        ),
        (
            "mutation($n: String!) { shipOrder(number: $n, trackingCode: \"RR1IR\") { status } }",
            json!({ "n": number }),
        ),
        (
            "mutation($n: String!) { deliverOrder(number: $n) { status } }",
            json!({ "n": number }),
        ),
        (
            "mutation($n: String!) { refundOrder(number: $n, reason: \"x\") { status } }",
            json!({ "n": number }),
        ),
    ] {
        let body = store.act(mutation, variables).await;
        assert_eq!(error_codes(&body), ["CONFLICT"], "{mutation}: {body}");
    }
    store.pay(&token, &number).await;

    // The customer watches the order live.
    let url = store.server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for message in [
        json!({ "type": "connection_init", "payload": { "authToken": token } }),
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($n: String!) { orderStatusChanged(orderNumber: $n) { fromStatus status } }",
            "variables": { "n": number } } }),
    ] {
        ws.send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    let mut next = async || -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a message within 10 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = frame {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                if message["type"] == "next" {
                    return message["payload"]["data"]["orderStatusChanged"].clone();
                }
            }
        }
    };
    assert_eq!(next().await["status"], "PAID");

    let confirmed = store
        .act(
            "mutation($n: String!) { confirmOrder(number: $n) { status } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(
        confirmed["data"]["confirmOrder"]["status"], "PROCESSING",
        "{confirmed}"
    );
    assert_eq!(
        next().await,
        json!({ "fromStatus": "PAID", "status": "PROCESSING" })
    );

    // A bad tracking code is refused and changes nothing.
    let bad = store
        .act(
            "mutation($n: String!) { shipOrder(number: $n, trackingCode: \"کد ۱\") { status } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{bad}");
    assert_eq!(store.order_status(&number).await, "PROCESSING");

    let shipped = store
        .act(
            "mutation($n: String!) { shipOrder(number: $n, trackingCode: \"RR123456789IR\") { status trackingCode } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(
        shipped["data"]["shipOrder"],
        json!({ "status": "SHIPPED", "trackingCode": "RR123456789IR" }),
        "{shipped}"
    );
    assert_eq!(
        next().await,
        json!({ "fromStatus": "PROCESSING", "status": "SHIPPED" })
    );
    let delivered = store
        .act(
            "mutation($n: String!) { deliverOrder(number: $n) { status } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(delivered["data"]["deliverOrder"]["status"], "DELIVERED");
    assert_eq!(
        next().await,
        json!({ "fromStatus": "SHIPPED", "status": "DELIVERED" })
    );

    // The shipping SMS carries the tracking code (delivered through the outbox).
    let mut shipped_sms = None;
    for _ in 0..100 {
        shipped_sms = store
            .sms
            .sent()
            .into_iter()
            .filter(|s| s.method == "sms/send")
            .filter_map(|s| s.message)
            .find(|m| m.contains("RR123456789IR"));
        if shipped_sms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shipped_sms.expect("the shipping SMS").contains("ارسال شد"));

    // The full detail.
    let detail = store.admin(DETAIL, json!({ "n": number })).await;
    let order = &detail["data"]["order"];
    assert_eq!(order["status"], "DELIVERED", "{detail}");
    assert_eq!(order["customer"]["phone"], "+989121114401");
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(order["lines"][0]["mahakProductDetailId"], 44010);
    assert_eq!(order["payments"][0]["status"], "paid");
    // Paid, so its invoice is queued for Mahak; this server talks to no Mahak, so it waits.
    assert_eq!(order["mahak"]["state"], "pending");
    assert!(order["shippedAt"].is_string() && order["deliveredAt"].is_string());
    let moves: Vec<(Value, Value)> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["fromStatus"].clone(), e["toStatus"].clone()))
        .collect();
    assert_eq!(
        moves[moves.len() - 4..],
        [
            (json!("PENDING_PAYMENT"), json!("PAID")),
            (json!("PAID"), json!("PROCESSING")),
            (json!("PROCESSING"), json!("SHIPPED")),
            (json!("SHIPPED"), json!("DELIVERED")),
        ]
    );
    assert!(order["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor"].as_str().unwrap().starts_with("staff:")));

    // Each move wrote an audit entry with before and after.
    let audit = entity::audit_entries::Entity::find()
        .filter(entity::audit_entries::Column::TargetType.eq("order"))
        .all(&store.conn)
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["order.confirm", "order.ship", "order.deliver"]);
    assert_eq!(
        audit[1].after.as_ref().unwrap()["trackingCode"],
        "RR123456789IR"
    );

    // Delivered orders can be refunded; the sandbox gateway gives the money back.
    let refunded = store
        .act(
            "mutation($n: String!) { refundOrder(number: $n, reason: \"returned damaged\") { status } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(
        refunded["data"]["refundOrder"]["status"], "REFUNDED",
        "{refunded}"
    );
    let mut payment = Value::Null;
    for _ in 0..100 {
        let detail = store.admin(DETAIL, json!({ "n": number })).await;
        payment = detail["data"]["order"]["payments"][0].clone();
        if payment["status"] == "refunded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(payment["status"], "refunded", "{payment}");
    assert_eq!(payment["refundDue"], false);
    assert!(payment["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "refunded"));
    let body = store
        .shop(
            "query($n: String!) { order(number: $n) { status payments { status } } }",
            json!({ "n": number }),
            &token,
        )
        .await;
    assert_eq!(
        body["data"]["order"],
        json!({ "status": "REFUNDED", "payments": [{ "status": "REFUNDED" }] })
    );
}

#[tokio::test]
async fn cancelling_releases_stock_and_lists_filter_orders() {
    let db = TestDb::postgres().await;
    let store = start(&db).await;
    let (token_a, unpaid) = store.order("09121114410", 4410).await;
    let (token_b, paid) = store.order("09121114411", 4411).await;
    store.pay(&token_b, &paid).await;

    let page = store
        .admin(
            "query($f: AdminOrderFilter) { orders(first: 10, filter: $f) { edges { node { number } } pageInfo { hasNextPage } } }",
            json!({ "f": { "payment": "PAID" } }),
        )
        .await;
    assert_eq!(
        page["data"]["orders"]["edges"],
        json!([{ "node": { "number": paid } }]),
        "{page}"
    );
    let page = store
        .admin(
            "query($f: AdminOrderFilter) { orders(first: 1, filter: $f) { edges { node { number } } pageInfo { hasNextPage endCursor } } }",
            json!({ "f": { "statuses": ["PENDING_PAYMENT", "PAID"] } }),
        )
        .await;
    assert_eq!(page["data"]["orders"]["edges"][0]["node"]["number"], paid);
    assert_eq!(page["data"]["orders"]["pageInfo"]["hasNextPage"], true);
    let next = store
        .admin(
            "query($a: String) { orders(first: 1, after: $a) { edges { node { number } } pageInfo { hasNextPage } } }",
            json!({ "a": page["data"]["orders"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(next["data"]["orders"]["edges"][0]["node"]["number"], unpaid);
    assert_eq!(next["data"]["orders"]["pageInfo"]["hasNextPage"], false);
    let bad_range = store
        .admin(
            "{ orders(filter: { placedFrom: \"2026-02-01T00:00:00Z\", placedBefore: \"2026-01-01T00:00:00Z\" }) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&bad_range), ["BAD_USER_INPUT"]);

    // Cancelling needs a reason, then releases the reservation.
    let no_reason = store
        .act(
            "mutation($n: String!) { cancelOrder(number: $n, reason: \" \") { status } }",
            json!({ "n": unpaid }),
        )
        .await;
    assert_eq!(error_codes(&no_reason), ["BAD_USER_INPUT"]);
    let cancelled = store
        .act(
            "mutation($n: String!) { cancelOrder(number: $n, reason: \"out of stock at the warehouse\") { status history { message } } }",
            json!({ "n": unpaid }),
        )
        .await;
    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"], "CANCELLED",
        "{cancelled}"
    );
    let open = entity::stock_reservations::Entity::find()
        .filter(entity::stock_reservations::Column::ReleasedAt.is_null())
        .all(&store.conn)
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "only the paid order still holds stock");
    let again = store
        .act(
            "mutation($n: String!) { cancelOrder(number: $n, reason: \"again\") { status } }",
            json!({ "n": unpaid }),
        )
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"]);
    let unknown = store
        .act(
            "mutation { confirmOrder(number: \"999999\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"]);

    // The customer's view of the cancelled order shows the reason.
    let body = store
        .shop(
            "query($n: String!) { order(number: $n) { status history { message } } }",
            json!({ "n": unpaid }),
            &token_a,
        )
        .await;
    assert_eq!(body["data"]["order"]["status"], "CANCELLED");
    assert_eq!(
        body["data"]["order"]["history"][1]["message"],
        "out of stock at the warehouse"
    );
}

#[tokio::test]
async fn staff_find_and_block_customers() {
    let db = TestDb::postgres().await;
    let store = start(&db).await;
    let (token, number) = store.order("09121114420", 4420).await;
    store.order("09351114421", 4421).await;

    let found = store
        .admin(
            "query($s: String) { customers(search: $s) { nodes { id phone blocked orders { edges { node { number } } } } } }",
            json!({ "s": "۰۹۱۲ ۱۱۱ ۴۴۲۰" }),
        )
        .await;
    let nodes = found["data"]["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{found}");
    assert_eq!(nodes[0]["phone"], "+989121114420");
    assert_eq!(nodes[0]["orders"]["edges"][0]["node"]["number"], number);
    let id = nodes[0]["id"].as_str().unwrap().to_string();
    let all = store
        .admin("{ customers { nodes { phone } } }", json!({}))
        .await;
    assert_eq!(
        all["data"]["customers"]["nodes"].as_array().unwrap().len(),
        2
    );

    let detail = store
        .admin(
            "query($id: ID!) { customer(id: $id) { phone mahakBalance mahakCredit addresses { city isDefault } } }",
            json!({ "id": id }),
        )
        .await;
    let customer = &detail["data"]["customer"];
    assert!(
        customer["mahakBalance"].is_null(),
        "not linked to Mahak: {detail}"
    );
    assert_eq!(customer["addresses"].as_array().unwrap().len(), 1);

    let blocked = store
        .admin(
            "mutation($id: ID!) { blockCustomer(id: $id, reason: \"chargebacks\") { blocked } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        blocked["data"]["blockCustomer"]["blocked"], true,
        "{blocked}"
    );
    // Their token stops working at once.
    let me = store.shop("{ me { phone } }", json!({}), &token).await;
    assert_eq!(error_codes(&me), ["FORBIDDEN"], "{me}");
    let listed = store
        .admin(
            "{ customers(blocked: true) { nodes { phone } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["customers"]["nodes"],
        json!([{ "phone": "+989121114420" }])
    );

    let unblocked = store
        .admin(
            "mutation($id: ID!) { unblockCustomer(id: $id) { blocked } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(unblocked["data"]["unblockCustomer"]["blocked"], false);
    let me = store.shop("{ me { phone } }", json!({}), &token).await;
    assert!(me["errors"].is_null(), "{me}");
    let actions: Vec<String> = entity::audit_entries::Entity::find()
        .filter(entity::audit_entries::Column::TargetType.eq("customer"))
        .all(&store.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["customer.block", "customer.unblock"]);

    // Staff with only the `orders` permission cannot see customers.
    let orders_only = staff_token(&store.server, &db, &["orders"]).await;
    let body = admin_gql(
        &store.server,
        Some(&orders_only),
        "{ customers { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}
