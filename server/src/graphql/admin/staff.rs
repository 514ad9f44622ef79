//! Staff sign-in, staff and role management, and the audit log.

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{audit_entries, roles};
use uuid::Uuid;

use super::access::{self, Permission};
use super::PageInfo;
use crate::error::ApiError;
use crate::graphql::Services;
use crate::http::RequestContext;
use crate::staff::accounts::{self, NewStaff, StaffWithRole};
use crate::staff::audit::{self, AuditFilter};
use crate::staff::permission::Grants;
use crate::staff::sessions::{self, Origin, Session};
use crate::staff::StaffAuth;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn staff_auth<'a>(ctx: &Context<'a>) -> &'a StaffAuth {
    ctx.data_unchecked::<std::sync::Arc<StaffAuth>>()
}

fn parse_uuid(id: &ID, field: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::bad_input(field, "not a valid id"))
}

fn parse_role_id(id: &ID, field: &'static str) -> Result<i64, ApiError> {
    id.as_str()
        .parse()
        .map_err(|_| ApiError::bad_input(field, "not a valid role id"))
}

/// Whether a staff account may be used.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StaffStatus {
    /// Can sign in.
    Active,
    /// Switched off by staff: cannot sign in, and their tokens stop working at once.
    Disabled,
}

/// A role: a named set of permissions given to staff users.
pub struct Role(roles::Model);

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The permission names as stored: `catalogue`, `orders`, `customers`, `content`,
    /// `reports`, `sync`, `staff`, or `*` for all of them.
    async fn permissions(&self) -> Vec<String> {
        match &self.0.permissions {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The role grants every permission (it is named `super_admin` or lists `*`).
    async fn is_super_admin(&self) -> bool {
        Grants::of_role(&self.0).all
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A staff user of the back office.
pub struct StaffUser(StaffWithRole);

#[Object]
impl StaffUser {
    async fn id(&self) -> ID {
        ID(self.0 .0.id.to_string())
    }

    /// Lower-case; sign-in compares emails case-insensitively.
    async fn email(&self) -> &str {
        &self.0 .0.email
    }

    async fn display_name(&self) -> &str {
        &self.0 .0.display_name
    }

    async fn status(&self) -> StaffStatus {
        if self.0 .0.status == crate::staff::ACTIVE {
            StaffStatus::Active
        } else {
            StaffStatus::Disabled
        }
    }

    async fn role(&self) -> Role {
        Role(self.0 .1.clone())
    }

    /// The permissions the role grants, spelled out (all seven for a super admin).
    async fn permissions(&self) -> Vec<String> {
        Grants::of_role(&self.0 .1)
            .permissions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    /// Set while the account is locked after too many wrong passwords; `enableStaff` or
    /// `resetStaffPassword` lift the lock early.
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.0 .0.locked_until.filter(|until| *until > Utc::now())
    }

    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.0 .0.last_login_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0 .0.created_at
    }
}

/// The tokens of a signed-in staff member. Send `accessToken` as
/// `Authorization: Bearer <accessToken>` to `/admin/graphql`; before it expires
/// (`expiresIn` seconds), trade `refreshToken` for new tokens with `refreshStaffToken`.
#[derive(SimpleObject)]
pub struct StaffSession {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: every `refreshStaffToken` returns a new one. Presenting a used one again
    /// ends the session (all its tokens).
    pub refresh_token: String,
    pub staff: StaffUser,
}

impl From<Session> for StaffSession {
    fn from(session: Session) -> Self {
        StaffSession {
            access_token: session.access_token,
            expires_in: session.expires_in,
            refresh_token: session.refresh_token,
            staff: StaffUser(session.staff),
        }
    }
}

/// One audited staff action.
pub struct AuditEntry(audit_entries::Model);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The staff user who acted; null for the `create-admin` command.
    async fn staff_id(&self) -> Option<ID> {
        self.0.staff_user_id.map(|id| ID(id.to_string()))
    }

    /// `<area>.<verb>`, for example `staff.disable` or `role.update`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// The kind of object acted on, for example `staff_user` or `role`.
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }

    async fn target_id(&self) -> &str {
        &self.0.target_id
    }

    /// The object before the action (null when it was created).
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    /// The object after the action.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A page of the audit log, newest first.
pub struct AuditEntryConnection {
    page: audit::AuditPage,
}

/// An audit entry and its cursor.
#[derive(SimpleObject)]
pub struct AuditEntryEdge {
    cursor: String,
    node: AuditEntry,
}

#[Object]
impl AuditEntryConnection {
    async fn edges(&self) -> Vec<AuditEntryEdge> {
        self.page
            .entries
            .iter()
            .map(|entry| AuditEntryEdge {
                cursor: audit::cursor(entry),
                node: AuditEntry(entry.clone()),
            })
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: false,
            start_cursor: self.page.entries.first().map(audit::cursor),
            end_cursor: self.page.entries.last().map(audit::cursor),
        }
    }
}

#[derive(Default)]
pub struct StaffQuery;

#[Object]
impl StaffQuery {
    /// The signed-in staff member (any permissions).
    async fn current_staff(&self, ctx: &Context<'_>) -> Result<StaffUser> {
        let caller = access::require_staff(ctx).await?;
        let staff = accounts::find_staff(&services(ctx).db, caller.id)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(StaffUser(staff))
    }

    /// Every staff user, by email. Needs the `staff` permission.
    async fn staff_users(&self, ctx: &Context<'_>) -> Result<Vec<StaffUser>> {
        access::require(ctx, Permission::Staff).await?;
        let staff = accounts::list_staff(&services(ctx).db).await?;
        Ok(staff.into_iter().map(StaffUser).collect())
    }

    /// Every role, by name. Needs the `staff` permission.
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        access::require(ctx, Permission::Staff).await?;
        let roles = accounts::list_roles(&services(ctx).db).await?;
        Ok(roles.into_iter().map(Role).collect())
    }

    /// The audit log, newest first: `first` (1-100) entries after the cursor `after`,
    /// optionally only one staff member's actions and/or one kind of object. Needs the
    /// `staff` permission.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        staff_id: Option<ID>,
        target_type: Option<String>,
    ) -> Result<AuditEntryConnection> {
        access::require(ctx, Permission::Staff).await?;
        let filter = AuditFilter {
            staff_id: staff_id
                .as_ref()
                .map(|id| parse_uuid(id, "staffId"))
                .transpose()?,
            target_type,
            target_id: None,
        };
        let first = u64::try_from(first).unwrap_or(0);
        let page = audit::list(&services(ctx).db, &filter, first, after.as_deref()).await?;
        Ok(AuditEntryConnection { page })
    }
}

#[derive(Default)]
pub struct StaffMutation;

#[Object]
impl StaffMutation {
    /// Signs a staff member in. A wrong email or password, and a temporarily locked account,
    /// all answer `UNAUTHENTICATED`; a disabled account answers `FORBIDDEN` (only with the
    /// right password); too many failures answer `RATE_LIMITED` with
    /// `extensions.retryAfterSeconds`.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<StaffSession> {
        let request = ctx.data_opt::<RequestContext>();
        let origin = Origin {
            ip: request.and_then(|r| r.client_ip),
            user_agent: request.and_then(|r| r.user_agent.clone()),
        };
        let session = sessions::sign_in(
            &services(ctx).db,
            staff_auth(ctx),
            &email,
            &password,
            &origin,
        )
        .await?;
        Ok(session.into())
    }

    /// Trades a refresh token for new tokens. A used, revoked or unknown token, or a disabled
    /// account, answers `UNAUTHENTICATED`: sign in again.
    async fn refresh_staff_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<StaffSession> {
        let session = sessions::refresh(&services(ctx).db, staff_auth(ctx), &refresh_token).await?;
        Ok(session.into())
    }

    /// Ends the session the refresh token belongs to. Always true, also for unknown tokens.
    async fn sign_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        sessions::sign_out(&services(ctx).db, &refresh_token).await?;
        Ok(true)
    }

    /// Creates a role. Unknown permission names are `BAD_USER_INPUT`; a taken name is
    /// `CONFLICT`. Needs the `staff` permission.
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        name: String,
        permissions: Vec<String>,
    ) -> Result<Role> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let role =
            accounts::create_role(&services(ctx).db, Some(caller.id), &name, &permissions).await?;
        Ok(Role(role))
    }

    /// Renames a role and/or replaces its permissions; staff with the role get the new
    /// permissions at their next request. Refused (`CONFLICT`) when it would leave no active
    /// super admin. Needs the `staff` permission.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> Result<Role> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let id = parse_role_id(&id, "id")?;
        let role = accounts::update_role(
            &services(ctx).db,
            caller.id,
            id,
            name.as_deref(),
            permissions.as_deref(),
        )
        .await?;
        Ok(Role(role))
    }

    /// Creates an active staff user. The password needs at least 10 characters; a taken
    /// email (in any case) is `CONFLICT`. Needs the `staff` permission.
    async fn create_staff(
        &self,
        ctx: &Context<'_>,
        email: String,
        display_name: String,
        password: String,
        role_id: ID,
    ) -> Result<StaffUser> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let role_id = parse_role_id(&role_id, "roleId")?;
        let staff = accounts::create_staff(
            &services(ctx).db,
            Some(caller.id),
            NewStaff {
                email: &email,
                display_name: &display_name,
                password: &password,
                role_id,
            },
        )
        .await?;
        Ok(StaffUser(staff))
    }

    /// Changes a staff user's display name and/or role. Refused (`CONFLICT`) when it would
    /// leave no active super admin. Needs the `staff` permission.
    async fn update_staff(
        &self,
        ctx: &Context<'_>,
        id: ID,
        display_name: Option<String>,
        role_id: Option<ID>,
    ) -> Result<StaffUser> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let id = parse_uuid(&id, "id")?;
        let role_id = role_id
            .as_ref()
            .map(|r| parse_role_id(r, "roleId"))
            .transpose()?;
        let staff = accounts::update_staff(
            &services(ctx).db,
            caller.id,
            id,
            display_name.as_deref(),
            role_id,
        )
        .await?;
        Ok(StaffUser(staff))
    }

    /// Disables a staff user: they cannot sign in and their tokens stop working at once.
    /// Nobody can disable themselves, nor the last active super admin (`CONFLICT`). Needs
    /// the `staff` permission.
    async fn disable_staff(&self, ctx: &Context<'_>, id: ID) -> Result<StaffUser> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let id = parse_uuid(&id, "id")?;
        let staff = accounts::set_enabled(&services(ctx).db, caller.id, id, false).await?;
        Ok(StaffUser(staff))
    }

    /// Enables a staff user again; also lifts a lock-out. Needs the `staff` permission.
    async fn enable_staff(&self, ctx: &Context<'_>, id: ID) -> Result<StaffUser> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let id = parse_uuid(&id, "id")?;
        let staff = accounts::set_enabled(&services(ctx).db, caller.id, id, true).await?;
        Ok(StaffUser(staff))
    }

    /// Sets a new password (at least 10 characters) for a staff user, lifts a lock-out and
    /// ends their sessions. Needs the `staff` permission.
    async fn reset_staff_password(
        &self,
        ctx: &Context<'_>,
        id: ID,
        password: String,
    ) -> Result<StaffUser> {
        let caller = access::require(ctx, Permission::Staff).await?;
        let id = parse_uuid(&id, "id")?;
        let staff = accounts::reset_password(&services(ctx).db, caller.id, id, &password).await?;
        Ok(StaffUser(staff))
    }
}
