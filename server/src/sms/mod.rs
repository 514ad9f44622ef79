//! Sending SMS: one small trait and its two production implementations.
//!
//! - [`LogSms`], the embedded default: writes the message (and so the OTP code) to the log, so
//!   a newcomer can sign in in GraphiQL with nothing installed.
//! - [`Kavenegar`], the real provider: its `verify/lookup` template API for OTP codes and
//!   `sms/send` for free-text notifications.
//!
//! Tests talk to Kavenegar through a local simulator of its HTTP API (see
//! `server/tests/common/kavenegar.rs`); no mock lives here.

mod kavenegar;

use std::sync::Arc;
use std::time::Instant;

use secrecy::SecretString;
use serde::Deserialize;
use sync::settings::ConfigError;

pub use kavenegar::Kavenegar;

/// A failed send: the provider refused the message or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("SMS provider refused the message: status {status}: {message}")]
    Refused { status: i64, message: String },
    #[error("SMS provider unreachable or answered unreadably: {0}")]
    Transport(String),
}

/// Something that delivers text messages to Iranian mobile numbers (E.164 `+989...`).
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    /// Sends a one-time sign-in code.
    async fn send_otp(&self, phone_e164: &str, code: &str) -> Result<(), SmsError>;
    /// Sends a free-text notification (order paid, shipped, ...). `dedupe_id` is unique per
    /// message and the same on every retry of it: the provider drops a repeat (Kavenegar's
    /// `localid`), so a retry after a lost answer does not send the message twice.
    async fn send_text(&self, phone_e164: &str, text: &str, dedupe_id: i64)
        -> Result<(), SmsError>;
}

/// The embedded default: every message goes to the log instead of a phone.
#[derive(Debug, Default)]
pub struct LogSms;

#[async_trait::async_trait]
impl SmsProvider for LogSms {
    async fn send_otp(&self, phone_e164: &str, code: &str) -> Result<(), SmsError> {
        tracing::info!(phone = phone_e164, code, "OTP code (log SMS provider)");
        Ok(())
    }

    async fn send_text(
        &self,
        phone_e164: &str,
        text: &str,
        dedupe_id: i64,
    ) -> Result<(), SmsError> {
        tracing::info!(
            phone = phone_e164,
            text,
            dedupe_id,
            "SMS (log SMS provider)"
        );
        Ok(())
    }
}

/// Which provider `sms.provider` selects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    #[default]
    Log,
    Kavenegar,
}

/// `sms.*`: the SMS provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    pub provider: SmsProviderKind,
    /// Kavenegar API key (it is part of every request path).
    pub api_key: Option<SecretString>,
    /// Name of the Kavenegar verify template holding `%token%` (the OTP code).
    pub otp_template: String,
    /// Kavenegar sender line for notifications; empty uses the account's default line.
    pub sender: String,
    /// Kavenegar API root; changed only to point at a simulator.
    pub base_url: String,
    /// Time allowed for one call to the provider, in seconds.
    pub timeout_secs: u64,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            provider: SmsProviderKind::Log,
            api_key: None,
            otp_template: "verify".into(),
            sender: String::new(),
            base_url: "https://api.kavenegar.com".into(),
            timeout_secs: 10,
        }
    }
}

impl SmsSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.provider == SmsProviderKind::Kavenegar {
            if self.api_key.is_none() {
                return Err(ConfigError::invalid(
                    "sms.api_key",
                    "is required with sms.provider = \"kavenegar\"",
                ));
            }
            if self.otp_template.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "sms.otp_template",
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

/// The provider the settings select, its sends counted and timed (see [`Metered`]).
pub fn from_settings(settings: &SmsSettings) -> Arc<dyn SmsProvider> {
    match settings.provider {
        SmsProviderKind::Log => Arc::new(Metered::new("log", LogSms)),
        SmsProviderKind::Kavenegar => Arc::new(Metered::new("kavenegar", Kavenegar::new(settings))),
    }
}

/// Wraps a provider to record the outcome and duration of every send:
/// `sms_sent_total{provider, kind, outcome}` and `sms_provider_call_seconds{provider, kind,
/// outcome}`, `kind` being `otp` or `notification` and `outcome` `sent`, `rejected` (the
/// provider refused the message: credit, template, receptor) or `failed` (no usable answer).
/// Every label is one of a few fixed words, so the series stay few.
pub struct Metered<P> {
    provider: &'static str,
    inner: P,
}

impl<P: SmsProvider> Metered<P> {
    pub fn new(provider: &'static str, inner: P) -> Self {
        Metered { provider, inner }
    }

    fn record(&self, kind: &'static str, started: Instant, result: &Result<(), SmsError>) {
        let outcome = match result {
            Ok(()) => "sent",
            Err(SmsError::Refused { .. }) => "rejected",
            Err(SmsError::Transport(_)) => "failed",
        };
        let labels = [
            ("provider", self.provider),
            ("kind", kind),
            ("outcome", outcome),
        ];
        metrics::counter!("sms_sent_total", &labels).increment(1);
        metrics::histogram!("sms_provider_call_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
    }
}

#[async_trait::async_trait]
impl<P: SmsProvider> SmsProvider for Metered<P> {
    async fn send_otp(&self, phone_e164: &str, code: &str) -> Result<(), SmsError> {
        let started = Instant::now();
        let result = self.inner.send_otp(phone_e164, code).await;
        self.record("otp", started, &result);
        result
    }

    async fn send_text(
        &self,
        phone_e164: &str,
        text: &str,
        dedupe_id: i64,
    ) -> Result<(), SmsError> {
        let started = Instant::now();
        let result = self.inner.send_text(phone_e164, text, dedupe_id).await;
        self.record("notification", started, &result);
        result
    }
}
