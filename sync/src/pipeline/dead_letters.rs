//! The dead-letter store (`dead_letters`): every Mahak row the sync could not apply, with its
//! entity, ids, raw payload, the reason and the attempts, so that nothing synced is lost.
//! Rows leave it by replay (applied after a fix) or discard (an operator's decision), and
//! are marked resolved when Mahak later sends a newer version of the same row.

use chrono::Utc;
use entity::dead_letters;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Value,
};
use serde_json::Value as Json;

use super::sql::statement;
use crate::mahak::Entity;

/// A row on its way into the store.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub entity: Entity,
    pub mahak_id: Option<i64>,
    pub client_id: Option<i64>,
    pub row_version: Option<i64>,
    pub batch_id: Option<String>,
    /// Mahak's row as received.
    pub payload: Json,
    pub error: String,
    pub attempts: i32,
}

/// Stores dead letters. The same row version failing again while its letter is open (the
/// inclusive cursor fetches the boundary rows of every run again, and consumers run
/// concurrently) counts as another attempt of that letter: one statement, guarded by the
/// unique index on open letters, so concurrent writers cannot create two.
pub async fn record<C: ConnectionTrait>(db: &C, letters: &[DeadLetter]) -> Result<(), DbErr> {
    let mut new_letters = 0;
    for letter in letters {
        let row = db
            .query_one(statement(
                db.get_database_backend(),
                "INSERT INTO dead_letters (entity, mahak_id, mahak_client_id, row_version, batch_id, \
                 payload, error, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (entity, mahak_id, row_version) \
                 WHERE replayed_at IS NULL AND discarded_at IS NULL \
                 DO UPDATE SET attempts = dead_letters.attempts + 1, error = excluded.error \
                 RETURNING attempts",
                [
                    Value::from(letter.entity.name()),
                    Value::from(letter.mahak_id),
                    Value::from(letter.client_id),
                    Value::from(letter.row_version),
                    Value::from(letter.batch_id.clone()),
                    Value::from(letter.payload.clone()),
                    Value::from(letter.error.clone()),
                    Value::from(letter.attempts),
                    Value::from(Utc::now()),
                ],
            ))
            .await?;
        let attempts = match row {
            Some(row) => row.try_get::<i32>("", "attempts")?,
            None => letter.attempts,
        };
        if attempts == letter.attempts {
            new_letters += 1;
            tracing::warn!(
                entity = %letter.entity, mahak_id = ?letter.mahak_id, row_version = ?letter.row_version,
                batch_id = ?letter.batch_id, error = %letter.error, "row dead-lettered"
            );
        }
    }
    metrics::counter!("sync_dead_lettered_total").increment(new_letters);
    Ok(())
}

/// Open dead letters (neither replayed nor discarded), oldest first.
pub async fn list_open<C: ConnectionTrait>(db: &C) -> Result<Vec<dead_letters::Model>, DbErr> {
    dead_letters::Entity::find()
        .filter(dead_letters::Column::ReplayedAt.is_null())
        .filter(dead_letters::Column::DiscardedAt.is_null())
        .order_by_asc(dead_letters::Column::Id)
        .all(db)
        .await
}

pub async fn discard<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, DbErr> {
    let Some(letter) = dead_letters::Entity::find_by_id(id).one(db).await? else {
        return Ok(false);
    };
    if letter.discarded_at.is_some() || letter.replayed_at.is_some() {
        return Ok(false);
    }
    let mut active: dead_letters::ActiveModel = letter.into();
    active.discarded_at = Set(Some(Utc::now()));
    active.update(db).await?;
    Ok(true)
}

/// Marks a dead letter replayed (its row is now in the mirror).
pub async fn mark_replayed<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    dead_letters::Entity::update_many()
        .col_expr(
            dead_letters::Column::ReplayedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(dead_letters::Column::Id.eq(id))
        .exec(db)
        .await
        .map(drop)
}

/// Counts a failed replay attempt.
pub async fn count_attempt<C: ConnectionTrait>(db: &C, id: i64, error: &str) -> Result<(), DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "UPDATE dead_letters SET attempts = attempts + 1, error = $1 WHERE id = $2",
        [Value::from(error), Value::from(id)],
    );
    db.execute(stmt).await.map(drop)
}

/// Resolves open dead letters of rows that have since been written at a newer RowVersion
/// (Mahak sent a corrected version), so the store only lists what is still missing.
pub async fn resolve_superseded<C: ConnectionTrait>(
    db: &C,
    entity: Entity,
    table: &str,
    ids: &[i64],
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let stmt = statement(
        db.get_database_backend(),
        &format!(
            "UPDATE dead_letters SET replayed_at = CURRENT_TIMESTAMP \
             WHERE entity = $1 AND replayed_at IS NULL AND discarded_at IS NULL AND mahak_id IN ({list}) \
             AND row_version < (SELECT m.row_version FROM {table} m WHERE m.mahak_id = dead_letters.mahak_id)"
        ),
        [Value::from(entity.name())],
    );
    db.execute(stmt).await.map(drop)
}
