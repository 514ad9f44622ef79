//! One-time sign-in codes sent by SMS.
//!
//! Rules (configurable in `otp.*`): a code lives `ttl_secs` (2 minutes); only the newest code
//! of a phone is valid; each code allows `max_attempts` (5) tries, and a phone allows that many
//! wrong codes per hour, across codes; a phone gets a new code at most every `resend_secs`
//! (60 s); each IP address has an hourly budget of requests and of verifications.
//!
//! Codes are stored as HMAC-SHA256 keyed with a server-side pepper over the challenge id, phone
//! and code: a 6-digit code has a million values, so a plain hash of a leaked table would be
//! reversed at once; without the pepper it cannot be. Comparison is constant-time
//! (`Mac::verify_slice`).
//!
//! A try on a code is reserved atomically (`failed_attempts + 1` under a `< max` guard) before
//! the code is compared, so parallel requests cannot overshoot the per-code limit either.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use entity::{customers, otp_challenges};
use hmac::{Hmac, Mac};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use secrecy::ExposeSecret;
use sha2::Sha256;
use uuid::Uuid;

use super::limiter::{self, Kind};
use super::{ensure_not_blocked, Auth};
use crate::error::{ApiError, ApiResult};

const HOUR: Duration = Duration::hours(1);

/// The answer to a code request.
#[derive(Debug, Clone)]
pub struct OtpSent {
    pub sent_at: DateTime<Utc>,
    pub retry_after_secs: u64,
    pub expires_in_secs: u64,
}

fn ip_key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

fn mac(auth: &Auth, challenge: Uuid, phone: &str) -> Hmac<Sha256> {
    let pepper = auth
        .otp
        .pepper
        .as_ref()
        .map(|p| p.expose_secret().as_bytes().to_vec())
        .unwrap_or_default();
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(&pepper).expect("HMAC takes any key length");
    mac.update(challenge.as_bytes());
    mac.update(phone.as_bytes());
    mac.update(b":");
    mac
}

fn hash_code(auth: &Auth, challenge: Uuid, phone: &str, code: &str) -> String {
    let mut mac = mac(auth, challenge, phone);
    mac.update(code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn code_matches(auth: &Auth, challenge: &otp_challenges::Model, code: &str) -> bool {
    let Ok(stored) = hex::decode(&challenge.code_hash) else {
        return false;
    };
    let mut mac = mac(auth, challenge.id, &challenge.phone);
    mac.update(code.as_bytes());
    mac.verify_slice(&stored).is_ok()
}

fn new_code(length: u32) -> String {
    let bound = 10u32.pow(length);
    let value = rand::rng().random_range(0..bound);
    format!("{value:0width$}", width = length as usize)
}

/// Normalizes what the customer typed: Persian and Arabic-Indic digits become ASCII.
pub fn normalize_code(code: &str) -> String {
    code.trim()
        .chars()
        .map(|c| match c {
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            other => other,
        })
        .collect()
}

async fn customer_by_phone(
    db: &DatabaseConnection,
    phone: &str,
) -> ApiResult<Option<customers::Model>> {
    Ok(customers::Entity::find()
        .filter(customers::Column::Phone.eq(phone))
        .one(db)
        .await?)
}

/// Sends a new code to `phone` (E.164), making every earlier code of the phone invalid.
pub async fn request(
    db: &DatabaseConnection,
    auth: &Auth,
    phone: &str,
    ip: Option<IpAddr>,
) -> ApiResult<OtpSent> {
    if let Some(customer) = customer_by_phone(db, phone).await? {
        ensure_not_blocked(&customer)?;
    }
    let settings = &auth.otp;
    limiter::hit(
        db,
        Kind::OtpRequestIp,
        &ip_key(ip),
        settings.ip_requests_per_hour,
        HOUR,
    )
    .await?;
    let throttle = if settings.resend_secs > 0 {
        Some(
            limiter::hit(
                db,
                Kind::OtpSendPhone,
                phone,
                1,
                Duration::seconds(settings.resend_secs as i64),
            )
            .await?,
        )
    } else {
        None
    };

    let now = Utc::now();
    let id = super::new_id();
    let code = new_code(settings.code_length);
    otp_challenges::ActiveModel {
        id: Set(id),
        phone: Set(phone.to_string()),
        code_hash: Set(hash_code(auth, id, phone, &code)),
        failed_attempts: Set(0),
        requested_ip: Set(ip.map(|ip| ip.to_string())),
        expires_at: Set(now + Duration::seconds(settings.ttl_secs as i64)),
        consumed_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;

    if let Err(err) = auth.sms.send_otp(phone, &code).await {
        // Nothing was delivered: undo, so the customer may ask again at once.
        otp_challenges::Entity::delete_by_id(id).exec(db).await?;
        if let Some(throttle) = throttle {
            limiter::forgive(db, throttle).await?;
        }
        return Err(ApiError::internal(err));
    }
    Ok(OtpSent {
        sent_at: now,
        retry_after_secs: settings.resend_secs,
        expires_in_secs: settings.ttl_secs,
    })
}

fn wrong_code() -> ApiError {
    ApiError::bad_input("code", "the code is wrong")
}

fn no_code() -> ApiError {
    ApiError::bad_input(
        "code",
        "the code has expired or was not requested; request a new one",
    )
}

/// Checks `code` against the newest code sent to `phone` and returns the customer, created on
/// first sign-in.
pub async fn verify(
    db: &DatabaseConnection,
    auth: &Auth,
    phone: &str,
    code: &str,
    ip: Option<IpAddr>,
) -> ApiResult<customers::Model> {
    let settings = &auth.otp;
    limiter::hit(
        db,
        Kind::OtpVerifyIp,
        &ip_key(ip),
        settings.ip_verifications_per_hour,
        HOUR,
    )
    .await?;
    // Counted as a failure until the code proves right.
    let failure = limiter::hit(db, Kind::OtpFailPhone, phone, settings.max_attempts, HOUR).await?;

    let code = normalize_code(code);
    let now = Utc::now();
    let newest = otp_challenges::Entity::find()
        .filter(otp_challenges::Column::Phone.eq(phone))
        .order_by_desc(otp_challenges::Column::CreatedAt)
        .order_by_desc(otp_challenges::Column::Id)
        .one(db)
        .await?;
    let Some(challenge) = newest.filter(|c| c.consumed_at.is_none() && c.expires_at > now) else {
        limiter::forgive(db, failure).await?;
        return Err(no_code());
    };

    // Reserve one try on this code; none left means the code is locked.
    let reserved = otp_challenges::Entity::update_many()
        .col_expr(
            otp_challenges::Column::FailedAttempts,
            Expr::col(otp_challenges::Column::FailedAttempts).add(1),
        )
        .filter(otp_challenges::Column::Id.eq(challenge.id))
        .filter(otp_challenges::Column::ConsumedAt.is_null())
        .filter(otp_challenges::Column::FailedAttempts.lt(settings.max_attempts as i32))
        .exec(db)
        .await?;
    if reserved.rows_affected == 0 {
        limiter::forgive(db, failure).await?;
        let retry_after = (challenge.created_at + Duration::seconds(settings.resend_secs as i64)
            - now)
            .num_seconds()
            .max(1) as u64;
        return Err(ApiError::RateLimited {
            retry_after_secs: retry_after,
        });
    }

    let well_formed =
        code.len() == settings.code_length as usize && code.bytes().all(|b| b.is_ascii_digit());
    if !well_formed || !code_matches(auth, &challenge, &code) {
        return Err(wrong_code());
    }

    let consumed = otp_challenges::Entity::update_many()
        .col_expr(otp_challenges::Column::ConsumedAt, Expr::value(now))
        .col_expr(
            otp_challenges::Column::FailedAttempts,
            Expr::col(otp_challenges::Column::FailedAttempts).sub(1),
        )
        .filter(otp_challenges::Column::Id.eq(challenge.id))
        .filter(otp_challenges::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    limiter::forgive(db, failure).await?;
    if consumed.rows_affected == 0 {
        // A concurrent verification used the code first.
        return Err(no_code());
    }
    sign_in_customer(db, phone).await
}

async fn sign_in_customer(db: &DatabaseConnection, phone: &str) -> ApiResult<customers::Model> {
    if let Some(customer) = customer_by_phone(db, phone).await? {
        ensure_not_blocked(&customer)?;
        return Ok(customer);
    }
    let now = Utc::now();
    let created = customers::ActiveModel {
        id: Set(super::new_id()),
        phone: Set(phone.to_string()),
        first_name: Set(None),
        last_name: Set(None),
        email: Set(None),
        status: Set("active".into()),
        mahak_person_id: Set(None),
        mahak_person_client_id: Set(None),
        mahak_row_version: Set(None),
        mahak_state: Set("not_pushed".into()),
        mahak_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await;
    match created {
        Ok(customer) => Ok(customer),
        // Created concurrently (same phone, unique index): use that row.
        Err(err) => customer_by_phone(db, phone)
            .await?
            .ok_or_else(|| ApiError::internal(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_configured_length() {
        for _ in 0..100 {
            let code = new_code(6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(new_code(5).len(), 5);
        }
    }

    #[test]
    fn persian_digits_are_read() {
        assert_eq!(normalize_code(" ۱۲۳٤٥6 "), "123456");
    }
}
