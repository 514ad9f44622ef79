//! Paying for an order on the shop schema: `startPayment` and an order's `payments`. The rules
//! are in `crate::commerce::payments`; every lookup is scoped to the caller.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::payments;

use crate::auth::Caller;
use crate::commerce::payments::{self as rules, PaymentStatus as Status};
use crate::error::ApiResult;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PaymentStatus {
    /// Sent to the gateway; not settled yet.
    Started,
    /// Verified with the gateway.
    Paid,
    /// Cancelled, refused by the gateway, or not payable any more.
    Failed,
    /// Paid, then given back to the card (the order was cancelled or refunded).
    Refunded,
}

/// One attempt to pay an order at the payment gateway.
pub struct Payment(pub payments::Model);

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `sandbox` or `zarinpal`.
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    async fn amount(&self) -> Rial {
        Rial(self.0.amount)
    }
    async fn status(&self) -> ApiResult<PaymentStatus> {
        Ok(match rules::status_of(&self.0)? {
            Status::Started => PaymentStatus::Started,
            Status::Paid => PaymentStatus::Paid,
            Status::Failed => PaymentStatus::Failed,
            Status::Refunded => PaymentStatus::Refunded,
        })
    }
    /// The gateway's settlement reference, once paid.
    async fn reference_id(&self) -> Option<&str> {
        self.0.reference_id.as_deref()
    }
    /// The card paid with, as the gateway masks it.
    async fn card_pan_masked(&self) -> Option<&str> {
        self.0.card_pan_masked.as_deref()
    }
    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.verified_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Where to send the customer to pay.
#[derive(SimpleObject)]
pub struct PaymentStart {
    pub payment_id: ID,
    /// The gateway's payment page.
    pub redirect_url: String,
}

/// `startPayment` calls one customer may make per hour.
const START_PAYMENTS_PER_HOUR: u32 = 20;

#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Opens a payment at the gateway for one of the signed-in customer's orders awaiting
    /// payment, for its grand total, and returns the gateway page to send the customer to.
    /// Each call opens a fresh attempt. Errors: `NOT_FOUND` (not the caller's order),
    /// `CONFLICT` (not `PENDING_PAYMENT`), `RATE_LIMITED` beyond 20 calls per hour per
    /// customer (each call opens a request at the gateway; counted across replicas).
    async fn start_payment(
        &self,
        ctx: &Context<'_>,
        order_number: String,
    ) -> ApiResult<PaymentStart> {
        let customer_id = ctx
            .data_opt::<Caller>()
            .unwrap_or(&Caller::Anonymous)
            .customer_id()?;
        let services = ctx.data_unchecked::<Services>();
        // Counted before the order is looked up, so guessing order numbers costs budget too.
        crate::auth::limiter::hit(
            &services.db,
            crate::auth::limiter::Kind::PaymentStartCustomer,
            &customer_id.to_string(),
            START_PAYMENTS_PER_HOUR,
            chrono::Duration::hours(1),
        )
        .await?;
        let order = crate::commerce::orders::find_by_number_for_customer(
            &services.db,
            customer_id,
            &order_number,
        )
        .await?;
        let started = rules::start(&services.db, &services.payments, customer_id, order.id).await?;
        Ok(PaymentStart {
            payment_id: ID(started.payment.id.to_string()),
            redirect_url: started.redirect_url,
        })
    }
}
