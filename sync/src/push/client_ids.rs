//! ClientIds for rows the store pushes to Mahak. They come from one database counter, so
//! every replica and process draws from the same series and no two rows ever share one
//! (Mahak treats a ClientId as the client's own key of a row). The migration
//! `m20261128_000001_mahak_exchange` creates the counter: a sequence on PostgreSQL, a one-row
//! table on SQLite.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Value};

use crate::pipeline::sql::statement;

/// Draws `count` fresh ClientIds.
pub async fn allocate<C: ConnectionTrait>(db: &C, count: usize) -> Result<Vec<i64>, DbErr> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let n = i64::try_from(count).map_err(|_| DbErr::Custom("too many ClientIds".into()))?;
    match backend {
        DatabaseBackend::Postgres => {
            let rows = db
                .query_all(statement(
                    backend,
                    "SELECT nextval('mahak_client_id_seq') AS id FROM generate_series(1, $1)",
                    [Value::from(n)],
                ))
                .await?;
            rows.iter().map(|row| row.try_get("", "id")).collect()
        }
        _ => {
            // One statement: SQLite's single writer makes the read-and-advance atomic.
            let row = db
                .query_one(statement(
                    backend,
                    "UPDATE mahak_client_id_counter SET next_value = next_value + $1 \
                     WHERE id = 1 RETURNING next_value",
                    [Value::from(n)],
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("the ClientId counter row is missing".into()))?;
            let next: i64 = row.try_get("", "next_value")?;
            Ok((next - n..next).collect())
        }
    }
}
