//! Access tokens: short-lived JWTs.
//!
//! HS256 with rotatable keys. One service both signs and verifies these tokens, and nobody
//! else needs to verify them, so a shared secret is enough; an asymmetric algorithm (EdDSA)
//! would only pay off once a third party verifies tokens with a public key. The algorithm is
//! pinned: a token naming any other `alg` (including `none`) is refused before its signature
//! is looked at. The key is chosen by the header's `kid`, never by trying every key.
//!
//! `jsonwebtoken` validates `aud`, `iss` and `nbf` only on request: `aud` and `iss` are checked
//! only when present unless required, so every claim we rely on is listed in
//! `set_required_spec_claims`, and `validate_nbf` is switched on.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::settings::JwtSettings;

const ALGORITHM: Algorithm = Algorithm::HS256;

/// The claims of a customer's access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token's header names no known key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Signing and verification keys by `kid`, and the validation rules.
pub struct JwtKeys {
    active_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

/// A signed access token.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

impl JwtKeys {
    /// Keys for customer (shop) tokens: audience `jwt.shop_audience`.
    pub fn from_settings(settings: &JwtSettings) -> Self {
        Self::for_audience(settings, &settings.shop_audience)
    }

    /// Keys for staff (admin) tokens: the same key ring, audience `jwt.admin_audience`, so a
    /// customer token never verifies as a staff token and the other way round.
    pub fn admin_from_settings(settings: &JwtSettings) -> Self {
        Self::for_audience(settings, &settings.admin_audience)
    }

    /// Expects validated settings. Without any key (settings not made by `Settings::load`) a
    /// random one is used, never an empty secret.
    fn for_audience(settings: &JwtSettings, audience: &str) -> Self {
        let mut owned;
        let settings = if settings.keys.is_empty() {
            owned = settings.clone();
            owned.ensure_key();
            &owned
        } else {
            settings
        };
        let active_kid = settings
            .active_kid
            .clone()
            .or_else(|| settings.keys.first().map(|k| k.kid.clone()))
            .unwrap_or_default();
        let secret_of = |kid: &str| {
            settings
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .map(|k| k.secret.expose_secret().as_bytes().to_vec())
                .unwrap_or_default()
        };
        let verifying = settings
            .keys
            .iter()
            .map(|k| {
                (
                    k.kid.clone(),
                    DecodingKey::from_secret(k.secret.expose_secret().as_bytes()),
                )
            })
            .collect();
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = settings.leeway_secs;
        JwtKeys {
            signing: EncodingKey::from_secret(&secret_of(&active_kid)),
            active_kid,
            verifying,
            validation,
            issuer: settings.issuer.clone(),
            audience: audience.to_string(),
            ttl_secs: settings.access_ttl_secs as i64,
        }
    }

    /// Signs a token for a customer (or, with admin keys, a staff user) with the active key.
    pub fn issue(&self, customer_id: Uuid) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: customer_id,
            exp: now + self.ttl_secs,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.active_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_secs,
        })
    }

    /// Verifies signature (with the key its `kid` names), algorithm, `exp`, `nbf`, `iss`, `aud`.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Invalid(
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
            ));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        Ok(jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::JwtKey;
    use super::*;
    use base64::Engine;

    fn settings(keys: &[(&str, &str)], active: &str) -> JwtSettings {
        JwtSettings {
            keys: keys
                .iter()
                .map(|(kid, secret)| JwtKey {
                    kid: (*kid).into(),
                    secret: (*secret).into(),
                })
                .collect(),
            active_kid: Some(active.into()),
            ..JwtSettings::default()
        }
    }

    const A: &str = "a-secret-of-at-least-thirty-two-bytes!!";
    const B: &str = "b-secret-of-at-least-thirty-two-bytes!!";

    #[test]
    fn old_keys_verify_after_rotation() {
        let before = JwtKeys::from_settings(&settings(&[("a", A)], "a"));
        let after = JwtKeys::from_settings(&settings(&[("a", A), ("b", B)], "b"));
        let id = Uuid::new_v4();
        let old = before.issue(id).unwrap().token;
        assert_eq!(after.verify(&old).unwrap().sub, id);
        let new = after.issue(id).unwrap().token;
        assert_eq!(
            jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
            Some("b")
        );
        assert!(matches!(before.verify(&new), Err(TokenError::UnknownKey)));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let keys = JwtKeys::from_settings(&settings(&[("a", A)], "a"));
        let good = keys.issue(Uuid::new_v4()).unwrap().token;
        let payload = good.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT","kid":"a"}"#);
        assert!(keys.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn shop_and_admin_tokens_do_not_cross() {
        let settings = settings(&[("a", A)], "a");
        let shop = JwtKeys::from_settings(&settings);
        let admin = JwtKeys::admin_from_settings(&settings);
        let id = Uuid::new_v4();
        let staff = admin.issue(id).unwrap().token;
        let customer = shop.issue(id).unwrap().token;
        assert_eq!(admin.verify(&staff).unwrap().sub, id);
        assert!(shop.verify(&staff).is_err());
        assert!(admin.verify(&customer).is_err());
    }
}
