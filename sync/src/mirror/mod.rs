//! The local mirror of Mahak: what each synced table looks like, the rows the transformer
//! produces for it, and the idempotent bulk upsert that writes them.
//!
//! A [`MirrorRow`] is one Mahak row in the local model: Mahak's three ids, its RowVersion, the
//! delete mark, the raw payload, and the table's typed columns by name. It is what travels
//! through the broker, so it is plain JSON; [`TableSpec`] says which columns a table has and
//! of what kind, and the consumer checks every row against it before writing.

pub mod price;
mod spec;
pub mod upsert;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use spec::{spec_for, ColumnKind, ColumnSpec, TableSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorRow {
    pub mahak_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub row_version: i64,
    #[serde(default)]
    pub deleted: bool,
    /// Mahak's row exactly as received.
    pub payload: Value,
    /// The table's typed columns, by column name.
    pub columns: Map<String, Value>,
}
