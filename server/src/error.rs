//! The one error type of the API and its mapping to GraphQL errors.
//!
//! Every resolver returns `ApiResult<T>`. Each variant maps to a stable `extensions.code` that
//! clients can switch on. `Internal` carries the real cause, which is logged (inside the
//! request's span, so with its request id) and never sent to the client.

use std::sync::Arc;

use async_graphql::ErrorExtensions;

pub type ApiResult<T> = Result<T, ApiError>;

/// Deliberately not `Display`: async-graphql converts any `Display` type into an error that
/// shows its message, which would leak internal details. Conversion goes through `From` below.
#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthenticated,
    Forbidden,
    BadUserInput {
        message: String,
        field: Option<&'static str>,
    },
    NotFound {
        what: &'static str,
    },
    Conflict {
        message: String,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    /// An order may not be charged to the customer's Mahak account; `reason` says why, for
    /// the customer (see `crate::account_credit`).
    CreditRefused {
        reason: String,
    },
    /// Shared so the error is `Clone`, which async-graphql requires of resolver errors.
    Internal(Arc<anyhow::Error>),
}

impl ApiError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        ApiError::NotFound { what }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(Arc::new(err.into()))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::BadUserInput { .. } => "BAD_USER_INPUT",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::CreditRefused { .. } => "CREDIT_REFUSED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let code = err.code();
        let (message, field, retry_after) = match err {
            ApiError::Unauthenticated => ("authentication required".to_string(), None, None),
            ApiError::Forbidden => ("not allowed".to_string(), None, None),
            ApiError::BadUserInput { message, field } => (message, field, None),
            ApiError::NotFound { what } => (format!("{what} not found"), None, None),
            ApiError::Conflict { message } => (message, None, None),
            ApiError::RateLimited { retry_after_secs } => (
                "too many attempts, try again later".to_string(),
                None,
                Some(retry_after_secs),
            ),
            ApiError::CreditRefused { reason } => (reason, None, None),
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                ("internal error".to_string(), None, None)
            }
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(field) = field {
                ext.set("field", field);
            }
            if let Some(secs) = retry_after {
                ext.set("retryAfterSeconds", secs);
            }
        })
    }
}

/// Codes given to errors that async-graphql raises itself (parse, validation, coercion),
/// which carry no code of ours.
pub const REQUEST_ERROR_CODE: &str = "BAD_USER_INPUT";
