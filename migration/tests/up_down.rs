//! Runs every migration up, down and up again, on SQLite (in memory) and on PostgreSQL 15.
//!
//! After each `up` the test checks that the schema is the one the `entity` crate describes:
//! every table exists and has an entity, and every entity's columns, nullability, primary key
//! and single-column unique constraints match the database (on PostgreSQL, the column types
//! too). It then writes and reads rows through the entities. After `down` nothing but
//! `seaql_migrations` may be left, and a second `up` must succeed.
//!
//! The PostgreSQL test creates a fresh database per run on the server at
//! `MIGRATION_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it
//! at the end. It fails, rather than skips, when that server is unreachable.

use std::collections::{BTreeMap, BTreeSet};

use entity::{cart_lines, carts, customers, product_listings, products, variants};
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, IdenStatic, Iterable, ModelTrait, PrimaryKeyToColumn, QueryResult, Set, Statement,
};
use serde_json::json;
use uuid::Uuid;

type TestResult = Result<(), String>;

/// Fails the check with a message instead of panicking, so the PostgreSQL test can still drop
/// its database before reporting.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn db_err(context: &str) -> impl FnOnce(sea_orm::DbErr) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// What an entity says about its table.
struct EntityInfo {
    table: String,
    /// Column name to its definition.
    columns: BTreeMap<String, ColumnInfo>,
    primary_key: BTreeSet<String>,
}

struct ColumnInfo {
    nullable: bool,
    unique: bool,
    column_type: ColumnType,
}

fn entity_info<E: EntityTrait>() -> EntityInfo {
    let columns = E::Column::iter()
        .map(|col| {
            let def = col.def();
            let info = ColumnInfo {
                nullable: def.is_null(),
                unique: def.is_unique(),
                column_type: def.get_column_type().clone(),
            };
            (col.as_str().to_owned(), info)
        })
        .collect();
    let primary_key = E::PrimaryKey::iter()
        .map(|key| key.into_column().as_str().to_owned())
        .collect();
    EntityInfo {
        table: E::default().table_name().to_owned(),
        columns,
        primary_key,
    }
}

macro_rules! entities {
    ($($module:ident),+ $(,)?) => {
        vec![$(entity_info::<entity::$module::Entity>()),+]
    };
}

/// Every entity of the crate. A table created by the migrations but missing here fails the test.
fn all_entities() -> Vec<EntityInfo> {
    entities![
        warehouses,
        categories,
        products,
        variants,
        variant_stock,
        category_listings,
        product_listings,
        product_images,
        image_uploads,
        customers,
        customer_addresses,
        otp_challenges,
        refresh_tokens,
        roles,
        staff_users,
        audit_entries,
        promotions,
        carts,
        cart_lines,
        orders,
        order_lines,
        order_events,
        payments,
        payment_events,
        content_pages,
        notifications,
        mahak_person_groups,
        mahak_people,
        mahak_person_addresses,
        mahak_visitor_people,
        mahak_visitor_products,
        mahak_pictures,
        mahak_photo_galleries,
        mahak_orders,
        mahak_order_details,
        mahak_receipts,
        mahak_cheques,
        mahak_transactions,
        mahak_settings,
        sync_checkpoints,
        sync_inbox,
        sync_runs,
        sync_requests,
        dead_letters,
        outbox,
        auth_attempts,
        payment_sandbox_sessions,
        order_number_seq,
        stock_reservations,
        staff_refresh_tokens,
        banners,
    ]
}

const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Tables no entity describes on purpose: SQLite's stand-in for the ClientId sequence
/// (`m20261128_000001_mahak_exchange`), read and advanced by raw SQL only.
const TABLES_WITHOUT_ENTITY: &[(DbBackend, &str)] =
    &[(DbBackend::Sqlite, "mahak_client_id_counter")];

async fn query(db: &DatabaseConnection, sql: &str) -> Result<Vec<QueryResult>, String> {
    db.query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map_err(|e| format!("query failed: {e}\n{sql}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<T, String> {
    row.try_get("", col)
        .map_err(|e| format!("reading column {col}: {e}"))
}

/// Names of the user tables in the database (SQLite's internal tables excluded).
async fn tables(db: &DatabaseConnection) -> Result<BTreeSet<String>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'public'"
        }
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        other => return Err(format!("unsupported backend {other:?}")),
    };
    query(db, sql)
        .await?
        .iter()
        .map(|row| get::<String>(row, "name"))
        .collect()
}

/// Every schema object (table, index, sequence, view) apart from the migrations table and its
/// primary key index.
async fn leftover_objects(db: &DatabaseConnection) -> Result<BTreeSet<String>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT c.relname::text AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' \
               AND c.relname NOT IN ('seaql_migrations', 'seaql_migrations_pkey')"
        }
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'"
        }
        other => return Err(format!("unsupported backend {other:?}")),
    };
    query(db, sql)
        .await?
        .iter()
        .map(|row| get::<String>(row, "name"))
        .collect()
}

/// The database's view of one column.
struct DbColumn {
    nullable: bool,
    /// PostgreSQL `data_type`, or SQLite's declared type.
    data_type: String,
}

/// (table, column) → column, for every user table.
async fn db_columns(
    db: &DatabaseConnection,
) -> Result<BTreeMap<(String, String), DbColumn>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text AS tbl, column_name::text AS col, \
                    (is_nullable = 'YES') AS nullable, data_type::text AS data_type \
             FROM information_schema.columns WHERE table_schema = 'public'"
        }
        DbBackend::Sqlite => {
            "SELECT m.name AS tbl, c.name AS col, (c.\"notnull\" = 0 AND c.pk = 0) AS nullable, \
                    lower(c.type) AS data_type \
             FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        }
        other => return Err(format!("unsupported backend {other:?}")),
    };
    let mut columns = BTreeMap::new();
    for row in query(db, sql).await? {
        let column = DbColumn {
            nullable: get::<bool>(&row, "nullable")?,
            data_type: get::<String>(&row, "data_type")?,
        };
        columns.insert((get(&row, "tbl")?, get(&row, "col")?), column);
    }
    Ok(columns)
}

/// (table, column) pairs of the primary keys.
async fn db_primary_keys(db: &DatabaseConnection) -> Result<BTreeSet<(String, String)>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT t.relname::text AS tbl, a.attname::text AS col FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = 'public' AND i.indisprimary"
        }
        DbBackend::Sqlite => {
            "SELECT m.name AS tbl, c.name AS col \
             FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND c.pk > 0"
        }
        other => return Err(format!("unsupported backend {other:?}")),
    };
    query(db, sql)
        .await?
        .iter()
        .map(|row| Ok((get(row, "tbl")?, get(row, "col")?)))
        .collect()
}

/// (table, column) pairs carrying a unique constraint or unique index of their own (primary
/// keys and multi-column unique indexes excluded).
async fn db_unique_columns(db: &DatabaseConnection) -> Result<BTreeSet<(String, String)>, String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT t.relname::text AS tbl, a.attname::text AS col FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = 'public' AND i.indisunique AND NOT i.indisprimary \
               AND i.indnatts = 1"
        }
        DbBackend::Sqlite => {
            "SELECT m.name AS tbl, ii.name AS col \
             FROM sqlite_master m \
             JOIN pragma_index_list(m.name) il \
             JOIN pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND il.\"unique\" = 1 AND il.origin <> 'pk' \
               AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1"
        }
        other => return Err(format!("unsupported backend {other:?}")),
    };
    query(db, sql)
        .await?
        .iter()
        .map(|row| Ok((get(row, "tbl")?, get(row, "col")?)))
        .collect()
}

/// PostgreSQL's `data_type` for the column types the entities use.
fn postgres_type(column_type: &ColumnType) -> Option<&'static str> {
    Some(match column_type {
        ColumnType::BigInteger => "bigint",
        ColumnType::Integer => "integer",
        ColumnType::SmallInteger => "smallint",
        ColumnType::Double => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::String(_) => "character varying",
        ColumnType::Text => "text",
        ColumnType::Uuid => "uuid",
        ColumnType::TimestampWithTimeZone => "timestamp with time zone",
        ColumnType::JsonBinary => "jsonb",
        _ => return None,
    })
}

/// The tables exist, and they are exactly the tables the entities describe, column by column.
async fn check_schema(db: &DatabaseConnection) -> TestResult {
    let entities = all_entities();
    let manager = SchemaManager::new(db);
    for entity in &entities {
        let exists = manager
            .has_table(&entity.table)
            .await
            .map_err(db_err("has_table"))?;
        ensure!(exists, "table {} is missing after up", entity.table);
    }

    let expected: BTreeSet<String> = entities
        .iter()
        .map(|e| e.table.clone())
        .chain([MIGRATIONS_TABLE.to_owned()])
        .collect();
    ensure!(
        expected.len() == entities.len() + 1,
        "two entities name the same table"
    );
    let backend = db.get_database_backend();
    let expected: BTreeSet<String> = expected
        .into_iter()
        .chain(
            TABLES_WITHOUT_ENTITY
                .iter()
                .filter(|(b, _)| *b == backend)
                .map(|(_, t)| (*t).to_owned()),
        )
        .collect();
    let actual = tables(db).await?;
    ensure!(
        actual == expected,
        "tables without an entity: {:?}; entities without a table: {:?}",
        actual.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&actual).collect::<Vec<_>>()
    );

    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let columns = db_columns(db).await?;
    let primary_keys = db_primary_keys(db).await?;
    let unique_columns = db_unique_columns(db).await?;
    let mut problems = Vec::new();
    for entity in &entities {
        let table = &entity.table;
        let db_names: BTreeSet<&String> = columns
            .keys()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c)
            .collect();
        let entity_names: BTreeSet<&String> = entity.columns.keys().collect();
        if db_names != entity_names {
            problems.push(format!(
                "{table}: columns only in the database {:?}, only in the entity {:?}",
                db_names.difference(&entity_names).collect::<Vec<_>>(),
                entity_names.difference(&db_names).collect::<Vec<_>>()
            ));
        }
        for (name, info) in &entity.columns {
            let key = (table.clone(), name.clone());
            let Some(column) = columns.get(&key) else {
                continue;
            };
            if column.nullable != info.nullable {
                problems.push(format!(
                    "{table}.{name}: nullable in the database {}, in the entity {}",
                    column.nullable, info.nullable
                ));
            }
            if postgres {
                let expected = postgres_type(&info.column_type);
                if expected != Some(column.data_type.as_str()) {
                    problems.push(format!(
                        "{table}.{name}: database type {}, entity type {:?}",
                        column.data_type, info.column_type
                    ));
                }
            }
            if unique_columns.contains(&key) != info.unique {
                problems.push(format!(
                    "{table}.{name}: unique in the database {}, in the entity {}",
                    unique_columns.contains(&key),
                    info.unique
                ));
            }
        }
        let db_key: BTreeSet<String> = primary_keys
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.clone())
            .collect();
        if db_key != entity.primary_key {
            problems.push(format!(
                "{table}: primary key {db_key:?} in the database, {:?} in the entity",
                entity.primary_key
            ));
        }
    }
    ensure!(
        problems.is_empty(),
        "entities do not match the schema:\n{}",
        problems.join("\n")
    );
    Ok(())
}

/// Writes a small graph of rows through the entities and reads it back: a product with its
/// listing and a variant, a customer with a cart holding the variant. Columns left unset take
/// the defaults the migrations declare.
async fn check_rows(db: &DatabaseConnection) -> TestResult {
    let product_payload = json!({"Id": 1001, "Name": "چای سبز", "RowVersion": 7});
    let product = products::ActiveModel {
        mahak_id: Set(1001),
        mahak_code: Set(Some(12)),
        row_version: Set(7),
        payload: Set(product_payload.clone()),
        name: Set("چای سبز".to_owned()),
        tax_percent: Set(9.0),
        weight: Set(Some(0.5)),
        min_price: Set(Some(1_250_000)),
        max_price: Set(Some(1_500_000)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert products"))?;
    ensure!(product.id > 0, "products.id not assigned: {}", product.id);
    ensure!(
        product.payload == product_payload,
        "payload changed: {:?}",
        product.payload
    );
    ensure!(
        product.search_text.is_empty(),
        "search_text default: {:?}",
        product.search_text
    );
    ensure!(
        product.toll_percent == 0.0,
        "toll_percent default: {}",
        product.toll_percent
    );
    ensure!(product.deleted_at.is_none(), "deleted_at default set");
    let age = chrono::Utc::now() - product.synced_at;
    ensure!(
        age.num_minutes().abs() < 5,
        "synced_at default is not the time of insertion: {}",
        product.synced_at
    );

    let listing = product_listings::ActiveModel {
        product_id: Set(product.id),
        slug: Set("green-tea".to_owned()),
        description: Set(Some("Loose leaf".to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert product_listings"))?;
    ensure!(
        !listing.published,
        "product_listings.published should default to false"
    );

    let orphan = product_listings::ActiveModel {
        product_id: Set(product.id + 1000),
        slug: Set("orphan".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await;
    ensure!(
        orphan.is_err(),
        "product_listings accepted a product_id with no product (foreign key missing)"
    );

    let variant_payload =
        json!({"ProductDetailId": 2001, "Properties": [{"Name": "وزن", "Value": "۲۵۰ گرم"}]});
    let variant = variants::ActiveModel {
        mahak_id: Set(2001),
        row_version: Set(8),
        payload: Set(variant_payload.clone()),
        product_mahak_id: Set(product.mahak_id),
        barcode: Set(Some("6260000000001".to_owned())),
        properties: Set(json!({"weight": "250g"})),
        price_1: Set(Some(1_250_000)),
        price_2: Set(Some(1_500_000)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert variants"))?;
    ensure!(
        variant.payload == variant_payload,
        "variant payload changed: {:?}",
        variant.payload
    );
    ensure!(
        variant.default_price_level == 1,
        "default_price_level default: {}",
        variant.default_price_level
    );
    ensure!(variant.price_3.is_none(), "price_3 should be NULL");

    let (found, found_listing) = products::Entity::find_by_id(product.id)
        .find_also_related(product_listings::Entity)
        .one(db)
        .await
        .map_err(db_err("select products with listing"))?
        .ok_or("product not found")?;
    ensure!(found == product, "product read back differs: {found:?}");
    ensure!(
        found_listing.as_ref() == Some(&listing),
        "listing read back: {found_listing:?}"
    );

    let customer = customers::ActiveModel {
        id: Set(Uuid::new_v4()),
        phone: Set("+989121234567".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert customers"))?;
    ensure!(
        customer.status == "active",
        "customers.status default: {}",
        customer.status
    );
    ensure!(
        customer.mahak_state == "not_pushed",
        "customers.mahak_state default: {}",
        customer.mahak_state
    );

    let cart = carts::ActiveModel {
        id: Set(Uuid::new_v4()),
        customer_id: Set(Some(customer.id)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert carts"))?;
    let line = cart_lines::ActiveModel {
        id: Set(Uuid::new_v4()),
        cart_id: Set(cart.id),
        variant_id: Set(variant.id),
        quantity: Set(2),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("insert cart_lines"))?;
    let lines = cart
        .find_related(cart_lines::Entity)
        .all(db)
        .await
        .map_err(db_err("select cart lines"))?;
    ensure!(
        lines == vec![line.clone()],
        "cart lines read back: {lines:?}"
    );
    let line_variant = line
        .find_related(variants::Entity)
        .one(db)
        .await
        .map_err(db_err("select variant of cart line"))?;
    ensure!(
        line_variant.as_ref() == Some(&variant),
        "variant of line: {line_variant:?}"
    );
    Ok(())
}

/// Up, checks, down, checks, up again, checks.
async fn up_down_up(db: &DatabaseConnection) -> TestResult {
    Migrator::up(db, None).await.map_err(db_err("first up"))?;
    let pending = Migrator::get_pending_migrations(db)
        .await
        .map_err(db_err("pending migrations"))?;
    ensure!(
        pending.is_empty(),
        "{} migrations still pending after up",
        pending.len()
    );
    check_schema(db).await?;
    check_rows(db).await?;

    Migrator::down(db, None).await.map_err(db_err("down"))?;
    let left = tables(db).await?;
    ensure!(
        left == BTreeSet::from([MIGRATIONS_TABLE.to_owned()]),
        "tables left after down: {left:?}"
    );
    let objects = leftover_objects(db).await?;
    ensure!(
        objects.is_empty(),
        "schema objects left after down: {objects:?}"
    );
    let applied = Migrator::get_applied_migrations(db)
        .await
        .map_err(db_err("applied migrations"))?;
    ensure!(
        applied.is_empty(),
        "{} migrations still applied after down",
        applied.len()
    );

    Migrator::up(db, None).await.map_err(db_err("second up"))?;
    check_schema(db).await?;
    check_rows(db).await
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let db = Database::connect("sqlite::memory:")
        .await
        .expect("open in-memory SQLite");
    let result = up_down_up(&db).await;
    db.close().await.expect("close SQLite");
    if let Err(message) = result {
        panic!("SQLite: {message}");
    }
}

#[tokio::test]
async fn postgres_up_down_up() {
    let admin_url = std::env::var("MIGRATION_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed for this test: {e}"));
    let name = format!("mig_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");

    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("the PostgreSQL URL ends in /<database>");
    let result = match Database::connect(format!("{base}/{name}")).await {
        Ok(db) => {
            let result = up_down_up(&db).await;
            let closed = db.close().await;
            result.and(closed.map_err(db_err("close")))
        }
        Err(e) => Err(format!("connect to the test database: {e}")),
    };

    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    admin.close().await.expect("close admin connection");
    if let Err(message) = result {
        panic!("PostgreSQL: {message}");
    }
    dropped.expect("drop test database");
}
