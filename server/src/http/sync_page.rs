//! `GET /admin/sync`: the live sync page for operators. One HTML file with its script and
//! style inline (no build step, nothing fetched from elsewhere): staff sign in with the admin
//! `signIn` mutation (the token is kept in `sessionStorage`), then the page subscribes to
//! `syncStatusChanged` over `graphql-transport-ws` on `/admin/graphql` and shows each
//! entity's checkpoint, lag and last run, the running sync's progress and the open dead
//! letters, with buttons for `replayDeadLetters` and `triggerSync`.
//!
//! Served with a Content-Security-Policy that allows only this origin (and this page's inline
//! script and style): no other script, style, image or connection source.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("sync_page.html");

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/admin/sync", get(page))
}

/// The page's Content-Security-Policy. `connect-src` names this host's WebSocket URLs as
/// well as `'self'`, for browsers whose `'self'` does not cover `ws:`/`wss:`.
fn policy(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    let sockets = host
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline'; \
         style-src 'self' 'unsafe-inline'; connect-src 'self'{sockets}; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

async fn page(headers: HeaderMap) -> Response {
    let csp = HeaderValue::from_str(&policy(&headers))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_only_this_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let csp = policy(&headers);
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(csp.starts_with("default-src 'self'; script-src 'self' 'unsafe-inline';"));
        // A Host header that could smuggle another source is ignored.
        headers.insert(
            header::HOST,
            HeaderValue::from_static("a.example b.example"),
        );
        assert!(policy(&headers).contains("connect-src 'self';"));
    }
}
