//! The state file: the simulator's tables (rows as served, RowVersion counters, the ClientId
//! index) in one JSON document, so that a demo or a long test can restart the simulator and
//! the sync worker sees the same Mahak, with its cursors still valid.
//!
//! It is written atomically (a temporary file beside it, then a rename) so a crash leaves the
//! old or the new state, never half of one; writes are debounced to at most one per second
//! after a change, plus one on shutdown. Sessions and faults are not kept: clients log in
//! again after a restart, as after a token expiry.
//!
//! A save serializes the whole store under its read lock, so writes wait meanwhile: fine for
//! demo-sized data, but with a million rows (hundreds of MiB) each save takes seconds; large
//! load tests are better run without a state file (the same seed regenerates the same data).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::store::{row_facts, Store, StoredRow, Table};
use super::Shared;
use crate::mahak::Entity;

const FORMAT: &str = "mahak-simulator-state";
const VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateOut<'a> {
    format: &'static str,
    version: u32,
    tables: Vec<TableOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TableOut<'a> {
    entity: Entity,
    last_row_version: i64,
    last_id: i64,
    /// (visitor, ClientId, id)
    client_ids: Vec<(i64, i64, i64)>,
    rows: Vec<RowOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowOut<'a> {
    id: i64,
    row_version: i64,
    row: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateIn {
    format: String,
    version: u32,
    tables: Vec<TableIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableIn {
    entity: Entity,
    last_row_version: i64,
    last_id: i64,
    client_ids: Vec<(i64, i64, i64)>,
    rows: Vec<RowIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowIn {
    id: i64,
    row_version: i64,
    row: Box<RawValue>,
}

/// Writes the state file now (blocking; holds the store's read lock while serializing).
pub(crate) fn save(shared: &Shared) -> anyhow::Result<()> {
    let Some(path) = shared.config.state_file.as_deref() else {
        return Ok(());
    };
    shared.dirty.store(false, Ordering::SeqCst);
    let store = shared.read();
    write_atomically(path, &store).inspect_err(|_| {
        // Try again after the next change.
        shared.dirty.store(true, Ordering::SeqCst);
    })
}

fn write_atomically(path: &Path, store: &Store) -> anyhow::Result<()> {
    let state = StateOut {
        format: FORMAT,
        version: VERSION,
        tables: store
            .tables()
            .map(|table| {
                let mut client_ids: Vec<_> = table.client_bindings().collect();
                client_ids.sort_unstable();
                TableOut {
                    entity: table.entity,
                    last_row_version: table.last_row_version(),
                    last_id: table.last_id(),
                    client_ids,
                    rows: table
                        .rows_by_id()
                        .into_iter()
                        .map(|(id, row)| RowOut {
                            id,
                            row_version: row.row_version,
                            row: &row.json,
                        })
                        .collect(),
                }
            })
            .collect(),
    };
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer(&mut writer, &state)?;
    writer.flush()?;
    writer
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))?;
    Ok(())
}

/// Reads a state file written by [`save`].
pub(crate) fn load(path: &Path) -> anyhow::Result<Store> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let state: StateIn = serde_json::from_reader(BufReader::new(file))
        .with_context(|| format!("reading simulator state from {}", path.display()))?;
    anyhow::ensure!(
        state.format == FORMAT && state.version == VERSION,
        "{} is not a simulator state file of version {VERSION}",
        path.display()
    );
    let mut store = Store::default();
    for table_in in state.tables {
        let mut table = Table::new(table_in.entity);
        for row in table_in.rows {
            let value: serde_json::Value = serde_json::from_str(row.row.get())?;
            let (deleted, order_type) = row_facts(table_in.entity, &value);
            table.put(
                row.id,
                StoredRow {
                    row_version: row.row_version,
                    deleted,
                    order_type,
                    json: row.row,
                },
            );
        }
        for (visitor, client_id, id) in table_in.client_ids {
            table.bind_client(visitor, client_id, id);
        }
        table.set_counters(table_in.last_row_version, table_in.last_id);
        store.install(table);
    }
    Ok(store)
}

/// Saves at most once a second while changes keep coming; stops at shutdown (the final save
/// is [`RunningSimulator::shutdown`](super::RunningSimulator::shutdown)'s).
pub(crate) async fn saver(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.dirty_signal.notified() => {}
            () = shared.shutting_down() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shared.shutting_down() => return,
        }
        if !shared.dirty.load(Ordering::SeqCst) {
            continue;
        }
        let task_shared = shared.clone();
        match tokio::task::spawn_blocking(move || save(&task_shared)).await {
            Ok(Ok(())) => tracing::debug!("simulator state saved"),
            Ok(Err(error)) => {
                tracing::error!(error = format!("{error:#}"), "saving simulator state");
            }
            Err(error) => tracing::error!(%error, "saving simulator state"),
        }
    }
}
