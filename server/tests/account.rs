//! Sign-in and accounts on the shop schema, end to end: the real server binary on PostgreSQL,
//! spoken to over HTTP, sending its SMS to a local simulator of Kavenegar's API.

mod common;
#[allow(dead_code)]
mod kavenegar_sim;

use std::time::Duration;

use base64::Engine;
use common::{error_codes, TestDb, TestServer};
use kavenegar_sim::Kavenegar;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const API_KEY: &str = "test-api-key-5A6B7C";
const TEMPLATE: &str = "store-otp";
const KEY_A: &str = "key-a-secret-that-is-at-least-32-bytes-long";
const KEY_B: &str = "key-b-secret-that-is-at-least-32-bytes-long";
const ISSUER: &str = "store";
const AUDIENCE: &str = "store-shop";

struct Shop {
    server: TestServer,
    sms: Kavenegar,
}

fn keys_env(keys: &[(&str, &str)]) -> String {
    let items: Vec<String> = keys
        .iter()
        .map(|(kid, secret)| format!("{{kid=\"{kid}\",secret=\"{secret}\"}}"))
        .collect();
    format!("[{}]", items.join(","))
}

/// The server with Kavenegar as SMS provider (pointing at a fresh simulator), key `a`, and
/// `extra` settings.
async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Shop {
    let sms = Kavenegar::start(API_KEY, &[TEMPLATE]).await;
    let keys = keys_env(&[("a", KEY_A)]);
    let mut env = vec![
        ("APP__SMS__PROVIDER", "kavenegar"),
        ("APP__SMS__API_KEY", API_KEY),
        ("APP__SMS__BASE_URL", sms.base_url.as_str()),
        ("APP__SMS__OTP_TEMPLATE", TEMPLATE),
        ("APP__JWT__KEYS", keys.as_str()),
        ("APP__JWT__ACTIVE_KID", "a"),
    ];
    env.extend_from_slice(extra);
    let server = TestServer::start_with(db, &env).await;
    Shop { server, sms }
}

impl Shop {
    async fn post(&self, body: Value, token: Option<&str>) -> Value {
        self.post_from(body, token, None).await
    }

    /// POSTs with `X-Forwarded-For: forwarded_for` when given.
    async fn post_from(
        &self,
        body: Value,
        token: Option<&str>,
        forwarded_for: Option<&str>,
    ) -> Value {
        let mut request = self
            .server
            .client
            .post(self.server.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&body);
        if let Some(ip) = forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
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

    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.post(json!({ "query": query, "variables": variables }), token)
            .await
    }

    async fn request_otp(&self, phone: &str) -> Value {
        self.gql(
            "mutation($p: String!) { requestOtp(phone: $p) { sentAt retryAfterSeconds expiresInSeconds } }",
            json!({ "p": phone }),
            None,
        )
        .await
    }

    async fn verify(&self, phone: &str, code: &str) -> Value {
        self.gql(
            "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) {
                accessToken refreshToken expiresIn customer { id phone } } }",
            json!({ "p": phone, "c": code }),
            None,
        )
        .await
    }

    /// The code the simulator received for `national` (`09...`).
    fn code(&self, national: &str) -> String {
        self.sms
            .last_code(national)
            .unwrap_or_else(|| panic!("no code sent to {national}: {:?}", self.sms.sent()))
    }

    /// Requests and enters a code; returns `verifyOtp`'s payload.
    async fn sign_in(&self, phone: &str, national: &str) -> Value {
        let sent = self.request_otp(phone).await;
        assert!(sent["errors"].is_null(), "{sent}");
        let code = self.code(national);
        let body = self.verify(phone, &code).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["verifyOtp"].clone()
    }

    async fn me(&self, token: &str) -> Value {
        self.gql(
            "{ me { id phone firstName email } }",
            json!({}),
            Some(token),
        )
        .await
    }

    async fn refresh(&self, token: &str) -> Value {
        self.gql(
            "mutation($t: String!) { refreshToken(token: $t) { accessToken refreshToken customer { id } } }",
            json!({ "t": token }),
            None,
        )
        .await
    }
}

fn otp_request(phone: &str) -> Value {
    json!({
        "query": "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }",
        "variables": { "p": phone },
    })
}

/// A code that is not `code` (for wrong tries).
fn other_code(code: &str) -> String {
    let last = code.bytes().last().unwrap() - b'0';
    format!("{}{}", &code[..code.len() - 1], (last + 1) % 10)
}

fn retry_after(body: &Value) -> u64 {
    body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfterSeconds: {body}"))
}

#[tokio::test]
async fn sign_in_end_to_end_with_every_phone_form() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[("APP__OTP__RESEND_SECS", "0")]).await;

    let forms = [
        ("09121110001", "09121110001", "+989121110001"),
        ("+989121110002", "09121110002", "+989121110002"),
        ("00989121110003", "09121110003", "+989121110003"),
        ("989121110004", "09121110004", "+989121110004"),
        ("۰۹۱۲۱۱۱۰۰۰۵", "09121110005", "+989121110005"),
        ("٠٩١٢١١١٠٠٠٦", "09121110006", "+989121110006"),
        ("0912 111 0007", "09121110007", "+989121110007"),
    ];
    for (typed, national, e164) in forms {
        let sent = shop.request_otp(typed).await;
        assert!(sent["errors"].is_null(), "{typed}: {sent}");
        let answer = &sent["data"]["requestOtp"];
        assert_eq!(answer["expiresInSeconds"], 120, "{sent}");
        assert!(answer["sentAt"].is_string());
        let message = shop.sms.sent().pop().unwrap();
        assert_eq!(message.method, "verify/lookup");
        assert_eq!(message.receptor, national);
        assert_eq!(message.template.as_deref(), Some(TEMPLATE));
        let code = message.token.unwrap();
        assert_eq!(code.len(), 6, "{code}");

        let body = shop.verify(typed, &code).await;
        assert!(body["errors"].is_null(), "{typed}: {body}");
        let signed = &body["data"]["verifyOtp"];
        assert_eq!(signed["customer"]["phone"], e164);
        assert_eq!(signed["expiresIn"], 900);
        let me = shop.me(signed["accessToken"].as_str().unwrap()).await;
        assert_eq!(me["data"]["me"]["phone"], e164, "{me}");
        assert_eq!(me["data"]["me"]["id"], signed["customer"]["id"]);
    }

    // Signing in again finds the same customer; a used code does not work twice.
    let first = shop.sign_in("09121110001", "09121110001").await;
    let again = shop.sign_in("+98 912 111 0001", "09121110001").await;
    assert_eq!(first["customer"]["id"], again["customer"]["id"]);
    let used = shop.code("09121110001");
    assert_eq!(
        error_codes(&shop.verify("09121110001", &used).await),
        ["BAD_USER_INPUT"]
    );

    // Anything else is a clear BAD_USER_INPUT on the phone.
    for bad in ["02112345678", "+15551234567", "0912123456", "hello"] {
        let body = shop.request_otp(bad).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{bad}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "phone");
    }

    // Fields that need a customer refuse anonymous and forged callers; the catalogue does not.
    let anonymous = shop.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    let forged = shop
        .gql("{ me { id } }", json!({}), Some("not-a-jwt"))
        .await;
    assert_eq!(error_codes(&forged), ["UNAUTHENTICATED"]);
    let catalogue = shop
        .gql("{ categories { id } }", json!({}), Some("not-a-jwt"))
        .await;
    assert!(catalogue["errors"].is_null(), "{catalogue}");
}

#[tokio::test]
async fn wrong_codes_lock_the_phone_after_five() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[("APP__OTP__RESEND_SECS", "1")]).await;
    let phone = "09122220001";
    shop.request_otp(phone).await;
    let code = shop.code(phone);
    let wrong = other_code(&code);
    for attempt in 1..=5 {
        let body = shop.verify(phone, &wrong).await;
        assert_eq!(
            error_codes(&body),
            ["BAD_USER_INPUT"],
            "try {attempt}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], "code");
    }
    // The sixth try is refused even with the right code.
    let body = shop.verify(phone, &code).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert!(retry_after(&body) > 0);

    // A new code does not reopen the phone within the hour.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sent = shop.request_otp(phone).await;
    assert!(sent["errors"].is_null(), "{sent}");
    let body = shop.verify(phone, &shop.code(phone)).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");

    // Another phone is not affected.
    shop.sign_in("09122220002", "09122220002").await;
}

#[tokio::test]
async fn only_the_newest_unexpired_code_is_valid() {
    let db = TestDb::postgres().await;
    let shop = start(
        &db,
        &[("APP__OTP__TTL_SECS", "2"), ("APP__OTP__RESEND_SECS", "1")],
    )
    .await;
    let phone = "09123330001";
    shop.request_otp(phone).await;
    let first = shop.code(phone);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = shop.request_otp(phone).await;
    assert_eq!(body["data"]["requestOtp"]["expiresInSeconds"], 2, "{body}");
    let second = shop.code(phone);
    if first != second {
        let body = shop.verify(phone, &first).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "older code: {body}");
    }
    // Let the newest code expire.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let body = shop.verify(phone, &second).await;
    assert_eq!(
        error_codes(&body),
        ["BAD_USER_INPUT"],
        "expired code: {body}"
    );
    // A fresh code works.
    shop.sign_in(phone, phone).await;
}

#[tokio::test]
async fn resend_and_per_ip_limits() {
    let db = TestDb::postgres().await;
    let shop = start(
        &db,
        &[
            ("APP__OTP__IP_REQUESTS_PER_HOUR", "3"),
            ("APP__OTP__IP_VERIFICATIONS_PER_HOUR", "4"),
        ],
    )
    .await;
    let body = shop.request_otp("09124440001").await;
    assert_eq!(
        body["data"]["requestOtp"]["retryAfterSeconds"], 60,
        "{body}"
    );
    let body = shop.request_otp("+989124440001").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "resend: {body}");
    let wait = retry_after(&body);
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(shop.sms.sent().len(), 1);

    // Third request from this IP is allowed, the fourth is not.
    assert!(shop.request_otp("09124440002").await["errors"].is_null());
    let body = shop.request_otp("09124440003").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "per IP: {body}");
    assert_eq!(shop.sms.sent().len(), 2);
    // X-Forwarded-For is not trusted by default: a made-up one does not reset the budget.
    let body = shop
        .post_from(otp_request("09124440003"), None, Some("203.0.113.9"))
        .await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "spoofed XFF: {body}");

    // Verifications per IP: four tries, then refused.
    for phone in ["09124440004", "09124440005", "09124440006", "09124440007"] {
        let body = shop.verify(phone, "123456").await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
    let body = shop.verify("09124440001", &shop.code("09124440001")).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "per IP: {body}");
}

/// Behind a trusted proxy the client's address comes from `X-Forwarded-For`.
#[tokio::test]
async fn per_ip_limits_follow_forwarded_for_when_trusted() {
    let db = TestDb::postgres().await;
    let shop = start(
        &db,
        &[
            ("APP__OTP__IP_REQUESTS_PER_HOUR", "1"),
            ("APP__HTTP__TRUST_FORWARDED_FOR", "true"),
        ],
    )
    .await;
    let from = |phone: &str, ip: &'static str| shop.post_from(otp_request(phone), None, Some(ip));
    assert!(from("09124450001", "203.0.113.1").await["errors"].is_null());
    let body = from("09124450002", "203.0.113.1").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    let body = from("09124450003", "203.0.113.2").await;
    assert!(body["errors"].is_null(), "another client: {body}");
}

#[tokio::test]
async fn aliases_and_batches_cannot_multiply_tries() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;

    // A batch of five wrong tries uses up the phone's five tries.
    let phone = "09125550001";
    shop.request_otp(phone).await;
    let code = shop.code(phone);
    let wrong = other_code(&code);
    let op = json!({
        "query": "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }",
        "variables": { "p": phone, "c": wrong },
    });
    let batch = shop.post(Value::Array(vec![op; 5]), None).await;
    let results = batch.as_array().expect("a batch answer");
    assert_eq!(results.len(), 5);
    for result in results {
        assert_eq!(error_codes(result), ["BAD_USER_INPUT"], "{result}");
    }
    let body = shop.verify(phone, &code).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "after batch: {body}");

    // One operation with seven aliased tries: five are tried, the rest refused.
    let phone = "09125550002";
    shop.request_otp(phone).await;
    let code = shop.code(phone);
    let wrong = other_code(&code);
    let fields: Vec<String> = (0..7)
        .map(|i| {
            format!("t{i}: verifyOtp(phone: \"{phone}\", code: \"{wrong}\") {{ accessToken }}")
        })
        .collect();
    let body = shop
        .gql(
            &format!("mutation {{ {} }}", fields.join(" ")),
            json!({}),
            None,
        )
        .await;
    let mut codes = error_codes(&body);
    codes.sort();
    assert_eq!(
        codes,
        [
            "BAD_USER_INPUT",
            "BAD_USER_INPUT",
            "BAD_USER_INPUT",
            "BAD_USER_INPUT",
            "BAD_USER_INPUT",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ],
        "{body}"
    );
    let body = shop.verify(phone, &code).await;
    assert_eq!(
        error_codes(&body),
        ["RATE_LIMITED"],
        "after aliases: {body}"
    );

    // Parallel requests cannot overshoot either.
    let phone = "09125550003";
    shop.request_otp(phone).await;
    let code = shop.code(phone);
    let wrong = other_code(&code);
    let tries = (0..8).map(|_| shop.verify(phone, &wrong));
    let answers = futures::future::join_all(tries).await;
    let wrong_tries = answers
        .iter()
        .filter(|b| error_codes(b) == ["BAD_USER_INPUT"])
        .count();
    assert!(wrong_tries <= 5, "{wrong_tries} wrong tries got through");
    // Racing tries may be refused conservatively (each sees the others' attempts); the right
    // code then still works, but only while fewer than five wrong tries were made.
    let body = shop.verify(phone, &code).await;
    if wrong_tries == 5 {
        assert_eq!(
            error_codes(&body),
            ["RATE_LIMITED"],
            "after parallel: {body}"
        );
    } else {
        assert!(body["errors"].is_null(), "{wrong_tries} tries: {body}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[("APP__OTP__RESEND_SECS", "0")]).await;
    let phone = "09126660001";
    let signed = shop.sign_in(phone, phone).await;
    let r1 = signed["refreshToken"].as_str().unwrap().to_string();
    let other_family = shop.sign_in(phone, phone).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();

    let body = shop.refresh(&r1).await;
    assert!(body["errors"].is_null(), "{body}");
    let r2 = body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(r1, r2);
    let access = body["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap();
    assert_eq!(
        shop.me(access).await["data"]["me"]["phone"],
        "+989126660001"
    );

    // Reusing the spent token revokes the family: its newest token stops working too.
    assert_eq!(error_codes(&shop.refresh(&r1).await), ["UNAUTHENTICATED"]);
    assert_eq!(error_codes(&shop.refresh(&r2).await), ["UNAUTHENTICATED"]);
    // The other sign-in is untouched...
    let body = shop.refresh(&other_family).await;
    assert!(body["errors"].is_null(), "{body}");
    let r3 = body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    // ...until it logs out.
    let body = shop
        .gql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": r3 }),
            None,
        )
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_eq!(error_codes(&shop.refresh(&r3).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        error_codes(&shop.refresh("made-up-token").await),
        ["UNAUTHENTICATED"]
    );
}

fn forge(kid: Option<&str>, secret: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn signing_keys_rotate_and_forged_tokens_are_refused() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;
    let phone = "09127770001";
    let signed = shop.sign_in(phone, phone).await;
    let old = signed["accessToken"].as_str().unwrap().to_string();
    let customer = signed["customer"]["id"].as_str().unwrap().to_string();
    let header = jsonwebtoken::decode_header(&old).unwrap();
    assert_eq!(header.kid.as_deref(), Some("a"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    drop(shop);

    // Key b becomes active; tokens signed with a keep working.
    let keys = keys_env(&[("a", KEY_A), ("b", KEY_B)]);
    let shop = start(
        &db,
        &[
            ("APP__JWT__KEYS", &keys),
            ("APP__JWT__ACTIVE_KID", "b"),
            ("APP__OTP__RESEND_SECS", "0"),
        ],
    )
    .await;
    assert_eq!(shop.me(&old).await["data"]["me"]["id"], customer.as_str());
    let signed = shop.sign_in(phone, phone).await;
    let new = signed["accessToken"].as_str().unwrap().to_string();
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
        Some("b")
    );
    assert_eq!(shop.me(&new).await["data"]["me"]["id"], customer.as_str());

    // Forgeries and stale tokens.
    let now = chrono::Utc::now().timestamp();
    let claims = |iss: &str, aud: &str, exp: i64| {
        json!({ "iss": iss, "aud": aud, "sub": customer, "exp": exp, "nbf": now - 10,
                "iat": now - 10, "jti": "5f0e8f1c-0000-4000-8000-000000000000" })
    };
    let good = claims(ISSUER, AUDIENCE, now + 600);
    // The forging works when everything is right (so the refusals below mean something).
    assert_eq!(
        shop.me(&forge(Some("a"), KEY_A, &good)).await["data"]["me"]["id"],
        customer.as_str()
    );
    let no_nbf = json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": customer, "exp": now + 600 });
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"alg":"none","typ":"JWT","kid":"a"}"#);
    let none_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.to_string().as_bytes());
    let refused = [
        ("unknown kid", forge(Some("zz"), KEY_A, &good)),
        ("no kid", forge(None, KEY_A, &good)),
        ("kid of another key", forge(Some("b"), KEY_A, &good)),
        (
            "wrong aud",
            forge(Some("a"), KEY_A, &claims(ISSUER, "store-admin", now + 600)),
        ),
        (
            "wrong iss",
            forge(Some("a"), KEY_A, &claims("evil", AUDIENCE, now + 600)),
        ),
        (
            "expired",
            forge(Some("a"), KEY_A, &claims(ISSUER, AUDIENCE, now - 3600)),
        ),
        ("no nbf", forge(Some("a"), KEY_A, &no_nbf)),
        ("alg none", format!("{none_header}.{none_payload}.")),
    ];
    for (what, token) in refused {
        let body = shop.me(&token).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{what}: {body}");
    }
    drop(shop);

    // Once key a is retired, its tokens stop verifying.
    let keys = keys_env(&[("b", KEY_B)]);
    let shop = start(
        &db,
        &[("APP__JWT__KEYS", &keys), ("APP__JWT__ACTIVE_KID", "b")],
    )
    .await;
    assert_eq!(error_codes(&shop.me(&old).await), ["UNAUTHENTICATED"]);
    assert_eq!(shop.me(&new).await["data"]["me"]["id"], customer.as_str());
}

#[tokio::test]
async fn blocked_customers_are_refused() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[("APP__OTP__RESEND_SECS", "0")]).await;
    let phone = "09128880001";
    let signed = shop.sign_in(phone, phone).await;
    let access = signed["accessToken"].as_str().unwrap();
    let refresh = signed["refreshToken"].as_str().unwrap();
    assert!(shop.me(access).await["errors"].is_null());

    let conn = db.connect().await;
    conn.execute(Statement::from_string(
        conn.get_database_backend(),
        "UPDATE customers SET status = 'blocked' WHERE phone = '+989128880001'",
    ))
    .await
    .unwrap();

    assert_eq!(error_codes(&shop.me(access).await), ["FORBIDDEN"]);
    assert_eq!(error_codes(&shop.refresh(refresh).await), ["FORBIDDEN"]);
    let sent_before = shop.sms.sent().len();
    let body = shop.request_otp(phone).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(
        shop.sms.sent().len(),
        sent_before,
        "no code is sent to a blocked customer"
    );
}

const ADDRESS_FIELDS: &str = "id title recipientName recipientPhone postalCode isDefault";

fn address(title: &str) -> Value {
    json!({
        "title": title,
        "recipientName": "Sara Ahmadi",
        "recipientPhone": "۰۹۱۲۱۲۳۴۵۶۷",
        "province": "Tehran",
        "city": "Tehran",
        "addressLine": "Valiasr St, No. 12",
        "postalCode": "۱۲۳۴۵-۶۷۸۹۰",
    })
}

#[tokio::test]
async fn addresses_and_profile_belong_to_their_customer() {
    let db = TestDb::postgres().await;
    let shop = start(&db, &[]).await;
    let a = shop.sign_in("09129990001", "09129990001").await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let b = shop.sign_in("09129990002", "09129990002").await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let add =
        format!("mutation($i: AddressInput!) {{ addAddress(input: $i) {{ {ADDRESS_FIELDS} }} }}");

    let home = shop
        .gql(&add, json!({ "i": address("Home") }), Some(&a))
        .await;
    assert!(home["errors"].is_null(), "{home}");
    let home = &home["data"]["addAddress"];
    assert_eq!(home["isDefault"], true, "the first address is the default");
    assert_eq!(home["recipientPhone"], "+989121234567");
    assert_eq!(home["postalCode"], "1234567890");
    let home_id = home["id"].as_str().unwrap().to_string();

    let mut input = address("Office");
    input["isDefault"] = json!(true);
    let office = shop.gql(&add, json!({ "i": input }), Some(&a)).await;
    let office_id = office["data"]["addAddress"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(office["data"]["addAddress"]["isDefault"], true);

    let list = shop
        .gql(
            &format!("{{ addresses {{ {ADDRESS_FIELDS} }} }}"),
            json!({}),
            Some(&a),
        )
        .await;
    let list = list["data"]["addresses"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], office_id.as_str(), "default first");
    assert_eq!(list.iter().filter(|x| x["isDefault"] == true).count(), 1);

    // B sees none of A's addresses and cannot touch them.
    let list = shop.gql("{ addresses { id } }", json!({}), Some(&b)).await;
    assert_eq!(list["data"]["addresses"], json!([]), "{list}");
    let update = format!(
        "mutation($id: ID!, $i: AddressInput!) {{ updateAddress(id: $id, input: $i) {{ {ADDRESS_FIELDS} }} }}"
    );
    for (query, vars) in [
        (
            update.as_str(),
            json!({ "id": home_id, "i": address("Mine") }),
        ),
        (
            "mutation($id: ID!) { removeAddress(id: $id) }",
            json!({ "id": home_id }),
        ),
        (
            "mutation($id: ID!) { setDefaultAddress(id: $id) { id } }",
            json!({ "id": home_id }),
        ),
        (
            "mutation($id: ID!) { removeAddress(id: $id) }",
            json!({ "id": "not-a-uuid" }),
        ),
    ] {
        let body = shop.gql(query, vars, Some(&b)).await;
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{query}: {body}");
    }
    let anonymous = shop.gql("{ addresses { id } }", json!({}), None).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);

    // A changes, re-defaults and removes.
    let body = shop
        .gql(
            &update,
            json!({ "id": home_id, "i": address("Parents") }),
            Some(&a),
        )
        .await;
    assert_eq!(body["data"]["updateAddress"]["title"], "Parents", "{body}");
    let body = shop
        .gql(
            "mutation($id: ID!) { setDefaultAddress(id: $id) { id isDefault } }",
            json!({ "id": home_id }),
            Some(&a),
        )
        .await;
    assert_eq!(
        body["data"]["setDefaultAddress"]["isDefault"], true,
        "{body}"
    );
    let body = shop
        .gql(
            "mutation($id: ID!) { removeAddress(id: $id) }",
            json!({ "id": home_id }),
            Some(&a),
        )
        .await;
    assert_eq!(body["data"]["removeAddress"], true, "{body}");
    let list = shop
        .gql("{ me { addresses { id isDefault } } }", json!({}), Some(&a))
        .await;
    assert_eq!(
        list["data"]["me"]["addresses"],
        json!([{ "id": office_id, "isDefault": true }]),
        "the remaining address becomes the default"
    );

    // Validation.
    let mut bad = address("Bad");
    bad["postalCode"] = json!("123");
    let body = shop.gql(&add, json!({ "i": bad }), Some(&a)).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "postalCode");
    let mut bad = address("Bad");
    bad["recipientPhone"] = json!("021");
    let body = shop.gql(&add, json!({ "i": bad }), Some(&a)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "recipientPhone",
        "{body}"
    );

    // Profile.
    let profile = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { firstName lastName email } }";
    let body = shop
        .gql(
            profile,
            json!({ "i": { "firstName": " Sara ", "email": "Sara@Example.IR" } }),
            Some(&a),
        )
        .await;
    assert_eq!(
        body["data"]["updateProfile"],
        json!({ "firstName": "Sara", "lastName": null, "email": "sara@example.ir" }),
        "{body}"
    );
    let body = shop
        .gql(
            profile,
            json!({ "i": { "email": "not an email" } }),
            Some(&a),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    let body = shop
        .gql(
            profile,
            json!({ "i": { "firstName": "x".repeat(101) } }),
            Some(&a),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    // B's profile is untouched.
    assert_eq!(shop.me(&b).await["data"]["me"]["firstName"], Value::Null);
}

/// The embedded default runs on SQLite: the same flow must hold there (time comparisons in
/// particular, since SQLite stores times as text).
#[tokio::test]
async fn sign_in_works_on_sqlite() {
    let db = TestDb::sqlite();
    let shop = start(&db, &[("APP__OTP__RESEND_SECS", "1")]).await;
    let phone = "09121230001";
    shop.request_otp(phone).await;
    let code = shop.code(phone);
    let body = shop.verify(phone, &other_code(&code)).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let body = shop.request_otp(phone).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "resend: {body}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let signed = shop.sign_in(phone, phone).await;
    let access = signed["accessToken"].as_str().unwrap();
    assert_eq!(
        shop.me(access).await["data"]["me"]["phone"],
        "+989121230001"
    );
    let refresh = signed["refreshToken"].as_str().unwrap();
    let body = shop.refresh(refresh).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        error_codes(&shop.refresh(refresh).await),
        ["UNAUTHENTICATED"]
    );
}

#[tokio::test]
async fn kavenegar_client_speaks_the_protocol() {
    use server::sms::{Kavenegar as Client, SmsError, SmsProvider, SmsProviderKind, SmsSettings};

    let sim = Kavenegar::start(API_KEY, &[TEMPLATE]).await;
    let settings = |key: &str, template: &str| SmsSettings {
        provider: SmsProviderKind::Kavenegar,
        api_key: Some(key.into()),
        otp_template: template.into(),
        sender: "10004346".into(),
        base_url: sim.base_url.clone(),
        timeout_secs: 5,
    };
    let client = Client::new(&settings(API_KEY, TEMPLATE));
    client.send_otp("+989121234567", "12345").await.unwrap();
    client
        .send_text("+989121234567", "سفارش شما پرداخت شد", 41)
        .await
        .unwrap();
    let sent = sim.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].token.as_deref(), Some("12345"));
    assert_eq!(sent[1].method, "sms/send");
    assert_eq!(sent[1].message.as_deref(), Some("سفارش شما پرداخت شد"));
    assert_eq!(sent[1].sender.as_deref(), Some("10004346"));

    let wrong_key = Client::new(&settings("wrong", TEMPLATE));
    let err = wrong_key.send_otp("+989121234567", "1").await.unwrap_err();
    assert!(
        matches!(err, SmsError::Refused { status: 403, .. }),
        "{err}"
    );
    assert!(
        !err.to_string().contains("wrong"),
        "the key must not leak: {err}"
    );
    let no_template = Client::new(&settings(API_KEY, "missing"));
    let err = no_template
        .send_otp("+989121234567", "1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SmsError::Refused { status: 424, .. }),
        "{err}"
    );
    let unreachable = Client::new(&SmsSettings {
        base_url: "http://127.0.0.1:9".into(),
        ..settings(API_KEY, TEMPLATE)
    });
    let err = unreachable
        .send_otp("+989121234567", "1")
        .await
        .unwrap_err();
    assert!(matches!(err, SmsError::Transport(_)), "{err}");
}
