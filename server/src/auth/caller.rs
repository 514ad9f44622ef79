//! Who is calling: decided once per request from `Authorization: Bearer <jwt>`.

use axum::http::{header, HeaderMap};
use uuid::Uuid;

use super::jwt::JwtKeys;
use crate::error::{ApiError, ApiResult};

/// The caller of one shop request, put into the GraphQL request data.
///
/// An invalid or expired token is remembered as [`Caller::Invalid`] rather than refused at
/// the HTTP layer: anonymous reads (the catalogue) keep working, and only fields that need a
/// customer answer `UNAUTHENTICATED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Customer { id: Uuid },
    Invalid,
}

impl Caller {
    /// Reads the bearer token, if any, and verifies it against the shop audience.
    pub fn from_headers(headers: &HeaderMap, keys: &JwtKeys) -> Caller {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Caller::Anonymous;
        };
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
        else {
            return Caller::Invalid;
        };
        match keys.verify(token.trim()) {
            Ok(claims) => Caller::Customer { id: claims.sub },
            Err(err) => {
                tracing::debug!(error = %err, "refused access token");
                Caller::Invalid
            }
        }
    }

    /// The customer's id, or `UNAUTHENTICATED`.
    pub fn customer_id(&self) -> ApiResult<Uuid> {
        match self {
            Caller::Customer { id } => Ok(*id),
            Caller::Anonymous | Caller::Invalid => Err(ApiError::Unauthenticated),
        }
    }
}
