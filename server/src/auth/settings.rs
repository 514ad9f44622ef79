//! `jwt.*` and `otp.*` configuration.

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sync::settings::ConfigError;

/// The kid of the random key made when none is configured.
pub const EPHEMERAL_KID: &str = "ephemeral";

/// One signing key. Keys are rotated by adding a new one, making it `active_kid`, and removing
/// the old one only after `access_ttl_secs` has passed, so tokens it signed keep verifying
/// until they expire.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKey {
    pub kid: String,
    /// HMAC-SHA256 secret; at least 32 bytes.
    pub secret: SecretString,
}

/// `jwt.*`: access and refresh tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// `iss` of every token this server signs and the only one it accepts.
    pub issuer: String,
    /// `aud` of customer (shop) tokens; staff tokens use `admin_audience`, so a customer
    /// token can never be taken for a staff token.
    pub shop_audience: String,
    /// `aud` of staff (admin) tokens; must differ from `shop_audience`.
    pub admin_audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Every key that may verify a token; empty in the embedded default, where a random key is
    /// made at start-up (tokens then do not survive a restart).
    pub keys: Vec<JwtKey>,
    /// The key new tokens are signed with; defaults to the only key when there is one.
    pub active_kid: Option<String>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: "store".into(),
            shop_audience: "store-shop".into(),
            admin_audience: "store-admin".into(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 30,
            keys: Vec::new(),
            active_kid: None,
        }
    }
}

impl JwtSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access_ttl_secs == 0 || self.refresh_ttl_secs == 0 {
            return Err(ConfigError::invalid(
                "jwt.access_ttl_secs",
                "token lifetimes must be at least 1 second",
            ));
        }
        if self.issuer.is_empty() || self.shop_audience.is_empty() {
            return Err(ConfigError::invalid(
                "jwt.issuer",
                "issuer and shop_audience must not be empty",
            ));
        }
        if self.admin_audience.is_empty() || self.admin_audience == self.shop_audience {
            return Err(ConfigError::invalid(
                "jwt.admin_audience",
                "must not be empty and must differ from jwt.shop_audience",
            ));
        }
        for (i, key) in self.keys.iter().enumerate() {
            if key.kid.is_empty() || key.secret.expose_secret().len() < 32 {
                return Err(ConfigError::invalid(
                    "jwt.keys",
                    "every key needs a non-empty kid and a secret of at least 32 bytes",
                ));
            }
            if self.keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(ConfigError::invalid("jwt.keys", "kids must be unique"));
            }
        }
        match (&self.active_kid, self.keys.len()) {
            (None, 0 | 1) => Ok(()),
            (None, _) => Err(ConfigError::invalid(
                "jwt.active_kid",
                "is required when several keys are configured",
            )),
            (Some(kid), _) if self.keys.iter().any(|k| &k.kid == kid) => Ok(()),
            (Some(_), _) => Err(ConfigError::invalid(
                "jwt.active_kid",
                "names no key in jwt.keys",
            )),
        }
    }

    /// The embedded default has no keys configured: make a random one for this process
    /// (`Settings::load` does this once, so every part of the server sees the same key).
    pub fn ensure_key(&mut self) {
        if self.keys.is_empty() {
            self.keys.push(JwtKey {
                kid: EPHEMERAL_KID.into(),
                secret: random_secret(),
            });
            self.active_kid = Some(EPHEMERAL_KID.into());
        }
    }
}

/// `otp.*`: one-time sign-in codes and their limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpSettings {
    /// Digits in a code (5 or 6).
    pub code_length: u32,
    /// How long a code is valid, in seconds.
    pub ttl_secs: u64,
    /// Shortest time between two codes sent to one phone, in seconds.
    pub resend_secs: u64,
    /// Wrong codes allowed per code, and per phone within an hour.
    pub max_attempts: u32,
    /// Codes one IP address may request per hour.
    pub ip_requests_per_hour: u32,
    /// Verifications one IP address may try per hour.
    pub ip_verifications_per_hour: u32,
    /// Server-side secret mixed into code hashes, so a leaked table cannot be brute-forced
    /// (a 6-digit code has only a million values). Random per process when unset.
    pub pepper: Option<SecretString>,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            code_length: 6,
            ttl_secs: 120,
            resend_secs: 60,
            max_attempts: 5,
            ip_requests_per_hour: 30,
            ip_verifications_per_hour: 60,
            pepper: None,
        }
    }
}

impl OtpSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(5..=6).contains(&self.code_length) {
            return Err(ConfigError::invalid("otp.code_length", "must be 5 or 6"));
        }
        if self.ttl_secs == 0 || self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "otp.ttl_secs",
                "ttl_secs and max_attempts must be at least 1",
            ));
        }
        if self.ip_requests_per_hour == 0 || self.ip_verifications_per_hour == 0 {
            return Err(ConfigError::invalid(
                "otp.ip_requests_per_hour",
                "per-IP limits must be at least 1",
            ));
        }
        Ok(())
    }

    pub fn ensure_pepper(&mut self) {
        if self.pepper.is_none() {
            self.pepper = Some(random_secret());
        }
    }
}

fn random_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(hex::encode(bytes))
}
