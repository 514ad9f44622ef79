//! The control API: what a test or a demo does to "Mahak" behind the client's back (edit a
//! price in the desktop program, delete a product, plant a malformed row, make the service
//! fail), as a Rust handle and as HTTP routes under `/control` (listed in the module docs of
//! [`simulator`](super)).
//!
//! Every mutation takes the entity's next RowVersion, exactly as a change in Mahak would, so
//! the sync worker must pick it up through `GetAllData` like any other change.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::faults::{Faults, SimulatorStats};
use super::{parse_entity, persist, Shared};
use crate::mahak::Entity;

/// One stored row as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowState {
    /// The storage id: the row's `<Entity>Id`, or the id handed out for a malformed row.
    pub id: i64,
    pub row_version: i64,
    pub deleted: bool,
    /// The row exactly as `GetAllData` serves it.
    pub row: Value,
}

/// Row counts of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCounts {
    pub entity: Entity,
    pub rows: usize,
    pub deleted: usize,
    pub last_row_version: i64,
    pub last_id: i64,
}

/// A cheap, cloneable handle on a running simulator.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Creates or replaces a row (PascalCase object) by its `<Entity>Id`, assigning an id when
    /// it has none (or a non-positive or non-integer one). Missing fields take the model's
    /// defaults. Returns the id.
    pub fn upsert_row(&self, entity: Entity, row: Value) -> i64 {
        self.shared.write().upsert(entity, row)
    }

    /// Merges `patch`'s top-level fields into the row (the id field is left alone), with a new
    /// RowVersion. False when there is no such row or `patch` is not an object.
    pub fn patch_row(&self, entity: Entity, id: i64, patch: Value) -> bool {
        self.shared.write().patch(entity, id, patch)
    }

    /// Marks the row deleted, with a new RowVersion (Mahak's deletes are logical).
    pub fn delete_row(&self, entity: Entity, id: i64) -> bool {
        self.shared.write().set_deleted(entity, id, true)
    }

    /// Marks the row not deleted, with a new RowVersion.
    pub fn undelete_row(&self, entity: Entity, id: i64) -> bool {
        self.shared.write().set_deleted(entity, id, false)
    }

    /// Gives the existing rows among `ids` one new common RowVersion, as Mahak sometimes
    /// does; returns it.
    pub fn share_row_version(&self, entity: Entity, ids: &[i64]) -> i64 {
        self.shared.write().table_mut(entity).share_row_version(ids)
    }

    /// Stores `raw` as it is (any JSON, even not an object) under a fresh storage id, which is
    /// returned; only `RowVersion` is set, when `raw` is an object. It is served verbatim.
    pub fn insert_malformed_row(&self, entity: Entity, raw: Value) -> i64 {
        self.shared.write().insert_malformed(entity, raw)
    }

    /// Every row of `entity`, in id order.
    pub fn snapshot(&self, entity: Entity) -> Vec<RowState> {
        self.rows(entity, i64::MIN, usize::MAX)
    }

    /// One row.
    pub fn row(&self, entity: Entity, id: i64) -> Option<RowState> {
        let store = self.shared.read();
        store.table(entity).get(id).map(|row| RowState {
            id,
            row_version: row.row_version,
            deleted: row.deleted,
            row: row.value(),
        })
    }

    /// Up to `limit` rows with ids above `after_id`, in id order.
    pub fn rows(&self, entity: Entity, after_id: i64, limit: usize) -> Vec<RowState> {
        let store = self.shared.read();
        store
            .table(entity)
            .rows_by_id()
            .into_iter()
            .filter(|(id, _)| *id > after_id)
            .take(limit)
            .map(|(id, row)| RowState {
                id,
                row_version: row.row_version,
                deleted: row.deleted,
                row: row.value(),
            })
            .collect()
    }

    /// Row counts per entity.
    pub fn counts(&self) -> Vec<EntityCounts> {
        let store = self.shared.read();
        store
            .tables()
            .map(|table| {
                let deleted = table
                    .ids()
                    .filter(|id| table.get(*id).is_some_and(|r| r.deleted))
                    .count();
                EntityCounts {
                    entity: table.entity,
                    rows: table.len(),
                    deleted,
                    last_row_version: table.last_row_version(),
                    last_id: table.last_id(),
                }
            })
            .collect()
    }

    /// Replaces the injected faults (counted faults start over).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults().set(faults);
    }

    /// The faults as they stand (counted faults as left).
    pub fn faults(&self) -> Faults {
        self.shared.faults().current()
    }

    /// Every token issued so far stops working: the next call gets a 401.
    pub fn expire_tokens(&self) {
        self.shared.sessions().clear();
    }

    pub fn stats(&self) -> SimulatorStats {
        self.shared.counters.snapshot()
    }

    /// Writes the state file now (no-op without one).
    pub async fn save_state(&self) -> anyhow::Result<()> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || persist::save(&shared)).await?
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/stats", get(stats))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/expire-tokens", post(expire_tokens))
        .route("/entities", get(entities))
        .route("/save-state", post(save_state))
        .route("/rows/{entity}", get(list_rows).post(upsert_row))
        .route("/rows/{entity}/share-row-version", post(share_row_version))
        .route("/rows/{entity}/malformed", post(insert_malformed))
        .route(
            "/rows/{entity}/{id}",
            get(get_row).patch(patch_row).delete(delete_row),
        )
        .route("/rows/{entity}/{id}/undelete", post(undelete_row))
}

fn control(shared: Arc<Shared>) -> Control {
    Control::new(shared)
}

/// A control request that cannot be carried out: status and reason, answered as
/// `{"error": reason}`.
struct Problem(StatusCode, String);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type Answer = Result<Response, Problem>;

fn entity_of(name: &str) -> Result<Entity, Problem> {
    parse_entity(name)
        .ok_or_else(|| Problem(StatusCode::NOT_FOUND, format!("unknown entity `{name}`")))
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes)
        .map_err(|e| Problem(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn object_body(bytes: &[u8]) -> Result<Value, Problem> {
    let value: Value = json_body(bytes)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Problem(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
        ))
    }
}

fn ok() -> Answer {
    Ok(Json(json!({"ok": true})).into_response())
}

fn row_changed(found: bool, entity: Entity, id: i64) -> Answer {
    if found {
        ok()
    } else {
        Err(Problem(
            StatusCode::NOT_FOUND,
            format!("no {entity} with id {id}"),
        ))
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<SimulatorStats> {
    Json(control(shared).stats())
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(control(shared).faults())
}

async fn put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Answer {
    let faults: Faults = json_body(&body)?;
    let control = control(shared);
    control.set_faults(faults);
    Ok(Json(control.faults()).into_response())
}

async fn expire_tokens(State(shared): State<Arc<Shared>>) -> Answer {
    control(shared).expire_tokens();
    ok()
}

async fn entities(State(shared): State<Arc<Shared>>) -> Json<Vec<EntityCounts>> {
    Json(control(shared).counts())
}

async fn save_state(State(shared): State<Arc<Shared>>) -> Answer {
    if shared.config.state_file.is_none() {
        return Err(Problem(
            StatusCode::CONFLICT,
            "no state file is configured".into(),
        ));
    }
    control(shared)
        .save_state()
        .await
        .map_err(|e| Problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    ok()
}

#[derive(Deserialize)]
struct Page {
    after_id: Option<i64>,
    limit: Option<usize>,
}

async fn list_rows(
    State(shared): State<Arc<Shared>>,
    Path(entity): Path<String>,
    Query(page): Query<Page>,
) -> Answer {
    let entity = entity_of(&entity)?;
    let rows = control(shared).rows(
        entity,
        page.after_id.unwrap_or(i64::MIN),
        page.limit.unwrap_or(usize::MAX),
    );
    Ok(Json(rows).into_response())
}

async fn get_row(
    State(shared): State<Arc<Shared>>,
    Path((entity, id)): Path<(String, i64)>,
) -> Answer {
    let entity = entity_of(&entity)?;
    match control(shared).row(entity, id) {
        Some(row) => Ok(Json(row).into_response()),
        None => row_changed(false, entity, id),
    }
}

async fn upsert_row(
    State(shared): State<Arc<Shared>>,
    Path(entity): Path<String>,
    body: Bytes,
) -> Answer {
    let entity = entity_of(&entity)?;
    let row = object_body(&body)?;
    Ok(Json(json!({"id": control(shared).upsert_row(entity, row)})).into_response())
}

async fn patch_row(
    State(shared): State<Arc<Shared>>,
    Path((entity, id)): Path<(String, i64)>,
    body: Bytes,
) -> Answer {
    let entity = entity_of(&entity)?;
    let patch = object_body(&body)?;
    row_changed(control(shared).patch_row(entity, id, patch), entity, id)
}

async fn delete_row(
    State(shared): State<Arc<Shared>>,
    Path((entity, id)): Path<(String, i64)>,
) -> Answer {
    let entity = entity_of(&entity)?;
    row_changed(control(shared).delete_row(entity, id), entity, id)
}

async fn undelete_row(
    State(shared): State<Arc<Shared>>,
    Path((entity, id)): Path<(String, i64)>,
) -> Answer {
    let entity = entity_of(&entity)?;
    row_changed(control(shared).undelete_row(entity, id), entity, id)
}

#[derive(Deserialize)]
struct Ids {
    ids: Vec<i64>,
}

async fn share_row_version(
    State(shared): State<Arc<Shared>>,
    Path(entity): Path<String>,
    body: Bytes,
) -> Answer {
    let entity = entity_of(&entity)?;
    let Ids { ids } = json_body(&body)?;
    let row_version = control(shared).share_row_version(entity, &ids);
    Ok(Json(json!({"rowVersion": row_version})).into_response())
}

async fn insert_malformed(
    State(shared): State<Arc<Shared>>,
    Path(entity): Path<String>,
    body: Bytes,
) -> Answer {
    let entity = entity_of(&entity)?;
    let raw: Value = json_body(&body)?;
    Ok(Json(json!({"id": control(shared).insert_malformed_row(entity, raw)})).into_response())
}
