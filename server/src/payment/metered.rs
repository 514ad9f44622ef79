//! Metrics of the calls to the payment gateway, recorded by a wrapper around whichever gateway
//! is configured so that every call (checkout's request, the callback's and the sweep's
//! verifications, the outbox's refunds) is measured in one place:
//!
//! - `payment_gateway_call_seconds{gateway, call, outcome}`: the time of each call, retries
//!   included. `call` is `request`, `verify` or `refund`; `outcome` is what the gateway
//!   answered (`ok` for a request; `paid`, `already_verified` or `not_paid` for a
//!   verification; `refunded` or `unsupported` for a refund) or, when it gave no answer about
//!   the payment, the error's kind (`invalid_request`, `rejected`, `unavailable`, `protocol`,
//!   `storage`).
//! - `payment_gateway_errors_total{gateway, call, kind}`: the calls that ended in an error,
//!   by that kind.
//!
//! Every label is one of a few fixed words, so the series stay few.

use std::time::Instant;

use async_trait::async_trait;

use super::{
    Callback, PaymentError, PaymentGateway, PaymentRequest, PaymentStart, Refund, Verification,
};

/// A gateway whose calls are counted and timed; everything else is the inner gateway's.
pub struct Metered<G> {
    inner: G,
}

impl<G: PaymentGateway> Metered<G> {
    pub fn new(inner: G) -> Self {
        Metered { inner }
    }

    fn record<T>(
        &self,
        call: &'static str,
        started: Instant,
        result: &Result<T, PaymentError>,
        answer: impl FnOnce(&T) -> &'static str,
    ) {
        let gateway = self.inner.provider();
        let outcome = match result {
            Ok(value) => answer(value),
            Err(error) => {
                let kind = error_kind(error);
                metrics::counter!(
                    "payment_gateway_errors_total",
                    "gateway" => gateway, "call" => call, "kind" => kind
                )
                .increment(1);
                kind
            }
        };
        metrics::histogram!(
            "payment_gateway_call_seconds",
            "gateway" => gateway, "call" => call, "outcome" => outcome
        )
        .record(started.elapsed().as_secs_f64());
    }
}

/// The `kind` label of an error.
pub fn error_kind(error: &PaymentError) -> &'static str {
    match error {
        PaymentError::InvalidRequest(_) => "invalid_request",
        PaymentError::Rejected { .. } => "rejected",
        PaymentError::Unavailable(_) => "unavailable",
        PaymentError::Protocol(_) => "protocol",
        PaymentError::InvalidCallback(_) => "invalid_callback",
        PaymentError::Storage(_) => "storage",
    }
}

#[async_trait]
impl<G: PaymentGateway> PaymentGateway for Metered<G> {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    async fn request(&self, request: &PaymentRequest) -> Result<PaymentStart, PaymentError> {
        let started = Instant::now();
        let result = self.inner.request(request).await;
        self.record("request", started, &result, |_| "ok");
        result
    }

    async fn verify(
        &self,
        authority: &str,
        amount_rial: i64,
    ) -> Result<Verification, PaymentError> {
        let started = Instant::now();
        let result = self.inner.verify(authority, amount_rial).await;
        self.record(
            "verify",
            started,
            &result,
            |verification| match verification {
                Verification::Paid(_) => "paid",
                Verification::AlreadyVerified(_) => "already_verified",
                Verification::Failed { .. } => "not_paid",
            },
        );
        result
    }

    async fn refund(
        &self,
        authority: &str,
        amount_rial: i64,
        reason: &str,
    ) -> Result<Refund, PaymentError> {
        let started = Instant::now();
        let result = self.inner.refund(authority, amount_rial, reason).await;
        self.record("refund", started, &result, |refund| match refund {
            Refund::Refunded { .. } => "refunded",
            Refund::Unsupported => "unsupported",
        });
        result
    }

    fn parse_callback(&self, query: &str) -> Result<Callback, PaymentError> {
        self.inner.parse_callback(query)
    }
}
