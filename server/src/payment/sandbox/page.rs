//! The sandbox gateway's page: what the customer sees instead of a bank's payment page.
//!
//! `GET {PAGE_PATH}/{authority}` shows the amount and two buttons. They are forms that POST
//! (`.../pay`, `.../cancel`) rather than links, so that a link prefetcher or a crawler cannot
//! pay an order. Each answers `303 See Other` to the session's callback URL with
//! `Authority=...&Status=OK|NOK`, as Zarinpal does. Pressing a button again, or the other
//! button after the first, changes nothing: the session's first decision stands and the
//! redirect reports it.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sea_orm::DatabaseConnection;

use super::{find, state_of, transition, SessionState, PAGE_PATH};
use crate::payment::PaymentError;

#[derive(Clone)]
struct PageState {
    db: DatabaseConnection,
}

/// The page's routes, to be merged into the server's router (whatever its state type).
pub fn router<S: Clone + Send + Sync + 'static>(db: DatabaseConnection) -> Router<S> {
    Router::new()
        .route(&format!("{PAGE_PATH}/{{authority}}"), get(show))
        .route(&format!("{PAGE_PATH}/{{authority}}/pay"), post(pay))
        .route(&format!("{PAGE_PATH}/{{authority}}/cancel"), post(cancel))
        .with_state(PageState { db })
}

async fn show(State(state): State<PageState>, Path(authority): Path<String>) -> Response {
    let session = match find(&state.db, &authority).await {
        Ok(Some(session)) => session,
        Ok(None) => return not_found(),
        Err(e) => return internal(&e),
    };
    let status = match state_of(&session) {
        Ok(status) => status,
        Err(e) => return internal(&e),
    };
    let authority = escape(&session.authority);
    let body = match status {
        SessionState::Pending => format!(
            r#"<form method="post" action="{PAGE_PATH}/{authority}/pay"><button type="submit" name="pay">Pay</button></form>
<form method="post" action="{PAGE_PATH}/{authority}/cancel"><button type="submit" name="cancel">Cancel</button></form>"#
        ),
        decided => format!(
            r#"<p>This payment is {}.</p><p><a href="{}">Return to the shop</a></p>"#,
            decided.as_str(),
            escape(&callback_url(
                &session.callback_url,
                &session.authority,
                decided
            ))
        ),
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox payment</title></head>
<body>
<h1>Sandbox payment gateway</h1>
<p>No money moves here: this page stands in for the bank's.</p>
<p>Amount: <strong>{amount} Rial</strong></p>
<p>{description}</p>
{body}
</body></html>"#,
        amount = session.amount,
        description = escape(&session.description),
    ))
    .into_response()
}

async fn pay(state: State<PageState>, authority: Path<String>) -> Response {
    decide(state, authority, SessionState::Paid).await
}

async fn cancel(state: State<PageState>, authority: Path<String>) -> Response {
    decide(state, authority, SessionState::Cancelled).await
}

async fn decide(
    State(state): State<PageState>,
    Path(authority): Path<String>,
    to: SessionState,
) -> Response {
    let reference_id = (to == SessionState::Paid).then(new_reference_id);
    let changed = transition(
        &state.db,
        &authority,
        SessionState::Pending,
        to,
        reference_id,
    );
    if let Err(e) = changed.await {
        return internal(&e);
    }
    // Whether this press decided or an earlier one did, report what the session holds now.
    let session = match find(&state.db, &authority).await {
        Ok(Some(session)) => session,
        Ok(None) => return not_found(),
        Err(e) => return internal(&e),
    };
    match state_of(&session) {
        Ok(decided) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                callback_url(&session.callback_url, &session.authority, decided),
            )],
        )
            .into_response(),
        Err(e) => internal(&e),
    }
}

/// The callback URL with the gateway's query added (`Status=OK` once paid).
fn callback_url(callback: &str, authority: &str, state: SessionState) -> String {
    let status = match state {
        SessionState::Paid | SessionState::Verified | SessionState::Refunded => "OK",
        SessionState::Pending | SessionState::Cancelled => "NOK",
    };
    match reqwest::Url::parse(callback) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("Authority", authority)
                .append_pair("Status", status);
            url.into()
        }
        // Checked when the session was opened; kept readable should it ever fail.
        Err(_) => format!("{callback}?Authority={authority}&Status={status}"),
    }
}

/// A positive 12-digit reference, like a bank's.
fn new_reference_id() -> i64 {
    let random = uuid::Uuid::new_v4().as_u128() % 900_000_000_000;
    // Fits: below 10^12.
    i64::try_from(random).unwrap_or(0) + 100_000_000_000
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><p>No such sandbox payment.</p>"),
    )
        .into_response()
}

fn internal(error: &PaymentError) -> Response {
    tracing::error!(%error, "sandbox payment page");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
