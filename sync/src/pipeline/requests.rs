//! Requests to run a sync now (`sync_requests`): written by the admin console's `triggerSync`,
//! claimed by the first worker daemon that sees them (each polls the table between runs; the
//! embedded one is also woken at once), and answered with the id of the run that serves them.
//! Every pending request is claimed by one run, which covers the union of their entities.

use chrono::Utc;
use entity::sync_requests;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, NotSet, Value};
use uuid::Uuid;

use super::runner::RUN_ORDER;
use super::sql::statement;
use crate::mahak::Entity;

/// Records a request to sync `entity` (`None`: every entity) as soon as a worker is free.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    entity: Option<Entity>,
    requested_by: Option<Uuid>,
) -> Result<sync_requests::Model, DbErr> {
    sync_requests::ActiveModel {
        id: NotSet,
        entity: Set(entity.map(|e| e.name().to_string())),
        requested_by: Set(requested_by),
        created_at: Set(Utc::now()),
        picked_up_at: Set(None),
        run_id: Set(None),
    }
    .insert(db)
    .await
}

/// Claims every pending request for the run `run_id` and returns the entities that run must
/// cover, in run order (`None`: nothing was pending). Concurrent claimers never both take a
/// request: the update re-checks `picked_up_at` under the row lock.
pub async fn claim<C: ConnectionTrait>(db: &C, run_id: Uuid) -> Result<Option<Vec<Entity>>, DbErr> {
    let rows = db
        .query_all(statement(
            db.get_database_backend(),
            "UPDATE sync_requests SET picked_up_at = $1, run_id = $2 \
             WHERE picked_up_at IS NULL RETURNING entity",
            [Value::from(Utc::now()), Value::from(run_id)],
        ))
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut wanted = Vec::new();
    for row in rows {
        match row.try_get::<Option<String>>("", "entity")? {
            None => return Ok(Some(RUN_ORDER.to_vec())),
            Some(name) => wanted.extend(Entity::from_name(&name)),
        }
    }
    Ok(Some(
        RUN_ORDER
            .into_iter()
            .filter(|e| wanted.contains(e))
            .collect(),
    ))
}
