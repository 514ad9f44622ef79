//! A sync run: every entity fetched once, recorded in `sync_runs` with its counts, duration
//! and outcome; and the daemon that repeats runs at an interval and serves requests to run now
//! (`sync_requests`).
//!
//! While a run goes on, its `sync_runs` row shows how far it is, for a server that does not
//! share the worker's in-process [`Events`]: the entities it covers (`entities`), the entity
//! being fetched and its rows so far (`current_entity`, `current_fetched`, written once per
//! page by the fetcher), the rows fetched so far (`fetched`) and each finished entity's counts
//! (`per_entity`, written when the entity ends).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::sync_runs;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, NotSet,
    QueryFilter,
};
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use super::bus::Publisher;
use super::events::{Events, SyncEvent};
use super::fetcher::{EntityReport, Fetcher, PageSource};
use super::requests;
use crate::mahak::Entity;

/// How often the daemon looks for requests to run now between its runs.
pub const REQUEST_POLL: Duration = Duration::from_secs(1);

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
    /// Wakes the daemon to look for requests at once (the server notifies it after writing a
    /// request when the sync runs in its process); other workers find them by polling.
    pub wake: Arc<Notify>,
    /// How often the daemon polls `sync_requests` between runs.
    pub request_poll: Duration,
}

impl<S: PageSource, P: Publisher> Runner<S, P> {
    pub fn new(fetcher: Fetcher<S, P>) -> Self {
        Runner {
            fetcher,
            entities: RUN_ORDER.to_vec(),
            wake: Arc::default(),
            request_poll: REQUEST_POLL,
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
        self.run(Uuid::now_v7(), trigger, &self.entities).await
    }

    /// Fetches `entities` once, as the run `run_id` (see [`Runner::run_once`]).
    pub async fn run(
        &self,
        run_id: Uuid,
        trigger: &str,
        entities: &[Entity],
    ) -> anyhow::Result<RunReport> {
        let started = std::time::Instant::now();
        let names = entities
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(",");
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
            entities: Set(Some(names)),
            current_entity: Set(None),
            current_fetched: Set(0),
        }
        .insert(self.db())
        .await?;
        self.events().emit(SyncEvent::RunStarted {
            run_id,
            trigger: trigger.to_string(),
            entities: entities.to_vec(),
        });
        tracing::info!(%run_id, trigger, "sync run started");

        let mut report = RunReport {
            run_id,
            ..Default::default()
        };
        let mut per_entity = serde_json::Map::new();
        for entity in entities {
            self.set_current(run_id, Some(*entity), None).await?;
            match self.fetcher.sync_entity(*entity, Some(run_id)).await {
                Ok(entity_report) => {
                    report.fetched += entity_report.fetched;
                    report.dead_lettered += entity_report.dead_lettered;
                    per_entity.insert(entity.name().to_string(), entity_json(&entity_report));
                    self.set_current(run_id, None, Some(&per_entity)).await?;
                    self.events().emit(SyncEvent::EntityFinished {
                        run_id,
                        entity: *entity,
                        fetched: entity_report.fetched,
                        dead_lettered: entity_report.dead_lettered,
                        error: None,
                    });
                    report.per_entity.push((*entity, entity_report));
                }
                Err(err) => {
                    let message = format!("{err:#}");
                    tracing::error!(%run_id, %entity, error = %message, "entity sync failed");
                    per_entity.insert(entity.name().to_string(), json!({ "error": message }));
                    self.set_current(run_id, None, Some(&per_entity)).await?;
                    self.events().emit(SyncEvent::EntityFinished {
                        run_id,
                        entity: *entity,
                        fetched: 0,
                        dead_lettered: 0,
                        error: Some(message.clone()),
                    });
                    report
                        .error
                        .get_or_insert_with(|| format!("{entity}: {message}"));
                }
            }
        }

        let outcome = if report.error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
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
        row.current_entity = Set(None);
        row.current_fetched = Set(0);
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

    /// Marks the entity being fetched (`Some`) or records a finished one's counts.
    async fn set_current(
        &self,
        run_id: Uuid,
        entity: Option<Entity>,
        per_entity: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), sea_orm::DbErr> {
        let mut update = sync_runs::Entity::update_many()
            .col_expr(
                sync_runs::Column::CurrentEntity,
                Expr::value(entity.map(|e| e.name().to_string())),
            )
            .col_expr(sync_runs::Column::CurrentFetched, Expr::value(0i64))
            .filter(sync_runs::Column::Id.eq(run_id));
        if let Some(map) = per_entity {
            update = update.col_expr(
                sync_runs::Column::PerEntity,
                Expr::value(serde_json::Value::Object(map.clone())),
            );
        }
        update.exec(self.db()).await.map(drop)
    }

    /// Runs every `interval` until `shutdown` resolves, and between those runs serves the
    /// requests to run now (`sync_requests`, polled every `request_poll` and on `wake`), each
    /// batch of pending requests by one run of the entities they ask for. A run in progress
    /// is abandoned at its next await point when `shutdown` resolves: that is safe, because
    /// the checkpoint only ever moves past what is already durable, so the next run resumes
    /// where this one stopped.
    pub async fn daemon(
        &self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut next_scheduled = tokio::time::Instant::now();
        loop {
            let run_id = Uuid::now_v7();
            let requested = match requests::claim(self.db(), run_id).await {
                Ok(requested) => requested,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read sync requests");
                    None
                }
            };
            let run = match requested {
                Some(entities) => Some((run_id, "request", entities)),
                None if tokio::time::Instant::now() >= next_scheduled => {
                    next_scheduled = tokio::time::Instant::now() + interval;
                    Some((run_id, "daemon", self.entities.clone()))
                }
                None => None,
            };
            if let Some((run_id, trigger, entities)) = run {
                tokio::select! {
                    result = self.run(run_id, trigger, &entities) => {
                        if let Err(err) = result {
                            tracing::error!(error = %format!("{err:#}"), "sync run could not be recorded");
                        }
                    }
                    () = &mut shutdown => return,
                }
                // A scheduled run may be due, or requests may have come in meanwhile.
                continue;
            }
            let until = next_scheduled.min(tokio::time::Instant::now() + self.request_poll);
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = self.wake.notified() => {}
                () = &mut shutdown => return,
            }
        }
    }
}

fn entity_json(report: &EntityReport) -> serde_json::Value {
    json!({
        "fetched": report.fetched,
        "dead_lettered": report.dead_lettered,
        "pages": report.pages,
        "skipped": report.skipped,
    })
}
