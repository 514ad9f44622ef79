//! The sync console on the admin schema: the Mahak sync's status, run history and dead letters,
//! replay/discard/trigger, and the live subscriptions (`syncStatusChanged`, `deadLetterAdded`,
//! `orderPlaced`). The rules live in `crate::sync_console`.

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use entity::{dead_letters, orders, sync_requests, sync_runs};
use futures::Stream;
use sync::mahak::Entity;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::access::{self, Permission};
use super::PageInfo;
use crate::error::ApiError;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;
use crate::staff::audit;
use crate::sync_console::live::{self, ChangeKind};
use crate::sync_console::{self as domain, LetterFilter, Outcome, SyncConsole};

fn console<'a>(ctx: &Context<'a>) -> &'a SyncConsole {
    &ctx.data_unchecked::<Services>().sync_console
}

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("`first` must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(first as u64)
}

/// A Mahak entity the store syncs (Mahak's own names: `PRODUCT_DETAIL` is a sellable variant,
/// `PRODUCT_DETAIL_STORE_ASSET` its stock in one warehouse, `STORE` a warehouse, `PERSON` a
/// customer or supplier, `ORDER` an invoice).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MahakEntity {
    ProductCategory,
    Product,
    ProductDetail,
    ProductDetailStoreAsset,
    Store,
    Picture,
    PhotoGallery,
    PersonGroup,
    Person,
    PersonAddress,
    VisitorPerson,
    VisitorProduct,
    Order,
    OrderDetail,
    Receipt,
    Cheque,
    Transaction,
    Setting,
}

impl From<Entity> for MahakEntity {
    fn from(entity: Entity) -> Self {
        match entity {
            Entity::ProductCategory => MahakEntity::ProductCategory,
            Entity::Product => MahakEntity::Product,
            Entity::ProductDetail => MahakEntity::ProductDetail,
            Entity::ProductDetailStoreAsset => MahakEntity::ProductDetailStoreAsset,
            Entity::Store => MahakEntity::Store,
            Entity::Picture => MahakEntity::Picture,
            Entity::PhotoGallery => MahakEntity::PhotoGallery,
            Entity::PersonGroup => MahakEntity::PersonGroup,
            Entity::Person => MahakEntity::Person,
            Entity::PersonAddress => MahakEntity::PersonAddress,
            Entity::VisitorPerson => MahakEntity::VisitorPerson,
            Entity::VisitorProduct => MahakEntity::VisitorProduct,
            Entity::Order => MahakEntity::Order,
            Entity::OrderDetail => MahakEntity::OrderDetail,
            Entity::Receipt => MahakEntity::Receipt,
            Entity::Cheque => MahakEntity::Cheque,
            Entity::Transaction => MahakEntity::Transaction,
            Entity::Setting => MahakEntity::Setting,
        }
    }
}

impl From<MahakEntity> for Entity {
    fn from(entity: MahakEntity) -> Self {
        Entity::ALL
            .into_iter()
            .find(|e| MahakEntity::from(*e) == entity)
            .unwrap_or(Entity::Setting)
    }
}

fn entity_named(name: &str) -> Option<MahakEntity> {
    Entity::from_name(name).map(MahakEntity::from)
}

/// How a sync run, or one entity's part in it, ended.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Still going (a run whose worker was killed also stays here).
    Running,
    Succeeded,
    /// See `error`. Of a run: at least one entity failed (the others went on).
    Failed,
    /// Another worker was fetching the entity at the time; this run left it alone.
    Skipped,
}

impl From<Outcome> for SyncOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Running => SyncOutcome::Running,
            Outcome::Succeeded => SyncOutcome::Succeeded,
            Outcome::Failed => SyncOutcome::Failed,
            Outcome::Skipped => SyncOutcome::Skipped,
        }
    }
}

fn run_outcome(text: &str) -> SyncOutcome {
    match text {
        "running" => SyncOutcome::Running,
        "succeeded" => SyncOutcome::Succeeded,
        _ => SyncOutcome::Failed,
    }
}

/// One entity's part in one sync run.
#[derive(SimpleObject)]
pub struct EntityRun {
    pub run_id: ID,
    pub entity: MahakEntity,
    pub started_at: DateTime<Utc>,
    /// When the whole run finished (null while it runs).
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: SyncOutcome,
    /// Rows Mahak returned for this entity in this run (rows at the checkpoint's RowVersion are
    /// fetched again each run, so an unchanged entity can show a few).
    pub fetched: i64,
    /// Rows of them that could not be read and went to the dead letters.
    pub dead_lettered: i64,
    /// `GetAllData` pages fetched.
    pub pages: i64,
    pub error: Option<String>,
}

impl From<domain::EntityRun> for EntityRun {
    fn from(r: domain::EntityRun) -> Self {
        EntityRun {
            run_id: ID(r.run_id.to_string()),
            entity: r.entity.into(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome.into(),
            fetched: r.fetched,
            dead_lettered: r.dead_lettered,
            pages: r.pages,
            error: r.error,
        }
    }
}

/// An entity being fetched right now.
#[derive(SimpleObject)]
pub struct EntityProgress {
    pub run_id: ID,
    /// Rows of the entity fetched so far in this run (Mahak does not say how many will come).
    pub fetched: i64,
}

/// The sync's state for one Mahak entity.
#[derive(SimpleObject)]
pub struct EntitySyncStatus {
    pub entity: MahakEntity,
    /// The RowVersion the next fetch starts from, as decimal text (a 64-bit number); null if
    /// the entity was never fetched.
    pub checkpoint: Option<String>,
    /// When the checkpoint last moved.
    pub checkpoint_moved_at: Option<DateTime<Utc>>,
    /// When a fetch of the entity last reached the end of Mahak's data.
    pub caught_up_at: Option<DateTime<Utc>>,
    /// The last fetch reached the end of Mahak's data, and no fetch is under way.
    pub caught_up: bool,
    /// Seconds since the entity last caught up with Mahak (`caughtUpAt`): the most its
    /// mirror can be behind Mahak as of the last fetch. Null until it first caught up.
    pub lag_seconds: Option<i64>,
    /// The latest run that finished this entity.
    pub last_run: Option<EntityRun>,
    /// Set while a run is fetching this entity.
    pub running: Option<EntityProgress>,
    /// Dead letters of this entity neither replayed nor discarded.
    pub open_dead_letters: i64,
    /// Why the entity's last run failed, if it did.
    pub last_error: Option<String>,
}

impl From<domain::EntityStatus> for EntitySyncStatus {
    fn from(s: domain::EntityStatus) -> Self {
        EntitySyncStatus {
            entity: s.entity.into(),
            checkpoint: s.checkpoint.map(|v| v.to_string()),
            checkpoint_moved_at: s.checkpoint_moved_at,
            caught_up_at: s.caught_up_at,
            caught_up: s.caught_up,
            lag_seconds: s.lag_seconds,
            last_run: s.last_run.map(Into::into),
            running: s.running.map(|p| EntityProgress {
                run_id: ID(p.run_id.to_string()),
                fetched: p.fetched,
            }),
            open_dead_letters: s.open_dead_letters,
            last_error: s.last_error,
        }
    }
}

/// The whole Mahak sync at one moment.
#[derive(SimpleObject)]
pub struct SyncStatus {
    /// Every entity, in the order a run fetches them.
    pub entities: Vec<EntitySyncStatus>,
    /// Runs in progress, newest first.
    pub running_runs: Vec<SyncRun>,
    /// Dead letters neither replayed nor discarded, all entities.
    pub open_dead_letters: i64,
    /// `triggerSync` requests no worker has picked up yet.
    pub pending_requests: i64,
    /// When this status was read.
    pub at: DateTime<Utc>,
}

impl From<domain::SyncStatus> for SyncStatus {
    fn from(s: domain::SyncStatus) -> Self {
        SyncStatus {
            entities: s.entities.into_iter().map(Into::into).collect(),
            running_runs: s.running.into_iter().map(SyncRun).collect(),
            open_dead_letters: s.open_dead_letters,
            pending_requests: s.pending_requests,
            at: s.at,
        }
    }
}

/// One sync run: a pass over some or all Mahak entities.
pub struct SyncRun(sync_runs::Model);

#[Object]
impl SyncRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What started it: `daemon` (the schedule), `request` (`triggerSync`), `cli`.
    async fn trigger(&self) -> &str {
        &self.0.trigger
    }
    async fn outcome(&self) -> SyncOutcome {
        run_outcome(&self.0.outcome)
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// The entities the run covers, in order.
    async fn entities(&self) -> Vec<MahakEntity> {
        domain::run_entities(&self.0)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    /// How many of `entities` are done (succeeded, failed or skipped).
    async fn entities_done(&self) -> usize {
        domain::entity_runs(&self.0).len()
    }
    /// The entity being fetched now.
    async fn current_entity(&self) -> Option<MahakEntity> {
        self.0.current_entity.as_deref().and_then(entity_named)
    }
    /// Rows of `currentEntity` fetched so far.
    async fn current_fetched(&self) -> i64 {
        self.0.current_fetched
    }
    /// Rows Mahak returned, all entities (so far, while running).
    async fn fetched(&self) -> i64 {
        self.0.fetched
    }
    /// Rows written to the mirror (new or newer versions).
    async fn upserted(&self) -> i64 {
        self.0.upserted
    }
    /// Rows the mirror already had at that version.
    async fn unchanged(&self) -> i64 {
        self.0.unchanged
    }
    /// Rows Mahak marked deleted.
    async fn deleted(&self) -> i64 {
        self.0.deleted
    }
    /// Rows that went to the dead letters.
    async fn dead_lettered(&self) -> i64 {
        self.0.dead_lettered
    }
    /// The first entity failure, as `Entity: reason`.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// Each finished entity's part, in run order.
    async fn entity_runs(&self) -> Vec<EntityRun> {
        domain::entity_runs(&self.0)
            .into_iter()
            .map(Into::into)
            .collect()
    }
}

/// A page of sync runs, newest first.
#[derive(SimpleObject)]
pub struct SyncRunConnection {
    pub edges: Vec<SyncRunEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct SyncRunEdge {
    pub cursor: String,
    pub node: SyncRun,
}

/// A Mahak row the sync could not apply, kept with the reason so nothing is lost.
pub struct DeadLetter(dead_letters::Model);

#[Object]
impl DeadLetter {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Null only for a letter of an entity this server does not know.
    async fn entity(&self) -> Option<MahakEntity> {
        entity_named(&self.0.entity)
    }
    /// The row's Mahak id, when it could be read.
    async fn mahak_id(&self) -> Option<String> {
        self.0.mahak_id.map(|v| v.to_string())
    }
    async fn mahak_client_id(&self) -> Option<String> {
        self.0.mahak_client_id.map(|v| v.to_string())
    }
    /// The row's RowVersion as decimal text, when it could be read.
    async fn row_version(&self) -> Option<String> {
        self.0.row_version.map(|v| v.to_string())
    }
    /// Mahak's row exactly as received.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }
    /// Why it could not be applied (the latest failure).
    async fn error(&self) -> &str {
        &self.0.error
    }
    /// Failures so far (the first one included).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Neither replayed nor discarded.
    async fn open(&self) -> bool {
        domain::is_open(&self.0)
    }
    /// When it was applied after all (by a replay, or Mahak sent a newer version of the row).
    async fn replayed_at(&self) -> Option<DateTime<Utc>> {
        self.0.replayed_at
    }
    async fn discarded_at(&self) -> Option<DateTime<Utc>> {
        self.0.discarded_at
    }
    async fn discard_reason(&self) -> Option<&str> {
        self.0.discard_reason.as_deref()
    }
}

/// A page of dead letters, newest first.
#[derive(SimpleObject)]
pub struct DeadLetterConnection {
    pub edges: Vec<DeadLetterEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct DeadLetterEdge {
    pub cursor: String,
    pub node: DeadLetter,
}

/// What replaying one dead letter did.
#[derive(SimpleObject)]
pub struct DeadLetterReplay {
    /// The letter as it is now: `open: false` once applied.
    pub dead_letter: DeadLetter,
    /// The row is in the mirror now.
    pub replayed: bool,
    /// Why it still fails (the letter stays open and its `attempts` went up).
    pub error: Option<String>,
}

impl From<domain::Replay> for DeadLetterReplay {
    fn from(r: domain::Replay) -> Self {
        DeadLetterReplay {
            replayed: r.error.is_none(),
            dead_letter: DeadLetter(r.letter),
            error: r.error,
        }
    }
}

/// What replaying all open letters of an entity did.
#[derive(SimpleObject)]
pub struct DeadLetterReplaySummary {
    pub replayed: i32,
    pub still_failing: i32,
    /// One result per letter tried, oldest letter first.
    pub results: Vec<DeadLetterReplay>,
}

/// A request to run a sync now.
pub struct SyncRequest(sync_requests::Model);

#[Object]
impl SyncRequest {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The entity asked for; null: every entity.
    async fn entity(&self) -> Option<MahakEntity> {
        self.0.entity.as_deref().and_then(entity_named)
    }
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When a sync worker took it (null: waiting for a worker).
    async fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.picked_up_at
    }
    /// The run that answers it, once picked up: follow it with `syncStatusChanged`.
    async fn run_id(&self) -> Option<ID> {
        self.0.run_id.map(|id| ID(id.to_string()))
    }
    /// That run.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<SyncRun>> {
        let Some(id) = self.0.run_id else {
            return Ok(None);
        };
        let run = domain::run(&console(ctx).db, id)
            .await
            .map_err(ApiError::from)?;
        Ok(run.map(SyncRun))
    }
}

/// What changed in a `syncStatusChanged` event.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncChangeKind {
    /// The first event: the whole status as the subscription starts (`status`).
    Snapshot,
    /// A run began (`runId`, `entitiesTotal`).
    RunStarted,
    /// More rows of `entity` were fetched (`entityFetched`, `runFetched`).
    Progress,
    /// `entity` is done in this run (`error` if it failed); `status` is fresh.
    EntityFinished,
    /// The run ended (`outcome`); `status` is fresh.
    RunFinished,
    /// The number of open dead letters changed; `status` is fresh.
    DeadLetters,
}

/// One change of the Mahak sync, as it happens. For a progress bar: `entitiesDone` of
/// `entitiesTotal` for the run, and `entityFetched` rows of the running entity (Mahak does not
/// say in advance how many rows will come).
#[derive(SimpleObject)]
pub struct SyncStatusChange {
    pub kind: SyncChangeKind,
    /// The run the change belongs to (null on `SNAPSHOT` and `DEAD_LETTERS`).
    pub run_id: Option<ID>,
    pub entity: Option<MahakEntity>,
    /// Rows of `entity` fetched so far in this run.
    pub entity_fetched: Option<i64>,
    /// Rows fetched so far in this run, all entities.
    pub run_fetched: Option<i64>,
    /// Entities of the run that are done.
    pub entities_done: Option<i64>,
    /// Entities the run covers.
    pub entities_total: Option<i64>,
    /// How the run ended (`RUN_FINISHED`).
    pub outcome: Option<SyncOutcome>,
    /// Why the entity (`ENTITY_FINISHED`) or the run (`RUN_FINISHED`) failed.
    pub error: Option<String>,
    /// The whole status, on `SNAPSHOT`, `ENTITY_FINISHED`, `RUN_FINISHED` and `DEAD_LETTERS`.
    pub status: Option<SyncStatus>,
}

impl From<live::Change> for SyncStatusChange {
    fn from(c: live::Change) -> Self {
        SyncStatusChange {
            kind: match c.kind {
                ChangeKind::Snapshot => SyncChangeKind::Snapshot,
                ChangeKind::RunStarted => SyncChangeKind::RunStarted,
                ChangeKind::Progress => SyncChangeKind::Progress,
                ChangeKind::EntityFinished => SyncChangeKind::EntityFinished,
                ChangeKind::RunFinished => SyncChangeKind::RunFinished,
                ChangeKind::DeadLetters => SyncChangeKind::DeadLetters,
            },
            run_id: c.run_id.map(|id| ID(id.to_string())),
            entity: c.entity.map(Into::into),
            entity_fetched: c.entity_fetched,
            run_fetched: c.run_fetched,
            entities_done: c.entities_done,
            entities_total: c.entities_total,
            outcome: c.outcome.as_deref().map(run_outcome),
            error: c.error,
            status: c.status.map(Into::into),
        }
    }
}

/// A new order (checkout committed it; it awaits payment).
pub struct PlacedOrder(orders::Model);

#[Object]
impl PlacedOrder {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The human order number shown to the customer.
    async fn number(&self) -> String {
        self.0.number.to_string()
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// `PENDING_PAYMENT` when placed.
    async fn status(&self) -> String {
        self.0.status.to_uppercase()
    }
    async fn grand_total(&self) -> Rial {
        Rial(self.0.grand_total)
    }
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.placed_at.unwrap_or(self.0.created_at)
    }
}

fn parse_letter_id(id: &ID) -> Result<i64, ApiError> {
    id.as_str()
        .parse()
        .map_err(|_| ApiError::not_found("dead letter"))
}

#[derive(Default)]
pub struct SyncConsoleQuery;

#[Object]
impl SyncConsoleQuery {
    /// The Mahak sync per entity: checkpoint, caught-up flag, lag, last run, the fetch under
    /// way, open dead letters. Needs the `sync` permission.
    async fn sync_status(&self, ctx: &Context<'_>) -> Result<SyncStatus> {
        access::require(ctx, Permission::Sync).await?;
        let status = domain::status(&console(ctx).db)
            .await
            .map_err(ApiError::from)?;
        Ok(status.into())
    }

    /// Sync runs, newest first (a Relay connection, forward only). Needs `sync`.
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<SyncRunConnection> {
        access::require(ctx, Permission::Sync).await?;
        let first = page_size(first)?;
        let after = after
            .map(|a| Uuid::parse_str(&a))
            .transpose()
            .map_err(|_| ApiError::bad_input("after", "not a cursor of this connection"))?;
        let (rows, more) = domain::runs(&console(ctx).db, first, after)
            .await
            .map_err(ApiError::from)?;
        let edges: Vec<SyncRunEdge> = rows
            .into_iter()
            .map(|run| SyncRunEdge {
                cursor: run.id.to_string(),
                node: SyncRun(run),
            })
            .collect();
        Ok(SyncRunConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// One sync run. Needs `sync`.
    async fn sync_run(&self, ctx: &Context<'_>, id: ID) -> Result<SyncRun> {
        access::require(ctx, Permission::Sync).await?;
        let id = Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found("sync run"))?;
        let run = domain::run(&console(ctx).db, id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::not_found("sync run"))?;
        Ok(SyncRun(run))
    }

    /// A `triggerSync` request: whether a worker picked it up, and the run. Needs `sync`.
    async fn sync_request(&self, ctx: &Context<'_>, id: ID) -> Result<SyncRequest> {
        access::require(ctx, Permission::Sync).await?;
        let id: i64 = id
            .as_str()
            .parse()
            .map_err(|_| ApiError::not_found("sync request"))?;
        let request = domain::request(&console(ctx).db, id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::not_found("sync request"))?;
        Ok(SyncRequest(request))
    }

    /// Dead letters, newest first, with Mahak's row and the error. Needs `sync`.
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only this entity's letters.")] entity: Option<MahakEntity>,
        #[graphql(desc = "Only letters neither replayed nor discarded (default true).")]
        open_only: Option<bool>,
    ) -> Result<DeadLetterConnection> {
        access::require(ctx, Permission::Sync).await?;
        let first = page_size(first)?;
        let after = after
            .map(|a| a.parse::<i64>())
            .transpose()
            .map_err(|_| ApiError::bad_input("after", "not a cursor of this connection"))?;
        let filter = LetterFilter {
            entity: entity.map(Into::into),
            open_only: open_only.unwrap_or(true),
        };
        let (rows, more) = domain::dead_letters(&console(ctx).db, filter, first, after)
            .await
            .map_err(ApiError::from)?;
        let edges: Vec<DeadLetterEdge> = rows
            .into_iter()
            .map(|letter| DeadLetterEdge {
                cursor: letter.id.to_string(),
                node: DeadLetter(letter),
            })
            .collect();
        Ok(DeadLetterConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

#[derive(Default)]
pub struct SyncConsoleMutation;

#[Object]
impl SyncConsoleMutation {
    /// Applies an open dead letter's stored Mahak row again with the current code (after a
    /// fix). If it still fails the answer says why and the letter stays open. `NOT_FOUND`,
    /// or `CONFLICT` if it was already replayed or discarded. Needs `sync`.
    async fn replay_dead_letter(&self, ctx: &Context<'_>, id: ID) -> Result<DeadLetterReplay> {
        let caller = access::require(ctx, Permission::Sync).await?;
        let id = parse_letter_id(&id)?;
        let console = console(ctx);
        let replay = domain::replay(console, id).await?;
        audit::record(
            &console.db,
            caller.id,
            "dead_letter.replay",
            "dead_letter",
            &id.to_string(),
            None,
            Some(domain::letter_json(&replay.letter)),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(replay.into())
    }

    /// Replays every open dead letter of `entity`, oldest first. Needs `sync`.
    async fn replay_dead_letters(
        &self,
        ctx: &Context<'_>,
        entity: MahakEntity,
    ) -> Result<DeadLetterReplaySummary> {
        let caller = access::require(ctx, Permission::Sync).await?;
        let console = console(ctx);
        let entity: Entity = entity.into();
        let results = domain::replay_all(console, entity).await?;
        let replayed = results.iter().filter(|r| r.error.is_none()).count() as i32;
        let still_failing = results.len() as i32 - replayed;
        audit::record(
            &console.db,
            caller.id,
            "dead_letter.replay_all",
            "sync_entity",
            entity.name(),
            None,
            Some(serde_json::json!({ "replayed": replayed, "stillFailing": still_failing })),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(DeadLetterReplaySummary {
            replayed,
            still_failing,
            results: results.into_iter().map(Into::into).collect(),
        })
    }

    /// Gives up on an open dead letter: it is kept, marked discarded with `reason` (required,
    /// at most 1000 characters). `NOT_FOUND`; `CONFLICT` if already replayed or discarded.
    /// Needs `sync`.
    async fn discard_dead_letter(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> Result<DeadLetter> {
        let caller = access::require(ctx, Permission::Sync).await?;
        let id = parse_letter_id(&id)?;
        let after = domain::discard(&console(ctx).db, caller.id, id, &reason).await?;
        Ok(DeadLetter(after))
    }

    /// Asks for a sync of `entity` (omit it for every entity) now, instead of waiting for the
    /// schedule. A sync worker picks the request up at once when the sync runs inside this
    /// server, within about a second from a separate `sync daemon`; `runId` is set then (see
    /// `syncRequest`), and `syncStatusChanged` shows the run. Needs `sync`.
    async fn trigger_sync(
        &self,
        ctx: &Context<'_>,
        entity: Option<MahakEntity>,
    ) -> Result<SyncRequest> {
        let caller = access::require(ctx, Permission::Sync).await?;
        let request = domain::trigger(console(ctx), entity.map(Into::into), caller.id).await?;
        Ok(SyncRequest(request))
    }
}

#[derive(Default)]
pub struct SyncConsoleSubscription;

#[Subscription]
impl SyncConsoleSubscription {
    /// The Mahak sync as it happens: first a `SNAPSHOT` of the status, then runs starting,
    /// progress per entity, entities and runs finishing, and changes of the open dead letters.
    /// Works whether the sync runs inside this server or as a separate worker (read from the
    /// database every `graphql.sync_status_poll_ms` while subscribed). Needs `sync`.
    async fn sync_status_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = SyncStatusChange>> {
        access::require(ctx, Permission::Sync).await?;
        let watch = live::watch(console(ctx)).await.map_err(ApiError::from)?;
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            let change = watch.next().await?;
            Some((SyncStatusChange::from(change), watch))
        }))
    }

    /// Every dead letter recorded from now on, with Mahak's row and the error. Needs `sync`.
    async fn dead_letter_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = DeadLetter>> {
        access::require(ctx, Permission::Sync).await?;
        let watch = live::watch_letters(console(ctx))
            .await
            .map_err(ApiError::from)?;
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            let letter = watch.next().await?;
            Some((DeadLetter(letter), watch))
        }))
    }

    /// Every order placed from now on (checkout committed it; it awaits payment), for the
    /// staff dashboard. Needs `orders`.
    async fn order_placed(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = PlacedOrder>> {
        access::require(ctx, Permission::Orders).await?;
        let receiver = ctx
            .data_unchecked::<Services>()
            .order_events
            .subscribe_placed();
        Ok(futures::stream::unfold(
            receiver,
            |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(order) => return Some((PlacedOrder(order), receiver)),
                        // A slow subscriber misses some; the dashboard's order list has them all.
                        Err(RecvError::Lagged(skipped)) => {
                            tracing::warn!(skipped, "orderPlaced subscriber fell behind");
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
