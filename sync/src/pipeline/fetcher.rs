//! Fetching one entity: take the entity's lock, read its checkpoint, pull pages from the
//! source, hand each page on as a batch, and move the checkpoint only once the bus has
//! durably accepted the batch. Rows the source could not read are dead-lettered (durably,
//! before the checkpoint passes them).

use futures::stream::BoxStream;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, Value};
use tracing::Instrument;
use uuid::Uuid;

use super::batch::Batch;
use super::bus::Publisher;
use super::checkpoint;
use super::dead_letters::{self, DeadLetter};
use super::events::{Events, SyncEvent};
use super::lock;
use super::sql::statement;
use crate::mahak::Entity;
use crate::mirror::MirrorRow;

/// One page of one entity, already transformed to mirror rows.
#[derive(Debug, Clone)]
pub struct SourcePage {
    /// The cursor the page was fetched with.
    pub from_version: i64,
    /// The cursor for the next call: the highest RowVersion in the page.
    pub next_version: i64,
    pub rows: Vec<MirrorRow>,
    /// Rows that could not be read or transformed.
    pub rejects: Vec<DeadLetter>,
}

/// Where pages come from: Mahak through the adapter, in production and in every test.
pub trait PageSource: Send + Sync {
    fn pages(&self, entity: Entity, from_version: i64)
        -> BoxStream<'_, anyhow::Result<SourcePage>>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityReport {
    pub fetched: u64,
    pub dead_lettered: u64,
    pub pages: u64,
    /// Another replica holds the entity's lock; nothing was done.
    pub skipped: bool,
}

pub struct Fetcher<S, P> {
    pub db: DatabaseConnection,
    pub source: S,
    pub publisher: P,
    pub events: Events,
}

impl<S: PageSource, P: Publisher> Fetcher<S, P> {
    pub async fn sync_entity(
        &self,
        entity: Entity,
        run_id: Option<Uuid>,
    ) -> anyhow::Result<EntityReport> {
        let span = tracing::info_span!("fetch", %entity, run_id = ?run_id);
        self.fetch(entity, run_id).instrument(span).await
    }

    async fn fetch(&self, entity: Entity, run_id: Option<Uuid>) -> anyhow::Result<EntityReport> {
        let Some(_lock) = lock::try_lock(&self.db, entity).await? else {
            tracing::info!(%entity, "another worker is fetching this entity; skipped");
            return Ok(EntityReport {
                skipped: true,
                ..Default::default()
            });
        };
        let start = checkpoint::load(&self.db, entity).await?;
        let mut report = EntityReport::default();
        let mut pages = self.source.pages(entity, start);
        while let Some(page) = pages.next().await {
            let page = page?;
            let page_rows = (page.rows.len() + page.rejects.len()) as u64;
            report.pages += 1;
            report.fetched += page_rows;
            if !page.rejects.is_empty() {
                dead_letters::record(&self.db, &page.rejects).await?;
                report.dead_lettered += page.rejects.len() as u64;
            }
            if !page.rows.is_empty() {
                let batch = Batch::new(
                    run_id,
                    entity,
                    page.from_version,
                    page.next_version,
                    page.rows,
                );
                self.publisher.publish(&batch).await?;
                crate::failpoint::hit("after_publish");
            }
            checkpoint::advance(&self.db, entity, page.next_version).await?;
            metrics::counter!("sync_rows_fetched_total", "entity" => entity.name())
                .increment(page_rows);
            if let Some(run_id) = run_id {
                record_progress(&self.db, run_id, entity, page_rows, report.fetched).await?;
                self.events.emit(SyncEvent::Progress {
                    run_id,
                    entity,
                    fetched: report.fetched,
                    cursor: page.next_version,
                });
            }
        }
        checkpoint::mark_caught_up(&self.db, entity).await?;
        Ok(report)
    }
}

/// Shows a page's progress in the run's `sync_runs` row (one statement per page), for servers
/// that do not share this process's events.
async fn record_progress(
    db: &DatabaseConnection,
    run_id: Uuid,
    entity: Entity,
    page_rows: u64,
    entity_fetched: u64,
) -> Result<(), sea_orm::DbErr> {
    let stmt = statement(
        db.get_database_backend(),
        "UPDATE sync_runs SET fetched = fetched + $1, current_entity = $2, current_fetched = $3 \
         WHERE id = $4",
        [
            Value::from(page_rows as i64),
            Value::from(entity.name()),
            Value::from(entity_fetched as i64),
            Value::from(run_id),
        ],
    );
    db.execute(stmt).await.map(drop)
}
