//! Sliding-window rate limits counted in the database (`auth_attempts`), so that every replica
//! of the server shares one budget per key.
//!
//! Each attempt first inserts its row and only then counts the rows in the window. Two
//! concurrent attempts therefore each see the other: under a race both may be refused, never
//! both allowed beyond the limit. Attempts are counted one by one as resolvers run, so neither
//! aliases in one operation nor operations in one batch can multiply the budget.

use chrono::{DateTime, Duration, Utc};
use entity::auth_attempts::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Longer than the longest window any limit uses.
const RETENTION: Duration = Duration::days(1);

/// What a limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// OTP codes requested from one IP address.
    OtpRequestIp,
    /// Codes sent to one phone (the resend throttle).
    OtpSendPhone,
    /// OTP verifications tried from one IP address.
    OtpVerifyIp,
    /// Wrong codes entered for one phone.
    OtpFailPhone,
    /// Failed staff sign-ins from one IP address.
    StaffSignInIp,
    /// Failed staff sign-ins for one email address.
    StaffSignInEmail,
    /// Orders charged to a customer's Mahak account (`payOnAccount`), per customer.
    PayOnAccountCustomer,
    /// Payments opened at the gateway (`startPayment`), per customer.
    PaymentStartCustomer,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::OtpRequestIp => "otp_request_ip",
            Kind::OtpSendPhone => "otp_send_phone",
            Kind::OtpVerifyIp => "otp_verify_ip",
            Kind::OtpFailPhone => "otp_fail_phone",
            Kind::StaffSignInIp => "staff_sign_in_ip",
            Kind::StaffSignInEmail => "staff_sign_in_email",
            Kind::PayOnAccountCustomer => "pay_on_account_customer",
            Kind::PaymentStartCustomer => "payment_start_customer",
        }
    }
}

/// Records one attempt for `key` and refuses it (`RATE_LIMITED`, the row removed again) when
/// more than `max` attempts fall within `window`. The returned id lets a caller take the
/// attempt back with [`forgive`] (a right OTP code is not a failure).
pub async fn hit(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
    max: u32,
    window: Duration,
) -> ApiResult<Uuid> {
    let now = Utc::now();
    let id = super::new_id();
    auth_attempts::ActiveModel {
        id: Set(id),
        kind: Set(kind.as_str().to_string()),
        key: Set(key.to_string()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    let in_window = || {
        Entity::find()
            .filter(Column::Kind.eq(kind.as_str()))
            .filter(Column::Key.eq(key))
            .filter(Column::CreatedAt.gt(now - window))
    };
    prune(db, now).await?;
    let count = in_window().count(db).await?;
    if count <= u64::from(max) {
        return Ok(id);
    }
    forgive(db, id).await?;
    // The attempt becomes possible once enough of the others have left the window.
    let others = count - 1;
    let pivot: Option<DateTime<Utc>> = in_window()
        .filter(Column::Id.ne(id))
        .order_by_asc(Column::CreatedAt)
        .offset(others.saturating_sub(u64::from(max)))
        .select_only()
        .column(Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?;
    let retry_after = pivot.map_or(window, |at| at + window - now);
    Err(ApiError::RateLimited {
        retry_after_secs: retry_after.num_seconds().max(1) as u64,
    })
}

/// Now and then (about one attempt in 64) removes rows older than any window, so the table
/// stays small without a separate cleanup job.
async fn prune(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<()> {
    if rand::random::<u8>() % 64 == 0 {
        Entity::delete_many()
            .filter(Column::CreatedAt.lt(now - RETENTION))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Takes an attempt back.
pub async fn forgive(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<()> {
    Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
