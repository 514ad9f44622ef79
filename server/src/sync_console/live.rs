//! The live view of the sync: a stream of changes (a run started, an entity's fetch moved on or
//! ended, a run ended, the open dead letters changed), and a stream of new dead letters.
//!
//! The worker may run in another process, so the database is the source: while someone
//! watches, the view polls the running runs' `sync_runs` rows and the dead-letter count every
//! `graphql.sync_status_poll_ms`. When the sync runs in this process its events are merged in
//! as they happen. Both sources feed one tracker that only reports what moves a run forward
//! (more rows fetched, an entity or a run newly finished), so nothing is reported twice
//! whichever source sees it first, and a missed or lagging event is made up by the next poll.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use entity::{dead_letters, sync_runs};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sync::mahak::Entity;
use sync::pipeline::events::SyncEvent;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use uuid::Uuid;

use super::{entity_runs, run_entities, status, SyncConsole, SyncStatus};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The status when watching starts.
    Snapshot,
    RunStarted,
    /// More rows of `entity` were fetched.
    Progress,
    EntityFinished,
    RunFinished,
    /// The number of open dead letters changed.
    DeadLetters,
}

/// One change, with where the run stands.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub run_id: Option<Uuid>,
    pub entity: Option<Entity>,
    /// Rows of `entity` fetched so far in the run.
    pub entity_fetched: Option<i64>,
    /// Rows fetched so far in the whole run.
    pub run_fetched: Option<i64>,
    pub entities_done: Option<i64>,
    pub entities_total: Option<i64>,
    /// `running`, `succeeded` or `failed`, on `RunFinished`.
    pub outcome: Option<String>,
    pub error: Option<String>,
    /// The whole status, on `Snapshot`, `EntityFinished`, `RunFinished` and `DeadLetters`.
    pub status: Option<SyncStatus>,
}

impl Change {
    fn new(kind: ChangeKind) -> Change {
        Change {
            kind,
            run_id: None,
            entity: None,
            entity_fetched: None,
            run_fetched: None,
            entities_done: None,
            entities_total: None,
            outcome: None,
            error: None,
            status: None,
        }
    }
}

/// What is known of one run in progress.
#[derive(Debug, Default)]
struct RunTrack {
    entities: Vec<Entity>,
    /// Rows fetched so far per entity (finished or not).
    fetched: HashMap<Entity, i64>,
    done: BTreeMap<Entity, Option<String>>,
}

impl RunTrack {
    fn run_fetched(&self) -> i64 {
        self.fetched.values().sum()
    }

    fn change(&self, kind: ChangeKind, run_id: Uuid, entity: Option<Entity>) -> Change {
        Change {
            run_id: Some(run_id),
            entity,
            entity_fetched: entity.map(|e| self.fetched.get(&e).copied().unwrap_or(0)),
            run_fetched: Some(self.run_fetched()),
            entities_done: Some(self.done.len() as i64),
            entities_total: Some(self.entities.len() as i64),
            ..Change::new(kind)
        }
    }
}

/// Recently finished runs remembered so a late observation does not restart them.
const FINISHED_MEMORY: usize = 64;

/// Follows the sync for one watcher.
pub struct Watch {
    db: DatabaseConnection,
    events: broadcast::Receiver<SyncEvent>,
    ticks: tokio::time::Interval,
    runs: HashMap<Uuid, RunTrack>,
    finished: VecDeque<Uuid>,
    open_dead_letters: i64,
    queue: VecDeque<Change>,
    /// Whether the status must be re-read and attached to the next change that carries it.
    failed: bool,
}

/// Starts watching: the first change is a `Snapshot` of the status, then every change.
pub async fn watch(console: &SyncConsole) -> Result<Watch, DbErr> {
    // Listen before reading, so nothing falls between the snapshot and the first event.
    let events = console.events.subscribe();
    let snapshot = status(&console.db).await?;
    let mut watch = Watch {
        db: console.db.clone(),
        events,
        ticks: ticker(console.poll),
        runs: HashMap::new(),
        finished: VecDeque::new(),
        open_dead_letters: snapshot.open_dead_letters,
        queue: VecDeque::new(),
        failed: false,
    };
    for run in &snapshot.running {
        let mut track = track_of(run);
        if let Some(entity) = run.current_entity.as_deref().and_then(Entity::from_name) {
            track.fetched.insert(entity, run.current_fetched);
        }
        watch.runs.insert(run.id, track);
    }
    watch.queue.push_back(Change {
        status: Some(snapshot),
        ..Change::new(ChangeKind::Snapshot)
    });
    Ok(watch)
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

fn track_of(run: &sync_runs::Model) -> RunTrack {
    let mut track = RunTrack {
        entities: run_entities(run),
        ..RunTrack::default()
    };
    for part in entity_runs(run) {
        track.fetched.insert(part.entity, part.fetched);
        track.done.insert(part.entity, part.error);
    }
    track
}

impl Watch {
    /// The next change; `None` only if the database stays unreachable (the stream then ends).
    pub async fn next(&mut self) -> Option<Change> {
        loop {
            if let Some(change) = self.queue.pop_front() {
                return Some(change);
            }
            tokio::select! {
                biased;
                event = self.events.recv() => match event {
                    Ok(event) => self.on_event(event).await,
                    // Fell behind, or no sync in this process: the poll covers it.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        self.events = broadcast::channel(1).1;
                    }
                },
                _ = self.ticks.tick() => {
                    if let Err(err) = self.poll().await {
                        tracing::warn!(error = %err, "sync status poll failed");
                        if self.failed {
                            return None;
                        }
                        self.failed = true;
                    } else {
                        self.failed = false;
                    }
                }
            }
        }
    }

    fn is_finished(&self, run_id: Uuid) -> bool {
        self.finished.contains(&run_id)
    }

    fn start(&mut self, run_id: Uuid, entities: Vec<Entity>) {
        if self.is_finished(run_id) || self.runs.contains_key(&run_id) {
            return;
        }
        let track = RunTrack {
            entities,
            ..RunTrack::default()
        };
        self.queue
            .push_back(track.change(ChangeKind::RunStarted, run_id, None));
        self.runs.insert(run_id, track);
    }

    fn progress(&mut self, run_id: Uuid, entity: Entity, fetched: i64) {
        let Some(track) = self.runs.get_mut(&run_id) else {
            return;
        };
        if track.done.contains_key(&entity) {
            return;
        }
        let known = track.fetched.entry(entity).or_insert(0);
        if fetched > *known {
            *known = fetched;
            let change = track.change(ChangeKind::Progress, run_id, Some(entity));
            self.queue.push_back(change);
        }
    }

    async fn entity_finished(
        &mut self,
        run_id: Uuid,
        entity: Entity,
        fetched: i64,
        error: Option<String>,
    ) -> Result<(), DbErr> {
        let Some(track) = self.runs.get_mut(&run_id) else {
            return Ok(());
        };
        if track.done.contains_key(&entity) {
            return Ok(());
        }
        track.fetched.insert(entity, fetched);
        track.done.insert(entity, error.clone());
        let mut change = track.change(ChangeKind::EntityFinished, run_id, Some(entity));
        change.error = error;
        change.status = Some(status(&self.db).await?);
        self.queue.push_back(change);
        Ok(())
    }

    async fn run_finished(
        &mut self,
        run_id: Uuid,
        outcome: String,
        error: Option<String>,
    ) -> Result<(), DbErr> {
        let Some(track) = self.runs.remove(&run_id) else {
            return Ok(());
        };
        self.finished.push_back(run_id);
        if self.finished.len() > FINISHED_MEMORY {
            self.finished.pop_front();
        }
        let mut change = track.change(ChangeKind::RunFinished, run_id, None);
        let snapshot = status(&self.db).await?;
        self.open_dead_letters = snapshot.open_dead_letters;
        change.outcome = Some(outcome);
        change.error = error;
        change.status = Some(snapshot);
        self.queue.push_back(change);
        Ok(())
    }

    async fn on_event(&mut self, event: SyncEvent) {
        let result = match event {
            SyncEvent::RunStarted {
                run_id, entities, ..
            } => {
                self.start(run_id, entities);
                Ok(())
            }
            SyncEvent::Progress {
                run_id,
                entity,
                fetched,
                ..
            } => {
                self.progress(run_id, entity, fetched as i64);
                Ok(())
            }
            SyncEvent::EntityFinished {
                run_id,
                entity,
                fetched,
                error,
                ..
            } => {
                self.entity_finished(run_id, entity, fetched as i64, error)
                    .await
            }
            SyncEvent::RunFinished {
                run_id, outcome, ..
            } => self.run_finished(run_id, outcome, None).await,
            SyncEvent::BatchApplied { dead_lettered, .. } if dead_lettered > 0 => {
                self.check_dead_letters().await
            }
            SyncEvent::BatchApplied { .. } => Ok(()),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "sync status read failed");
        }
    }

    async fn check_dead_letters(&mut self) -> Result<(), DbErr> {
        let open = open_count(&self.db).await?;
        if open != self.open_dead_letters {
            let snapshot = status(&self.db).await?;
            self.open_dead_letters = snapshot.open_dead_letters;
            self.queue.push_back(Change {
                status: Some(snapshot),
                ..Change::new(ChangeKind::DeadLetters)
            });
        }
        Ok(())
    }

    /// Reads the runs in progress (and those being followed) and the dead-letter count.
    async fn poll(&mut self) -> Result<(), DbErr> {
        let followed: Vec<Uuid> = self.runs.keys().copied().collect();
        let rows = sync_runs::Entity::find()
            .filter(
                Condition::any()
                    .add(sync_runs::Column::Outcome.eq("running"))
                    .add(sync_runs::Column::Id.is_in(followed)),
            )
            .order_by_asc(sync_runs::Column::Id)
            .all(&self.db)
            .await?;
        // Events sent before what was just read are queued by now: take them first, so the
        // read cannot overtake them (an entity reported finished before its last pages).
        loop {
            match self.events.try_recv() {
                Ok(event) => self.on_event(event).await,
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        for run in rows {
            if run.outcome == "running" {
                self.start(run.id, run_entities(&run));
            }
            for part in entity_runs(&run) {
                self.entity_finished(run.id, part.entity, part.fetched, part.error)
                    .await?;
            }
            if let Some(entity) = run.current_entity.as_deref().and_then(Entity::from_name) {
                self.progress(run.id, entity, run.current_fetched);
            }
            if run.outcome != "running" {
                self.run_finished(run.id, run.outcome.clone(), run.error.clone())
                    .await?;
            }
        }
        self.check_dead_letters().await
    }
}

async fn open_count(db: &DatabaseConnection) -> Result<i64, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(dead_letters::Entity::find()
        .filter(dead_letters::Column::ReplayedAt.is_null())
        .filter(dead_letters::Column::DiscardedAt.is_null())
        .count(db)
        .await? as i64)
}

/// How far back new dead letters are looked for below the highest id seen: ids are taken
/// when rows are inserted but become visible when their transaction commits, so a lower id can
/// appear after a higher one.
const LOOK_BACK: i64 = 200;

/// New dead letters as they are recorded (polled; woken early by in-process sync events).
pub struct LetterWatch {
    db: DatabaseConnection,
    events: broadcast::Receiver<SyncEvent>,
    ticks: tokio::time::Interval,
    highest: i64,
    seen: HashSet<i64>,
    queue: VecDeque<dead_letters::Model>,
}

/// Starts watching for dead letters recorded from now on.
pub async fn watch_letters(console: &SyncConsole) -> Result<LetterWatch, DbErr> {
    let events = console.events.subscribe();
    let existing: Vec<i64> = dead_letters::Entity::find()
        .select_only()
        .column(dead_letters::Column::Id)
        .order_by_desc(dead_letters::Column::Id)
        .limit(LOOK_BACK as u64)
        .into_tuple()
        .all(&console.db)
        .await?;
    Ok(LetterWatch {
        db: console.db.clone(),
        events,
        ticks: ticker(console.poll),
        highest: existing.first().copied().unwrap_or(0),
        seen: existing.into_iter().collect(),
        queue: VecDeque::new(),
    })
}

impl LetterWatch {
    pub async fn next(&mut self) -> Option<dead_letters::Model> {
        loop {
            if let Some(letter) = self.queue.pop_front() {
                return Some(letter);
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    Ok(SyncEvent::BatchApplied { dead_lettered, .. }) if dead_lettered > 0 => {}
                    Ok(SyncEvent::EntityFinished { dead_lettered, .. }) if dead_lettered > 0 => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => {
                        self.events = broadcast::channel(1).1;
                        continue;
                    }
                },
                _ = self.ticks.tick() => {}
            }
            if let Err(err) = self.poll().await {
                tracing::warn!(error = %err, "dead letter poll failed");
            }
        }
    }

    async fn poll(&mut self) -> Result<(), DbErr> {
        let floor = self.highest - LOOK_BACK;
        // Ids first (cheap), then the rows of the new ones only.
        let ids: Vec<i64> = dead_letters::Entity::find()
            .select_only()
            .column(dead_letters::Column::Id)
            .filter(dead_letters::Column::Id.gt(floor))
            .into_tuple()
            .all(&self.db)
            .await?;
        let new: Vec<i64> = ids
            .into_iter()
            .filter(|id| !self.seen.contains(id))
            .collect();
        if !new.is_empty() {
            let rows = dead_letters::Entity::find()
                .filter(dead_letters::Column::Id.is_in(new))
                .order_by_asc(dead_letters::Column::Id)
                .all(&self.db)
                .await?;
            for row in rows {
                self.seen.insert(row.id);
                self.highest = self.highest.max(row.id);
                self.queue.push_back(row);
            }
        }
        let floor = self.highest - LOOK_BACK;
        self.seen.retain(|id| *id > floor);
        Ok(())
    }
}
