//! Paying for an order, end to end over HTTP against the real server on PostgreSQL with the
//! sandbox gateway (the embedded default): startPayment, the sandbox page's Pay and Cancel
//! forms, the callback (repeated and concurrent), isolation between customers, unknown
//! authorities, and the sweep that verifies payments whose callback was lost.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;
#[allow(dead_code)]
mod zarinpal_sim;

use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use kavenegar_sim::Kavenegar;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use server::commerce::orders::OrderStatus;
use server::commerce::payments::reconcile_started;
use server::events::OrderEvents;
use server::payment::sandbox::SandboxGateway;
use uuid::Uuid;

const RESULT_URL: &str = "https://shop.example/payment/result";

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
    /// A client that does not follow redirects, to look at each one.
    browser: reqwest::Client,
}

async fn start(db: &TestDb) -> Shop {
    start_with(db, &[]).await
}

async fn start_with(db: &TestDb, extra: &[(&str, &str)]) -> Shop {
    let env = [
        ("APP__DATABASE__MAX_CONNECTIONS", "16"),
        ("APP__PAYMENT__RESULT_URL", RESULT_URL),
    ];
    let env: Vec<(&str, &str)> = env.iter().chain(extra).copied().collect();
    let (server, sms) = shop::start(db, &env).await;
    let conn = db.connect().await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Shop {
        server,
        sms,
        conn,
        browser,
    }
}

impl Shop {
    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        shop::gql(&self.server, query, variables, token, None).await
    }

    async fn sign_in(&self, national: &str) -> String {
        shop::sign_in(&self.server, &self.sms, national, None).await
    }

    /// Signs in, fills a cart with one unit of `variant` and checks out; returns the order id.
    async fn order(&self, token: &str, variant: i64) -> String {
        let body = self
            .gql(
                "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { id } }",
                json!({ "v": variant.to_string() }),
                Some(token),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let address = shop::add_home_address(&self.server, token).await;
        let body = self
            .gql(
                "mutation($i: CheckoutInput!) { checkout(input: $i) { number status } }",
                json!({ "i": { "addressId": address } }),
                Some(token),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(body["data"]["checkout"]["status"], "PENDING_PAYMENT");
        body["data"]["checkout"]["number"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn start_payment(&self, token: &str, order: &str) -> Value {
        self.gql(
            "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId redirectUrl } }",
            json!({ "o": order }),
            Some(token),
        )
        .await
    }

    /// Starts a payment and returns the sandbox page's path.
    async fn start_payment_ok(&self, token: &str, order: &str) -> String {
        let body = self.start_payment(token, order).await;
        assert!(body["errors"].is_null(), "{body}");
        local(
            body["data"]["startPayment"]["redirectUrl"]
                .as_str()
                .unwrap(),
        )
    }

    async fn order_view(&self, token: &str, order: &str) -> Value {
        let body = self
            .gql(
                "query($o: String!) { order(number: $o) { status paidAt history { kind fromStatus toStatus }
                  payments { status referenceId amount cardPanMasked } } }",
                json!({ "o": order }),
                Some(token),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["order"].clone()
    }

    /// GETs the sandbox page, checks it offers Pay and Cancel, and POSTs `button`'s form;
    /// returns the callback path (with its query) the page redirects to.
    async fn press(&self, page: &str, button: &str) -> String {
        let html = self
            .browser
            .get(self.server.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let action = format!("{page}/{button}");
        assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
        let response = self
            .browser
            .post(self.server.url(&action))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        local(location(&response))
    }

    /// GETs the callback; returns its status and `Location`.
    async fn callback(&self, path: &str) -> (u16, String) {
        let response = self
            .browser
            .get(self.server.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, location)
    }

    async fn events(&self, kind: &str) -> u64 {
        entity::payment_events::Entity::find()
            .filter(entity::payment_events::Column::Kind.eq(kind))
            .count(&self.conn)
            .await
            .unwrap()
    }

    /// The id of the order numbered `number`.
    async fn order_id(&self, number: &str) -> Uuid {
        entity::orders::Entity::find()
            .filter(entity::orders::Column::Number.eq(number.parse::<i64>().unwrap()))
            .one(&self.conn)
            .await
            .unwrap()
            .expect("the order exists")
            .id
    }

    async fn transitions_to_paid(&self, order: &str) -> u64 {
        entity::order_events::Entity::find()
            .filter(entity::order_events::Column::OrderId.eq(self.order_id(order).await))
            .filter(entity::order_events::Column::ToStatus.eq("paid"))
            .count(&self.conn)
            .await
            .unwrap()
    }
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

/// The path and query of an absolute URL addressed to this server (its public base URL in
/// the configuration is not the test's random port).
fn local(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

fn result(order: &str, status: &str) -> String {
    format!("{RESULT_URL}?order={order}&status={status}")
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

#[tokio::test]
async fn paying_on_the_sandbox_page_marks_the_order_paid_once() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 700).await;
    let token = shop.sign_in("09121110070").await;
    let order = shop.order(&token, variant).await;

    let page = shop.start_payment_ok(&token, &order).await;
    assert!(page.starts_with("/payments/sandbox/"), "{page}");
    let callback = shop.press(&page, "pay").await;
    assert!(callback.starts_with("/payments/callback?"), "{callback}");
    assert!(callback.contains("Status=OK"), "{callback}");

    let (status, to) = shop.callback(&callback).await;
    assert_eq!(
        (status, to.as_str()),
        (303, result(&order, "paid").as_str())
    );

    let view = shop.order_view(&token, &order).await;
    assert_eq!(view["status"], "PAID", "{view}");
    assert!(!view["paidAt"].is_null());
    let payments = view["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "PAID");
    assert!(payments[0]["referenceId"]
        .as_str()
        .is_some_and(|r| r.len() == 12));
    assert_eq!(payments[0]["cardPanMasked"], "603799******0000");
    assert!(payments[0]["amount"].as_i64().unwrap() > 0);
    assert!(view["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["fromStatus"] == "PENDING_PAYMENT" && e["toStatus"] == "PAID"));

    // The same callback again changes nothing and answers the same.
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "paid"))
    );
    assert_eq!(shop.events("paid").await, 1);
    assert_eq!(shop.transitions_to_paid(&order).await, 1);
    assert_eq!(shop.order_view(&token, &order).await, view);

    // A paid order cannot be paid again.
    let again = shop.start_payment(&token, &order).await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
}

#[tokio::test]
async fn ten_concurrent_callbacks_record_one_payment_and_one_transition() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 710).await;
    let token = shop.sign_in("09121110071").await;
    let order = shop.order(&token, variant).await;
    let page = shop.start_payment_ok(&token, &order).await;
    let callback = shop.press(&page, "pay").await;

    let answers = futures::future::join_all((0..10).map(|_| shop.callback(&callback))).await;
    for answer in answers {
        assert_eq!(answer, (303, result(&order, "paid")));
    }
    assert_eq!(shop.events("paid").await, 1);
    assert_eq!(shop.transitions_to_paid(&order).await, 1);
    assert_eq!(shop.order_view(&token, &order).await["status"], "PAID");
}

#[tokio::test]
async fn a_cancelled_payment_leaves_the_order_payable() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 720).await;
    let token = shop.sign_in("09121110072").await;
    let order = shop.order(&token, variant).await;

    let page = shop.start_payment_ok(&token, &order).await;
    let callback = shop.press(&page, "cancel").await;
    assert!(callback.contains("Status=NOK"), "{callback}");
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "failed"))
    );
    // Forging `Status=OK` for the cancelled attempt changes nothing.
    let forged = callback.replace("Status=NOK", "Status=OK");
    assert_eq!(
        shop.callback(&forged).await,
        (303, result(&order, "failed"))
    );
    let view = shop.order_view(&token, &order).await;
    assert_eq!(view["status"], "PENDING_PAYMENT");
    assert_eq!(view["payments"][0]["status"], "FAILED");
    assert!(view["payments"][0]["referenceId"].is_null());

    // A new attempt works.
    let page = shop.start_payment_ok(&token, &order).await;
    let callback = shop.press(&page, "pay").await;
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "paid"))
    );
    let view = shop.order_view(&token, &order).await;
    assert_eq!(view["status"], "PAID");
    let statuses: Vec<&str> = view["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FAILED", "PAID"]);
}

#[tokio::test]
async fn customers_pay_only_their_own_orders_and_unknown_authorities_are_404() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 730).await;
    let a = shop.sign_in("09121110073").await;
    let b = shop.sign_in("09121110074").await;
    let order = shop.order(&a, variant).await;

    let body = shop.start_payment(&b, &order).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let body = shop.start_payment(&b, "not-a-number").await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let body = shop
        .gql(
            "query($o: String!) { order(number: $o) { payments { status } } }",
            json!({ "o": order }),
            Some(&b),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    let body = shop
        .gql(
            "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId } }",
            json!({ "o": order }),
            None,
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");

    let (status, _) = shop
        .callback("/payments/callback?Authority=S00000000000000000000000000000000000&Status=OK")
        .await;
    assert_eq!(status, 404);
    let (status, _) = shop
        .callback("/payments/callback?Authority=x';--&Status=OK")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        shop.order_view(&a, &order).await["status"],
        "PENDING_PAYMENT"
    );
}

#[tokio::test]
async fn the_sweep_verifies_payments_whose_callback_was_lost() {
    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 740).await;
    let token = shop.sign_in("09121110075").await;
    let paid_order = shop.order(&token, variant).await;
    let open_order = shop.order(&token, variant).await;

    // Paid on the page, but the browser never came back.
    let page = shop.start_payment_ok(&token, &paid_order).await;
    let _lost = shop.press(&page, "pay").await;
    // Still on the page.
    let _open = shop.start_payment_ok(&token, &open_order).await;

    let gateway = SandboxGateway::new(shop.conn.clone(), "http://127.0.0.1:8080");
    let events = OrderEvents::default();
    let mut published = events.subscribe();
    // Too young to be swept.
    let settled = reconcile_started(&shop.conn, &gateway, &events, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(settled, 0);
    assert_eq!(
        shop.order_view(&token, &paid_order).await["status"],
        "PENDING_PAYMENT"
    );

    let settled = reconcile_started(&shop.conn, &gateway, &events, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(settled, 2);
    let view = shop.order_view(&token, &paid_order).await;
    assert_eq!(view["status"], "PAID");
    assert_eq!(view["payments"][0]["status"], "PAID");
    // The transition is published for the live order status, once, after commit.
    let event = published.try_recv().unwrap();
    assert_eq!(event.order_id, shop.order_id(&paid_order).await);
    assert_eq!(
        (event.from, event.to),
        (OrderStatus::PendingPayment, OrderStatus::Paid)
    );
    assert!(published.try_recv().is_err());
    // Not paid at the gateway: failed, and the order stays payable.
    let view = shop.order_view(&token, &open_order).await;
    assert_eq!(view["status"], "PENDING_PAYMENT");
    assert_eq!(view["payments"][0]["status"], "FAILED");

    // Nothing left to do; the late callback changes nothing.
    let settled = reconcile_started(&shop.conn, &gateway, &events, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(settled, 0);
    assert_eq!(shop.events("paid").await, 1);
    assert_eq!(shop.transitions_to_paid(&paid_order).await, 1);
}

#[tokio::test]
async fn paying_through_zarinpal_verifies_with_zarinpal() {
    let zarinpal = zarinpal_sim::Simulator::start().await;
    let db = TestDb::postgres().await;
    let base_url = format!("{}/", zarinpal.base);
    let shop = start_with(
        &db,
        &[
            ("APP__PAYMENT__PROVIDER", "zarinpal"),
            ("APP__PAYMENT__MERCHANT_ID", zarinpal_sim::MERCHANT),
            ("APP__PAYMENT__BASE_URL", base_url.as_str()),
        ],
    )
    .await;
    let variant = product(&shop.conn, 750).await;
    let token = shop.sign_in("09121110076").await;
    let order = shop.order(&token, variant).await;

    let body = shop.start_payment(&token, &order).await;
    assert!(body["errors"].is_null(), "{body}");
    let redirect = body["data"]["startPayment"]["redirectUrl"]
        .as_str()
        .unwrap();
    assert!(redirect.starts_with(&format!("{}/pg/StartPay/", zarinpal.base)));
    let amount = zarinpal.requests()[0]["amount"].as_i64().unwrap();

    // A forged `OK` before paying: Zarinpal says not paid, so the attempt fails.
    let page = shop.start_payment_ok(&token, &order).await;
    let authority = page.rsplit('/').next().unwrap().to_string();
    let forged = format!("/payments/callback?Authority={authority}&Status=OK");
    assert_eq!(
        shop.callback(&forged).await,
        (303, result(&order, "failed"))
    );

    let back = zarinpal.customer(redirect, "pay").await;
    let callback = local(back.as_str());
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "paid"))
    );
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "paid"))
    );
    let view = shop.order_view(&token, &order).await;
    assert_eq!(view["status"], "PAID", "{view}");
    let paid: Vec<&Value> = view["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "PAID")
        .collect();
    assert_eq!(paid.len(), 1, "{view}");
    assert_eq!(paid[0]["amount"].as_i64(), Some(amount));
    assert_eq!(paid[0]["cardPanMasked"], "502229******5995");
    assert!(paid[0]["referenceId"].as_str().is_some());
    assert_eq!(shop.events("paid").await, 1);
}

#[tokio::test]
async fn a_subscriber_watches_the_order_turn_paid() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let db = TestDb::postgres().await;
    let shop = start(&db).await;
    let variant = product(&shop.conn, 760).await;
    let token = shop.sign_in("09121110077").await;
    let order = shop.order(&token, variant).await;

    let url = shop.server.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let next = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a message within 10 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    };
    for message in [
        json!({ "type": "connection_init", "payload": { "authToken": token } }),
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: String!) { orderStatusChanged(orderNumber: $id) { fromStatus status } }",
            "variables": { "id": order } } }),
    ] {
        ws.send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    let first = next(&mut ws).await;
    assert_eq!(
        first["payload"]["data"]["orderStatusChanged"]["status"], "PENDING_PAYMENT",
        "{first}"
    );

    let page = shop.start_payment_ok(&token, &order).await;
    let callback = shop.press(&page, "pay").await;
    assert_eq!(
        shop.callback(&callback).await,
        (303, result(&order, "paid"))
    );
    let paid = next(&mut ws).await;
    assert_eq!(
        paid["payload"]["data"]["orderStatusChanged"],
        json!({ "fromStatus": "PENDING_PAYMENT", "status": "PAID" }),
        "{paid}"
    );
}
