//! Shared by the shop's end-to-end tests (commerce, payments, subscriptions): the server
//! started with SMS going to the Kavenegar simulator and sign-in limits opened up, GraphQL
//! requests as a customer or guest, sign-in with the code the simulator received, and a
//! delivery address.

#![allow(dead_code)] // each test binary uses a different part

use serde_json::{json, Value};
use sync::testing::TestDb;

use crate::common::TestServer;
use crate::kavenegar_sim::Kavenegar;

const API_KEY: &str = "test-api-key-shop";
const TEMPLATE: &str = "store-otp";

/// Starts the server with the sign-in settings every shop test needs, plus `extra`.
pub async fn start(db: &TestDb, extra: &[(&str, &str)]) -> (TestServer, Kavenegar) {
    let sms = Kavenegar::start(API_KEY, &[TEMPLATE]).await;
    let env = [
        ("APP__SMS__PROVIDER", "kavenegar"),
        ("APP__SMS__API_KEY", API_KEY),
        ("APP__SMS__BASE_URL", sms.base_url.as_str()),
        ("APP__SMS__OTP_TEMPLATE", TEMPLATE),
        (
            "APP__JWT__KEYS",
            "[{kid=\"a\",secret=\"key-a-secret-that-is-at-least-32-bytes-long\"}]",
        ),
        ("APP__JWT__ACTIVE_KID", "a"),
        ("APP__OTP__RESEND_SECS", "0"),
        ("APP__OTP__IP_REQUESTS_PER_HOUR", "10000"),
        ("APP__OTP__IP_VERIFICATIONS_PER_HOUR", "10000"),
    ];
    let env: Vec<(&str, &str)> = env.iter().chain(extra).copied().collect();
    (TestServer::start_with(db, &env).await, sms)
}

/// POSTs a GraphQL operation to the shop endpoint with an optional access token and guest
/// cart token; returns the body (the status must be 2xx, or 400 for a request error).
pub async fn gql(
    server: &TestServer,
    query: &str,
    variables: Value,
    token: Option<&str>,
    cart: Option<&str>,
) -> Value {
    let mut request = server
        .client
        .post(server.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(cart) = cart {
        request = request.header("x-cart-token", cart);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        status.is_success() || status.as_u16() == 400,
        "unexpected status {status}: {body}"
    );
    body
}

/// Signs in `national` (`09...`) with the code the SMS simulator received, optionally
/// sending a guest cart token to merge; returns the access token.
pub async fn sign_in(
    server: &TestServer,
    sms: &Kavenegar,
    national: &str,
    cart: Option<&str>,
) -> String {
    let sent = gql(
        server,
        "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }",
        json!({ "p": national }),
        None,
        None,
    )
    .await;
    assert!(sent["errors"].is_null(), "{sent}");
    let code = sms.last_code(national).expect("code sent");
    let body = gql(
        server,
        "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }",
        json!({ "p": national, "c": code }),
        None,
        cart,
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["verifyOtp"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Adds the same home address for the customer; returns its id.
pub async fn add_home_address(server: &TestServer, token: &str) -> String {
    let body = gql(
        server,
        "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
        json!({ "i": {
            "title": "Home",
            "recipientName": "Sara Ahmadi",
            "recipientPhone": "09121234567",
            "province": "Tehran",
            "city": "Tehran",
            "addressLine": "Valiasr St, No. 12",
            "postalCode": "1234567890",
        } }),
        Some(token),
        None,
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["addAddress"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Seeds product `mahak_id` with one variant (Mahak id `mahak_id * 10`, 1,000,000 rials,
/// `stock` units) straight into the database; returns the variant's id.
pub async fn seed_variant(conn: &sea_orm::DatabaseConnection, mahak_id: i64, stock: f64) -> i64 {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut spec = crate::common::seed::ProductSpec::new(mahak_id, &format!("Item {mahak_id}"));
    spec.variants = vec![(Some(1_000_000), stock)];
    crate::common::seed::product(conn, &spec).await;
    entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(mahak_id * 10))
        .one(conn)
        .await
        .unwrap()
        .expect("variant seeded")
        .id
}

/// Puts `quantity` of `variant` in the signed-in customer's cart and checks out to a new home
/// address; returns the order's number.
pub async fn buy(server: &TestServer, token: &str, variant: i64, quantity: u32) -> String {
    let added = gql(
        server,
        "mutation($v: ID!, $q: Int!) { addToCart(variantId: $v, quantity: $q) { itemCount } }",
        json!({ "v": variant.to_string(), "q": quantity }),
        Some(token),
        None,
    )
    .await;
    assert!(added["errors"].is_null(), "{added}");
    let address = add_home_address(server, token).await;
    let order = gql(
        server,
        "mutation($i: CheckoutInput!) { checkout(input: $i) { number status } }",
        json!({ "i": { "addressId": address } }),
        Some(token),
        None,
    )
    .await;
    assert!(order["errors"].is_null(), "{order}");
    assert_eq!(order["data"]["checkout"]["status"], "PENDING_PAYMENT");
    order["data"]["checkout"]["number"]
        .as_str()
        .unwrap()
        .to_string()
}
