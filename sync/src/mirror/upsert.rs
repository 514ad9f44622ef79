//! The idempotent bulk upsert of mirror rows.
//!
//! One statement per table per batch: on PostgreSQL the rows are bound as a single JSON
//! array and expanded into typed columns by `json_to_recordset` (one parameter, so no
//! 65,535-parameter limit, and NULLs inside columns, which sea-query's array binding cannot
//! carry); on SQLite as chunked multi-row `VALUES`. The conflict rule is the invariant of the whole sync:
//! a stored row is replaced only by a strictly newer RowVersion, so replays, redeliveries and
//! out-of-order pages change nothing. Rows are validated against the table's spec first and
//! deduplicated by Mahak id (PostgreSQL refuses one statement touching a key twice).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value as SqlValue};
use serde_json::Value;

use super::price::refresh_price_summary;
use super::{spec_for, ColumnKind, MirrorRow, TableSpec};
use crate::mahak::Entity;

/// A row the consumer will not write, and why.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    pub row: MirrorRow,
    pub reason: String,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyCounts {
    /// Rows inserted or replaced by a newer RowVersion.
    pub written: u64,
    /// Rows whose stored RowVersion was already as new (replays, the inclusive cursor's
    /// boundary rows, duplicates within the batch).
    pub unchanged: u64,
    /// Of the written rows, those that carry Mahak's delete mark.
    pub deleted: u64,
}

/// Shop-side choices the consumer applies to rows it sees for the first time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Whether a product new to the shop is published at once.
    pub publish_new_products: bool,
}

/// Whether every row fits the table: what a batch from the worker almost always does, and
/// lets the consumer write the batch's rows as they are instead of a copy split by
/// [`validate`].
pub fn all_fit(spec: &TableSpec, rows: &[MirrorRow]) -> bool {
    rows.iter().all(|row| check_row(spec, row).is_ok())
}

/// Splits rows into those that fit the table and those that do not.
pub fn validate(spec: &TableSpec, rows: Vec<MirrorRow>) -> (Vec<MirrorRow>, Vec<RejectedRow>) {
    let mut good = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for row in rows {
        match check_row(spec, &row) {
            Ok(()) => good.push(row),
            Err(reason) => bad.push(RejectedRow { row, reason }),
        }
    }
    (good, bad)
}

fn check_row(spec: &TableSpec, row: &MirrorRow) -> Result<(), String> {
    if row.row_version < 0 {
        return Err(format!("negative RowVersion {}", row.row_version));
    }
    for name in row.columns.keys() {
        if !spec.columns.iter().any(|c| c.name == name) {
            return Err(format!("`{}` has no column `{name}`", spec.table));
        }
    }
    for column in spec.columns {
        let value = row.columns.get(column.name).unwrap_or(&Value::Null);
        if value.is_null() {
            if column.required {
                return Err(format!("`{}` is required", column.name));
            }
            continue;
        }
        let fits = match column.kind {
            ColumnKind::BigInt => value.as_i64().is_some(),
            ColumnKind::Int => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
            ColumnKind::SmallInt => value.as_i64().is_some_and(|v| i16::try_from(v).is_ok()),
            ColumnKind::Float => value.as_f64().is_some_and(f64::is_finite),
            ColumnKind::Text => value.is_string(),
            ColumnKind::Json => true,
            ColumnKind::Time => value
                .as_str()
                .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok()),
        };
        if !fits {
            return Err(format!(
                "`{}` must be {:?}, got {value}",
                column.name, column.kind
            ));
        }
    }
    Ok(())
}

/// Keeps, for each Mahak id, the row with the highest RowVersion (the later one on ties).
pub fn dedupe(rows: &[MirrorRow]) -> Vec<&MirrorRow> {
    let mut latest: HashMap<i64, &MirrorRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        match latest.get(&row.mahak_id) {
            Some(kept) if kept.row_version > row.row_version => {}
            _ => {
                latest.insert(row.mahak_id, row);
            }
        }
    }
    let mut rows: Vec<&MirrorRow> = latest.into_values().collect();
    rows.sort_by_key(|r| r.mahak_id);
    rows
}

/// Writes validated rows of `entity` (call inside the batch's transaction) and keeps the
/// derived data in step: new products and categories get their shop listing, and products
/// whose variants changed get their price summary refreshed.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    entity: Entity,
    rows: &[MirrorRow],
    options: ApplyOptions,
) -> Result<ApplyCounts, DbErr> {
    let spec = spec_for(entity);
    let total = rows.len() as u64;
    let rows = dedupe(rows);
    if rows.is_empty() {
        return Ok(ApplyCounts::default());
    }
    let now = Utc::now();
    let mut counts = ApplyCounts {
        unchanged: total - rows.len() as u64,
        ..Default::default()
    };
    let chunk = match db.get_database_backend() {
        DatabaseBackend::Postgres => 5_000,
        // SQLite binds every value; stay under its 32,766-variable limit.
        _ => (30_000 / (7 + spec.columns.len())).max(1),
    };
    for rows in rows.chunks(chunk) {
        let statement = match db.get_database_backend() {
            DatabaseBackend::Postgres => postgres_upsert(spec, rows),
            _ => sqlite_upsert(spec, rows, now),
        };
        let written = db.query_all(statement).await?;
        let written_ids: std::collections::HashSet<i64> = written
            .iter()
            .filter_map(|r| r.try_get::<i64>("", "mahak_id").ok())
            .collect();
        counts.written += written_ids.len() as u64;
        counts.unchanged += (rows.len() - written_ids.len()) as u64;
        counts.deleted += rows
            .iter()
            .filter(|r| r.deleted && written_ids.contains(&r.mahak_id))
            .count() as u64;
    }

    match entity {
        Entity::Product => {
            create_listings(
                db,
                "product_listings",
                "product_id",
                "products",
                &rows,
                options.publish_new_products,
            )
            .await?;
            let ids: Vec<i64> = rows.iter().map(|r| r.mahak_id).collect();
            refresh_price_summary(db, &ids).await?;
        }
        Entity::ProductCategory => {
            create_listings(
                db,
                "category_listings",
                "category_id",
                "categories",
                &rows,
                true,
            )
            .await?;
        }
        Entity::ProductDetail => {
            let mut products: Vec<i64> = rows
                .iter()
                .filter_map(|r| r.columns.get("product_mahak_id")?.as_i64())
                .collect();
            products.sort_unstable();
            products.dedup();
            refresh_price_summary(db, &products).await?;
        }
        _ => {}
    }
    Ok(counts)
}

const COMMON: [&str; 7] = [
    "mahak_id",
    "mahak_client_id",
    "mahak_code",
    "row_version",
    "deleted_at",
    "payload",
    "synced_at",
];

fn column_names(spec: &TableSpec) -> Vec<&'static str> {
    COMMON
        .iter()
        .copied()
        .chain(spec.columns.iter().map(|c| c.name))
        .collect()
}

/// `SET col = EXCLUDED.col, ...` for every column but the key, guarded by RowVersion.
fn conflict_clause(spec: &TableSpec, excluded: &str) -> String {
    let sets = column_names(spec)
        .into_iter()
        .filter(|c| *c != "mahak_id")
        .map(|c| format!("{c} = {excluded}.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "ON CONFLICT (mahak_id) DO UPDATE SET {sets} WHERE {table}.row_version < {excluded}.row_version",
        table = spec.table
    )
}

/// The values of one row, common columns first, in [`column_names`] order.
fn row_values(spec: &TableSpec, row: &MirrorRow, now: DateTime<Utc>) -> Vec<SqlValue> {
    let mut values = vec![
        SqlValue::BigInt(Some(row.mahak_id)),
        SqlValue::BigInt(row.client_id),
        SqlValue::BigInt(row.code),
        SqlValue::BigInt(Some(row.row_version)),
        SqlValue::ChronoDateTimeUtc(row.deleted.then(|| Box::new(now))),
        SqlValue::Json(Some(Box::new(row.payload.clone()))),
        SqlValue::ChronoDateTimeUtc(Some(Box::new(now))),
    ];
    for column in spec.columns {
        let value = row.columns.get(column.name).filter(|v| !v.is_null());
        values.push(match column.kind {
            ColumnKind::BigInt => SqlValue::BigInt(value.and_then(Value::as_i64)),
            ColumnKind::Int => SqlValue::Int(
                value
                    .and_then(Value::as_i64)
                    .and_then(|v| i32::try_from(v).ok()),
            ),
            ColumnKind::SmallInt => SqlValue::SmallInt(
                value
                    .and_then(Value::as_i64)
                    .and_then(|v| i16::try_from(v).ok()),
            ),
            ColumnKind::Float => SqlValue::Double(value.and_then(Value::as_f64)),
            ColumnKind::Text => SqlValue::String(
                value
                    .and_then(Value::as_str)
                    .map(|s| Box::new(s.to_string())),
            ),
            ColumnKind::Json => SqlValue::Json(value.map(|v| Box::new(v.clone()))),
            ColumnKind::Time => SqlValue::ChronoDateTimeUtc(
                value
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| Box::new(t.with_timezone(&Utc))),
            ),
        });
    }
    values
}

fn postgres_upsert(spec: &TableSpec, rows: &[&MirrorRow]) -> Statement {
    let records: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut record = row.columns.clone();
            record.insert("mahak_id".into(), row.mahak_id.into());
            record.insert("mahak_client_id".into(), row.client_id.into());
            record.insert("mahak_code".into(), row.code.into());
            record.insert("row_version".into(), row.row_version.into());
            record.insert("deleted".into(), row.deleted.into());
            record.insert("payload".into(), row.payload.clone());
            Value::Object(record)
        })
        .collect();
    let record_type = [
        "mahak_id bigint",
        "mahak_client_id bigint",
        "mahak_code bigint",
        "row_version bigint",
        "deleted boolean",
        "payload jsonb",
    ]
    .into_iter()
    .map(str::to_string)
    .chain(
        spec.columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.kind.pg_type())),
    )
    .collect::<Vec<_>>()
    .join(", ");
    let select = [
        "x.mahak_id",
        "x.mahak_client_id",
        "x.mahak_code",
        "x.row_version",
    ]
    .into_iter()
    .map(str::to_string)
    .chain([
        "CASE WHEN x.deleted THEN now() END".into(),
        "x.payload".into(),
        "now()".into(),
    ])
    .chain(spec.columns.iter().map(|c| format!("x.{}", c.name)))
    .collect::<Vec<_>>()
    .join(", ");
    let sql = format!(
        "INSERT INTO {table} ({cols}) SELECT {select} FROM json_to_recordset($1::json) AS x({record_type}) \
         {conflict} RETURNING mahak_id",
        table = spec.table,
        cols = column_names(spec).join(", "),
        conflict = conflict_clause(spec, "EXCLUDED"),
    );
    let json = Value::Array(records).to_string();
    Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        [SqlValue::String(Some(Box::new(json)))],
    )
}

fn sqlite_upsert(spec: &TableSpec, rows: &[&MirrorRow], now: DateTime<Utc>) -> Statement {
    let names = column_names(spec);
    let placeholders = format!("({})", vec!["?"; names.len()].join(", "));
    let mut values = Vec::with_capacity(rows.len() * names.len());
    for row in rows {
        values.extend(row_values(spec, row, now));
    }
    let sql = format!(
        "INSERT INTO {table} ({cols}) VALUES {rows} {conflict} RETURNING mahak_id",
        table = spec.table,
        cols = names.join(", "),
        rows = vec![placeholders; rows.len()].join(", "),
        conflict = conflict_clause(spec, "excluded"),
    );
    Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values)
}

/// Gives rows seen for the first time their shop-owned listing (slug, published flag);
/// existing listings are left alone, so the shop's edits survive every sync.
async fn create_listings<C: ConnectionTrait>(
    db: &C,
    listing_table: &str,
    key_column: &str,
    mirror_table: &str,
    rows: &[&MirrorRow],
    published: bool,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for rows in rows.chunks(5_000) {
        let ids: Vec<i64> = rows.iter().map(|r| r.mahak_id).collect();
        let slugs: Vec<String> = rows
            .iter()
            .map(|r| {
                slug(
                    r.columns
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    r.mahak_id,
                )
            })
            .collect();
        let statement = if backend == DatabaseBackend::Postgres {
            let records: Vec<Value> = ids
                .iter()
                .zip(&slugs)
                .map(|(id, slug)| serde_json::json!({ "mahak_id": id, "slug": slug }))
                .collect();
            let sql = format!(
                "INSERT INTO {listing_table} ({key_column}, slug, published) \
                 SELECT m.id, s.slug, $2 FROM json_to_recordset($1::json) AS s(mahak_id bigint, slug text) \
                 JOIN {mirror_table} m ON m.mahak_id = s.mahak_id ON CONFLICT DO NOTHING"
            );
            let values = [
                SqlValue::String(Some(Box::new(Value::Array(records).to_string()))),
                SqlValue::Bool(Some(published)),
            ];
            Statement::from_sql_and_values(backend, sql, values)
        } else {
            let pairs = vec!["(?, ?)"; rows.len()].join(", ");
            let sql = format!(
                "INSERT INTO {listing_table} ({key_column}, slug, published) \
                 SELECT m.id, s.column2, ? FROM (VALUES {pairs}) AS s \
                 JOIN {mirror_table} m ON m.mahak_id = s.column1 WHERE true ON CONFLICT DO NOTHING"
            );
            let mut values = vec![SqlValue::Bool(Some(published))];
            for (id, slug) in ids.into_iter().zip(slugs) {
                values.push(SqlValue::BigInt(Some(id)));
                values.push(SqlValue::String(Some(Box::new(slug))));
            }
            Statement::from_sql_and_values(backend, sql, values)
        };
        db.execute(statement).await?;
    }
    Ok(())
}

/// A URL slug: the name's letters and digits (Persian kept, Latin lower-cased) joined by
/// hyphens, suffixed with the Mahak id so that it is unique and stable.
pub fn slug(name: &str, mahak_id: i64) -> String {
    let folded = crate::persian::fold_for_search(name);
    let mut out = String::with_capacity(folded.len() + 12);
    for word in folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
    {
        out.push_str(word);
        out.push('-');
    }
    out.push_str(&mahak_id.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: i64, rv: i64, columns: Value) -> MirrorRow {
        MirrorRow {
            mahak_id: id,
            client_id: None,
            code: None,
            row_version: rv,
            deleted: false,
            payload: json!({}),
            columns: columns.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn validation_rejects_rows_that_do_not_fit() {
        let spec = spec_for(Entity::ProductDetailStoreAsset);
        let ok = row(
            1,
            1,
            json!({ "variant_mahak_id": 1, "warehouse_mahak_id": 2, "quantity": 1.5, "quantity2": 0 }),
        );
        let missing = row(
            2,
            1,
            json!({ "variant_mahak_id": 1, "quantity": 1.5, "quantity2": 0 }),
        );
        let wrong = row(
            3,
            1,
            json!({ "variant_mahak_id": "x", "warehouse_mahak_id": 2, "quantity": 1, "quantity2": 0 }),
        );
        let unknown = row(
            4,
            1,
            json!({ "variant_mahak_id": 1, "warehouse_mahak_id": 2, "quantity": 1, "quantity2": 0, "nope": 1 }),
        );
        assert!(all_fit(spec, std::slice::from_ref(&ok)));
        for bad_row in [&missing, &wrong, &unknown] {
            assert!(!all_fit(spec, &[ok.clone(), bad_row.clone()]));
        }
        let (good, bad) = validate(spec, vec![ok, missing, wrong, unknown]);
        assert_eq!(good.iter().map(|r| r.mahak_id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(bad.len(), 3);
        assert!(
            bad[0].reason.contains("warehouse_mahak_id"),
            "{}",
            bad[0].reason
        );
    }

    #[test]
    fn dedupe_keeps_the_newest_row_per_id() {
        let rows = vec![
            row(1, 5, json!({})),
            row(1, 9, json!({})),
            row(2, 3, json!({})),
            row(1, 7, json!({})),
        ];
        let kept = dedupe(&rows);
        assert_eq!(
            kept.iter()
                .map(|r| (r.mahak_id, r.row_version))
                .collect::<Vec<_>>(),
            vec![(1, 9), (2, 3)]
        );
    }

    #[test]
    fn slugs_are_readable_and_unique() {
        assert_eq!(slug("چاي سياه ۱۰۰ گرمی", 42), "چای-سیاه-100-گرمی-42");
        assert_eq!(slug("Samsung Galaxy (A55)", 7), "samsung-galaxy-a55-7");
        assert_eq!(slug("", 7), "7");
    }
}
