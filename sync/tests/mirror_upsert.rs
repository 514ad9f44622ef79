//! The bulk upsert on the real PostgreSQL (and SQLite): RowVersion-guarded, idempotent,
//! soft deletes, children before parents, shop-owned fields untouched.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};
use sync::mahak::Entity;
use sync::mirror::upsert::{apply, validate, ApplyCounts, ApplyOptions};
use sync::mirror::{spec_for, MirrorRow};
use sync::testing::TestDb;

fn row(id: i64, rv: i64, deleted: bool, columns: Value) -> MirrorRow {
    MirrorRow {
        mahak_id: id,
        client_id: Some(id * 100),
        code: Some(id),
        row_version: rv,
        deleted,
        payload: json!({ "Id": id, "RowVersion": rv }),
        columns: columns.as_object().cloned().unwrap(),
    }
}

fn product(id: i64, rv: i64, name: &str) -> MirrorRow {
    row(
        id,
        rv,
        false,
        json!({ "name": name, "search_text": name, "tax_percent": 9.0, "toll_percent": 1.0, "category_mahak_id": 1 }),
    )
}

fn variant(id: i64, product: i64, rv: i64, price: i64) -> MirrorRow {
    row(
        id,
        rv,
        false,
        json!({ "product_mahak_id": product, "properties": [], "default_price_level": 1, "price_1": price }),
    )
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> Value {
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "v")
        .map(Value::from)
        .or_else(|_| row.try_get::<String>("", "v").map(Value::from))
        .or_else(|_| {
            row.try_get::<Option<i64>>("", "v")
                .map(|v| v.map(Value::from).unwrap_or(Value::Null))
        })
        .unwrap()
}

async fn upsert_rules_hold(db: &DatabaseConnection) {
    let opts = ApplyOptions {
        publish_new_products: false,
    };
    // A variant before its product: accepted, linked later by Mahak id.
    let counts = apply(
        db,
        Entity::ProductDetail,
        &[variant(11, 1, 5, 120_000), variant(12, 1, 5, 90_000)],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        counts,
        ApplyCounts {
            written: 2,
            unchanged: 0,
            deleted: 0
        }
    );
    let counts = apply(
        db,
        Entity::Product,
        &[product(1, 3, "چای"), product(2, 3, "قهوه")],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(counts.written, 2);
    assert_eq!(
        scalar(db, "SELECT min_price AS v FROM products WHERE mahak_id = 1").await,
        json!(90_000),
        "summary from the earlier variants"
    );
    assert_eq!(scalar(db, "SELECT slug AS v FROM product_listings l JOIN products p ON p.id = l.product_id WHERE p.mahak_id = 1").await, json!("چای-1"));

    // The shop edits its listing; sync never overwrites it.
    db.execute_unprepared(
        "UPDATE product_listings SET slug = 'shop-' || product_id, published = true",
    )
    .await
    .unwrap();
    // Same RowVersion again (inclusive cursor), and an older one: nothing changes.
    let counts = apply(
        db,
        Entity::Product,
        &[product(1, 3, "چای"), product(2, 2, "old")],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        counts,
        ApplyCounts {
            written: 0,
            unchanged: 2,
            deleted: 0
        }
    );
    assert_eq!(
        scalar(db, "SELECT name AS v FROM products WHERE mahak_id = 2").await,
        json!("قهوه")
    );
    // A newer one replaces the Mahak-owned fields only.
    let counts = apply(db, Entity::Product, &[product(1, 4, "چای سبز")], opts)
        .await
        .unwrap();
    assert_eq!(counts.written, 1);
    assert_eq!(
        scalar(db, "SELECT name AS v FROM products WHERE mahak_id = 1").await,
        json!("چای سبز")
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) AS v FROM product_listings WHERE slug LIKE 'shop-%'"
        )
        .await,
        json!(2)
    );

    // Duplicates of one key in one batch keep the newest (PostgreSQL would raise 21000).
    let counts = apply(
        db,
        Entity::ProductDetail,
        &[
            variant(11, 1, 9, 50_000),
            variant(11, 1, 8, 70_000),
            variant(11, 1, 7, 1),
        ],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        counts,
        ApplyCounts {
            written: 1,
            unchanged: 2,
            deleted: 0
        }
    );
    assert_eq!(
        scalar(db, "SELECT price_1 AS v FROM variants WHERE mahak_id = 11").await,
        json!(50_000)
    );
    assert_eq!(
        scalar(db, "SELECT min_price AS v FROM products WHERE mahak_id = 1").await,
        json!(50_000)
    );

    // Soft delete, then undelete only by a newer RowVersion.
    let mut gone = variant(11, 1, 10, 50_000);
    gone.deleted = true;
    let counts = apply(db, Entity::ProductDetail, &[gone], opts)
        .await
        .unwrap();
    assert_eq!(counts.deleted, 1);
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) AS v FROM variants WHERE deleted_at IS NOT NULL"
        )
        .await,
        json!(1)
    );
    assert_eq!(
        scalar(db, "SELECT min_price AS v FROM products WHERE mahak_id = 1").await,
        json!(90_000)
    );
    apply(
        db,
        Entity::ProductDetail,
        &[variant(11, 1, 10, 50_000)],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) AS v FROM variants WHERE deleted_at IS NOT NULL"
        )
        .await,
        json!(1),
        "same RowVersion does not undelete"
    );
    apply(
        db,
        Entity::ProductDetail,
        &[variant(11, 1, 11, 50_000)],
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) AS v FROM variants WHERE deleted_at IS NOT NULL"
        )
        .await,
        json!(0)
    );
}

#[tokio::test]
async fn upsert_rules_hold_on_postgres() {
    let test_db = TestDb::postgres().await;
    upsert_rules_hold(&test_db.connect().await).await;
}

#[tokio::test]
async fn upsert_rules_hold_on_sqlite() {
    let test_db = TestDb::sqlite();
    upsert_rules_hold(&test_db.connect().await).await;
}

#[tokio::test]
async fn large_batches_are_one_statement_on_postgres() {
    let test_db = TestDb::postgres().await;
    let db = test_db.connect().await;
    // 20,000 rows x 21 columns is far beyond PostgreSQL's 65,535 bind parameters.
    let rows: Vec<MirrorRow> = (1..=20_000)
        .map(|i| variant(i, i / 3, 1, 1000 + i))
        .collect();
    let counts = apply(&db, Entity::ProductDetail, &rows, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(counts.written, 20_000);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) AS v FROM variants").await,
        json!(20_000)
    );
}

#[test]
fn rows_that_do_not_fit_their_table_are_rejected() {
    let bad = row(1, 1, false, json!({ "name": 5 }));
    let (good, rejected) = validate(spec_for(Entity::Store), vec![bad]);
    assert!(good.is_empty());
    assert!(rejected[0].reason.contains("name"));
}
