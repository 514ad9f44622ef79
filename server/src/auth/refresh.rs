//! Refresh tokens: opaque random strings, stored as SHA-256 hashes (they carry 256 bits of
//! entropy, so a plain hash cannot be reversed and needs no pepper).
//!
//! A sign-in starts a family. Every use spends the token and issues the next one in the same
//! family. Presenting a spent token means it was copied (by a thief or by the client after a
//! thief used it): the whole family is revoked, and both parties must sign in again.

use base64::Engine;
use chrono::Utc;
use entity::refresh_tokens::{self, Column, Entity};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Auth;
use crate::error::{ApiError, ApiResult};

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn insert(
    db: &impl ConnectionTrait,
    auth: &Auth,
    customer_id: Uuid,
    family_id: Uuid,
    user_agent: Option<String>,
) -> ApiResult<String> {
    let token = new_token();
    let now = Utc::now();
    refresh_tokens::ActiveModel {
        id: Set(super::new_id()),
        customer_id: Set(customer_id),
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

/// Starts a new family at sign-in and returns its first token.
pub async fn start_family(
    db: &DatabaseConnection,
    auth: &Auth,
    customer_id: Uuid,
    user_agent: Option<String>,
) -> ApiResult<String> {
    insert(db, auth, customer_id, super::new_id(), user_agent).await
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

/// Spends `token` and returns its customer and the family's next token.
pub async fn rotate(
    db: &DatabaseConnection,
    auth: &Auth,
    token: &str,
) -> ApiResult<(Uuid, String)> {
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
        tracing::warn!(family = %stored.family_id, "spent refresh token reused; family revoked");
        revoke_family(db, stored.family_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    let txn = db.begin().await?;
    let spent = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(stored.id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        // Spent concurrently: the same token was presented twice.
        txn.rollback().await?;
        tracing::warn!(family = %stored.family_id, "refresh token used twice at once; family revoked");
        revoke_family(db, stored.family_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    let next = insert(
        &txn,
        auth,
        stored.customer_id,
        stored.family_id,
        stored.user_agent.clone(),
    )
    .await?;
    txn.commit().await?;
    Ok((stored.customer_id, next))
}

/// Signs out: revokes the family `token` belongs to. Unknown tokens are ignored, so logging
/// out twice is not an error.
pub async fn logout(db: &DatabaseConnection, token: &str) -> ApiResult<()> {
    if let Some(stored) = Entity::find()
        .filter(Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
    {
        revoke_family(db, stored.family_id).await?;
    }
    Ok(())
}
