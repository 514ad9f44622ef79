//! A sync run: every entity fetched once, recorded in `sync_runs` with its counts, duration
//! and outcome; and the daemon that repeats runs at an interval.

use std::time::Duration;

use chrono::Utc;
use entity::sync_runs;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, NotSet};
use serde_json::json;
use uuid::Uuid;

use super::bus::Publisher;
use super::events::{Events, SyncEvent};
use super::fetcher::{EntityReport, Fetcher, PageSource};
use crate::mahak::Entity;

/// Order of entities in a run: parents first, so that a fresh mirror fills in a readable
/// order (children arriving first would still be accepted).
pub const RUN_ORDER: [Entity; 18] = [
    Entity::Setting,
    Entity::Store,
    Entity::ProductCategory,
    Entity::Product,
    Entity::ProductDetail,
    Entity::ProductDetailStoreAsset,
    Entity::Picture,
    Entity::PhotoGallery,
    Entity::PersonGroup,
    Entity::Person,
    Entity::PersonAddress,
    Entity::VisitorPerson,
    Entity::VisitorProduct,
    Entity::Order,
    Entity::OrderDetail,
    Entity::Receipt,
    Entity::Cheque,
    Entity::Transaction,
];

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub run_id: Uuid,
    pub fetched: u64,
    pub dead_lettered: u64,
    pub per_entity: Vec<(Entity, EntityReport)>,
    pub error: Option<String>,
}

pub struct Runner<S, P> {
    pub fetcher: Fetcher<S, P>,
    pub entities: Vec<Entity>,
}

impl<S: PageSource, P: Publisher> Runner<S, P> {
    pub fn new(fetcher: Fetcher<S, P>) -> Self {
        Runner {
            fetcher,
            entities: RUN_ORDER.to_vec(),
        }
    }

    fn db(&self) -> &DatabaseConnection {
        &self.fetcher.db
    }

    fn events(&self) -> &Events {
        &self.fetcher.events
    }

    /// Fetches every entity once. An entity that fails does not stop the others; the run's
    /// outcome is then `failed` with the first error.
    pub async fn run_once(&self, trigger: &str) -> anyhow::Result<RunReport> {
        let run_id = Uuid::now_v7();
        let started = std::time::Instant::now();
        sync_runs::ActiveModel {
            id: Set(run_id),
            trigger: Set(trigger.to_string()),
            outcome: Set("running".into()),
            fetched: Set(0),
            upserted: Set(0),
            unchanged: Set(0),
            deleted: Set(0),
            dead_lettered: Set(0),
            per_entity: Set(None),
            error: Set(None),
            started_at: Set(Utc::now()),
            finished_at: NotSet,
        }
        .insert(self.db())
        .await?;
        self.events().emit(SyncEvent::RunStarted { run_id });
        tracing::info!(%run_id, trigger, "sync run started");

        let mut report = RunReport {
            run_id,
            ..Default::default()
        };
        for entity in &self.entities {
            match self.fetcher.sync_entity(*entity, Some(run_id)).await {
                Ok(entity_report) => {
                    report.fetched += entity_report.fetched;
                    report.dead_lettered += entity_report.dead_lettered;
                    self.events().emit(SyncEvent::EntityFinished {
                        run_id,
                        entity: *entity,
                        fetched: entity_report.fetched,
                        dead_lettered: entity_report.dead_lettered,
                    });
                    report.per_entity.push((*entity, entity_report));
                }
                Err(err) => {
                    tracing::error!(%run_id, %entity, error = %format!("{err:#}"), "entity sync failed");
                    report
                        .error
                        .get_or_insert_with(|| format!("{entity}: {err:#}"));
                }
            }
        }

        let outcome = if report.error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        let per_entity = report
            .per_entity
            .iter()
            .map(|(entity, r)| (entity.name().to_string(), json!({ "fetched": r.fetched, "dead_lettered": r.dead_lettered, "pages": r.pages, "skipped": r.skipped })))
            .collect::<serde_json::Map<_, _>>();
        // Consumers add their counts to the same row; only the fetcher's are set here.
        let mut row: sync_runs::ActiveModel = sync_runs::Entity::find_by_id(run_id)
            .one(self.db())
            .await?
            .ok_or_else(|| anyhow::anyhow!("sync run {run_id} vanished"))?
            .into();
        row.outcome = Set(outcome.into());
        row.fetched = Set(report.fetched as i64);
        row.dead_lettered =
            Set(row.dead_lettered.take().unwrap_or_default() + report.dead_lettered as i64);
        row.per_entity = Set(Some(per_entity.into()));
        row.error = Set(report.error.clone());
        row.finished_at = Set(Some(Utc::now()));
        row.update(self.db()).await?;
        metrics::histogram!("sync_run_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("sync_last_run_timestamp_seconds", "outcome" => outcome)
            .set(Utc::now().timestamp() as f64);
        self.events().emit(SyncEvent::RunFinished {
            run_id,
            outcome: outcome.into(),
            fetched: report.fetched,
            dead_lettered: report.dead_lettered,
        });
        tracing::info!(%run_id, outcome, fetched = report.fetched, dead_lettered = report.dead_lettered,
            seconds = started.elapsed().as_secs_f64(), "sync run finished");
        Ok(report)
    }

    /// Runs every `interval` until `shutdown` resolves. A run in progress is abandoned at
    /// its next await point: that is safe, because the checkpoint only ever moves past what
    /// is already durable, so the next run resumes where this one stopped.
    pub async fn daemon(
        &self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                result = self.run_once("daemon") => {
                    if let Err(err) = result {
                        tracing::error!(error = %format!("{err:#}"), "sync run could not be recorded");
                    }
                }
                () = &mut shutdown => return,
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut shutdown => return,
            }
        }
    }
}
