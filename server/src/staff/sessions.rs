//! Staff sign-in: email and password in, a short-lived access token (audience
//! `jwt.admin_audience`) and an opaque refresh token out.
//!
//! Rules, in order:
//!
//! 1. Failed sign-ins are rate limited per IP address and per email (`auth_attempts`, kinds
//!    `staff_sign_in_ip` and `staff_sign_in_email`): beyond `staff.ip_failures_per_hour` /
//!    `staff.email_failures_per_hour` the answer is `RATE_LIMITED` with `retryAfterSeconds`,
//!    before the password is looked at. Every attempt is counted first and taken back when it
//!    succeeds, so concurrent attempts cannot slip past the limit.
//! 2. An unknown email, a wrong password and a locked account get the same answer
//!    (`UNAUTHENTICATED`, "email or password is wrong") after the same work (one argon2
//!    verification), so the answer never tells whether an account exists. A locked account's
//!    password is not checked at all: saying "locked" after a right password would let an
//!    attacker go on guessing through the lock-out. Staff with the `staff` permission lift a
//!    lock-out early with `enableStaff` or `resetStaffPassword`.
//! 3. `staff.max_failed_logins` consecutive wrong passwords lock the account for
//!    `staff.lockout_secs`; a successful sign-in resets the count.
//! 4. A disabled account answers `FORBIDDEN` ("this account is disabled"), but only after the
//!    right password, so it tells nothing to someone who does not know it.

use base64::Engine;
use chrono::{Duration, Utc};
use entity::staff_refresh_tokens::{self, Column, Entity};
use entity::{roles, staff_users};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::accounts::StaffWithRole;
use super::{normalise_email, password, StaffAuth, ACTIVE};
use crate::auth::limiter::{self, Kind};
use crate::error::{ApiError, ApiResult};

const WINDOW: Duration = Duration::hours(1);

/// The answer to every sign-in that fails on its credentials.
fn wrong_credentials() -> ApiError {
    ApiError::Unauthenticated
}

/// A signed-in staff member's tokens.
pub struct Session {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub staff: StaffWithRole,
}

/// Where a sign-in comes from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// Signs a staff member in with email and password. See the module documentation.
pub async fn sign_in(
    db: &DatabaseConnection,
    auth: &StaffAuth,
    email: &str,
    password_given: &str,
    origin: &Origin,
) -> ApiResult<Session> {
    let email = normalise_email(email);
    if email.is_empty() {
        return Err(ApiError::bad_input("email", "enter your email address"));
    }
    if password_given.is_empty() {
        return Err(ApiError::bad_input("password", "enter your password"));
    }
    let settings = &auth.settings;
    let ip_key = origin
        .ip
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let ip_hit = limiter::hit(
        db,
        Kind::StaffSignInIp,
        &ip_key,
        settings.ip_failures_per_hour,
        WINDOW,
    )
    .await?;
    let email_hit = match limiter::hit(
        db,
        Kind::StaffSignInEmail,
        &email,
        settings.email_failures_per_hour,
        WINDOW,
    )
    .await
    {
        Ok(id) => id,
        Err(err) => {
            limiter::forgive(db, ip_hit).await?;
            return Err(err);
        }
    };

    let found = staff_users::Entity::find()
        .filter(staff_users::Column::Email.eq(email.as_str()))
        .find_also_related(roles::Entity)
        .one(db)
        .await?;
    let Some((staff, Some(role))) = found else {
        password::verify_dummy(password_given).await?;
        return Err(wrong_credentials());
    };
    let now = Utc::now();
    if staff.locked_until.is_some_and(|until| until > now) {
        password::verify_dummy(password_given).await?;
        tracing::info!(staff = %staff.id, "sign-in to a locked staff account refused");
        return Err(wrong_credentials());
    }
    if !password::verify(password_given, &staff.password_hash).await? {
        record_failure(db, auth, staff.id).await?;
        return Err(wrong_credentials());
    }
    if staff.status != ACTIVE {
        return Err(ApiError::Forbidden);
    }

    // Right password: these attempts were not failures.
    limiter::forgive(db, ip_hit).await?;
    limiter::forgive(db, email_hit).await?;
    let mut row: staff_users::ActiveModel = staff.into();
    row.failed_logins = Set(0);
    row.locked_until = Set(None);
    row.last_login_at = Set(Some(now));
    let staff = row.update(db).await?;
    let access = auth.jwt.issue(staff.id).map_err(ApiError::internal)?;
    let refresh_token = insert_token(
        db,
        auth,
        staff.id,
        crate::auth::new_id(),
        origin.user_agent.clone(),
    )
    .await?;
    Ok(Session {
        access_token: access.token,
        expires_in: access.expires_in,
        refresh_token,
        staff: (staff, role),
    })
}

/// Counts a wrong password; the `max_failed_logins`-th in a row locks the account.
async fn record_failure(db: &DatabaseConnection, auth: &StaffAuth, id: Uuid) -> ApiResult<()> {
    // One atomic increment, so concurrent failures are all counted.
    staff_users::Entity::update_many()
        .col_expr(
            staff_users::Column::FailedLogins,
            Expr::col(staff_users::Column::FailedLogins).add(1),
        )
        .filter(staff_users::Column::Id.eq(id))
        .exec(db)
        .await?;
    let locks_at = i32::try_from(auth.settings.max_failed_logins).unwrap_or(i32::MAX);
    let lock_until = Utc::now() + Duration::seconds(auth.settings.lockout_secs as i64);
    let locked = staff_users::Entity::update_many()
        .col_expr(staff_users::Column::LockedUntil, Expr::value(lock_until))
        .col_expr(staff_users::Column::FailedLogins, Expr::value(0))
        .filter(staff_users::Column::Id.eq(id))
        .filter(staff_users::Column::FailedLogins.gte(locks_at))
        .exec(db)
        .await?;
    if locked.rows_affected > 0 {
        tracing::warn!(staff = %id, until = %lock_until, "staff account locked after failed sign-ins");
    }
    Ok(())
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens carry 256 random bits: a plain SHA-256 cannot be reversed.
fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn insert_token(
    db: &impl ConnectionTrait,
    auth: &StaffAuth,
    staff_id: Uuid,
    family_id: Uuid,
    user_agent: Option<String>,
) -> ApiResult<String> {
    let token = new_token();
    let now = Utc::now();
    staff_refresh_tokens::ActiveModel {
        id: Set(crate::auth::new_id()),
        staff_user_id: Set(staff_id),
        family_id: Set(family_id),
        token_hash: Set(hash(&token)),
        expires_at: Set(now + auth.refresh_ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        user_agent: Set(user_agent),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(token)
}

async fn revoke_family(db: &impl ConnectionTrait, family_id: Uuid) -> ApiResult<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Utc::now()))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Spends a refresh token and returns a new access token and the family's next refresh
/// token. A spent token presented again revokes its whole family; a disabled staff member
/// gets `UNAUTHENTICATED`.
pub async fn refresh(db: &DatabaseConnection, auth: &StaffAuth, token: &str) -> ApiResult<Session> {
    let Some(stored) = Entity::find()
        .filter(Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
    else {
        return Err(ApiError::Unauthenticated);
    };
    let now = Utc::now();
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(ApiError::Unauthenticated);
    }
    if stored.used_at.is_some() {
        tracing::warn!(family = %stored.family_id, "spent staff refresh token reused; family revoked");
        revoke_family(db, stored.family_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    let staff = super::accounts::find_staff(db, stored.staff_user_id)
        .await?
        .filter(|(staff, _)| staff.status == ACTIVE)
        .ok_or(ApiError::Unauthenticated)?;
    let txn = db.begin().await?;
    let spent = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(stored.id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        txn.rollback().await?;
        tracing::warn!(family = %stored.family_id, "staff refresh token used twice at once; family revoked");
        revoke_family(db, stored.family_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    let next = insert_token(
        &txn,
        auth,
        stored.staff_user_id,
        stored.family_id,
        stored.user_agent.clone(),
    )
    .await?;
    txn.commit().await?;
    let access = auth
        .jwt
        .issue(stored.staff_user_id)
        .map_err(ApiError::internal)?;
    Ok(Session {
        access_token: access.token,
        expires_in: access.expires_in,
        refresh_token: next,
        staff,
    })
}

/// Signs out: revokes the family `token` belongs to. Unknown tokens are ignored, so signing
/// out twice is not an error.
pub async fn sign_out(db: &DatabaseConnection, token: &str) -> ApiResult<()> {
    if let Some(stored) = Entity::find()
        .filter(Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
    {
        revoke_family(db, stored.family_id).await?;
    }
    Ok(())
}
