//! `database.*` on the real PostgreSQL: the statement timeout every pooled connection gets,
//! migrations running with it lifted, the read replica's own pool, and the checks of the
//! settings.

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use secrecy::SecretString;
use sync::settings::DatabaseSettings;
use sync::testing::TestDb;

fn settings(url: &str, statement_timeout_ms: u64) -> DatabaseSettings {
    DatabaseSettings {
        url: SecretString::from(url),
        max_connections: 3,
        statement_timeout_ms,
        ..DatabaseSettings::default()
    }
}

async fn show_statement_timeout(db: &impl ConnectionTrait) -> String {
    db.query_one(Statement::from_string(
        db.get_database_backend(),
        "SHOW statement_timeout",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<String>(0)
    .unwrap()
}

#[tokio::test]
async fn every_pooled_connection_has_the_statement_timeout() {
    let db = TestDb::postgres().await;
    let pool = sync::db::connect(&settings(&db.url, 250)).await.unwrap();
    // Each of the pool's three connections, held at once by a transaction each, carries it.
    let held = [
        pool.begin().await.unwrap(),
        pool.begin().await.unwrap(),
        pool.begin().await.unwrap(),
    ];
    for txn in &held {
        assert_eq!(show_statement_timeout(txn).await, "250ms");
    }
    for txn in held {
        txn.rollback().await.unwrap();
    }

    // A statement that runs longer is cancelled by PostgreSQL, with its reason.
    let err = pool
        .execute_unprepared("SELECT pg_sleep(5)")
        .await
        .expect_err("cancelled by the statement timeout");
    assert!(
        err.to_string()
            .contains("canceling statement due to statement timeout"),
        "{err}"
    );
    // The connection is fine afterwards.
    pool.execute_unprepared("SELECT 1").await.unwrap();

    // The default is 30 s; 0 leaves PostgreSQL's own default (none here).
    let default = sync::db::connect(&DatabaseSettings {
        url: SecretString::from(db.url.as_str()),
        ..DatabaseSettings::default()
    })
    .await
    .unwrap();
    assert_eq!(show_statement_timeout(&default).await, "30s");
    let off = sync::db::connect(&settings(&db.url, 0)).await.unwrap();
    assert_eq!(show_statement_timeout(&off).await, "0");
    off.execute_unprepared("SELECT pg_sleep(0.3)")
        .await
        .unwrap();
}

#[tokio::test]
async fn migrations_run_with_the_statement_timeout_lifted() {
    let db = TestDb::postgres().await;
    // 1 ms: every migration statement that creates a table or an index would be cancelled.
    let pool = sync::db::connect(&settings(&db.url, 1)).await.unwrap();
    sync::db::migrate(&pool).await.expect("migrations run");
    // Looked at through a pool without the timeout: reading the catalogue takes over 1 ms.
    let check = sync::db::connect(&settings(&db.url, 0)).await.unwrap();
    let tables = check
        .query_one(Statement::from_string(
            check.get_database_backend(),
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('products', 'orders', 'payments')",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(tables, 3);
    // Lifted only for the migrations' transaction: the pool's sessions keep the setting.
    assert_eq!(show_statement_timeout(&pool).await, "1ms");
}

#[tokio::test]
async fn the_read_replica_gets_its_own_pool() {
    let primary = TestDb::postgres().await;
    let replica = TestDb::postgres().await;
    let mut config = settings(&primary.url, 4000);
    assert!(sync::db::connect_read(&config).await.unwrap().is_none());
    config.read_url = Some(SecretString::from(replica.url.as_str()));
    config.validate().unwrap();
    let read = sync::db::connect_read(&config)
        .await
        .unwrap()
        .expect("a replica pool");
    let name = read
        .query_one(Statement::from_string(
            read.get_database_backend(),
            "SELECT current_database()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap();
    assert_eq!(Some(name), replica.url.rsplit('/').next().map(String::from));
    assert_eq!(show_statement_timeout(&read).await, "4s");
}

#[test]
fn settings_are_checked() {
    let pg = "postgres://postgres@127.0.0.1:5432/store";
    let with_read = |url: &str, read: &str| DatabaseSettings {
        url: SecretString::from(url),
        read_url: Some(SecretString::from(read)),
        ..DatabaseSettings::default()
    };
    assert!(with_read(pg, "postgresql://replica/store")
        .validate()
        .is_ok());
    for (url, read) in [
        (pg, "sqlite://replica.db"),
        (pg, "mysql://replica/store"),
        (
            "sqlite://data/store.db?mode=rwc",
            "postgres://replica/store",
        ),
    ] {
        let err = with_read(url, read).validate().expect_err(read).to_string();
        assert!(err.contains("database.read_url"), "{err}");
    }
    let err = DatabaseSettings {
        acquire_timeout_secs: 0,
        ..DatabaseSettings::default()
    }
    .validate()
    .expect_err("acquire timeout 0")
    .to_string();
    assert!(err.contains("database.acquire_timeout_secs"), "{err}");
}
