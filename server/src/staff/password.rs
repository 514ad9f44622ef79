//! Staff passwords: argon2id (the `argon2` crate's defaults: m=19 MiB, t=2, p=1), stored as
//! PHC strings, so parameters can be raised later without invalidating stored hashes.
//! Hashing is slow on purpose; it runs on the blocking thread pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{ApiError, ApiResult};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest password accepted (hashing cost grows with length).
pub const MAX_LENGTH: usize = 256;

/// Refuses passwords that are too short or too long (`BAD_USER_INPUT` on `field`).
pub fn check_strength(password: &str, field: &'static str) -> ApiResult<()> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(ApiError::bad_input(
            field,
            format!("the password must be at least {MIN_LENGTH} characters long"),
        ));
    }
    if chars > MAX_LENGTH {
        return Err(ApiError::bad_input(
            field,
            format!("the password must be at most {MAX_LENGTH} characters long"),
        ));
    }
    Ok(())
}

fn hash_now(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| ApiError::internal(anyhow::anyhow!("hashing a password: {err}")))
}

/// Hashes a password into a PHC string.
pub async fn hash(password: &str) -> ApiResult<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(ApiError::internal)?
}

/// Whether `password` matches the stored PHC string. A stored value that is not a PHC string
/// matches nothing.
pub async fn verify(password: &str, stored: &str) -> ApiResult<bool> {
    let password = password.to_string();
    let stored = stored.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(ApiError::internal)
}

/// Spends the time a real verification takes, for sign-ins whose account does not exist or
/// is locked, so their answer takes as long as a wrong password's.
pub async fn verify_dummy(password: &str) -> ApiResult<()> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = match DUMMY.get() {
        Some(stored) => stored.clone(),
        None => {
            let made = hash("a password nobody has, for timing").await?;
            DUMMY.get_or_init(|| made).clone()
        }
    };
    verify(password, &stored).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let stored = hash("correct horse battery").await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored).await.unwrap());
        assert!(!verify("correct horse batterY", &stored).await.unwrap());
        assert!(!verify("x", "not a phc string").await.unwrap());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("123456789", "password").is_err());
        assert!(check_strength("1234567890", "password").is_ok());
    }
}
