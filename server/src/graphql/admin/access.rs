//! Who is calling the admin schema, and what they may do.
//!
//! The admin endpoint reads `Authorization: Bearer <staff access token>` (over WebSocket: the
//! `connection_init` payload) once per request into a [`StaffIdentity`], verified against the
//! admin audience only: a customer's token is [`StaffIdentity::Invalid`] here. Resolvers then
//! call [`require`] (or [`require_staff`]), which loads the staff member and their role from
//! the database on every call, so disabling someone or changing their role takes effect at
//! their next request, not when their token expires.
//!
//! ```ignore
//! async fn products(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Product>> {
//!     let caller = access::require(ctx, Permission::Catalogue).await?;
//!     ...
//! }
//! ```

use std::sync::Arc;

use async_graphql::Context;
use axum::http::HeaderMap;
use uuid::Uuid;

use crate::auth::{Caller, JwtKeys};
use crate::error::{ApiError, ApiResult};
use crate::graphql::Services;
use crate::staff::permission::Grants;
use crate::staff::ACTIVE;

pub use crate::staff::Permission;

/// The identity an admin request's token stands for, put into the request data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffIdentity {
    /// No token.
    Anonymous,
    /// A staff access token that verified (the account is checked by [`require`]).
    Staff { id: Uuid },
    /// A token that does not verify against the admin audience (a customer's, an expired or
    /// a forged one).
    Invalid,
}

impl StaffIdentity {
    /// Reads the bearer token with the same code as the shop, against the admin keys.
    pub fn from_headers(headers: &HeaderMap, keys: &JwtKeys) -> StaffIdentity {
        match Caller::from_headers(headers, keys) {
            Caller::Anonymous => StaffIdentity::Anonymous,
            Caller::Customer { id } => StaffIdentity::Staff { id },
            Caller::Invalid => StaffIdentity::Invalid,
        }
    }
}

/// The admin endpoint's `prepare` hook: the caller's [`StaffIdentity`] into the request data.
pub fn request_preparer(keys: Arc<JwtKeys>) -> crate::http::graphql::Prepare {
    Box::new(move |request, headers| request.data(StaffIdentity::from_headers(headers, &keys)))
}

/// A signed-in, active staff member as of this request.
#[derive(Debug, Clone)]
pub struct StaffCaller {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// The role's name.
    pub role: String,
    pub role_id: i64,
    /// Every permission the role grants (all of them for a super admin).
    pub permissions: Vec<Permission>,
    /// The role grants everything (`super_admin` or `*`).
    pub super_admin: bool,
}

impl StaffCaller {
    pub fn has(&self, permission: Permission) -> bool {
        self.super_admin || self.permissions.contains(&permission)
    }
}

/// The caller if they are signed in as active staff and their role grants `permission`:
/// `UNAUTHENTICATED` without a valid staff token (shop tokens included) or for a disabled
/// account, `FORBIDDEN` without the permission.
pub async fn require(ctx: &Context<'_>, permission: Permission) -> ApiResult<StaffCaller> {
    let identity = ctx
        .data_opt::<StaffIdentity>()
        .copied()
        .unwrap_or(StaffIdentity::Anonymous);
    authorize(
        &ctx.data_unchecked::<Services>().db,
        identity,
        Some(permission),
    )
    .await
}

/// Any signed-in active staff member, whatever their permissions (for e.g. `currentStaff`).
pub async fn require_staff(ctx: &Context<'_>) -> ApiResult<StaffCaller> {
    let identity = ctx
        .data_opt::<StaffIdentity>()
        .copied()
        .unwrap_or(StaffIdentity::Anonymous);
    authorize(&ctx.data_unchecked::<Services>().db, identity, None).await
}

/// The one check behind [`require`] and plain HTTP routes for staff (the reports' CSV): the
/// identity must be an active staff member (`UNAUTHENTICATED` otherwise) whose role grants
/// `permission`, when one is asked for (`FORBIDDEN` otherwise).
pub async fn authorize(
    db: &sea_orm::DatabaseConnection,
    identity: StaffIdentity,
    permission: Option<Permission>,
) -> ApiResult<StaffCaller> {
    let StaffIdentity::Staff { id } = identity else {
        return Err(ApiError::Unauthenticated);
    };
    let Some((staff, role)) = crate::staff::accounts::find_staff(db, id).await? else {
        return Err(ApiError::Unauthenticated);
    };
    if staff.status != ACTIVE {
        return Err(ApiError::Unauthenticated);
    }
    let grants = Grants::of_role(&role);
    let caller = StaffCaller {
        id: staff.id,
        email: staff.email,
        display_name: staff.display_name,
        role: role.name,
        role_id: role.id,
        permissions: grants.permissions,
        super_admin: grants.all,
    };
    match permission {
        Some(permission) if !caller.has(permission) => Err(ApiError::Forbidden),
        _ => Ok(caller),
    }
}
