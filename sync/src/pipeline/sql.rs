//! Raw SQL shared by PostgreSQL and SQLite: statements are written with `$1`-style
//! placeholders and rewritten to SQLite's numbered `?1` form when needed.

use sea_orm::{DatabaseBackend, Statement, Value};

pub fn statement(
    backend: DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => sql.to_string(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// "Is this database error worth retrying?" Connection loss, pool exhaustion, serialization
/// failures, deadlocks, resource exhaustion and shutdowns are; anything about the data is not.
pub fn is_transient(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx_error = match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_error {
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLSTATE classes: 08 connection, 40 transaction rollback, 53 resources,
            // 57 operator intervention, 58 system error. SQLite: 5 BUSY, 6 LOCKED.
            ["08", "40", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "5"
                || code == "6"
        }
        _ => false,
    }
}
