//! Customer sign-in: OTP challenges, database-backed rate limits, JWT access tokens, refresh
//! token families, and the caller's identity on each request.
//!
//! Each submodule owns one concern; the resolvers in `graphql/shop/account.rs` only parse
//! input and call these functions.

pub mod caller;
pub mod client_ip;
pub mod jwt;
pub mod limiter;
pub mod otp;
pub mod refresh;
mod settings;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::sms::SmsProvider;

pub use caller::Caller;
pub use jwt::{AccessClaims, JwtKeys};
pub use settings::{JwtKey, JwtSettings, OtpSettings};

/// `customers.status` of an account staff have blocked.
pub const BLOCKED: &str = "blocked";

/// Everything sign-in needs, built once at start-up and shared by every request.
pub struct Auth {
    pub jwt: JwtKeys,
    pub otp: OtpSettings,
    pub refresh_ttl: chrono::Duration,
    pub sms: Arc<dyn SmsProvider>,
}

impl Auth {
    pub fn new(jwt: &JwtSettings, otp: &OtpSettings, sms: Arc<dyn SmsProvider>) -> Self {
        if jwt.active_kid.as_deref() == Some(settings::EPHEMERAL_KID) {
            tracing::warn!(
                "no jwt.keys configured: signing with a random key; tokens will not survive a restart"
            );
        }
        Auth {
            jwt: JwtKeys::from_settings(jwt),
            otp: otp.clone(),
            refresh_ttl: chrono::Duration::seconds(jwt.refresh_ttl_secs as i64),
            sms,
        }
    }
}

/// The signed-in customer, loaded fresh on every request so that a block by staff takes
/// effect at the caller's next request rather than when the access token expires.
pub async fn current_customer(
    db: &DatabaseConnection,
    caller: &Caller,
) -> ApiResult<entity::customers::Model> {
    let id = caller.customer_id()?;
    let customer = entity::customers::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    ensure_not_blocked(&customer)?;
    Ok(customer)
}

pub fn ensure_not_blocked(customer: &entity::customers::Model) -> ApiResult<()> {
    if customer.status == BLOCKED {
        Err(ApiError::Forbidden)
    } else {
        Ok(())
    }
}

/// A fresh random id for new rows (time-ordered, so indexes stay compact).
pub(crate) fn new_id() -> Uuid {
    Uuid::now_v7()
}
