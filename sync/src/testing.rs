//! Test support shared by the workspace's integration tests (feature `testing`): a database
//! of a test's own on the real PostgreSQL, or a SQLite file.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// Where the tests' PostgreSQL lives; `TEST_PG_URL` overrides (a server URL, no database).
fn pg_server() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own for one test: a fresh PostgreSQL database (dropped when the value
/// is dropped) or a SQLite file in a temporary directory.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(format!("{}/postgres", pg_server()))
            .await
            .expect("PostgreSQL for tests (TEST_PG_URL, default 127.0.0.1:5432)");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        admin.close().await.ok();
        TestDb {
            url: format!("{}/{name}", pg_server()),
            pg_name: Some(name),
            _dir: None,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
        TestDb {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// A connection with the schema migrated.
    pub async fn connect(&self) -> DatabaseConnection {
        use migration::{Migrator, MigratorTrait};
        let db = Database::connect(&self.url)
            .await
            .expect("connect to test database");
        Migrator::up(&db, None)
            .await
            .expect("migrate test database");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run outside a runtime; use a small one of our own on a fresh thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(format!("{}/postgres", pg_server()))
                    .await
                    .ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}
