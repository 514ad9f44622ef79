//! Staff accounts and roles: creating and changing them, each change audited in the same
//! transaction, and the rules that keep the back office usable (nobody disables themselves,
//! the last active super admin cannot be removed).

use chrono::Utc;
use entity::{roles, staff_refresh_tokens, staff_users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::permission::{self, Grants};
use super::{audit, normalise_email, password, ACTIVE, DISABLED};
use crate::error::{ApiError, ApiResult};

/// Longest role or display name.
const MAX_NAME: usize = 100;

/// A staff user with their role.
pub type StaffWithRole = (staff_users::Model, roles::Model);

/// The audit snapshot of a staff user (never the password hash).
pub fn staff_snapshot(staff: &staff_users::Model) -> Value {
    json!({
        "id": staff.id,
        "email": staff.email,
        "displayName": staff.display_name,
        "status": staff.status,
        "roleId": staff.role_id,
    })
}

/// The audit snapshot of a role.
pub fn role_snapshot(role: &roles::Model) -> Value {
    json!({ "id": role.id, "name": role.name, "permissions": role.permissions })
}

/// Checks permission names against the known ones; returns them trimmed and deduplicated,
/// or `BAD_USER_INPUT` listing the valid names.
pub fn parse_permissions(names: &[String]) -> ApiResult<Vec<String>> {
    let valid = permission::valid_names();
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !valid.contains(&name) {
            return Err(ApiError::bad_input(
                "permissions",
                format!(
                    "unknown permission \"{name}\"; valid permissions are: {}",
                    valid.join(", ")
                ),
            ));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

fn check_name(name: &str, field: &'static str, what: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} must be 1 to {MAX_NAME} characters long"),
        ));
    }
    Ok(name.to_string())
}

fn check_email(email: &str) -> ApiResult<String> {
    let email = normalise_email(email);
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(email)
    } else {
        Err(ApiError::bad_input(
            "email",
            "this is not an email address (name@example.com)",
        ))
    }
}

fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub async fn list_roles(db: &impl ConnectionTrait) -> ApiResult<Vec<roles::Model>> {
    Ok(roles::Entity::find()
        .order_by_asc(roles::Column::Name)
        .all(db)
        .await?)
}

pub async fn list_staff(db: &impl ConnectionTrait) -> ApiResult<Vec<StaffWithRole>> {
    let rows = staff_users::Entity::find()
        .find_also_related(roles::Entity)
        .order_by_asc(staff_users::Column::Email)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(staff, role)| Some((staff, role?)))
        .collect())
}

/// A staff user and their role, or `None`.
pub async fn find_staff(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Option<StaffWithRole>> {
    let row = staff_users::Entity::find_by_id(id)
        .find_also_related(roles::Entity)
        .one(db)
        .await?;
    Ok(row.and_then(|(staff, role)| Some((staff, role?))))
}

async fn staff_or_not_found(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<StaffWithRole> {
    find_staff(db, id)
        .await?
        .ok_or(ApiError::not_found("staff user"))
}

async fn role_or_not_found(db: &impl ConnectionTrait, id: i64) -> ApiResult<roles::Model> {
    roles::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("role"))
}

/// The active staff users whose role grants everything, their rows locked (`FOR UPDATE` on
/// PostgreSQL; SQLite serialises writers anyway) so that two concurrent changes cannot each
/// remove one of the last two.
async fn active_super_admins(db: &impl ConnectionTrait) -> ApiResult<Vec<Uuid>> {
    let super_roles: Vec<i64> = roles::Entity::find()
        .all(db)
        .await?
        .iter()
        .filter(|role| Grants::of_role(role).all)
        .map(|role| role.id)
        .collect();
    if super_roles.is_empty() {
        return Ok(Vec::new());
    }
    Ok(staff_users::Entity::find()
        .filter(staff_users::Column::RoleId.is_in(super_roles))
        .filter(staff_users::Column::Status.eq(ACTIVE))
        .lock_exclusive()
        .all(db)
        .await?
        .into_iter()
        .map(|staff| staff.id)
        .collect())
}

/// Runs `change` in a transaction and refuses it (`CONFLICT`) when it would leave no active
/// super admin where there was one.
async fn keeping_a_super_admin<T, F>(db: &DatabaseConnection, change: F) -> ApiResult<T>
where
    F: for<'t> FnOnce(
        &'t sea_orm::DatabaseTransaction,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = ApiResult<T>> + Send + 't>,
    >,
{
    let txn = db.begin().await?;
    let before = active_super_admins(&txn).await?;
    let value = change(&txn).await?;
    let after = active_super_admins(&txn).await?;
    if !before.is_empty() && after.is_empty() {
        txn.rollback().await?;
        return Err(ApiError::Conflict {
            message: "this would leave no active super admin".into(),
        });
    }
    txn.commit().await?;
    Ok(value)
}

/// Creates a role. `actor` is the staff member acting (`None` for the command line).
pub async fn create_role(
    db: &DatabaseConnection,
    actor: Option<Uuid>,
    name: &str,
    permissions: &[String],
) -> ApiResult<roles::Model> {
    let name = check_name(name, "name", "role name")?;
    let permissions = parse_permissions(permissions)?;
    let txn = db.begin().await?;
    let inserted = roles::ActiveModel {
        name: Set(name.clone()),
        permissions: Set(json!(permissions)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let role = match inserted {
        Ok(role) => role,
        Err(err) if unique_violation(&err) => {
            return Err(ApiError::Conflict {
                message: format!("a role named \"{name}\" already exists"),
            })
        }
        Err(err) => return Err(err.into()),
    };
    audit::record_by(
        &txn,
        actor,
        "role.create",
        "role",
        &role.id.to_string(),
        None,
        Some(role_snapshot(&role)),
    )
    .await?;
    txn.commit().await?;
    Ok(role)
}

/// Renames a role and/or replaces its permissions.
pub async fn update_role(
    db: &DatabaseConnection,
    actor: Uuid,
    id: i64,
    name: Option<&str>,
    permissions: Option<&[String]>,
) -> ApiResult<roles::Model> {
    let name = name
        .map(|n| check_name(n, "name", "role name"))
        .transpose()?;
    let permissions = permissions.map(parse_permissions).transpose()?;
    keeping_a_super_admin(db, move |txn| {
        Box::pin(async move {
            let before = role_or_not_found(txn, id).await?;
            let mut role: roles::ActiveModel = before.clone().into();
            if let Some(name) = &name {
                role.name = Set(name.clone());
            }
            if let Some(permissions) = &permissions {
                role.permissions = Set(json!(permissions));
            }
            let after = match role.update(txn).await {
                Ok(after) => after,
                Err(err) if unique_violation(&err) => {
                    return Err(ApiError::Conflict {
                        message: format!(
                            "a role named \"{}\" already exists",
                            name.unwrap_or_default()
                        ),
                    })
                }
                Err(err) => return Err(err.into()),
            };
            audit::record(
                txn,
                actor,
                "role.update",
                "role",
                &id.to_string(),
                Some(role_snapshot(&before)),
                Some(role_snapshot(&after)),
            )
            .await?;
            Ok(after)
        })
    })
    .await
}

/// What a new staff user starts with.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
    pub role_id: i64,
}

/// Creates an active staff user. `actor` is the staff member acting (`None` for the command
/// line). A taken email (in any case) is `CONFLICT`.
pub async fn create_staff(
    db: &DatabaseConnection,
    actor: Option<Uuid>,
    new: NewStaff<'_>,
) -> ApiResult<StaffWithRole> {
    let email = check_email(new.email)?;
    let display_name = check_name(new.display_name, "displayName", "display name")?;
    password::check_strength(new.password, "password")?;
    let role = roles::Entity::find_by_id(new.role_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::bad_input("roleId", "there is no role with this id"))?;
    let password_hash = password::hash(new.password).await?;
    let txn = db.begin().await?;
    let now = Utc::now();
    let inserted = staff_users::ActiveModel {
        id: Set(crate::auth::new_id()),
        email: Set(email.clone()),
        display_name: Set(display_name),
        password_hash: Set(password_hash),
        role_id: Set(role.id),
        status: Set(ACTIVE.into()),
        failed_logins: Set(0),
        locked_until: Set(None),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let staff = match inserted {
        Ok(staff) => staff,
        Err(err) if unique_violation(&err) => {
            return Err(ApiError::Conflict {
                message: format!("a staff user with email {email} already exists"),
            })
        }
        Err(err) => return Err(err.into()),
    };
    audit::record_by(
        &txn,
        actor,
        "staff.create",
        "staff_user",
        &staff.id.to_string(),
        None,
        Some(staff_snapshot(&staff)),
    )
    .await?;
    txn.commit().await?;
    Ok((staff, role))
}

/// Changes a staff user's display name and/or role.
pub async fn update_staff(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    display_name: Option<&str>,
    role_id: Option<i64>,
) -> ApiResult<StaffWithRole> {
    let display_name = display_name
        .map(|n| check_name(n, "displayName", "display name"))
        .transpose()?;
    keeping_a_super_admin(db, move |txn| {
        Box::pin(async move {
            let (before, _) = staff_or_not_found(txn, id).await?;
            let mut staff: staff_users::ActiveModel = before.clone().into();
            if let Some(name) = display_name {
                staff.display_name = Set(name);
            }
            if let Some(role_id) = role_id {
                roles::Entity::find_by_id(role_id)
                    .one(txn)
                    .await?
                    .ok_or_else(|| {
                        ApiError::bad_input("roleId", "there is no role with this id")
                    })?;
                staff.role_id = Set(role_id);
            }
            staff.updated_at = Set(Utc::now());
            let after = staff.update(txn).await?;
            audit::record(
                txn,
                actor,
                "staff.update",
                "staff_user",
                &id.to_string(),
                Some(staff_snapshot(&before)),
                Some(staff_snapshot(&after)),
            )
            .await?;
            staff_or_not_found(txn, id).await
        })
    })
    .await
}

/// Revokes every refresh token of a staff user (their sessions end when their access token
/// expires; their access tokens stop working at once anyway when they are disabled).
async fn end_sessions(db: &impl ConnectionTrait, staff_id: Uuid) -> ApiResult<()> {
    staff_refresh_tokens::Entity::update_many()
        .col_expr(
            staff_refresh_tokens::Column::RevokedAt,
            Expr::value(Utc::now()),
        )
        .filter(staff_refresh_tokens::Column::StaffUserId.eq(staff_id))
        .filter(staff_refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Disables (`enabled = false`) or re-enables a staff user. Disabling ends their sessions;
/// enabling also lifts a lock-out. Nobody can disable themselves.
pub async fn set_enabled(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    enabled: bool,
) -> ApiResult<StaffWithRole> {
    if !enabled && actor == id {
        return Err(ApiError::Conflict {
            message: "you cannot disable your own account".into(),
        });
    }
    keeping_a_super_admin(db, move |txn| {
        Box::pin(async move {
            let (before, _) = staff_or_not_found(txn, id).await?;
            let mut staff: staff_users::ActiveModel = before.clone().into();
            staff.status = Set(if enabled { ACTIVE } else { DISABLED }.into());
            if enabled {
                staff.failed_logins = Set(0);
                staff.locked_until = Set(None);
            }
            staff.updated_at = Set(Utc::now());
            let after = staff.update(txn).await?;
            if !enabled {
                end_sessions(txn, id).await?;
            }
            audit::record(
                txn,
                actor,
                if enabled {
                    "staff.enable"
                } else {
                    "staff.disable"
                },
                "staff_user",
                &id.to_string(),
                Some(staff_snapshot(&before)),
                Some(staff_snapshot(&after)),
            )
            .await?;
            staff_or_not_found(txn, id).await
        })
    })
    .await
}

/// Sets a new password for a staff user: lifts a lock-out and ends their sessions.
pub async fn reset_password(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    new_password: &str,
) -> ApiResult<StaffWithRole> {
    password::check_strength(new_password, "password")?;
    let password_hash = password::hash(new_password).await?;
    let txn = db.begin().await?;
    let (before, _) = staff_or_not_found(&txn, id).await?;
    let mut staff: staff_users::ActiveModel = before.clone().into();
    staff.password_hash = Set(password_hash);
    staff.failed_logins = Set(0);
    staff.locked_until = Set(None);
    staff.updated_at = Set(Utc::now());
    staff.update(&txn).await?;
    end_sessions(&txn, id).await?;
    audit::record(
        &txn,
        actor,
        "staff.reset_password",
        "staff_user",
        &id.to_string(),
        Some(json!({ "lockedUntil": before.locked_until, "failedLogins": before.failed_logins })),
        Some(json!({ "passwordChanged": true })),
    )
    .await?;
    let result = staff_or_not_found(&txn, id).await?;
    txn.commit().await?;
    Ok(result)
}

/// `server create-admin`: makes the `super_admin` role if it is missing, then an active staff
/// user with it.
pub async fn create_admin(
    db: &DatabaseConnection,
    email: &str,
    display_name: &str,
    password: &str,
) -> ApiResult<StaffWithRole> {
    // Refuse bad input before making the role.
    check_email(email)?;
    check_name(display_name, "displayName", "display name")?;
    password::check_strength(password, "password")?;
    let existing = roles::Entity::find()
        .filter(roles::Column::Name.eq(super::SUPER_ADMIN_ROLE))
        .one(db)
        .await?;
    let role = match existing {
        Some(role) => role,
        None => {
            match create_role(
                db,
                None,
                super::SUPER_ADMIN_ROLE,
                &[permission::ALL.to_string()],
            )
            .await
            {
                Ok(role) => role,
                // Made concurrently by another create-admin.
                Err(ApiError::Conflict { .. }) => roles::Entity::find()
                    .filter(roles::Column::Name.eq(super::SUPER_ADMIN_ROLE))
                    .one(db)
                    .await?
                    .ok_or(ApiError::not_found("role"))?,
                Err(err) => return Err(err),
            }
        }
    };
    create_staff(
        db,
        None,
        NewStaff {
            email,
            display_name,
            password,
            role_id: role.id,
        },
    )
    .await
}
