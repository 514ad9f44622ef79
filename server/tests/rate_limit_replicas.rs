//! Rate limits hold across replicas (issue 8): two server processes on one PostgreSQL database
//! share every sign-in budget (OTP requests per IP, wrong codes per phone, staff sign-in
//! failures per email), since the limiter counts attempts in the database; the refusal is
//! `RATE_LIMITED` with `extensions.retryAfterSeconds`. With the OTP pepper and JWT keys
//! configured alike, a code sent by one replica is accepted by the other.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;

use common::{error_codes, TestDb, TestServer, QUIET_BACKGROUND};
use kavenegar_sim::Kavenegar;
use serde_json::{json, Value};

const REQUEST_OTP: &str = "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }";
const VERIFY_OTP: &str =
    "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }";

async fn replicas(db: &TestDb, extra: &[(&str, &str)]) -> (TestServer, TestServer, Kavenegar) {
    let mut env: Vec<(&str, &str)> = QUIET_BACKGROUND.to_vec();
    env.push(("APP__OTP__PEPPER", "replicas-share-this-pepper-0123456789"));
    env.extend_from_slice(extra);
    let (first, sms) = shop::start(db, &env).await;
    // The second replica talks to the same SMS simulator and database, with the same keys.
    let mut second_env: Vec<(&str, &str)> = vec![
        ("APP__SMS__PROVIDER", "kavenegar"),
        ("APP__SMS__API_KEY", "test-api-key-shop"),
        ("APP__SMS__BASE_URL", sms.base_url.as_str()),
        ("APP__SMS__OTP_TEMPLATE", "store-otp"),
        (
            "APP__JWT__KEYS",
            "[{kid=\"a\",secret=\"key-a-secret-that-is-at-least-32-bytes-long\"}]",
        ),
        ("APP__JWT__ACTIVE_KID", "a"),
    ];
    second_env.extend_from_slice(&env);
    let second = TestServer::start_with(db, &second_env).await;
    (first, second, sms)
}

fn retry_after(body: &Value) -> u64 {
    assert_eq!(error_codes(body), vec!["RATE_LIMITED"], "{body}");
    body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfterSeconds: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_requests_per_ip_count_across_replicas() {
    let db = TestDb::postgres().await;
    let (a, b, _sms) = replicas(
        &db,
        &[
            ("APP__OTP__IP_REQUESTS_PER_HOUR", "4"),
            ("APP__OTP__RESEND_SECS", "0"),
        ],
    )
    .await;
    // Four requests, alternating replicas, each allowed.
    for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let phone = format!("0912000000{i}");
        let body = shop::gql(server, REQUEST_OTP, json!({ "p": phone }), None, None).await;
        assert!(body["errors"].is_null(), "request {i}: {body}");
    }
    // The fifth is refused on either replica: the budget is shared.
    for server in [&a, &b] {
        let body = shop::gql(
            server,
            REQUEST_OTP,
            json!({ "p": "09120000009" }),
            None,
            None,
        )
        .await;
        let secs = retry_after(&body);
        assert!((1..=3600).contains(&secs), "retry after {secs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_per_phone_count_across_replicas_and_codes_verify_on_either() {
    let db = TestDb::postgres().await;
    let (a, b, sms) = replicas(&db, &[("APP__OTP__MAX_ATTEMPTS", "3")]).await;

    // A code sent by replica A is accepted by replica B (shared pepper and keys).
    let phone = "09121111111";
    let sent = shop::gql(&a, REQUEST_OTP, json!({ "p": phone }), None, None).await;
    assert!(sent["errors"].is_null(), "{sent}");
    let code = sms.last_code(phone).expect("code sent");
    let verified = shop::gql(&b, VERIFY_OTP, json!({ "p": phone, "c": code }), None, None).await;
    assert!(verified["errors"].is_null(), "{verified}");
    assert!(verified["data"]["verifyOtp"]["accessToken"].is_string());

    // Wrong codes for another phone, alternating replicas: three allowed, then refused.
    let victim = "09122222222";
    let sent = shop::gql(&a, REQUEST_OTP, json!({ "p": victim }), None, None).await;
    assert!(sent["errors"].is_null(), "{sent}");
    let right = sms.last_code(victim).expect("code sent");
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for (i, server) in [&a, &b, &a].into_iter().enumerate() {
        let body = shop::gql(
            server,
            VERIFY_OTP,
            json!({ "p": victim, "c": wrong }),
            None,
            None,
        )
        .await;
        let codes = error_codes(&body);
        assert_eq!(codes, vec!["BAD_USER_INPUT"], "attempt {i}: {body}");
    }
    let body = shop::gql(
        &b,
        VERIFY_OTP,
        json!({ "p": victim, "c": wrong }),
        None,
        None,
    )
    .await;
    let secs = retry_after(&body);
    assert!((1..=3600).contains(&secs), "retry after {secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_failures_per_email_count_across_replicas() {
    let db = TestDb::postgres().await;
    let (a, b, _sms) = replicas(
        &db,
        &[
            ("APP__STAFF__EMAIL_FAILURES_PER_HOUR", "3"),
            ("APP__STAFF__MAX_FAILED_LOGINS", "100"),
        ],
    )
    .await;
    let email = "boss@example.com";
    admin::create_staff(&db, email, admin::PASSWORD, &["*"]).await;
    for (i, server) in [&a, &b, &a].into_iter().enumerate() {
        let body = admin::sign_in(server, email, "not-the-password").await;
        let codes = error_codes(&body);
        assert!(
            !codes.is_empty() && codes[0] != "RATE_LIMITED",
            "attempt {i}: {body}"
        );
    }
    for server in [&b, &a] {
        let body = admin::sign_in(server, email, "not-the-password").await;
        retry_after(&body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_starts_per_customer_count_across_replicas() {
    let db = TestDb::postgres().await;
    let (a, b, sms) = replicas(&db, &[]).await;
    let token = shop::sign_in(&a, &sms, "09123333333", None).await;
    let start = "mutation($n: String!) { startPayment(orderNumber: $n) { redirectUrl } }";
    // Twenty calls per hour per customer, spread over both replicas (unknown orders count too).
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let body = shop::gql(server, start, json!({ "n": "999999" }), Some(&token), None).await;
        assert_eq!(error_codes(&body), vec!["NOT_FOUND"], "call {i}: {body}");
    }
    for server in [&a, &b] {
        let body = shop::gql(server, start, json!({ "n": "999999" }), Some(&token), None).await;
        let secs = retry_after(&body);
        assert!((1..=3600).contains(&secs), "retry after {secs}");
    }
}
