//! Live sync status, broadcast to whoever listens (the admin console's subscription, the
//! terminal progress display, logs).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::mahak::Entity;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncEvent {
    RunStarted {
        run_id: Uuid,
        /// What started it: `daemon`, `request` (the admin console), `cli`, ...
        trigger: String,
        /// The entities the run covers, in order.
        entities: Vec<Entity>,
    },
    /// A page of `entity` was fetched and durably handed on.
    Progress {
        run_id: Uuid,
        entity: Entity,
        fetched: u64,
        cursor: i64,
    },
    EntityFinished {
        run_id: Uuid,
        entity: Entity,
        fetched: u64,
        dead_lettered: u64,
        /// Why the entity's fetch failed (the run goes on with the next entity).
        error: Option<String>,
    },
    RunFinished {
        run_id: Uuid,
        outcome: String,
        fetched: u64,
        dead_lettered: u64,
    },
    /// A consumer applied a batch.
    BatchApplied {
        entity: Entity,
        written: u64,
        unchanged: u64,
        deleted: u64,
        dead_lettered: u64,
    },
}

/// A broadcast channel of sync events; sending never blocks and never fails the sync.
#[derive(Clone)]
pub struct Events(broadcast::Sender<SyncEvent>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::channel(1024).0)
    }
}

impl Events {
    pub fn emit(&self, event: SyncEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.0.subscribe()
    }
}
