//! Browser-facing protections: the CORS allow-list (`http.cors_allowed_origins`) and the
//! security headers every response carries.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::HttpSettings;

/// The CORS layer for the GraphQL endpoints and `/media`, or `None` when no origin is allowed
/// (the default): then no response carries CORS headers and browsers keep to same-origin.
///
/// Only listed origins get `Access-Control-Allow-Origin`, on preflights and on actual
/// requests; the others get no CORS headers, so their pages cannot read the answer (and
/// their non-simple requests never get past the preflight). Credentials (cookies) are not
/// allowed: clients authenticate with the `Authorization` header.
pub fn cors(settings: &HttpSettings) -> Option<CorsLayer> {
    if settings.cors_allowed_origins.is_empty() {
        return None;
    }
    let origins = settings
        .cors_allowed_origins
        .iter()
        .map(|origin| HeaderValue::from_str(origin).expect("validated in config"));
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            // GET/POST: GraphQL; PUT: uploads to the local store's signed `/media` URLs.
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                // The guest cart's token (`CartToken::HEADER` in `graphql::shop::cart`).
                HeaderName::from_static("x-cart-token"),
                super::REQUEST_ID,
            ])
            .expose_headers([super::REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// Headers added to every response (those a handler set itself are kept).
#[derive(Clone)]
pub struct SecurityHeaders {
    hsts: bool,
}

impl SecurityHeaders {
    pub fn new(settings: &HttpSettings) -> Self {
        SecurityHeaders {
            hsts: settings.hsts,
        }
    }
}

/// `frame-ancestors` only: GraphiQL loads its scripts and styles from unpkg.com, so no
/// `script-src`/`default-src` is imposed here.
const CSP: &str = "frame-ancestors 'none'";
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub async fn headers(
    State(config): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::CONTENT_SECURITY_POLICY, CSP);
    if config.hsts {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}
