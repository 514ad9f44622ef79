//! Secrets never leak (issue 8): the real server binary on PostgreSQL, configured with
//! distinctive values for every secret it holds (JWT key, OTP pepper, Mahak password, Zarinpal
//! merchant id, Kavenegar API key, the local store's signing key), runs a full flow over HTTP
//! (OTP sign-in and a wrong code, cart, checkout, a Zarinpal payment, staff created and signed
//! in, a failed staff sign-in, an SMS refused by Kavenegar, an image upload URL, an embedded
//! sync run against the Mahak simulator) while every line it writes to stdout and stderr is
//! kept. Then none of the secrets (nor their hex or base64 forms, nor the MD5 the Mahak client
//! sends) appears in that output, in `/metrics`, or in any response body. Servers refused at
//! start-up for a bad value next to a secret are checked the same way.

mod admin;
mod common;
#[allow(dead_code)]
mod kavenegar_sim;
mod shop;
#[allow(dead_code)]
mod zarinpal_sim;

use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::seed::{self, ProductSpec};
use common::{error_codes, TestDb, TestServer};
use entity::sync_runs;
use kavenegar_sim::Kavenegar;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use sync::simulator::{self, DataSizes, SimulatorConfig};

const JWT_SECRET: &str = "jwt-SECRET-7f3a9c-long-enough-to-be-a-real-key";
const OTP_PEPPER: &str = "otp-PEPPER-51c0de-secret-value";
const MAHAK_PASSWORD: &str = "mahak-PASSWORD-e2b7f0";
const SMS_API_KEY: &str = "sms-APIKEY-4d91aa7c";
const SIGNING_KEY: &str = "media-SIGNING-KEY-0c77d2b1";
const STAFF_PASSWORD: &str = "staff-PASSWORD-93ac10ee";
const TEMPLATE: &str = "store-otp";

/// Every secret with the forms the code could plausibly write it in.
fn forbidden() -> Vec<(String, String)> {
    let mut forms = Vec::new();
    for (name, secret) in [
        ("jwt.keys secret", JWT_SECRET),
        ("otp.pepper", OTP_PEPPER),
        ("mahak.password", MAHAK_PASSWORD),
        ("sms.api_key", SMS_API_KEY),
        ("payment.merchant_id", zarinpal_sim::MERCHANT),
        ("storage.local_signing_key", SIGNING_KEY),
        ("a staff password", STAFF_PASSWORD),
    ] {
        forms.push((name.to_string(), secret.to_string()));
        forms.push((format!("{name} (hex)"), hex::encode(secret)));
        forms.push((format!("{name} (base64)"), STANDARD.encode(secret)));
        forms.push((
            format!("{name} (base64url)"),
            URL_SAFE_NO_PAD.encode(secret),
        ));
    }
    forms.push((
        "mahak.password (MD5 sent at login)".into(),
        sync::mahak::models::password_md5(MAHAK_PASSWORD),
    ));
    forms
}

/// Panics naming every secret form found in `text` (from `source`).
fn assert_clean(source: &str, text: &str) {
    let leaks: Vec<String> = forbidden()
        .into_iter()
        .filter(|(_, form)| text.contains(form.as_str()))
        .map(|(name, _)| name)
        .collect();
    assert!(leaks.is_empty(), "{source} leaks {leaks:?}");
}

/// Every response body the test received, checked at the end.
#[derive(Default)]
struct Bodies(Vec<String>);

impl Bodies {
    fn keep(&mut self, body: Value) -> Value {
        self.0.push(body.to_string());
        body
    }
}

async fn wait_for_succeeded_runs(conn: &DatabaseConnection, at_least: u64) {
    for _ in 0..1200 {
        let running = sync_runs::Entity::find()
            .filter(sync_runs::Column::Outcome.eq("running"))
            .count(conn)
            .await
            .unwrap();
        let succeeded = sync_runs::Entity::find()
            .filter(sync_runs::Column::Outcome.eq("succeeded"))
            .count(conn)
            .await
            .unwrap();
        if running == 0 && succeeded >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {at_least} sync runs succeeded within 120 s");
}

/// The server's environment: every secret configured, SMS to the Kavenegar simulator, Mahak
/// to the simulator, payments to the Zarinpal simulator.
fn environment(sms: &str, mahak: &str, zarinpal: &str, media_dir: &str) -> Vec<(String, String)> {
    [
        ("APP__SMS__PROVIDER", "kavenegar"),
        ("APP__SMS__API_KEY", SMS_API_KEY),
        ("APP__SMS__BASE_URL", sms),
        ("APP__SMS__OTP_TEMPLATE", TEMPLATE),
        (
            "APP__JWT__KEYS",
            &format!("[{{kid=\"k1\",secret=\"{JWT_SECRET}\"}}]"),
        ),
        ("APP__JWT__ACTIVE_KID", "k1"),
        ("APP__OTP__PEPPER", OTP_PEPPER),
        ("APP__OTP__RESEND_SECS", "0"),
        ("APP__OTP__IP_REQUESTS_PER_HOUR", "10000"),
        ("APP__OTP__IP_VERIFICATIONS_PER_HOUR", "10000"),
        ("APP__SYNC__EMBEDDED", "true"),
        ("APP__SYNC__INTERVAL_SECS", "3600"),
        ("APP__MAHAK__BASE_URL", mahak),
        ("APP__MAHAK__USERNAME", "demo"),
        ("APP__MAHAK__PASSWORD", MAHAK_PASSWORD),
        ("APP__PAYMENT__PROVIDER", "zarinpal"),
        ("APP__PAYMENT__MERCHANT_ID", zarinpal_sim::MERCHANT),
        ("APP__PAYMENT__BASE_URL", zarinpal),
        (
            "APP__PAYMENT__RESULT_URL",
            "https://shop.example/payment/result",
        ),
        ("APP__STORAGE__LOCAL_DIR", media_dir),
        ("APP__STORAGE__LOCAL_SIGNING_KEY", SIGNING_KEY),
        ("APP__DATABASE__MAX_CONNECTIONS", "8"),
        // Debug logs too: a secret in a debug line is still a leak.
        (
            "APP__LOG__LEVEL",
            "debug,sqlx=info,hyper=info,h2=info,lapin=info",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn no_secret_reaches_logs_metrics_or_responses() {
    let sms = Kavenegar::start(SMS_API_KEY, &[TEMPLATE]).await;
    let zarinpal = zarinpal_sim::Simulator::start().await;
    let mahak = simulator::start(SimulatorConfig {
        password: MAHAK_PASSWORD.into(),
        sizes: DataSizes::for_products(5),
        seed: 8,
        ..SimulatorConfig::default()
    })
    .await
    .expect("Mahak simulator");
    let media = tempfile::tempdir().unwrap();
    let db = TestDb::postgres().await;
    let env = environment(
        &sms.base_url,
        &mahak.base_url(),
        &format!("{}/", zarinpal.base),
        media.path().to_str().unwrap(),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_capturing(&db, &env).await;
    let conn = db.connect().await;
    let mut bodies = Bodies::default();

    // The embedded sync logged in to Mahak with the password and pulled the catalogue.
    wait_for_succeeded_runs(&conn, 1).await;
    let synced = entity::products::Entity::find().count(&conn).await.unwrap();
    assert!(synced > 0, "the sync pulled Mahak's products");

    let mut spec = ProductSpec::new(987_654, "Secret test item");
    spec.variants = vec![(Some(1_000_000), 50.0)];
    let product = seed::product(&conn, &spec).await;
    let variant = entity::variants::Entity::find()
        .filter(entity::variants::Column::MahakId.eq(987_654 * 10))
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .id;

    // A customer: a wrong code first, then OTP sign-in.
    let sent = bodies.keep(
        shop::gql(
            &server,
            "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }",
            json!({ "p": "09121110090" }),
            None,
            None,
        )
        .await,
    );
    assert!(sent["errors"].is_null(), "{sent}");
    let code = sms.last_code("09121110090").expect("code sent");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = bodies.keep(
        shop::gql(
            &server,
            "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }",
            json!({ "p": "09121110090", "c": wrong }),
            None,
            None,
        )
        .await,
    );
    assert!(!error_codes(&refused).is_empty(), "{refused}");
    let token = shop::sign_in(&server, &sms, "09121110090", None).await;

    // Kavenegar refuses the next message: the failure is logged and answered.
    sms.refuse_next_sends(1);
    // (The code may be sent in the background; the refusal is then only logged.)
    bodies.keep(
        shop::gql(
            &server,
            "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }",
            json!({ "p": "09121110091" }),
            None,
            None,
        )
        .await,
    );

    // Cart, checkout, payment through Zarinpal.
    let added = bodies.keep(
        shop::gql(
            &server,
            "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { id } }",
            json!({ "v": variant.to_string() }),
            Some(&token),
            None,
        )
        .await,
    );
    assert!(added["errors"].is_null(), "{added}");
    let address = shop::add_home_address(&server, &token).await;
    let checkout = bodies.keep(
        shop::gql(
            &server,
            "mutation($i: CheckoutInput!) { checkout(input: $i) { number status } }",
            json!({ "i": { "addressId": address } }),
            Some(&token),
            None,
        )
        .await,
    );
    assert!(checkout["errors"].is_null(), "{checkout}");
    let order = checkout["data"]["checkout"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let started = bodies.keep(
        shop::gql(
            &server,
            "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId redirectUrl } }",
            json!({ "o": order }),
            Some(&token),
            None,
        )
        .await,
    );
    assert!(started["errors"].is_null(), "{started}");
    let redirect = started["data"]["startPayment"]["redirectUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let back = zarinpal.customer(&redirect, "pay").await;
    let callback = format!("{}?{}", back.path(), back.query().unwrap_or_default());
    let answer = zarinpal
        .browser
        .get(server.url(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    bodies.0.push(format!("{:?}", answer.headers()));
    bodies.0.push(answer.text().await.unwrap());
    let view = bodies.keep(
        shop::gql(
            &server,
            "query($o: String!) { order(number: $o) { status payments { status referenceId } } }",
            json!({ "o": order }),
            Some(&token),
            None,
        )
        .await,
    );
    assert_eq!(view["data"]["order"]["status"], "PAID", "{view}");

    // Staff: a super admin creates a role and a staff user over HTTP, who signs in; a wrong
    // password is refused.
    admin::create_staff(&db, "boss@example.com", admin::PASSWORD, &["*"]).await;
    let boss = bodies.keep(admin::sign_in(&server, "boss@example.com", admin::PASSWORD).await);
    let boss = boss["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let role = bodies.keep(
        admin::admin_gql(
            &server,
            Some(&boss),
            r#"mutation { createRole(name: "editors", permissions: ["catalogue", "sync"]) { id } }"#,
            json!({}),
        )
        .await,
    );
    assert!(role["errors"].is_null(), "{role}");
    let created = bodies.keep(
        admin::admin_gql(
            &server,
            Some(&boss),
            "mutation($r: ID!, $p: String!) { createStaff(email: \"editor@example.com\", displayName: \"Editor\", password: $p, roleId: $r) { id } }",
            json!({ "r": role["data"]["createRole"]["id"], "p": STAFF_PASSWORD }),
        )
        .await,
    );
    assert!(created["errors"].is_null(), "{created}");
    let editor = bodies.keep(admin::sign_in(&server, "editor@example.com", STAFF_PASSWORD).await);
    assert!(editor["errors"].is_null(), "{editor}");
    let editor = editor["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = bodies.keep(admin::sign_in(&server, "editor@example.com", "not-it-at-all").await);
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"], "{wrong}");

    // An upload URL signed with the local store's key.
    let upload = bodies.keep(
        admin::admin_gql(
            &server,
            Some(&editor),
            "mutation($p: ID!) { createImageUpload(productId: $p, contentType: \"image/jpeg\", size: 1000) { uploadId url } }",
            json!({ "p": product.to_string() }),
        )
        .await,
    );
    assert!(upload["errors"].is_null(), "{upload}");

    // A sync run asked for over the admin API; Mahak's tokens expired, so the embedded sync
    // logs in again with the password.
    mahak.control().expire_tokens();
    let trigger = bodies.keep(
        admin::admin_gql(
            &server,
            Some(&editor),
            "mutation { triggerSync(entity: PRODUCT) { id } }",
            json!({}),
        )
        .await,
    );
    assert!(trigger["errors"].is_null(), "{trigger}");
    wait_for_succeeded_runs(&conn, 2).await;
    let status = bodies.keep(
        admin::admin_gql(
            &server,
            Some(&editor),
            "{ syncStatus { entities { entity checkpoint lastRun { outcome } } } }",
            json!({}),
        )
        .await,
    );
    assert!(status["errors"].is_null(), "{status}");

    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("# TYPE"), "{metrics}");
    assert_clean("/metrics", &metrics);

    for body in &bodies.0 {
        assert_clean("a response body", body);
    }

    // The refused SMS is retried in the background: wait for its log line, then stop the
    // server (its shutdown lines are part of the output too).
    let output = server.output.clone();
    for attempt in 0.. {
        if output
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("SMS provider refused"))
        {
            break;
        }
        assert!(attempt < 600, "the SMS refusal was not logged within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.terminate(), "the server exits cleanly");
    let output = output.lock().unwrap().join("\n");
    // The capture really holds the flow (so a clean result means something).
    for expected in [
        "listening",
        "logged in to Mahak",
        "logging in again",
        "sync run finished",
        "outbox effect failed",
        "shutdown signal received",
    ] {
        assert!(
            output.contains(expected),
            "captured output lacks {expected:?}"
        );
    }
    assert_clean("the server's output", &output);
}

/// Runs `server serve` with `env` (a bad value among them); returns its exit success and all
/// its output.
fn refused_start(db: &TestDb, env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__DATABASE__URL", &db.url)
        .env("APP__HTTP__PORT", "0")
        .env("APP__LOG__FORMAT", "json")
        .env("APP__SYNC__EMBEDDED", "false");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run the server binary");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn configuration_errors_do_not_echo_secrets() {
    let db = TestDb::postgres().await;
    let jwt_keys = format!("[{{kid=\"k1\",secret=\"{JWT_SECRET}\"}}]");
    let short_key = "[{kid=\"k1\",secret=\"jwt-SECRET-short\"}]";
    let broken_keys = format!("[{{kid=\"k1\",secret=\"{JWT_SECRET}\"");
    let wrong_merchant = format!("{SMS_API_KEY}-{OTP_PEPPER}");
    let good: Vec<(&str, &str)> = vec![
        ("APP__JWT__KEYS", jwt_keys.as_str()),
        ("APP__OTP__PEPPER", OTP_PEPPER),
        ("APP__MAHAK__PASSWORD", MAHAK_PASSWORD),
        ("APP__SMS__PROVIDER", "kavenegar"),
        ("APP__SMS__API_KEY", SMS_API_KEY),
        ("APP__STORAGE__LOCAL_SIGNING_KEY", SIGNING_KEY),
        ("APP__PAYMENT__PROVIDER", "zarinpal"),
        ("APP__PAYMENT__MERCHANT_ID", zarinpal_sim::MERCHANT),
    ];
    // (what is wrong, the key the error must name, the overriding variables)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "a merchant id of the wrong length",
            "payment.merchant_id",
            vec![("APP__PAYMENT__MERCHANT_ID", wrong_merchant.as_str())],
        ),
        (
            "a JWT key that is too short",
            "jwt",
            vec![("APP__JWT__KEYS", short_key)],
        ),
        (
            "JWT keys that do not parse",
            "jwt",
            vec![("APP__JWT__KEYS", broken_keys.as_str())],
        ),
        (
            "a bad value beside the secrets",
            "http.port",
            vec![("APP__HTTP__PORT", "not-a-port")],
        ),
        (
            "an unknown key beside the secrets",
            "pasword",
            vec![("APP__MAHAK__PASWORD", MAHAK_PASSWORD)],
        ),
    ];
    for (what, key, overrides) in cases {
        let env: Vec<(&str, &str)> = good.iter().chain(overrides.iter()).copied().collect();
        let (success, output) = refused_start(&db, &env);
        assert!(!success, "{what}: the server started");
        assert!(
            output.to_lowercase().contains(key),
            "{what}: the error does not name {key}: {output}"
        );
        assert_clean(what, &output);
        // The short key is not one of the forbidden ones; it must not be echoed either.
        assert!(!output.contains("jwt-SECRET-short"), "{what}: {output}");
    }
}
