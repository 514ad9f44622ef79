//! `GET /payments/callback?Authority=...&Status=OK|NOK`: where the gateway sends the
//! customer's browser back. The rules are in `crate::commerce::payments`; this only parses the
//! query, calls them and answers the browser: a `303` to `payment.result_url` with
//! `?order=<id>&status=paid|failed|pending`, or a minimal page when that is unset.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sea_orm::DatabaseConnection;

use crate::commerce::payments::{self, CallbackOutcome, PaymentStatus, Payments, CALLBACK_PATH};

#[derive(Clone)]
struct CallbackState {
    db: DatabaseConnection,
    payments: Arc<Payments>,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    db: DatabaseConnection,
    payments: Arc<Payments>,
) -> Router<S> {
    Router::new()
        .route(CALLBACK_PATH, get(callback))
        .with_state(CallbackState { db, payments })
}

async fn callback(State(state): State<CallbackState>, RawQuery(query): RawQuery) -> Response {
    let gateway = state.payments.gateway.as_ref();
    let callback = match gateway.parse_callback(query.as_deref().unwrap_or_default()) {
        Ok(callback) => callback,
        Err(err) => {
            return page(
                StatusCode::BAD_REQUEST,
                &format!("This is not a payment callback ({err})."),
            )
        }
    };
    let events = &state.payments.order_events;
    match payments::handle_callback(
        &state.db,
        gateway,
        events,
        &callback.authority,
        callback.status,
    )
    .await
    {
        Ok(Some(outcome)) => answer(state.payments.result_url.as_deref(), outcome),
        Ok(None) => page(StatusCode::NOT_FOUND, "No such payment."),
        Err(err) => {
            tracing::error!(error = ?err, "payment callback");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; your payment will be checked shortly.",
            )
        }
    }
}

fn answer(result_url: Option<&str>, outcome: CallbackOutcome) -> Response {
    let status = outcome.status.result();
    if let Some(Ok(mut url)) = result_url.map(reqwest::Url::parse) {
        url.query_pairs_mut()
            .append_pair("order", &outcome.order_number.to_string())
            .append_pair("status", status);
        return (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response();
    }
    let text = match outcome.status {
        PaymentStatus::Paid | PaymentStatus::Refunded => "Your payment was received. Thank you!",
        PaymentStatus::Failed => "Your payment did not go through; you can try again.",
        PaymentStatus::Started => "We are checking your payment; the order will update shortly.",
    };
    page(
        StatusCode::OK,
        &format!("{text} (order {}, {status})", outcome.order_number),
    )
}

fn page(status: StatusCode, text: &str) -> Response {
    let text = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Payment</title></head><body><p>{text}</p></body></html>"
        )),
    )
        .into_response()
}
