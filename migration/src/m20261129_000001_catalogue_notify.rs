//! PostgreSQL tells every server process when the shop's catalogue changed (issue 10).
//!
//! A statement-level trigger on each table the shop's catalogue reads from calls
//! `pg_notify('catalogue_changed', <table>)`. PostgreSQL delivers notifications only when the
//! writing transaction commits (and folds duplicates within one transaction into one), so a
//! listener never hears of a change before it is visible, whichever process or replica wrote
//! it: the sync consumer, a staff edit or a migration. The server's anonymous catalogue cache
//! (`server::catalogue::response_cache`) listens and drops its entries.
//!
//! SQLite has no notifications: nothing is created there, and the server does not cache.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_catalogue_notify"
    }
}

/// Every table a shop catalogue query reads.
const CATALOGUE_TABLES: [&str; 7] = [
    "products",
    "product_listings",
    "variants",
    "variant_stock",
    "product_images",
    "categories",
    "category_listings",
];

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE FUNCTION notify_catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('catalogue_changed', TG_TABLE_NAME); RETURN NULL; END $$",
        )
        .await?;
        for table in CATALOGUE_TABLES {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_catalogue_changed \
                 AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in CATALOGUE_TABLES {
            db.execute_unprepared(&format!(
                "DROP TRIGGER {table}_catalogue_changed ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION notify_catalogue_changed()")
            .await?;
        Ok(())
    }
}
