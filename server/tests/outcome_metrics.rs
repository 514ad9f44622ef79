//! Payment and SMS outcomes on `/metrics`, end to end against the real server on PostgreSQL:
//! the sandbox gateway (started, cancelled, failed, paid, refunded, and its calls timed by
//! outcome), the Zarinpal simulator failing a verification (a gateway error, then paid), and
//! the Kavenegar simulator sending a sign-in code and refusing, losing, then accepting a
//! notification.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;
#[allow(dead_code)]
mod zarinpal_sim;

use std::time::Duration;

use common::{TestDb, TestServer};
use kavenegar_sim::Kavenegar;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{json, Value};

/// Polls `metric` until it reaches `expected` (effects of the outbox land a moment after the
/// request that queued them); returns the last value read, for the caller's assertion.
async fn metric_reaches(
    server: &TestServer,
    name: &str,
    labels: &[(&str, &str)],
    expected: f64,
) -> f64 {
    let mut value = 0.0;
    for _ in 0..300 {
        value = server.metric(name, labels).await;
        if value >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    value
}

struct Shop {
    server: TestServer,
    sms: Kavenegar,
    conn: DatabaseConnection,
}

async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Shop {
    let env: Vec<(&str, &str)> = [
        ("APP__OUTBOX__POLL_INTERVAL_MS", "100"),
        ("APP__OUTBOX__RETRY_BASE_SECS", "1"),
        // The sweep would verify the test's abandoned attempts behind its back.
        ("APP__PAYMENT__RECONCILE_INTERVAL_SECS", "3600"),
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
    async fn gql(&self, query: &str, variables: Value, token: &str) -> Value {
        let body = shop::gql(&self.server, query, variables, Some(token), None).await;
        assert!(body["errors"].is_null(), "{body}");
        body
    }

    /// Signs `phone` in, puts one unit of a fresh product in the cart and checks out;
    /// returns the customer's token and the order's number.
    async fn order(&self, phone: &str, mahak_id: i64) -> (String, String) {
        let token = shop::sign_in(&self.server, &self.sms, phone, None).await;
        let variant = shop::seed_variant(&self.conn, mahak_id, 10.0).await;
        let number = shop::buy(&self.server, &token, variant, 1).await;
        (token, number)
    }

    /// Starts a payment; returns the URL the customer is sent to.
    async fn start_payment(&self, token: &str, number: &str) -> String {
        let body = self
            .gql(
                "mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }",
                json!({ "n": number }),
                token,
            )
            .await;
        body["data"]["startPayment"]["redirectUrl"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Presses `button` (`pay` or `cancel`) on the sandbox page at `page`; the client follows
    /// the redirects through the callback, which settles the payment.
    async fn press(&self, page: &str, button: &str) {
        let html = self
            .server
            .client
            .get(page)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let action = zarinpal_sim::form_action(&html, button);
        let response = self
            .server
            .client
            .post(self.server.url(&action))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// GETs the callback for `authority` with `status`, as a browser coming back would.
    async fn callback(&self, authority: &str, status: &str) {
        let response = self
            .server
            .client
            .get(self.server.url(&format!(
                "/payments/callback?Authority={authority}&Status={status}"
            )))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    async fn payment_statuses(&self, token: &str, number: &str) -> Vec<String> {
        let body = self
            .gql(
                "query($n: String!) { order(number: $n) { payments { status } } }",
                json!({ "n": number }),
                token,
            )
            .await;
        body["data"]["order"]["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["status"].as_str().unwrap().to_string())
            .collect()
    }
}

fn authority_of(redirect_url: &str) -> String {
    redirect_url.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn payment_outcomes_and_gateway_calls_are_counted() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;
    let sandbox = |outcome| [("gateway", "sandbox"), ("outcome", outcome)];
    assert_eq!(shop.server.metric("payments_total", &[]).await, 0.0);
    let (token, number) = shop.order("09121117001", 9100).await;

    // Cancelled on the gateway's page.
    let page = shop.start_payment(&token, &number).await;
    assert_eq!(
        shop.server
            .metric("payments_total", &sandbox("started"))
            .await,
        1.0
    );
    shop.press(&page, "cancel").await;
    assert_eq!(
        shop.server
            .metric("payments_total", &sandbox("cancelled"))
            .await,
        1.0
    );

    // A forged `OK` for an attempt never paid: the gateway says not paid, the payment fails.
    let page = shop.start_payment(&token, &number).await;
    shop.callback(&authority_of(&page), "OK").await;
    assert_eq!(
        shop.server
            .metric("payments_total", &sandbox("failed"))
            .await,
        1.0
    );
    let not_paid = [
        ("gateway", "sandbox"),
        ("call", "verify"),
        ("outcome", "not_paid"),
    ];
    assert_eq!(
        shop.server
            .metric("payment_gateway_call_seconds_count", &not_paid)
            .await,
        1.0
    );

    // Paid.
    let page = shop.start_payment(&token, &number).await;
    shop.press(&page, "pay").await;
    assert_eq!(
        shop.payment_statuses(&token, &number).await,
        ["FAILED", "FAILED", "PAID"]
    );
    assert_eq!(
        shop.server.metric("payments_total", &sandbox("paid")).await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric("payments_total", &sandbox("started"))
            .await,
        3.0
    );
    let call = |call, outcome| [("gateway", "sandbox"), ("call", call), ("outcome", outcome)];
    assert_eq!(
        shop.server
            .metric("payment_gateway_call_seconds_count", &call("request", "ok"))
            .await,
        3.0
    );
    assert_eq!(
        shop.server
            .metric(
                "payment_gateway_call_seconds_count",
                &call("verify", "paid")
            )
            .await,
        1.0
    );

    // Refunded by staff: the outbox gives the money back through the gateway.
    let staff = admin::staff_token(&shop.server, &db, &["orders"]).await;
    let refunded = admin::admin_gql(
        &shop.server,
        Some(&staff),
        "mutation($n: String!) { refundOrder(number: $n, reason: \"damaged\") { status } }",
        json!({ "n": number }),
    )
    .await;
    assert_eq!(
        refunded["data"]["refundOrder"]["status"], "REFUNDED",
        "{refunded}"
    );
    assert_eq!(
        metric_reaches(&shop.server, "payments_total", &sandbox("refunded"), 1.0).await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric(
                "payment_gateway_call_seconds_count",
                &call("refund", "refunded")
            )
            .await,
        1.0
    );
    // Every call had an answer; nothing was given up on or refunded by hand.
    assert_eq!(
        shop.server
            .metric("payment_gateway_errors_total", &[])
            .await,
        0.0
    );
    assert_eq!(
        shop.server
            .metric("payments_total", &sandbox("refund_due"))
            .await,
        0.0
    );
}

#[tokio::test]
async fn a_gateway_that_does_not_answer_is_counted_as_an_error_not_a_failed_payment() {
    let zarinpal = zarinpal_sim::Simulator::start().await;
    let base_url = format!("{}/", zarinpal.base);
    let db = TestDb::postgres().await;
    let shop = start(
        &db,
        &[
            ("APP__PAYMENT__PROVIDER", "zarinpal"),
            ("APP__PAYMENT__MERCHANT_ID", zarinpal_sim::MERCHANT),
            ("APP__PAYMENT__BASE_URL", base_url.as_str()),
        ],
    )
    .await;
    let (token, number) = shop.order("09121117002", 9200).await;
    let redirect = shop.start_payment(&token, &number).await;
    let back = zarinpal.customer(&redirect, "pay").await;
    let callback = format!(
        "{}?{}",
        back.path(),
        back.query().expect("the callback's query")
    );

    // Every verification attempt (three, with retries) answered 502: outcome unknown.
    zarinpal.fail_next_verifies(vec![zarinpal_sim::Fault::ServerError; 3]);
    let response = shop
        .server
        .client
        .get(shop.server.url(&callback))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(shop.payment_statuses(&token, &number).await, ["STARTED"]);
    let unavailable = [
        ("gateway", "zarinpal"),
        ("call", "verify"),
        ("kind", "unavailable"),
    ];
    assert_eq!(
        shop.server
            .metric("payment_gateway_errors_total", &unavailable)
            .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric(
                "payments_total",
                &[("gateway", "zarinpal"), ("outcome", "failed")]
            )
            .await,
        0.0
    );

    // The customer's browser retries the callback; Zarinpal answers now.
    let response = shop
        .server
        .client
        .get(shop.server.url(&callback))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(shop.payment_statuses(&token, &number).await, ["PAID"]);
    assert_eq!(
        shop.server
            .metric(
                "payments_total",
                &[("gateway", "zarinpal"), ("outcome", "paid")]
            )
            .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric(
                "payment_gateway_call_seconds_count",
                &[
                    ("gateway", "zarinpal"),
                    ("call", "verify"),
                    ("outcome", "paid")
                ]
            )
            .await,
        1.0
    );
}

#[tokio::test]
async fn sms_outcomes_are_counted_by_kind() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;
    let sms = |kind, outcome| {
        [
            ("provider", "kavenegar"),
            ("kind", kind),
            ("outcome", outcome),
        ]
    };
    let (_, number) = shop.order("09121117003", 9300).await;
    assert_eq!(
        shop.server
            .metric("sms_sent_total", &sms("otp", "sent"))
            .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric("sms_provider_call_seconds_count", &sms("otp", "sent"))
            .await,
        1.0
    );

    // The paid order's text: refused (credit too low), then sent with its answer lost (502),
    // then recognised by its `localid` and accepted.
    shop.sms.refuse_next_sends(1);
    shop.sms.lose_next_answers(1);
    let order = entity::orders::Entity::find()
        .filter(entity::orders::Column::Number.eq(number.parse::<i64>().unwrap()))
        .one(&shop.conn)
        .await
        .unwrap()
        .unwrap();
    let txn = shop.conn.begin().await.unwrap();
    server::commerce::orders::transition(
        &txn,
        &order,
        server::commerce::orders::OrderStatus::Paid,
        "payment",
        "test",
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();

    assert_eq!(
        metric_reaches(
            &shop.server,
            "sms_sent_total",
            &sms("notification", "sent"),
            1.0
        )
        .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric("sms_sent_total", &sms("notification", "rejected"))
            .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric("sms_sent_total", &sms("notification", "failed"))
            .await,
        1.0
    );
    assert_eq!(
        shop.server
            .metric("sms_sent_total", &sms("otp", "sent"))
            .await,
        1.0
    );
}
