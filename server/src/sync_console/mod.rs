//! The admin sync console, as plain Rust: the status of the Mahak sync per entity, the history
//! of runs, the dead letters and what an operator can do about them (replay, discard), and
//! requests to run a sync now. The GraphQL layer (`graphql::admin::sync_console`) only parses,
//! checks permissions and maps.
//!
//! Everything is read from the database, which the sync worker writes wherever it runs (in
//! this process in the embedded default, or as a separate `sync daemon`): `sync_checkpoints`,
//! `sync_runs` (with the progress of a running run), `dead_letters`, `sync_requests`. The live
//! view ([`live`]) merges in the in-process sync events when the sync runs here.
//!
//! Definitions used throughout:
//!
//! - **checkpoint**: the RowVersion the next fetch of an entity starts from;
//! - **caught up**: the entity's last fetch reached the end of Mahak's data and the checkpoint
//!   has not moved since (no fetch of it is half done);
//! - **lag**: seconds since the entity last caught up with Mahak, i.e. how stale its mirror may
//!   be at most (the same figure as the `sync_lag_seconds` metric); unknown until it first
//!   caught up.

pub mod live;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{dead_letters, sync_checkpoints, sync_requests, sync_runs};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::Value as Json;
use sync::mahak::Entity;
use sync::pipeline::events::Events;
use sync::pipeline::runner::RUN_ORDER;
use sync::worker::SyncSettings;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::staff::audit;

/// What the console needs besides the database: the in-process sync events (empty when the
/// sync runs elsewhere), the bell that wakes an in-process sync daemon, the sync settings
/// (for replays) and how often live views poll the database.
#[derive(Clone)]
pub struct SyncConsole {
    pub db: DatabaseConnection,
    pub events: Events,
    pub wake: Arc<Notify>,
    pub settings: SyncSettings,
    pub poll: Duration,
}

impl SyncConsole {
    pub fn new(db: DatabaseConnection, settings: SyncSettings, poll: Duration) -> Self {
        SyncConsole {
            db,
            events: Events::default(),
            wake: Arc::default(),
            settings,
            poll,
        }
    }
}

/// Runs kept in view when working out each entity's last run.
const RECENT_RUNS: u64 = 200;
/// Longest discard reason accepted.
const MAX_REASON: usize = 1_000;

/// How a run, or one entity within it, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    /// Another worker held the entity's lock; this run did not fetch it.
    Skipped,
}

/// One entity's part of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRun {
    pub run_id: Uuid,
    pub entity: Entity,
    pub started_at: DateTime<Utc>,
    /// When the whole run finished (a run records no per-entity times).
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub fetched: i64,
    pub dead_lettered: i64,
    pub pages: i64,
    pub error: Option<String>,
}

/// An entity being fetched right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityProgress {
    pub run_id: Uuid,
    pub fetched: i64,
}

/// The sync's state for one Mahak entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityStatus {
    pub entity: Entity,
    /// The RowVersion the next fetch starts from (`None`: never fetched).
    pub checkpoint: Option<i64>,
    /// When the checkpoint last moved.
    pub checkpoint_moved_at: Option<DateTime<Utc>>,
    /// When a fetch last reached the end of Mahak's data.
    pub caught_up_at: Option<DateTime<Utc>>,
    pub caught_up: bool,
    /// Seconds since `caught_up_at` (see the module documentation).
    pub lag_seconds: Option<i64>,
    /// The latest run that finished this entity.
    pub last_run: Option<EntityRun>,
    /// Set while a run is fetching this entity.
    pub running: Option<EntityProgress>,
    pub open_dead_letters: i64,
    /// Why the entity's last run failed, if it did.
    pub last_error: Option<String>,
}

/// The whole sync at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncStatus {
    pub entities: Vec<EntityStatus>,
    /// Runs still in progress, newest first (a run whose worker died stays `running`).
    pub running: Vec<sync_runs::Model>,
    pub open_dead_letters: i64,
    /// Requests no worker has picked up yet.
    pub pending_requests: i64,
    pub at: DateTime<Utc>,
}

/// The entities a run covers, in order (runs from before this was recorded covered all).
pub fn run_entities(run: &sync_runs::Model) -> Vec<Entity> {
    match &run.entities {
        None => RUN_ORDER.to_vec(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(Entity::from_name)
            .collect(),
    }
}

/// Each finished entity's part of `run`, in run order.
pub fn entity_runs(run: &sync_runs::Model) -> Vec<EntityRun> {
    let Some(Json::Object(map)) = &run.per_entity else {
        return Vec::new();
    };
    let mut out: Vec<EntityRun> = map
        .iter()
        .filter_map(|(name, counts)| {
            let entity = Entity::from_name(name)?;
            let number = |key: &str| counts.get(key).and_then(Json::as_i64).unwrap_or(0);
            let error = counts.get("error").and_then(Json::as_str).map(String::from);
            let skipped = counts.get("skipped").and_then(Json::as_bool) == Some(true);
            Some(EntityRun {
                run_id: run.id,
                entity,
                started_at: run.started_at,
                finished_at: run.finished_at,
                outcome: if error.is_some() {
                    Outcome::Failed
                } else if skipped {
                    Outcome::Skipped
                } else {
                    Outcome::Succeeded
                },
                fetched: number("fetched"),
                dead_lettered: number("dead_lettered"),
                pages: number("pages"),
                error,
            })
        })
        .collect();
    out.sort_by_key(|r| RUN_ORDER.iter().position(|e| *e == r.entity));
    out
}

/// Open dead letters per entity name.
async fn open_letters_by_entity<C: ConnectionTrait>(db: &C) -> Result<HashMap<String, i64>, DbErr> {
    let rows: Vec<(String, i64)> = dead_letters::Entity::find()
        .select_only()
        .column(dead_letters::Column::Entity)
        .column_as(dead_letters::Column::Id.count(), "n")
        .filter(dead_letters::Column::ReplayedAt.is_null())
        .filter(dead_letters::Column::DiscardedAt.is_null())
        .group_by(dead_letters::Column::Entity)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The sync's status per entity, in run order.
pub async fn status<C: ConnectionTrait>(db: &C) -> Result<SyncStatus, DbErr> {
    let now = Utc::now();
    let checkpoints: HashMap<String, sync_checkpoints::Model> = sync_checkpoints::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.entity.clone(), c))
        .collect();
    let runs = sync_runs::Entity::find()
        .order_by_desc(sync_runs::Column::StartedAt)
        .order_by_desc(sync_runs::Column::Id)
        .limit(RECENT_RUNS)
        .all(db)
        .await?;
    let letters = open_letters_by_entity(db).await?;
    let pending_requests = sync_requests::Entity::find()
        .filter(sync_requests::Column::PickedUpAt.is_null())
        .count(db)
        .await? as i64;

    let mut last_runs: HashMap<Entity, EntityRun> = HashMap::new();
    let mut running_now: HashMap<Entity, EntityProgress> = HashMap::new();
    for run in &runs {
        if run.outcome == "running" {
            if let Some(entity) = run.current_entity.as_deref().and_then(Entity::from_name) {
                running_now.entry(entity).or_insert(EntityProgress {
                    run_id: run.id,
                    fetched: run.current_fetched,
                });
            }
        }
        for part in entity_runs(run) {
            last_runs.entry(part.entity).or_insert(part);
        }
    }

    let entities = RUN_ORDER
        .iter()
        .map(|entity| {
            let checkpoint = checkpoints.get(entity.name());
            let caught_up_at = checkpoint.and_then(|c| c.last_success_at);
            let running = running_now.remove(entity);
            let caught_up = running.is_none()
                && checkpoint
                    .is_some_and(|c| c.last_success_at.is_some_and(|at| at >= c.updated_at));
            let last_run = last_runs.remove(entity);
            EntityStatus {
                entity: *entity,
                checkpoint: checkpoint.map(|c| c.row_version),
                checkpoint_moved_at: checkpoint.map(|c| c.updated_at),
                caught_up_at,
                caught_up,
                lag_seconds: caught_up_at.map(|at| (now - at).num_seconds().max(0)),
                last_error: last_run.as_ref().and_then(|r| r.error.clone()),
                last_run,
                running,
                open_dead_letters: letters.get(entity.name()).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(SyncStatus {
        entities,
        running: runs
            .into_iter()
            .filter(|r| r.outcome == "running")
            .collect(),
        open_dead_letters: letters.values().sum(),
        pending_requests,
        at: now,
    })
}

/// Runs newest first, `first` of them after the run `after`; and whether more follow.
/// Run ids are time-ordered (UUIDv7), so the id is the cursor.
pub async fn runs<C: ConnectionTrait>(
    db: &C,
    first: u64,
    after: Option<Uuid>,
) -> Result<(Vec<sync_runs::Model>, bool), DbErr> {
    let mut query = sync_runs::Entity::find().order_by_desc(sync_runs::Column::Id);
    if let Some(after) = after {
        query = query.filter(sync_runs::Column::Id.lt(after));
    }
    let mut rows = query.limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

pub async fn run<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<sync_runs::Model>, DbErr> {
    sync_runs::Entity::find_by_id(id).one(db).await
}

/// Which dead letters to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct LetterFilter {
    pub entity: Option<Entity>,
    /// Only letters neither replayed nor discarded.
    pub open_only: bool,
}

/// Dead letters newest first, `first` of them after the letter `after`; and whether more follow.
pub async fn dead_letters<C: ConnectionTrait>(
    db: &C,
    filter: LetterFilter,
    first: u64,
    after: Option<i64>,
) -> Result<(Vec<dead_letters::Model>, bool), DbErr> {
    let mut query = dead_letters::Entity::find().order_by_desc(dead_letters::Column::Id);
    if let Some(entity) = filter.entity {
        query = query.filter(dead_letters::Column::Entity.eq(entity.name()));
    }
    if filter.open_only {
        query = query
            .filter(dead_letters::Column::ReplayedAt.is_null())
            .filter(dead_letters::Column::DiscardedAt.is_null());
    }
    if let Some(after) = after {
        query = query.filter(dead_letters::Column::Id.lt(after));
    }
    let mut rows = query.limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

pub fn is_open(letter: &dead_letters::Model) -> bool {
    letter.replayed_at.is_none() && letter.discarded_at.is_none()
}

/// An open dead letter, or `NOT_FOUND` / `CONFLICT` (already replayed or discarded).
async fn open_letter<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<dead_letters::Model> {
    let letter = dead_letters::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("dead letter"))?;
    if !is_open(&letter) {
        return Err(ApiError::Conflict {
            message: format!(
                "dead letter {id} is already {}",
                if letter.replayed_at.is_some() {
                    "replayed"
                } else {
                    "discarded"
                }
            ),
        });
    }
    Ok(letter)
}

/// What replaying one letter did: the letter as it is now, and why it still fails if it does
/// (the attempt is counted; the letter stays open and nothing is lost).
#[derive(Debug, Clone)]
pub struct Replay {
    pub letter: dead_letters::Model,
    pub error: Option<String>,
}

/// Applies an open dead letter's stored Mahak row again with the current code (the same
/// replay as `sync dlq replay`).
pub async fn replay(console: &SyncConsole, id: i64) -> ApiResult<Replay> {
    let letter = open_letter(&console.db, id).await?;
    replay_letter(console, letter).await
}

async fn replay_letter(console: &SyncConsole, letter: dead_letters::Model) -> ApiResult<Replay> {
    let outcome = sync::worker::replay(&console.db, &console.settings, &letter)
        .await
        .map_err(ApiError::internal)?;
    let letter = dead_letters::Entity::find_by_id(letter.id)
        .one(&console.db)
        .await?
        .ok_or(ApiError::not_found("dead letter"))?;
    Ok(Replay {
        letter,
        error: outcome.err(),
    })
}

/// Replays every open dead letter of `entity`, oldest first.
pub async fn replay_all(console: &SyncConsole, entity: Entity) -> ApiResult<Vec<Replay>> {
    let letters = dead_letters::Entity::find()
        .filter(dead_letters::Column::Entity.eq(entity.name()))
        .filter(dead_letters::Column::ReplayedAt.is_null())
        .filter(dead_letters::Column::DiscardedAt.is_null())
        .order_by_asc(dead_letters::Column::Id)
        .all(&console.db)
        .await?;
    let mut out = Vec::with_capacity(letters.len());
    for letter in letters {
        out.push(replay_letter(console, letter).await?);
    }
    Ok(out)
}

/// The audit record of a dead letter's state.
pub fn letter_json(letter: &dead_letters::Model) -> Json {
    serde_json::json!({
        "entity": letter.entity,
        "mahakId": letter.mahak_id,
        "rowVersion": letter.row_version,
        "error": letter.error,
        "attempts": letter.attempts,
        "replayedAt": letter.replayed_at,
        "discardedAt": letter.discarded_at,
        "discardReason": letter.discard_reason,
    })
}

/// Gives up on an open dead letter, keeping it with the operator's reason; audited in the same
/// transaction. Returns the letter as it is now.
pub async fn discard(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: i64,
    reason: &str,
) -> ApiResult<dead_letters::Model> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_input(
            "reason",
            "say why the letter is discarded",
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::bad_input(
            "reason",
            format!("at most {MAX_REASON} characters"),
        ));
    }
    let tx = db.begin().await?;
    let before = open_letter(&tx, id).await?;
    let updated = dead_letters::Entity::update_many()
        .col_expr(dead_letters::Column::DiscardedAt, Expr::value(Utc::now()))
        .col_expr(
            dead_letters::Column::DiscardReason,
            Expr::value(reason.to_string()),
        )
        .filter(dead_letters::Column::Id.eq(id))
        .filter(dead_letters::Column::ReplayedAt.is_null())
        .filter(dead_letters::Column::DiscardedAt.is_null())
        .exec(&tx)
        .await?;
    if updated.rows_affected == 0 {
        // Replayed or discarded by someone else in between.
        open_letter(&tx, id).await?;
    }
    let after = dead_letters::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(ApiError::not_found("dead letter"))?;
    audit::record(
        &tx,
        staff_id,
        "dead_letter.discard",
        "dead_letter",
        &id.to_string(),
        Some(letter_json(&before)),
        Some(letter_json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Asks for a sync of `entity` (`None`: every entity) now. The request is answered by the next
/// run of whichever worker daemon sees it first: at once when the sync runs in this process,
/// within a second from a separate `sync daemon`; its `run_id` is set when it is picked up.
pub async fn trigger(
    console: &SyncConsole,
    entity: Option<Entity>,
    staff_id: Uuid,
) -> ApiResult<sync_requests::Model> {
    let tx = console.db.begin().await?;
    let request = sync::pipeline::requests::create(&tx, entity, Some(staff_id)).await?;
    audit::record(
        &tx,
        staff_id,
        "sync.trigger",
        "sync_request",
        &request.id.to_string(),
        None,
        Some(serde_json::json!({ "entity": request.entity })),
    )
    .await?;
    tx.commit().await?;
    console.wake.notify_one();
    Ok(request)
}

pub async fn request<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<sync_requests::Model>, DbErr> {
    sync_requests::Entity::find_by_id(id).one(db).await
}
