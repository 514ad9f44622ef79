//! One fetcher per entity at a time, across every worker replica.
//!
//! On PostgreSQL: a transaction-scoped advisory lock held by an open transaction for as long
//! as the fetch runs. It is released when the fetch ends, and, because it lives and dies with
//! the connection, also when the worker holding it is killed. On SQLite (the embedded
//! default, one process) an in-process lock does the same job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    TransactionTrait, Value,
};
use tokio::sync::OwnedMutexGuard;

use super::sql::statement;
use crate::mahak::Entity;

/// First key of the advisory lock pair: "MAHK", so the locks do not collide with others'.
const LOCK_NAMESPACE: i32 = 0x4d41_484b;

/// Held while an entity is being fetched; dropping it releases the lock.
pub struct EntityLock {
    _transaction: Option<DatabaseTransaction>,
    _local: Option<OwnedMutexGuard<()>>,
}

/// Takes the fetch lock of `entity` if no one holds it.
pub async fn try_lock(
    db: &DatabaseConnection,
    entity: Entity,
) -> Result<Option<EntityLock>, DbErr> {
    let key = Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .unwrap_or_default() as i32;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let transaction = db.begin().await?;
        let stmt = statement(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1, $2) AS locked",
            [Value::from(LOCK_NAMESPACE), Value::from(key)],
        );
        let locked = match transaction.query_one(stmt).await? {
            Some(row) => row.try_get::<bool>("", "locked")?,
            None => false,
        };
        return Ok(locked.then_some(EntityLock {
            _transaction: Some(transaction),
            _local: None,
        }));
    }
    static LOCAL: OnceLock<Mutex<HashMap<Entity, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mutex = {
        let mut map = LOCAL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(entity).or_default().clone()
    };
    Ok(mutex.try_lock_owned().ok().map(|guard| EntityLock {
        _transaction: None,
        _local: Some(guard),
    }))
}
