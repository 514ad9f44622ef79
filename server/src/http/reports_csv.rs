//! `GET /admin/reports/{report}.csv?from=YYYY-MM-DD&to=YYYY-MM-DD[&bucket=day|week|month]
//! [&limit=N][&by=revenue|units]`: a report as a CSV download, for staff holding the
//! permission `reports`, with `Authorization: Bearer <staff access token>`.
//!
//! Answers: 200 `text/csv; charset=utf-8` with `Content-Disposition: attachment`; 401 without
//! a valid staff token (a customer's token included) or for a disabled account; 403 without
//! the permission; 404 for an unknown report; 400 with a JSON body
//! `{"error": {"code": "BAD_USER_INPUT", "field": ..., "message": ...}}` for bad parameters.
//! The figures are those of the admin schema's report queries (`crate::reports`).
//! `GET /admin/reports/mahak-reconciliation.csv?from=&to=` is the admin schema's
//! `mahakReconciliation` (see `crate::reconcile::report`), with the same permission.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::auth::JwtKeys;
use crate::error::ApiError;
use crate::graphql::admin::access::StaffIdentity;
use crate::reports::csv::{export, ExportQuery, Report};
use crate::staff::Permission;

#[derive(Clone)]
pub struct CsvState {
    pub db: DatabaseConnection,
    /// Keys of staff (admin) access tokens.
    pub keys: Arc<JwtKeys>,
    /// For `mahak-reconciliation.csv` (see `crate::reconcile::report`).
    pub reconcile: crate::reconcile::ReconcileSettings,
}

/// The export route, verifying staff tokens with the admin keys of `jwt`.
pub fn router(
    db: DatabaseConnection,
    jwt: &crate::auth::JwtSettings,
    reconcile: &crate::reconcile::ReconcileSettings,
) -> Router {
    let state = CsvState {
        db,
        keys: Arc::new(JwtKeys::admin_from_settings(jwt)),
        reconcile: reconcile.clone(),
    };
    Router::new()
        .route("/admin/reports/{file}", get(download))
        .with_state(state)
}

/// The error as an HTTP answer with the API's code (internal details only logged).
fn error_response(err: ApiError) -> Response {
    let status = match &err {
        ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden => StatusCode::FORBIDDEN,
        ApiError::BadUserInput { .. } => StatusCode::BAD_REQUEST,
        ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
        ApiError::Conflict { .. } | ApiError::CreditRefused { .. } => StatusCode::CONFLICT,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let code = err.code();
    let (message, field) = match err {
        ApiError::BadUserInput { message, field } => (message, field),
        ApiError::NotFound { what } => (format!("{what} not found"), None),
        ApiError::Unauthenticated => ("authentication required".into(), None),
        ApiError::Forbidden => ("not allowed".into(), None),
        ApiError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            ("internal error".into(), None)
        }
        other => (other.code().to_lowercase(), None),
    };
    let mut response = (
        status,
        Json(json!({ "error": { "code": code, "field": field, "message": message } })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The active staff member the bearer token stands for, holding `permission`: 401 otherwise
/// (no token, a token that does not verify as staff, a disabled or removed account), 403
/// without the permission. The same checks as the admin schema's `access::require`.
async fn require_staff(
    state: &CsvState,
    headers: &HeaderMap,
    permission: Permission,
) -> Result<(), ApiError> {
    let identity = StaffIdentity::from_headers(headers, &state.keys);
    crate::graphql::admin::access::authorize(&state.db, identity, Some(permission))
        .await
        .map(drop)
}

async fn download(
    State(state): State<CsvState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(err) = require_staff(&state, &headers, Permission::Reports).await {
        return error_response(err);
    }
    if file == "mahak-reconciliation.csv" {
        let Ok(Query(query)) = query else {
            return error_response(ApiError::bad_input("from", "bad query string"));
        };
        let csv = crate::reconcile::report::csv(
            &state.db,
            query.from.as_deref(),
            query.to.as_deref(),
            &state.reconcile,
        );
        return match csv.await {
            Ok(csv) => csv_response(csv),
            Err(err) => error_response(err),
        };
    }
    let Some(report) = file.strip_suffix(".csv").and_then(Report::parse) else {
        return error_response(ApiError::not_found("report"));
    };
    let Ok(Query(query)) = query else {
        return error_response(ApiError::bad_input("limit", "limit must be a whole number"));
    };
    match export(&state.db, report, &query).await {
        Ok(csv) => csv_response(csv),
        Err(err) => error_response(err),
    }
}

fn csv_response(csv: crate::reports::csv::CsvFile) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", csv.filename);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        csv.body,
    )
        .into_response()
}
