//! Zarinpal's REST API v4.
//!
//! - `POST {base}/pg/v4/payment/request.json` with `merchant_id`, `amount`, `currency`
//!   (`IRR`|`IRT`), `description`, `callback_url`, `metadata {mobile, email, order_id}`.
//!   Success is `{"data": {"code": 100, "authority": ...}, "errors": []}`.
//! - The customer is sent to `{base}/pg/StartPay/{authority}`.
//! - `POST {base}/pg/v4/payment/verify.json` with `merchant_id`, `amount`, `authority`.
//!   `data.code` 100 is paid and now verified, 101 paid and verified before; both carry
//!   `ref_id`, `card_pan` (masked), `fee`.
//! - A refusal is `{"data": [], "errors": {"code": <negative>, "message": ...}}`: -9
//!   validation, -10 merchant id or IP not valid, -11 merchant not active, -12 too many
//!   attempts, ... and, for a verification, -50 amount differs from the session's, -51 session
//!   not paid, -52 unexpected error, -53 session of another merchant, -54 invalid authority,
//!   -55 not found. Empty parts are `[]`, not `null` or `{}`, so both shapes are accepted.
//!
//! (Zarinpal's documentation, "connectToGateway" and "errorList" at zarinpal.com/docs.)
//!
//! Verification is retried on a timeout, a broken connection or a 5xx, a bounded number of
//! times: it is idempotent at Zarinpal (a repeat answers 101), so a retry can at worst turn
//! "paid" into "already verified". Opening a session is not retried: a lost answer leaves an
//! orphan session that nobody pays, and the customer can start again. An answer this client
//! does not recognise is an error, never a payment.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::money::CurrencyUnit;
use super::{PaymentError, PaymentGateway, PaymentRequest, PaymentStart, Settlement, Verification};
use crate::config::PaymentSettings;

/// The codes Zarinpal answers about a session itself (as opposed to about the merchant or the
/// call): these, and only these, are a [`Verification::Failed`].
const SESSION_CODES: std::ops::RangeInclusive<i32> = -55..=-50;

/// How to reach Zarinpal.
#[derive(Clone)]
pub struct ZarinpalConfig {
    pub merchant_id: SecretString,
    /// `https://payment.zarinpal.com`, `https://sandbox.zarinpal.com`, or a simulator.
    pub base_url: String,
    pub currency_unit: CurrencyUnit,
    /// Time allowed for one HTTP exchange.
    pub timeout: Duration,
    /// Tries of a verification in all (at least 1).
    pub verify_attempts: u32,
    /// Pause before the first retry of a verification; doubled before each further one.
    pub retry_delay: Duration,
}

impl ZarinpalConfig {
    pub fn from_settings(settings: &PaymentSettings) -> Result<ZarinpalConfig, PaymentError> {
        let merchant_id = settings.merchant_id.clone().ok_or_else(|| {
            PaymentError::InvalidRequest("payment.merchant_id is not configured".into())
        })?;
        Ok(ZarinpalConfig {
            merchant_id,
            base_url: settings.base_url.clone(),
            currency_unit: settings.currency_unit,
            timeout: Duration::from_secs(settings.timeout_secs),
            verify_attempts: 3,
            retry_delay: Duration::from_millis(500),
        })
    }
}

pub struct ZarinpalGateway {
    http: reqwest::Client,
    config: ZarinpalConfig,
}

impl ZarinpalGateway {
    pub fn new(mut config: ZarinpalConfig) -> Result<ZarinpalGateway, PaymentError> {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        config.verify_attempts = config.verify_attempts.max(1);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| PaymentError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(ZarinpalGateway { http, config })
    }

    fn endpoint(&self, method: &str) -> String {
        format!("{}/pg/v4/payment/{method}.json", self.config.base_url)
    }

    /// One POST, its answer read as Zarinpal's envelope. Transport failures and 5xx are
    /// `Unavailable` (worth retrying); anything else is read, whatever its status, because
    /// Zarinpal reports refusals in the body.
    async fn call<B: Serialize>(&self, method: &str, body: &B) -> Result<Envelope, PaymentError> {
        let response = self
            .http
            .post(self.endpoint(method))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(format!("{method}: {}", describe(&e))))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(PaymentError::Unavailable(format!(
                "{method}: HTTP {status}"
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| PaymentError::Unavailable(format!("{method}: {}", describe(&e))))?;
        Envelope::parse(&text)
            .map_err(|e| PaymentError::Protocol(format!("{method} (HTTP {status}): {e}")))
    }
}

/// A transport error in a few words (the body holds the merchant id, the URL nothing secret).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        error.to_string()
    }
}

#[derive(Serialize)]
struct RequestBody<'a> {
    merchant_id: &'a str,
    amount: i64,
    currency: &'static str,
    description: &'a str,
    callback_url: &'a str,
    metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    order_id: &'a str,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    merchant_id: &'a str,
    amount: i64,
    authority: &'a str,
}

/// Zarinpal's answer: `data` or `errors`, the other one empty (`[]`).
#[derive(Debug)]
enum Envelope {
    Data(Value),
    Error { code: i32, message: String },
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    data: Value,
    #[serde(default)]
    errors: Value,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i32,
    #[serde(default)]
    message: String,
}

/// Empty in Zarinpal's sense: absent, `null`, `[]` or `{}`.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

impl Envelope {
    fn parse(text: &str) -> Result<Envelope, String> {
        let raw: RawEnvelope =
            serde_json::from_str(text).map_err(|e| format!("not Zarinpal's JSON: {e}"))?;
        match (is_empty(&raw.data), is_empty(&raw.errors)) {
            (false, true) => Ok(Envelope::Data(raw.data)),
            (true, false) => {
                let error: ErrorBody = serde_json::from_value(raw.errors)
                    .map_err(|e| format!("unreadable errors: {e}"))?;
                Ok(Envelope::Error {
                    code: error.code,
                    message: error.message,
                })
            }
            (false, false) => Err("both data and errors".into()),
            (true, true) => Err("neither data nor errors".into()),
        }
    }
}

#[derive(Deserialize)]
struct RequestData {
    code: i32,
    authority: String,
}

#[derive(Deserialize)]
struct VerifyData {
    code: i32,
    ref_id: i64,
    #[serde(default)]
    card_pan: Option<String>,
    #[serde(default)]
    fee: i64,
}

#[async_trait]
impl PaymentGateway for ZarinpalGateway {
    fn provider(&self) -> &'static str {
        "zarinpal"
    }

    async fn request(&self, request: &PaymentRequest) -> Result<PaymentStart, PaymentError> {
        request.validate()?;
        let body = RequestBody {
            merchant_id: self.config.merchant_id.expose_secret(),
            amount: self.config.currency_unit.from_rial(request.amount_rial)?,
            currency: self.config.currency_unit.zarinpal_code(),
            description: request.description.trim(),
            callback_url: &request.callback_url,
            metadata: Metadata {
                mobile: request.mobile.as_deref(),
                email: request.email.as_deref(),
                order_id: &request.order_id,
            },
        };
        match self.call("request", &body).await? {
            Envelope::Error { code, message } => Err(PaymentError::Rejected { code, message }),
            Envelope::Data(data) => {
                let data: RequestData = serde_json::from_value(data)
                    .map_err(|e| PaymentError::Protocol(format!("request: {e}")))?;
                let authority_ok = !data.authority.is_empty()
                    && data.authority.bytes().all(|b| b.is_ascii_alphanumeric());
                if data.code != 100 || !authority_ok {
                    return Err(PaymentError::Protocol(format!(
                        "request: code {} with authority {:?}",
                        data.code, data.authority
                    )));
                }
                Ok(PaymentStart {
                    redirect_url: format!(
                        "{}/pg/StartPay/{}",
                        self.config.base_url, data.authority
                    ),
                    authority: data.authority,
                })
            }
        }
    }

    async fn verify(
        &self,
        authority: &str,
        amount_rial: i64,
    ) -> Result<Verification, PaymentError> {
        let body = VerifyBody {
            merchant_id: self.config.merchant_id.expose_secret(),
            amount: self.config.currency_unit.from_rial(amount_rial)?,
            authority,
        };
        let mut delay = self.config.retry_delay;
        let mut attempt = 1;
        let envelope = loop {
            match self.call("verify", &body).await {
                Err(PaymentError::Unavailable(reason)) if attempt < self.config.verify_attempts => {
                    tracing::warn!(authority, attempt, %reason, "zarinpal verify failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        match envelope {
            Envelope::Error { code, message } if SESSION_CODES.contains(&code) => {
                Ok(Verification::Failed { code, message })
            }
            Envelope::Error { code, message } => Err(PaymentError::Rejected { code, message }),
            Envelope::Data(data) => {
                let data: VerifyData = serde_json::from_value(data)
                    .map_err(|e| PaymentError::Protocol(format!("verify: {e}")))?;
                if data.ref_id <= 0 {
                    return Err(PaymentError::Protocol(format!(
                        "verify: code {} with ref_id {}",
                        data.code, data.ref_id
                    )));
                }
                let settlement = Settlement {
                    reference_id: data.ref_id.to_string(),
                    card_pan_masked: data.card_pan.filter(|pan| !pan.is_empty()),
                    fee_rial: self.config.currency_unit.to_rial(data.fee)?,
                };
                match data.code {
                    100 => Ok(Verification::Paid(settlement)),
                    101 => Ok(Verification::AlreadyVerified(settlement)),
                    code => Err(PaymentError::Protocol(format!("verify: code {code}"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes_of_the_envelope() {
        let ok = r#"{"data":{"code":100,"message":"Success","authority":"A1"},"errors":[]}"#;
        assert!(matches!(Envelope::parse(ok), Ok(Envelope::Data(_))));
        let err =
            r#"{"data":[],"errors":{"code":-9,"message":"Validation error","validations":[]}}"#;
        assert!(matches!(
            Envelope::parse(err),
            Ok(Envelope::Error { code: -9, .. })
        ));
        for bad in [
            "<html>",
            "{}",
            r#"{"data":[],"errors":[]}"#,
            r#"{"data":{"code":100},"errors":{"code":-9}}"#,
        ] {
            assert!(Envelope::parse(bad).is_err(), "{bad}");
        }
    }
}
