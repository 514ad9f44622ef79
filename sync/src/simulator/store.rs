//! The simulator's tables: one per entity, rows kept as the exact JSON text they are served as.
//!
//! Rows are stored pre-serialized (`Box<RawValue>`) because reads dominate: a `GetAllData` page
//! is then a range scan over an index ordered by `(RowVersion, id)` plus a copy of bytes, with
//! no per-request serialization or sorting, and a million rows fit in a few hundred MiB.
//! Storing text also lets the control API plant a *malformed* row (a price of `"abc"`, a missing
//! id) that is served exactly as given. Mutations, which are rare, parse the row, change it and
//! serialize it again.
//!
//! Each table owns its entity's RowVersion counter: every create, update, delete or undelete
//! takes the next value, as in Mahak where RowVersion is one global counter per entity type.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::model::schema;
use super::wire::{lenient_bool, lenient_i64};
use crate::mahak::Entity;

/// One stored row and the few facts about it that requests filter on.
#[derive(Debug)]
pub(crate) struct StoredRow {
    pub(crate) row_version: i64,
    pub(crate) deleted: bool,
    /// `OrderType` of an `Order` row, for `GetAllData`'s `orderTypes` filter.
    pub(crate) order_type: Option<i64>,
    pub(crate) json: Box<RawValue>,
}

impl StoredRow {
    pub(crate) fn value(&self) -> Value {
        // The text was produced by serde_json, so it always parses.
        serde_json::from_str(self.json.get()).unwrap_or(Value::Null)
    }
}

/// The rows of one entity.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) entity: Entity,
    rows: HashMap<i64, StoredRow>,
    by_version: BTreeSet<(i64, i64)>,
    last_row_version: i64,
    last_id: i64,
    /// (visitor, ClientId) → id of rows pushed through `SaveAllData`.
    client_ids: HashMap<(i64, i64), i64>,
    /// (visitor, natural key) → id, for the entities that have no ClientId (see
    /// [`natural_key`]); built on first use, then kept up to date by [`Table::write`].
    natural: Option<HashMap<(i64, i64), i64>>,
}

impl Table {
    pub(crate) fn new(entity: Entity) -> Table {
        Table {
            entity,
            rows: HashMap::new(),
            by_version: BTreeSet::new(),
            last_row_version: 0,
            last_id: 0,
            client_ids: HashMap::new(),
            natural: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn last_row_version(&self) -> i64 {
        self.last_row_version
    }

    pub(crate) fn last_id(&self) -> i64 {
        self.last_id
    }

    /// Takes the next value of the entity's RowVersion counter.
    pub(crate) fn next_row_version(&mut self) -> i64 {
        self.last_row_version += 1;
        self.last_row_version
    }

    /// Takes the next unused id.
    pub(crate) fn next_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
    }

    pub(crate) fn get(&self, id: i64) -> Option<&StoredRow> {
        self.rows.get(&id)
    }

    /// Whether a row with this id exists and is not deleted.
    pub(crate) fn is_live(&self, id: i64) -> bool {
        self.rows.get(&id).is_some_and(|r| !r.deleted)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.rows.keys().copied()
    }

    /// Rows with `RowVersion >= from`, ordered by (RowVersion, id), at most `limit` of those
    /// that pass `keep`.
    pub(crate) fn page(
        &self,
        from: i64,
        limit: usize,
        keep: impl Fn(&StoredRow) -> bool,
    ) -> Vec<&RawValue> {
        self.by_version
            .range((from, i64::MIN)..)
            .filter_map(|(_, id)| self.rows.get(id))
            .filter(|row| keep(row))
            .take(limit)
            .map(|row| &*row.json)
            .collect()
    }

    /// Stores a row under `id`, replacing any row there, with its index entry.
    pub(crate) fn put(&mut self, id: i64, row: StoredRow) {
        if let Some(old) = self.rows.get(&id) {
            self.by_version.remove(&(old.row_version, id));
        }
        self.by_version.insert((row.row_version, id));
        self.last_id = self.last_id.max(id);
        self.last_row_version = self.last_row_version.max(row.row_version);
        self.rows.insert(id, row);
    }

    /// Stores a typed row that already carries `row_version` (the generator's path).
    pub(crate) fn put_typed<T: Serialize>(
        &mut self,
        id: i64,
        row_version: i64,
        order_type: Option<i64>,
        row: &T,
    ) -> serde_json::Result<()> {
        let json = serde_json::value::to_raw_value(row)?;
        self.put(
            id,
            StoredRow {
                row_version,
                deleted: false,
                order_type,
                json,
            },
        );
        Ok(())
    }

    /// Stores `value` under `id` with the next RowVersion written into it (when it is an
    /// object); returns that RowVersion.
    pub(crate) fn write(&mut self, id: i64, mut value: Value) -> i64 {
        let row_version = self.next_row_version();
        if let Value::Object(map) = &mut value {
            map.insert("RowVersion".into(), Value::from(row_version));
        }
        self.put_value(id, row_version, &value);
        row_version
    }

    fn put_value(&mut self, id: i64, row_version: i64, value: &Value) {
        if let (Some(index), Some(key)) = (&mut self.natural, natural_key(self.entity, value)) {
            index.insert(key, id);
        }
        let (deleted, order_type) = row_facts(self.entity, value);
        // Serializing a Value cannot fail (its map keys are strings).
        let json = serde_json::value::to_raw_value(value).unwrap_or_default();
        self.put(
            id,
            StoredRow {
                row_version,
                deleted,
                order_type,
                json,
            },
        );
    }

    /// Gives the rows `ids` (those that exist) one new common RowVersion; returns it.
    pub(crate) fn share_row_version(&mut self, ids: &[i64]) -> i64 {
        let row_version = self.next_row_version();
        for &id in ids {
            let Some(mut value) = self.rows.get(&id).map(StoredRow::value) else {
                continue;
            };
            if let Value::Object(map) = &mut value {
                map.insert("RowVersion".into(), Value::from(row_version));
            }
            self.put_value(id, row_version, &value);
        }
        row_version
    }

    pub(crate) fn client_lookup(&self, visitor: i64, client_id: i64) -> Option<i64> {
        self.client_ids.get(&(visitor, client_id)).copied()
    }

    pub(crate) fn bind_client(&mut self, visitor: i64, client_id: i64, id: i64) {
        self.client_ids.insert((visitor, client_id), id);
    }

    /// The row whose natural key (see [`natural_key`]) is `key`.
    pub(crate) fn natural_lookup(&mut self, key: (i64, i64)) -> Option<i64> {
        let entity = self.entity;
        let rows = &self.rows;
        let index = self.natural.get_or_insert_with(|| {
            rows.iter()
                .filter_map(|(id, row)| natural_key(entity, &row.value()).map(|k| (k, *id)))
                .collect()
        });
        let id = *index.get(&key)?;
        // A patch may have changed the key since the entry was made.
        let current = self
            .rows
            .get(&id)
            .map(|row| natural_key(entity, &row.value()));
        (current == Some(Some(key))).then_some(id)
    }

    pub(crate) fn client_bindings(&self) -> impl Iterator<Item = (i64, i64, i64)> + '_ {
        self.client_ids.iter().map(|(&(v, c), &id)| (v, c, id))
    }

    pub(crate) fn set_counters(&mut self, last_row_version: i64, last_id: i64) {
        self.last_row_version = self.last_row_version.max(last_row_version);
        self.last_id = self.last_id.max(last_id);
    }

    /// Rows in id order (for snapshots and the state file).
    pub(crate) fn rows_by_id(&self) -> Vec<(i64, &StoredRow)> {
        let mut rows: Vec<_> = self.rows.iter().map(|(&id, row)| (id, row)).collect();
        rows.sort_unstable_by_key(|(id, _)| *id);
        rows
    }
}

/// What the tables need to know about a row: its `Deleted` flag and, for orders, `OrderType`.
/// A malformed value reads as "not deleted" and "no type".
pub(crate) fn row_facts(entity: Entity, value: &Value) -> (bool, Option<i64>) {
    let Value::Object(map) = value else {
        return (false, None);
    };
    let deleted = map.get("Deleted").and_then(lenient_bool).unwrap_or(false);
    let order_type = if entity == Entity::Order {
        map.get("OrderType").and_then(lenient_i64)
    } else {
        None
    };
    (deleted, order_type)
}

/// The key of rows that Mahak's model gives no ClientId: (VisitorId, PersonId) of a
/// `VisitorPerson`, (VisitorId, ProductDetailId) of a `VisitorProduct`.
pub(crate) fn natural_key(entity: Entity, value: &Value) -> Option<(i64, i64)> {
    let field = match entity {
        Entity::VisitorPerson => "PersonId",
        Entity::VisitorProduct => "ProductDetailId",
        _ => return None,
    };
    let visitor = value.get("VisitorId").and_then(lenient_i64)?;
    let key = value.get(field).and_then(lenient_i64)?;
    Some((visitor, key))
}

/// All tables of the simulated Mahak database.
#[derive(Debug)]
pub(crate) struct Store {
    tables: Vec<Table>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            tables: Entity::ALL.into_iter().map(Table::new).collect(),
        }
    }
}

fn slot(entity: Entity) -> usize {
    Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .unwrap_or_default()
}

impl Store {
    pub(crate) fn table(&self, entity: Entity) -> &Table {
        &self.tables[slot(entity)]
    }

    pub(crate) fn table_mut(&mut self, entity: Entity) -> &mut Table {
        &mut self.tables[slot(entity)]
    }

    /// Replaces a table wholesale (the generator builds tables on several threads).
    pub(crate) fn install(&mut self, table: Table) {
        let entity = table.entity;
        self.tables[slot(entity)] = table;
    }

    pub(crate) fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter()
    }

    pub(crate) fn total_rows(&self) -> usize {
        self.tables.iter().map(Table::len).sum()
    }

    /// Creates or replaces a row by its `<Entity>Id` (assigned when absent or not a positive
    /// integer). Fields missing from `row` take the model's defaults, keys are matched to the
    /// model's names whatever their casing, values are kept as given. Returns the id.
    pub(crate) fn upsert(&mut self, entity: Entity, row: Value) -> i64 {
        let schema = schema(entity);
        let mut merged = schema.default_row();
        if let Value::Object(fields) = row {
            for (key, value) in fields {
                let name = schema.field(&key).map_or(key, |(name, _)| name.to_owned());
                merged.insert(name, value);
            }
        }
        let id_field = entity.id_field();
        let table = self.table_mut(entity);
        let id = match merged.get(&id_field).and_then(lenient_i64) {
            Some(id) if id > 0 => id,
            _ => table.next_id(),
        };
        merged.insert(id_field, Value::from(id));
        if !matches!(merged.get("Deleted"), Some(Value::Bool(_))) {
            merged.insert("Deleted".into(), Value::Bool(false));
        }
        table.write(id, Value::Object(merged));
        id
    }

    /// Merges `patch`'s fields into the row (keys matched to the row's own, whatever their
    /// casing); the id is kept. Returns false when there is no such row or either is not an
    /// object.
    pub(crate) fn patch(&mut self, entity: Entity, id: i64, patch: Value) -> bool {
        let id_field = entity.id_field();
        let table = self.table_mut(entity);
        let Some(Value::Object(mut row)) = table.get(id).map(StoredRow::value) else {
            return false;
        };
        let Value::Object(patch) = patch else {
            return false;
        };
        for (key, value) in patch {
            let name = row
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&key))
                .cloned()
                .unwrap_or(key);
            if name != id_field {
                row.insert(name, value);
            }
        }
        table.write(id, Value::Object(row));
        true
    }

    /// Sets `Deleted` on a row, with a new RowVersion. Returns false when there is no such row.
    pub(crate) fn set_deleted(&mut self, entity: Entity, id: i64, deleted: bool) -> bool {
        let mut patch = Map::new();
        patch.insert("Deleted".into(), Value::Bool(deleted));
        self.patch(entity, id, Value::Object(patch))
    }

    /// Stores `raw` verbatim under a fresh storage id (only `RowVersion` is set, and only when
    /// `raw` is an object). Returns the storage id.
    pub(crate) fn insert_malformed(&mut self, entity: Entity, raw: Value) -> i64 {
        let table = self.table_mut(entity);
        let id = table.next_id();
        table.write(id, raw);
        id
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_are_inclusive_and_ordered() {
        let mut store = Store::default();
        let a = store.upsert(Entity::Store, json!({"Name": "a"}));
        let b = store.upsert(Entity::Store, json!({"Name": "b"}));
        let c = store.upsert(Entity::Store, json!({"Name": "c"}));
        let shared = store.table_mut(Entity::Store).share_row_version(&[c, a]);
        let table = store.table(Entity::Store);
        let page: Vec<Value> = table
            .page(2, 10, |_| true)
            .into_iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect();
        let ids: Vec<i64> = page
            .iter()
            .map(|r| r["StoreId"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![b, a, c]);
        assert_eq!(page[1]["RowVersion"], json!(shared));
        assert_eq!(table.page(shared + 1, 10, |_| true).len(), 0);
        assert_eq!(table.page(0, 2, |_| true).len(), 2);
    }

    #[test]
    fn upsert_patch_delete_bump_row_versions() {
        let mut store = Store::default();
        let id = store.upsert(Entity::Product, json!({"name": "چای"}));
        let v1 = store.table(Entity::Product).get(id).unwrap().row_version;
        assert!(store.patch(
            Entity::Product,
            id,
            json!({"NAME": "قهوه", "ProductId": 99})
        ));
        let row = store.table(Entity::Product).get(id).unwrap();
        assert!(row.row_version > v1);
        let value = row.value();
        assert_eq!(value["Name"], json!("قهوه"));
        assert_eq!(value["ProductId"], json!(id));
        assert!(store.set_deleted(Entity::Product, id, true));
        assert!(store.table(Entity::Product).get(id).unwrap().deleted);
        assert!(!store.patch(Entity::Product, id + 1, json!({})));
    }
}
