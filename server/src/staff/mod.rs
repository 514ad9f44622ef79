//! Staff of the back office: accounts, roles and their permissions, sign-in sessions and the
//! audit trail. Plain Rust functions over the database; the admin schema's resolvers
//! (`graphql/admin/staff.rs`) only parse input, check permission and call these.

pub mod accounts;
pub mod audit;
pub mod password;
pub mod permission;
pub mod sessions;
mod settings;

use std::sync::Arc;

pub use permission::Permission;
pub use settings::StaffSettings;

use crate::auth::JwtKeys;
use crate::config::Settings;

/// `staff_users.status` of an account that may sign in.
pub const ACTIVE: &str = "active";
/// `staff_users.status` of an account staff have switched off: it cannot sign in and its
/// tokens stop working at once.
pub const DISABLED: &str = "disabled";
/// The role `server create-admin` makes: it has every permission, whatever its list says.
pub const SUPER_ADMIN_ROLE: &str = "super_admin";

/// What staff sign-in needs, built once at start-up and shared by every admin request.
pub struct StaffAuth {
    /// Signs and verifies staff access tokens (audience `jwt.admin_audience`).
    pub jwt: JwtKeys,
    pub refresh_ttl: chrono::Duration,
    pub settings: StaffSettings,
}

impl StaffAuth {
    pub fn new(settings: &Settings) -> Arc<Self> {
        Arc::new(StaffAuth {
            jwt: JwtKeys::admin_from_settings(&settings.jwt),
            refresh_ttl: chrono::Duration::seconds(settings.jwt.refresh_ttl_secs as i64),
            settings: settings.staff.clone(),
        })
    }
}

/// A domain error as one line for the command line.
pub fn describe_error(err: &crate::error::ApiError) -> String {
    use crate::error::ApiError;
    match err {
        ApiError::BadUserInput { message, field } => match field {
            Some(field) => format!("{field}: {message}"),
            None => message.clone(),
        },
        ApiError::Conflict { message } => message.clone(),
        ApiError::NotFound { what } => format!("{what} not found"),
        ApiError::Internal(cause) => format!("{cause:#}"),
        other => other.code().to_string(),
    }
}

/// Emails are compared case-insensitively: stored and looked up trimmed and lower-cased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}
