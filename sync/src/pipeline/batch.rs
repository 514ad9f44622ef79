//! A batch: one page of one entity, transformed, as it travels over the bus.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::mahak::Entity;
use crate::mirror::MirrorRow;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: Uuid,
    /// The run that fetched it (`sync_runs.id`), for its counters.
    pub run_id: Option<Uuid>,
    pub entity: Entity,
    /// The cursor the page was fetched from and the highest RowVersion in it.
    pub from_version: i64,
    pub to_version: i64,
    pub rows: Vec<MirrorRow>,
}

impl Batch {
    pub fn new(
        run_id: Option<Uuid>,
        entity: Entity,
        from_version: i64,
        to_version: i64,
        rows: Vec<MirrorRow>,
    ) -> Self {
        Batch {
            batch_id: Uuid::now_v7(),
            run_id,
            entity,
            from_version,
            to_version,
            rows,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Batch, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Routing key on the topic exchange: `mahak.<Entity>`.
    pub fn routing_key(&self) -> String {
        format!("mahak.{}", self.entity.name())
    }
}

/// Hex SHA-256 of an encoded batch, carried in a header so a consumer can tell a corrupted
/// message from a valid one.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
