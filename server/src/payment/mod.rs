//! Payment gateways: the one small trait checkout talks to, and its two implementations.
//!
//! A payment at an Iranian gateway has three steps, and this module mirrors them:
//!
//! 1. [`PaymentGateway::request`] opens a session for an amount and returns the gateway's
//!    `authority` (its id for the session) and the URL to send the customer's browser to.
//! 2. The customer pays or cancels on the gateway's page and is redirected to the callback
//!    URL with `?Authority=...&Status=OK|NOK`, read by [`PaymentGateway::parse_callback`].
//!    That redirect passes through the customer's browser, so it proves nothing: anybody can
//!    forge `Status=OK`.
//! 3. [`PaymentGateway::verify`] asks the gateway itself, with the amount the store expects.
//!    Only its [`Verification::Paid`] or [`Verification::AlreadyVerified`] answer means money
//!    was taken. Verification is idempotent at the gateway (a second one answers "already
//!    verified"), which is what makes retrying it safe.
//!
//! Implementations: [`zarinpal::ZarinpalGateway`] (Zarinpal's REST API v4) and
//! [`sandbox::SandboxGateway`] (the embedded default: a fake gateway with its own page,
//! keeping its sessions in the database). [`gateway_from_settings`] picks one from
//! `payment.*`.
//!
//! Money is an `i64` number of Rial everywhere here; conversion to the unit a gateway is told
//! to use happens only at that gateway's edge ([`money`]).

pub mod callback;
pub mod metered;
pub mod money;
pub mod sandbox;
pub mod zarinpal;

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use crate::config::{PaymentProvider, PaymentSettings};
pub use callback::{Callback, CallbackStatus};
pub use metered::Metered;

/// What checkout asks a gateway to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The amount to collect, in Rial.
    pub amount_rial: i64,
    /// The store's reference for the order, passed to the gateway as metadata so that the
    /// merchant panel shows it.
    pub order_id: String,
    /// Shown to the customer on the gateway's page.
    pub description: String,
    /// Absolute URL the gateway sends the customer back to.
    pub callback_url: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

/// Longest description Zarinpal accepts; the sandbox holds to the same rule so that a request
/// that works in development also works in production.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

impl PaymentRequest {
    /// The checks every gateway makes before it calls out, so that a bad request is reported
    /// as the caller's mistake instead of as a gateway failure.
    pub fn validate(&self) -> Result<(), PaymentError> {
        if self.amount_rial <= 0 {
            return Err(PaymentError::InvalidRequest(format!(
                "amount must be positive, got {} Rial",
                self.amount_rial
            )));
        }
        let description = self.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(PaymentError::InvalidRequest(format!(
                "description must have 1 to {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        match reqwest::Url::parse(&self.callback_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
            _ => Err(PaymentError::InvalidRequest(
                "callback_url must be an absolute http(s) URL".into(),
            )),
        }
    }
}

/// A session opened at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStart {
    /// The gateway's id for the session; the callback and the verification name it.
    pub authority: String,
    /// Where to send the customer's browser.
    pub redirect_url: String,
}

/// What the gateway settled for a paid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The gateway's reference for the transaction (Zarinpal's `ref_id`), shown to the
    /// customer and used to reconcile with the bank.
    pub reference_id: String,
    /// The card as the gateway masks it, e.g. `502229******5995`.
    pub card_pan_masked: Option<String>,
    /// The gateway's fee, in Rial.
    pub fee_rial: i64,
}

/// The gateway's answer to a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Paid, and this verification confirmed it (the first one to succeed).
    Paid(Settlement),
    /// Paid, and verified before: a repeated verification (a duplicated callback, a retry
    /// whose first answer was lost). The payment must be recorded only once.
    AlreadyVerified(Settlement),
    /// The gateway answered about this session that it is not paid: cancelled, unknown,
    /// not yet paid, or paid for another amount. `code` is the gateway's (Zarinpal's
    /// negative codes; the sandbox uses the same ones).
    Failed { code: i32, message: String },
}

impl Verification {
    /// The settlement, if money was taken.
    pub fn settlement(&self) -> Option<&Settlement> {
        match self {
            Verification::Paid(s) | Verification::AlreadyVerified(s) => Some(s),
            Verification::Failed { .. } => None,
        }
    }
}

/// Why a gateway call produced no answer about the payment. None of these says the payment
/// failed: the outcome is unknown, and a later verification may still find it paid.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The request was refused before reaching the gateway (amount, description, URL, an
    /// amount that cannot be expressed in the configured unit).
    #[error("invalid payment request: {0}")]
    InvalidRequest(String),
    /// The gateway refused the call itself rather than judging the payment: merchant id
    /// wrong or inactive, validation, too many attempts.
    #[error("the gateway refused the call: {code} {message}")]
    Rejected { code: i32, message: String },
    /// No usable answer in time: connection failure, timeout, or a 5xx, after the retries
    /// allowed.
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// The gateway answered something this client does not understand. Never read as paid.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
    /// The callback's query string is not one the gateway sends.
    #[error("invalid callback: {0}")]
    InvalidCallback(String),
    /// The sandbox's own storage failed.
    #[error("payment sandbox storage: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

/// What came of asking the gateway for a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refund {
    /// The money is on its way back; the gateway's reference for the refund.
    Refunded { reference: String },
    /// This gateway (or this merchant's contract with it) cannot refund through the API.
    Unsupported,
}

/// The only thing checkout knows about a payment gateway.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The provider's name as stored in `payments.provider`.
    fn provider(&self) -> &'static str;

    /// Opens a payment session for `request.amount_rial`.
    async fn request(&self, request: &PaymentRequest) -> Result<PaymentStart, PaymentError>;

    /// Asks the gateway whether the session `authority` was paid `amount_rial`.
    async fn verify(&self, authority: &str, amount_rial: i64)
        -> Result<Verification, PaymentError>;

    /// Gives a verified payment back to the customer's card. Idempotent: refunding a payment
    /// already refunded answers [`Refund::Refunded`] again. The default is
    /// [`Refund::Unsupported`]: the store then records a manual refund for staff to make.
    async fn refund(
        &self,
        _authority: &str,
        _amount_rial: i64,
        _reason: &str,
    ) -> Result<Refund, PaymentError> {
        Ok(Refund::Unsupported)
    }

    /// Reads the query string of the callback request (without the leading `?`). Both
    /// gateways use Zarinpal's form, `Authority=...&Status=OK|NOK`.
    fn parse_callback(&self, query: &str) -> Result<Callback, PaymentError> {
        Callback::from_query(query)
    }
}

/// The gateway `payment.*` selects, its calls counted and timed ([`metered`]). The sandbox
/// keeps its sessions in `db`.
pub fn gateway_from_settings(
    settings: &PaymentSettings,
    db: &DatabaseConnection,
) -> Result<Arc<dyn PaymentGateway>, PaymentError> {
    Ok(match settings.provider {
        PaymentProvider::Sandbox => Arc::new(Metered::new(sandbox::SandboxGateway::new(
            db.clone(),
            &settings.callback_base_url,
        ))),
        PaymentProvider::Zarinpal => Arc::new(Metered::new(zarinpal::ZarinpalGateway::new(
            zarinpal::ZarinpalConfig::from_settings(settings)?,
        )?)),
    })
}
