//! `staff.*` configuration: staff sign-in limits.

use serde::Deserialize;
use sync::settings::ConfigError;

/// `staff.*`: lock-out and rate limits of staff sign-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffSettings {
    /// Consecutive wrong passwords after which an account is locked.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked, in seconds.
    pub lockout_secs: u64,
    /// Failed sign-ins one IP address may make per hour.
    pub ip_failures_per_hour: u32,
    /// Failed sign-ins for one email address per hour (whether or not it exists).
    pub email_failures_per_hour: u32,
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_secs: 900,
            ip_failures_per_hour: 50,
            email_failures_per_hour: 20,
        }
    }
}

impl StaffSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_failed_logins == 0 || self.lockout_secs == 0 {
            return Err(ConfigError::invalid(
                "staff.max_failed_logins",
                "max_failed_logins and lockout_secs must be at least 1",
            ));
        }
        if self.ip_failures_per_hour == 0 || self.email_failures_per_hour == 0 {
            return Err(ConfigError::invalid(
                "staff.ip_failures_per_hour",
                "per-IP and per-email limits must be at least 1",
            ));
        }
        Ok(())
    }
}
