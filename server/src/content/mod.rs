//! Shop content the staff manage: content pages (Markdown), banners and promotions (coupon
//! rules the cart applies, see `crate::commerce::cart::check_promotion`).
//!
//! Every write takes the acting staff member's id and records an audit entry
//! (`crate::staff::audit::record`) in the same transaction as the change. Inputs are checked
//! before anything is written: a bad value is a `BAD_USER_INPUT` naming its field, a taken
//! slug or code a `CONFLICT`, an unknown id `NOT_FOUND`.

pub mod banners;
pub mod markdown;
pub mod pages;
pub mod promotions;

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Writes an audit entry for a change to `target_type` `target_id`.
async fn audit<C: sea_orm::ConnectionTrait, T: Serialize>(
    conn: &C,
    staff_id: Uuid,
    action: &str,
    target_type: &str,
    target_id: Uuid,
    before: Option<&T>,
    after: Option<&T>,
) -> ApiResult<()> {
    let json = |value: Option<&T>| -> ApiResult<Option<serde_json::Value>> {
        value
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)
    };
    crate::staff::audit::record(
        conn,
        staff_id,
        action,
        target_type,
        &target_id.to_string(),
        json(before)?,
        json(after)?,
    )
    .await?;
    Ok(())
}

/// A unique-constraint violation as `CONFLICT` with `message`; other errors as they are.
fn conflict_on_unique(err: DbErr, message: impl FnOnce() -> String) -> ApiError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        ApiError::Conflict { message: message() }
    } else {
        ApiError::from(err)
    }
}

/// Trimmed text of 1..=`max` characters, or `BAD_USER_INPUT` on `field`.
fn required_text(field: &'static str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(value.to_string())
}

/// A window `[starts_at, ends_at)` must end after it starts (`BAD_USER_INPUT` on `endsAt`).
fn check_window(starts_at: Option<DateTime<Utc>>, ends_at: Option<DateTime<Utc>>) -> ApiResult<()> {
    if let (Some(start), Some(end)) = (starts_at, ends_at) {
        if end <= start {
            return Err(ApiError::bad_input(
                "endsAt",
                "the end must come after the start",
            ));
        }
    }
    Ok(())
}
