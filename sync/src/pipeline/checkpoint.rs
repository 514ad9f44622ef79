//! The RowVersion checkpoint per Mahak entity (`sync_checkpoints`).
//!
//! The stored value is the cursor of the next `GetAllData` call: the highest RowVersion whose
//! rows are durably handed on. Mahak's cursor is inclusive, so rows at exactly that RowVersion
//! are fetched again next time; the upsert makes that harmless. The checkpoint never moves
//! backwards, whichever replica writes it.

use sea_orm::{ConnectionTrait, DbErr, Value};

use super::sql::statement;
use crate::mahak::Entity;

pub async fn load<C: ConnectionTrait>(db: &C, entity: Entity) -> Result<i64, DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "SELECT row_version FROM sync_checkpoints WHERE entity = $1",
        [Value::from(entity.name())],
    );
    Ok(match db.query_one(stmt).await? {
        Some(row) => row.try_get::<i64>("", "row_version")?,
        None => 0,
    })
}

/// Moves the checkpoint forward to `to` (never backwards).
pub async fn advance<C: ConnectionTrait>(db: &C, entity: Entity, to: i64) -> Result<(), DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "INSERT INTO sync_checkpoints (entity, row_version, updated_at) VALUES ($1, $2, CURRENT_TIMESTAMP) \
         ON CONFLICT (entity) DO UPDATE SET \
         row_version = CASE WHEN excluded.row_version > sync_checkpoints.row_version \
                            THEN excluded.row_version ELSE sync_checkpoints.row_version END, \
         updated_at = excluded.updated_at",
        [Value::from(entity.name()), Value::from(to)],
    );
    db.execute(stmt).await.map(drop)
}

/// Records that a fetch of `entity` reached the end of Mahak's data.
pub async fn mark_caught_up<C: ConnectionTrait>(db: &C, entity: Entity) -> Result<(), DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "INSERT INTO sync_checkpoints (entity, row_version, last_success_at, updated_at) \
         VALUES ($1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) \
         ON CONFLICT (entity) DO UPDATE SET last_success_at = CURRENT_TIMESTAMP",
        [Value::from(entity.name())],
    );
    db.execute(stmt).await.map(drop)
}

/// Sets `sync_lag_seconds{entity}`: time since each entity last caught up with Mahak.
/// Called when metrics are scraped.
pub async fn record_lag_metrics<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "SELECT entity, last_success_at FROM sync_checkpoints WHERE last_success_at IS NOT NULL",
        [],
    );
    let now = chrono::Utc::now();
    for row in db.query_all(stmt).await? {
        let entity: String = row.try_get("", "entity")?;
        let at: chrono::DateTime<chrono::Utc> = row.try_get("", "last_success_at")?;
        metrics::gauge!("sync_lag_seconds", "entity" => entity)
            .set((now - at).num_milliseconds() as f64 / 1000.0);
    }
    Ok(())
}
