//! Column and table builders shared by the migrations, so that every table spells the same
//! concept (a Mahak mirror row, a timestamp, a money amount) the same way.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema;
pub use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_integer_uniq, boolean, double, double_null, integer,
    integer_null, small_integer, string, string_null, string_uniq, text, text_null, uuid,
    uuid_null,
};
use sea_orm_migration::sea_orm::DatabaseBackend;

pub fn name(name: &str) -> Alias {
    Alias::new(name)
}

/// A 64-bit auto-increment primary key (`bigserial` on PostgreSQL, `integer` rowid on SQLite).
pub fn big_pk(col: &str) -> ColumnDef {
    big_integer(name(col)).auto_increment().primary_key().take()
}

pub fn uuid_pk(col: &str) -> ColumnDef {
    uuid(name(col)).primary_key().take()
}

/// Money: an integer number of Rial, never a float.
pub fn money(col: &str) -> ColumnDef {
    big_integer(name(col)).default(0).take()
}

pub fn money_null(col: &str) -> ColumnDef {
    big_integer_null(name(col))
}

pub fn timestamp(col: &str) -> ColumnDef {
    schema::timestamp_with_time_zone(name(col))
}

pub fn timestamp_null(col: &str) -> ColumnDef {
    schema::timestamp_with_time_zone_null(name(col))
}

/// `created_at` / `updated_at` defaulting to the time of insertion.
pub fn created_at() -> ColumnDef {
    timestamp("created_at")
        .default(Expr::current_timestamp())
        .take()
}

pub fn updated_at() -> ColumnDef {
    timestamp("updated_at")
        .default(Expr::current_timestamp())
        .take()
}

/// JSON document: `jsonb` on PostgreSQL, JSON text on SQLite.
pub fn json(col: &str) -> ColumnDef {
    schema::json_binary(name(col))
}

pub fn json_null(col: &str) -> ColumnDef {
    schema::json_binary_null(name(col))
}

/// The columns every table mirroring a Mahak entity carries: Mahak's three identities
/// (`Id`, `ClientId`, `Code`), its `RowVersion`, the soft-delete mark and the raw payload.
/// Rows are keyed on Mahak's `Id`; children point at parents by Mahak id, not by foreign key,
/// so a child that arrives before its parent is still accepted.
pub fn mirror_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(name(table))
        .col(big_pk("id"))
        .col(big_integer_uniq(name("mahak_id")))
        .col(big_integer_null(name("mahak_client_id")))
        .col(big_integer_null(name("mahak_code")))
        .col(big_integer(name("row_version")))
        .col(timestamp_null("deleted_at"))
        .col(json("payload"))
        .col(timestamp("synced_at").default(Expr::current_timestamp()))
        .take()
}

/// Indexes every mirror table gets besides the unique `mahak_id`: the client id (matching
/// rows the store pushed) and, on PostgreSQL, a GIN index over the raw payload.
pub async fn create_mirror_indexes(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    index(manager, table, &["mahak_client_id"]).await?;
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX idx_{table}_payload ON {table} USING GIN (payload jsonb_path_ops)"
            ))
            .await?;
    }
    Ok(())
}

/// A plain (non-unique) index named `idx_<table>_<col>_<col>`.
pub async fn index(manager: &SchemaManager<'_>, table: &str, cols: &[&str]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(format!("idx_{table}_{}", cols.join("_")))
        .table(name(table));
    for col in cols {
        stmt.col(name(col));
    }
    manager.create_index(stmt).await
}

/// A unique index named `uq_<table>_<col>_<col>`.
pub async fn unique(manager: &SchemaManager<'_>, table: &str, cols: &[&str]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(format!("uq_{table}_{}", cols.join("_")))
        .table(name(table))
        .unique();
    for col in cols {
        stmt.col(name(col));
    }
    manager.create_index(stmt).await
}

/// A foreign key column reference, named `fk_<table>_<col>`.
pub fn foreign_key(
    table: &str,
    col: &str,
    parent: &str,
    parent_col: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(name(table), name(col))
        .to(name(parent), name(parent_col))
        .on_delete(on_delete)
        .take()
}

pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(name(table)).to_owned())
            .await?;
    }
    Ok(())
}
