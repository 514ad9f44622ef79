//! The payment gateways over real HTTP.
//!
//! Zarinpal is exercised against a simulator of its REST API v4 started in this process on a
//! random port: `request.json`, the `StartPay` page (with a way for the test to pay or cancel
//! as a customer would) and `verify.json`, with the real JSON shapes, codes 100/101 and the
//! documented error codes, plus injected faults (5xx, lost answers, malformed bodies). The
//! sandbox gateway is exercised through its own HTML page, served by a real axum server, with
//! its sessions in a fresh PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use secrecy::SecretString;
use server::config::{CurrencyUnit, PaymentProvider, PaymentSettings};
use server::payment::sandbox::{page, SandboxGateway};
use server::payment::zarinpal::{ZarinpalConfig, ZarinpalGateway};
use server::payment::{
    gateway_from_settings, CallbackStatus, PaymentError, PaymentGateway, PaymentRequest,
    Verification,
};
use sync::testing::TestDb;

mod zarinpal_sim;

use zarinpal_sim::*;

const OTHER_MERCHANT: &str = "99999999-0048-11e8-94db-005056a205be";
const CALLBACK: &str = "https://shop.example/payments/callback?provider=zarinpal";

fn order(amount_rial: i64) -> PaymentRequest {
    PaymentRequest {
        amount_rial,
        order_id: "100234".into(),
        description: "سفارش ۱۰۰۲۳۴".into(),
        callback_url: CALLBACK.into(),
        mobile: Some("09121234567".into()),
        email: None,
    }
}

fn paid_reference(verification: &Verification) -> String {
    match verification {
        Verification::Paid(s) => s.reference_id.clone(),
        other => panic!("expected Paid, got {other:?}"),
    }
}

fn failed_code(verification: &Verification) -> i32 {
    match verification {
        Verification::Failed { code, .. } => *code,
        other => panic!("expected Failed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Zarinpal
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zarinpal_pay_callback_verify() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    assert_eq!(gateway.provider(), "zarinpal");

    let start = gateway.request(&order(1_250_000)).await.unwrap();
    assert_eq!(start.authority.len(), 36);
    assert_eq!(
        start.redirect_url,
        format!("{}/pg/StartPay/{}", sim.base, start.authority)
    );
    let sent = &sim.requests()[0];
    assert_eq!(sent["merchant_id"], MERCHANT);
    assert_eq!(sent["amount"], 1_250_000);
    assert_eq!(sent["currency"], "IRR", "the unit is always stated");
    assert_eq!(sent["callback_url"], CALLBACK);
    assert_eq!(sent["metadata"]["mobile"], "09121234567");
    assert_eq!(sent["metadata"]["order_id"], "100234");
    assert!(sent["metadata"].get("email").is_none());

    let back = sim.customer(&start.redirect_url, "pay").await;
    assert_eq!(back.path(), "/payments/callback");
    let callback = gateway.parse_callback(back.query().unwrap()).unwrap();
    assert_eq!(callback.authority, start.authority);
    assert_eq!(callback.status, CallbackStatus::Ok);

    let verification = gateway
        .verify(&callback.authority, 1_250_000)
        .await
        .unwrap();
    let Verification::Paid(settlement) = verification else {
        panic!("expected Paid, got {verification:?}");
    };
    assert_eq!(
        settlement.reference_id,
        sim.ref_id(&start.authority).to_string()
    );
    assert_eq!(
        settlement.card_pan_masked.as_deref(),
        Some("502229******5995")
    );
    assert_eq!(settlement.fee_rial, 12_500);
}

#[tokio::test]
async fn zarinpal_second_verification_is_already_verified() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(50_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    let first = gateway.verify(&start.authority, 50_000).await.unwrap();
    let reference = paid_reference(&first);
    for _ in 0..3 {
        let again = gateway.verify(&start.authority, 50_000).await.unwrap();
        assert!(
            matches!(&again, Verification::AlreadyVerified(s) if s.reference_id == reference),
            "{again:?}"
        );
    }
}

#[tokio::test]
async fn zarinpal_refuses_another_amount_and_keeps_the_payment() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(1_250_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    for wrong in [1_000_000, 1_250_010, 12_500_000] {
        let verification = gateway.verify(&start.authority, wrong).await.unwrap();
        assert_eq!(failed_code(&verification), -50);
        assert!(verification.settlement().is_none());
    }
    let right = gateway.verify(&start.authority, 1_250_000).await.unwrap();
    paid_reference(&right);
}

#[tokio::test]
async fn zarinpal_cancelled_or_unpaid_payment_fails() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);

    let start = gateway.request(&order(80_000)).await.unwrap();
    let back = sim.customer(&start.redirect_url, "cancel").await;
    let callback = gateway.parse_callback(back.query().unwrap()).unwrap();
    assert_eq!(callback.status, CallbackStatus::Nok);
    let verification = gateway.verify(&start.authority, 80_000).await.unwrap();
    assert_eq!(failed_code(&verification), -51);

    // A forged `Status=OK` for a session nobody paid: the gateway says no.
    let unpaid = gateway.request(&order(80_000)).await.unwrap();
    let forged = format!("Authority={}&Status=OK", unpaid.authority);
    let callback = gateway.parse_callback(&forged).unwrap();
    let verification = gateway.verify(&callback.authority, 80_000).await.unwrap();
    assert_eq!(failed_code(&verification), -51);
}

#[tokio::test]
async fn zarinpal_unknown_authority_fails() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let verification = gateway
        .verify("A00000000000000000000000000000000404", 10_000)
        .await
        .unwrap();
    assert_eq!(failed_code(&verification), -54);
}

#[tokio::test]
async fn zarinpal_wrong_merchant_is_an_error_not_a_failed_payment() {
    let sim = Simulator::start().await;
    let good = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let bad = sim.gateway(OTHER_MERCHANT, CurrencyUnit::Rial);

    let refused = bad.request(&order(10_000)).await.unwrap_err();
    assert!(
        matches!(refused, PaymentError::Rejected { code: -10, .. }),
        "{refused:?}"
    );

    let start = good.request(&order(10_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;
    let refused = bad.verify(&start.authority, 10_000).await.unwrap_err();
    assert!(
        matches!(refused, PaymentError::Rejected { code: -10, .. }),
        "{refused:?}"
    );
    paid_reference(&good.verify(&start.authority, 10_000).await.unwrap());
}

#[tokio::test]
async fn zarinpal_server_errors_are_retried() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(30_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    sim.fail_next_verifies([Fault::ServerError, Fault::ServerError]);
    let verification = gateway.verify(&start.authority, 30_000).await.unwrap();
    paid_reference(&verification);
    assert_eq!(sim.verify_calls(), 3, "two failures, then the answer");
}

#[tokio::test]
async fn zarinpal_retries_are_bounded_and_lose_nothing() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(30_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    sim.fail_next_verifies([Fault::ServerError, Fault::ServerError, Fault::ServerError]);
    let error = gateway.verify(&start.authority, 30_000).await.unwrap_err();
    assert!(matches!(error, PaymentError::Unavailable(_)), "{error:?}");
    assert_eq!(sim.verify_calls(), 3, "three attempts, no more");

    // The gateway is back: the payment is still there to be verified.
    paid_reference(&gateway.verify(&start.authority, 30_000).await.unwrap());
}

#[tokio::test]
async fn zarinpal_lost_answer_is_retried_and_found_verified() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(30_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    // Zarinpal verifies, but its answer arrives after the client's timeout.
    sim.fail_next_verifies([Fault::AnswerLost(Duration::from_millis(1_500))]);
    let verification = gateway.verify(&start.authority, 30_000).await.unwrap();
    assert_eq!(sim.verify_calls(), 2);
    match verification {
        Verification::AlreadyVerified(s) => {
            assert_eq!(s.reference_id, sim.ref_id(&start.authority).to_string());
        }
        other => panic!("expected AlreadyVerified, got {other:?}"),
    }
}

#[tokio::test]
async fn zarinpal_malformed_answers_are_never_paid() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let start = gateway.request(&order(30_000)).await.unwrap();
    sim.customer(&start.redirect_url, "pay").await;

    let bodies = [
        "<html><body>Bad gateway</body></html>",
        "",
        r#"{"data":{"code":100,"message":"Paid"},"errors":[]}"#,
        r#"{"data":{"code":100,"message":"Paid","ref_id":0},"errors":[]}"#,
        r#"{"data":{"code":"100","ref_id":"x"},"errors":[]}"#,
        r#"{"data":{"code":102,"message":"?","ref_id":5},"errors":[]}"#,
        r#"{"data":{"code":0,"ref_id":5},"errors":[]}"#,
        r#"{"data":[],"errors":[]}"#,
        r#"{"data":{"code":100,"ref_id":5},"errors":{"code":-51,"message":"x"}}"#,
        r#"{"status":100,"RefID":5}"#,
    ];
    for body in bodies {
        sim.fail_next_verifies([Fault::Body(body)]);
        let answer = gateway.verify(&start.authority, 30_000).await;
        assert!(
            matches!(answer, Err(PaymentError::Protocol(_))),
            "{body:?} gave {answer:?}"
        );
    }
    // None of them was retried (retrying is for transport failures) ...
    assert_eq!(sim.verify_calls() as usize, bodies.len());
    // ... and the real answer is still to be had.
    paid_reference(&gateway.verify(&start.authority, 30_000).await.unwrap());
}

#[tokio::test]
async fn zarinpal_in_toman_converts_exactly_at_the_edge() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Toman);

    let start = gateway.request(&order(1_250_000)).await.unwrap();
    let sent = &sim.requests()[0];
    assert_eq!(sent["currency"], "IRT");
    assert_eq!(sent["amount"], 125_000);
    sim.customer(&start.redirect_url, "pay").await;
    match gateway.verify(&start.authority, 1_250_000).await.unwrap() {
        // The simulator charges 1% in the session's unit: 1,250 Toman.
        Verification::Paid(s) => assert_eq!(s.fee_rial, 12_500),
        other => panic!("expected Paid, got {other:?}"),
    }

    // Not a whole number of Toman: refused, not rounded, and Zarinpal is not called.
    let error = gateway.request(&order(1_250_005)).await.unwrap_err();
    assert!(
        matches!(error, PaymentError::InvalidRequest(_)),
        "{error:?}"
    );
    let error = gateway
        .verify(&start.authority, 1_250_005)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentError::InvalidRequest(_)),
        "{error:?}"
    );
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.verify_calls(), 1);
}

#[tokio::test]
async fn zarinpal_bad_requests_are_refused_before_calling() {
    let sim = Simulator::start().await;
    let gateway = sim.gateway(MERCHANT, CurrencyUnit::Rial);
    let mut requests = Vec::new();
    for amount in [0, -10_000] {
        requests.push(order(amount));
    }
    requests.push(PaymentRequest {
        description: "  ".into(),
        ..order(10_000)
    });
    requests.push(PaymentRequest {
        description: "x".repeat(501),
        ..order(10_000)
    });
    for callback_url in ["/payments/callback", "ftp://shop.example/cb", "not a url"] {
        requests.push(PaymentRequest {
            callback_url: callback_url.into(),
            ..order(10_000)
        });
    }
    for request in &requests {
        let error = gateway.request(request).await.unwrap_err();
        assert!(
            matches!(error, PaymentError::InvalidRequest(_)),
            "{error:?}"
        );
    }
    assert!(sim.requests().is_empty());

    // Below Zarinpal's minimum: the gateway's own refusal comes back as such.
    let error = gateway.request(&order(500)).await.unwrap_err();
    assert!(
        matches!(error, PaymentError::Rejected { code: -9, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn zarinpal_unreachable_is_unavailable() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gateway = ZarinpalGateway::new(ZarinpalConfig {
        merchant_id: SecretString::from(MERCHANT),
        base_url: base,
        currency_unit: CurrencyUnit::Rial,
        timeout: Duration::from_millis(500),
        verify_attempts: 2,
        retry_delay: Duration::from_millis(10),
    })
    .unwrap();
    let error = gateway.request(&order(10_000)).await.unwrap_err();
    assert!(matches!(error, PaymentError::Unavailable(_)), "{error:?}");
    let error = gateway.verify("A1", 10_000).await.unwrap_err();
    assert!(matches!(error, PaymentError::Unavailable(_)), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// Sandbox (state in PostgreSQL)
// ---------------------------------------------------------------------------------------------

/// A server with the sandbox page and its gateway, on a fresh PostgreSQL database.
struct SandboxServer {
    base: String,
    db: TestDb,
    gateway: Arc<SandboxGateway>,
    browser: reqwest::Client,
}

impl SandboxServer {
    async fn start() -> SandboxServer {
        let db = TestDb::postgres().await;
        let conn = db.connect().await;
        let base = serve(page::router(conn.clone())).await;
        SandboxServer {
            gateway: Arc::new(SandboxGateway::new(conn, &base)),
            base,
            db,
            browser: browser(),
        }
    }

    fn order(&self, amount_rial: i64) -> PaymentRequest {
        PaymentRequest {
            callback_url: format!("{}/payments/callback?provider=sandbox", self.base),
            ..order(amount_rial)
        }
    }

    async fn page(&self, redirect_url: &str) -> String {
        let page = self.browser.get(redirect_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }

    /// Presses the page's button, returns where the browser is sent.
    async fn press(&self, html: &str, button: &str) -> reqwest::Url {
        let action = form_action(html, button);
        let answer = self
            .browser
            .post(format!("{}{action}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER.as_u16());
        location(&answer)
    }
}

#[tokio::test]
async fn sandbox_page_pay_callback_verify_on_postgres() {
    let server = SandboxServer::start().await;
    let gateway = &server.gateway;
    assert_eq!(gateway.provider(), "sandbox");

    let start = gateway.request(&server.order(1_250_000)).await.unwrap();
    assert_eq!(
        start.redirect_url,
        format!("{}/payments/sandbox/{}", server.base, start.authority)
    );
    let html = server.page(&start.redirect_url).await;
    assert!(html.contains("1250000 Rial"), "{html}");
    assert!(html.contains("سفارش ۱۰۰۲۳۴"), "{html}");
    assert!(
        html.contains(">Pay<") && html.contains(">Cancel<"),
        "{html}"
    );

    let back = server.press(&html, "pay").await;
    assert_eq!(back.path(), "/payments/callback");
    assert!(back.query().unwrap().starts_with("provider=sandbox&"));
    let callback = gateway.parse_callback(back.query().unwrap()).unwrap();
    assert_eq!(callback.authority, start.authority);
    assert_eq!(callback.status, CallbackStatus::Ok);

    // Pressing again, or pressing Cancel afterwards, changes nothing.
    let again = server.press(&html, "cancel").await;
    assert_eq!(
        gateway
            .parse_callback(again.query().unwrap())
            .unwrap()
            .status,
        CallbackStatus::Ok
    );

    let reference = paid_reference(&gateway.verify(&start.authority, 1_250_000).await.unwrap());

    // Another replica, with a connection of its own, sees the same session.
    let other_replica = SandboxGateway::new(server.db.connect().await, &server.base);
    match other_replica
        .verify(&start.authority, 1_250_000)
        .await
        .unwrap()
    {
        Verification::AlreadyVerified(s) => assert_eq!(s.reference_id, reference),
        other => panic!("expected AlreadyVerified, got {other:?}"),
    }
    let html = server.page(&start.redirect_url).await;
    assert!(html.contains("verified"), "{html}");
    assert!(
        !html.contains("<form"),
        "a decided session offers no buttons: {html}"
    );
}

#[tokio::test]
async fn sandbox_cancel_wrong_amount_and_unknown_authority() {
    let server = SandboxServer::start().await;
    let gateway = &server.gateway;

    let start = gateway.request(&server.order(90_000)).await.unwrap();
    let html = server.page(&start.redirect_url).await;
    let back = server.press(&html, "cancel").await;
    let callback = gateway.parse_callback(back.query().unwrap()).unwrap();
    assert_eq!(callback.status, CallbackStatus::Nok);
    assert_eq!(
        failed_code(&gateway.verify(&start.authority, 90_000).await.unwrap()),
        -51
    );
    // Paying after cancelling changes nothing either.
    let back = server.press(&html, "pay").await;
    assert_eq!(
        gateway
            .parse_callback(back.query().unwrap())
            .unwrap()
            .status,
        CallbackStatus::Nok
    );

    // Not paid yet: a forged callback gets nowhere.
    let start = gateway.request(&server.order(90_000)).await.unwrap();
    assert_eq!(
        failed_code(&gateway.verify(&start.authority, 90_000).await.unwrap()),
        -51
    );
    let html = server.page(&start.redirect_url).await;
    server.press(&html, "pay").await;
    assert_eq!(
        failed_code(&gateway.verify(&start.authority, 9_000).await.unwrap()),
        -50
    );
    paid_reference(&gateway.verify(&start.authority, 90_000).await.unwrap());

    assert_eq!(
        failed_code(&gateway.verify("S404", 90_000).await.unwrap()),
        -54
    );
    let missing = server
        .browser
        .get(format!("{}/payments/sandbox/S404", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = server
        .browser
        .post(format!("{}/payments/sandbox/S404/pay", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let error = gateway.request(&server.order(0)).await.unwrap_err();
    assert!(
        matches!(error, PaymentError::InvalidRequest(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn sandbox_concurrent_verifications_yield_one_paid() {
    let server = SandboxServer::start().await;
    let start = server.gateway.request(&server.order(70_000)).await.unwrap();
    let html = server.page(&start.redirect_url).await;
    server.press(&html, "pay").await;

    let verifications = futures::future::join_all((0..10).map(|_| {
        let gateway = server.gateway.clone();
        let authority = start.authority.clone();
        tokio::spawn(async move { gateway.verify(&authority, 70_000).await.unwrap() })
    }))
    .await;
    let (mut paid, mut already) = (0, 0);
    for verification in verifications {
        match verification.unwrap() {
            Verification::Paid(_) => paid += 1,
            Verification::AlreadyVerified(_) => already += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((paid, already), (1, 9));
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn settings_choose_the_gateway_and_name_bad_keys() {
    let defaults = PaymentSettings::default();
    assert_eq!(defaults.provider, PaymentProvider::Sandbox);
    defaults.validate().unwrap();
    let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
    assert_eq!(
        gateway_from_settings(&defaults, &db).unwrap().provider(),
        "sandbox"
    );

    let zarinpal = PaymentSettings {
        provider: PaymentProvider::Zarinpal,
        ..PaymentSettings::default()
    };
    let error = zarinpal.validate().unwrap_err().to_string();
    assert!(error.contains("payment.merchant_id"), "{error}");

    let short = PaymentSettings {
        merchant_id: Some(SecretString::from("secret-but-short")),
        ..zarinpal.clone()
    };
    let error = short.validate().unwrap_err().to_string();
    assert!(error.contains("payment.merchant_id"), "{error}");
    assert!(
        !error.contains("secret-but-short"),
        "a secret leaked: {error}"
    );

    let configured = PaymentSettings {
        merchant_id: Some(SecretString::from(MERCHANT)),
        ..zarinpal
    };
    configured.validate().unwrap();
    assert_eq!(
        gateway_from_settings(&configured, &db).unwrap().provider(),
        "zarinpal"
    );

    let error = PaymentSettings {
        callback_base_url: "shop.example".into(),
        ..PaymentSettings::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(error.contains("payment.callback_base_url"), "{error}");
}
