//! `SaveAllData`: inserts, updates and logical deletes pushed by a client, validated row by
//! row the way the README describes Mahak's answer.
//!
//! Choices, and why:
//! - Lists are processed parents first ([`SAVE_ORDER`]) so a parent and its children can come
//!   in one call linked by ClientId (`orderDetails[].orderClientId`, ...), whatever the order
//!   of the lists in the body.
//! - (visitor, ClientId) is the key of a pushed row: repeating a push updates the same row and
//!   answers the same EntityId, so a client that retries after a lost answer does not create
//!   a duplicate. `VisitorPerson` and `VisitorProduct` have no ClientId in Mahak's model; they
//!   are keyed by (visitor, person) and (visitor, variant) instead.
//! - An update merges the pushed fields into the stored row (fields not sent are kept), so a
//!   delete may send only the ids and `deleted: true`.
//! - A rejected row is not stored and says why in `Errors`; its children then fail to find
//!   their parent. The top-level `Result` is false when any row was rejected.
//! - Foreign keys given by ClientId are resolved and the resolved id is stored beside it, as
//!   Mahak fills in ids for the desktop program.

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{schema, Kind};
use super::store::{natural_key, Store, StoredRow};
use super::wire::{lenient_bool, lenient_f64, lenient_i64, lenient_text, Body};
use crate::mahak::Entity;

/// `Errors[].Code` for a value of the wrong type or out of range.
pub const ERROR_INVALID: i32 = 400;
/// `Errors[].Code` for a reference to a row that does not exist (or is deleted).
pub const ERROR_NOT_FOUND: i32 = 404;
/// `Errors[].Code` for a missing required value.
pub const ERROR_REQUIRED: i32 = 422;

/// Parents before children.
const SAVE_ORDER: [Entity; 18] = [
    Entity::ProductCategory,
    Entity::Product,
    Entity::ProductDetail,
    Entity::Store,
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
    Entity::Setting,
];

/// Order types Mahak knows: sales invoice, sales return, pre-sale, purchase, pre-invoice.
const ORDER_TYPES: [i64; 5] = [201, 202, 203, 204, 299];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PropertyError {
    pub(crate) property: String,
    pub(crate) code: i32,
    pub(crate) error: String,
}

fn error(property: &str, code: i32, message: impl Into<String>) -> PropertyError {
    PropertyError {
        property: property.to_owned(),
        code,
        error: message.into(),
    }
}

/// One entry of `Results`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EntityResult {
    pub(crate) result: bool,
    pub(crate) index: usize,
    pub(crate) entity_id: i64,
    pub(crate) entity_client_id: i64,
    pub(crate) entity_code: i64,
    pub(crate) row_version: i64,
    pub(crate) errors: Vec<PropertyError>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Results {
    pub(crate) results: Vec<EntityResult>,
}

/// What a `SaveAllData` call did, list by list in the order the lists were processed.
pub(crate) struct SaveOutcome {
    pub(crate) lists: Vec<(Entity, Results)>,
    pub(crate) accepted: usize,
    pub(crate) rejected: usize,
}

/// Applies one `SaveAllData` body for `visitor`. `Err` is a malformed body (a list that is
/// not a list); nothing is stored then.
pub(crate) fn save_all(
    store: &mut Store,
    visitor: i64,
    body: &Body,
) -> Result<SaveOutcome, String> {
    let mut inputs = Vec::new();
    for entity in SAVE_ORDER {
        let key = entity.plural_camel();
        match body.get(&key) {
            None => {}
            Some(Value::Array(rows)) => inputs.push((entity, rows)),
            Some(_) => return Err(format!("`{key}` must be a list")),
        }
    }
    let mut outcome = SaveOutcome {
        lists: Vec::new(),
        accepted: 0,
        rejected: 0,
    };
    for (entity, rows) in inputs {
        let mut results = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let result = save_row(store, visitor, entity, index, row);
            if result.result {
                outcome.accepted += 1;
            } else {
                outcome.rejected += 1;
            }
            results.push(result);
        }
        outcome.lists.push((entity, Results { results }));
    }
    Ok(outcome)
}

fn rejected(index: usize, client_id: i64, errors: Vec<PropertyError>) -> EntityResult {
    EntityResult {
        result: false,
        index,
        entity_id: 0,
        entity_client_id: client_id,
        entity_code: 0,
        row_version: 0,
        errors,
    }
}

fn int(row: &Map<String, Value>, field: &str) -> i64 {
    row.get(field).and_then(lenient_i64).unwrap_or(0)
}

fn double(row: &Map<String, Value>, field: &str) -> f64 {
    row.get(field).and_then(lenient_f64).unwrap_or(0.0)
}

fn save_row(
    store: &mut Store,
    visitor: i64,
    entity: Entity,
    index: usize,
    raw: &Value,
) -> EntityResult {
    let Value::Object(raw) = raw else {
        return rejected(
            index,
            0,
            vec![error("", ERROR_INVALID, "the row must be a JSON object")],
        );
    };
    let (mut row, mut errors) = canonical(entity, raw);
    let client_id_field = entity.client_id_field();
    let client_id = int(&row, &client_id_field);
    if !errors.is_empty() {
        return rejected(index, client_id, errors);
    }
    let deleted = row.get("Deleted").and_then(lenient_bool).unwrap_or(false);
    if !deleted {
        validate(entity, &row, &mut errors);
    }
    for reference in references(entity, &row) {
        resolve(store, visitor, &mut row, reference, deleted, &mut errors);
    }
    if !errors.is_empty() {
        return rejected(index, client_id, errors);
    }

    let id_field = entity.id_field();
    let given_id = int(&row, &id_field);
    let existing = if given_id > 0 {
        if store.table(entity).get(given_id).is_none() {
            let message = format!("no {entity} with id {given_id}");
            return rejected(
                index,
                client_id,
                vec![error(&id_field, ERROR_NOT_FOUND, message)],
            );
        }
        Some(given_id)
    } else {
        let by_client = (client_id > 0)
            .then(|| store.table(entity).client_lookup(visitor, client_id))
            .flatten();
        by_client.or_else(|| natural_key_match(store, entity, visitor, &row))
    };
    if deleted && existing.is_none() {
        let message = format!("nothing to delete: no {entity} with these ids");
        return rejected(
            index,
            client_id,
            vec![error(&id_field, ERROR_NOT_FOUND, message)],
        );
    }

    let table = store.table_mut(entity);
    let (id, mut stored) = match existing {
        Some(id) => {
            let stored = match table.get(id).map(StoredRow::value) {
                Some(Value::Object(map)) => map,
                _ => schema(entity).default_row(),
            };
            (id, stored)
        }
        None => (table.next_id(), schema(entity).default_row()),
    };
    for (key, value) in row {
        stored.insert(key, value);
    }
    stored.insert(id_field, Value::from(id));
    stored.insert("Deleted".into(), Value::Bool(deleted));
    let code_field = entity.code_field();
    // A Setting's code is its key (14000, ...), not a number the server hands out.
    let assigns_code = entity != Entity::Setting && schema(entity).has(&code_field);
    if assigns_code && int(&stored, &code_field) == 0 {
        stored.insert(
            code_field.clone(),
            Value::from(id + super::generator::CODE_OFFSET),
        );
    }
    if schema(entity).has("VisitorId") && int(&stored, "VisitorId") == 0 {
        stored.insert("VisitorId".into(), Value::from(visitor));
    }
    let code = if assigns_code {
        int(&stored, &code_field)
    } else {
        0
    };
    let row_version = table.write(id, Value::Object(stored));
    if client_id > 0 {
        table.bind_client(visitor, client_id, id);
    }
    EntityResult {
        result: true,
        index,
        entity_id: id,
        entity_client_id: client_id,
        entity_code: code,
        row_version,
        errors: Vec::new(),
    }
}

/// Maps keys to the model's PascalCase names and values to the model's types. Keys the model
/// does not know are kept with their first letter upper-cased. `RowVersion` is the server's
/// and is dropped.
fn canonical(entity: Entity, raw: &Map<String, Value>) -> (Map<String, Value>, Vec<PropertyError>) {
    let schema = schema(entity);
    let mut row = Map::new();
    let mut errors = Vec::new();
    for (key, value) in raw {
        let Some((name, kind)) = schema.field(key) else {
            row.insert(upper_first(key), value.clone());
            continue;
        };
        if name == "RowVersion" {
            continue;
        }
        let converted = match (kind, value) {
            (_, Value::Null) => Some(Value::Null),
            (Kind::Int, v) => lenient_i64(v).map(Value::from),
            (Kind::Double, v) => lenient_f64(v).map(Value::from),
            (Kind::Bool, v) => lenient_bool(v).map(Value::Bool),
            (Kind::Text, v) => lenient_text(v).map(Value::String),
        };
        match converted {
            Some(v) => {
                row.insert(name.to_owned(), v);
            }
            None => errors.push(error(
                name,
                ERROR_INVALID,
                format!("expected {}, got {value}", kind_name(kind)),
            )),
        }
    }
    (row, errors)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "an integer",
        Kind::Double => "a number",
        Kind::Bool => "a boolean",
        Kind::Text => "a string",
    }
}

fn upper_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Checks on the row's own values (not its references).
fn validate(entity: Entity, row: &Map<String, Value>, errors: &mut Vec<PropertyError>) {
    let text = |field: &str| {
        row.get(field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    match entity {
        Entity::Person if !text("FirstName") && !text("LastName") && !text("Organization") => {
            errors.push(error(
                "LastName",
                ERROR_REQUIRED,
                "a person needs a first name, last name or organization",
            ));
        }
        Entity::Order => {
            let order_type = int(row, "OrderType");
            if order_type == 0 {
                errors.push(error("OrderType", ERROR_REQUIRED, "OrderType is required"));
            } else if !ORDER_TYPES.contains(&order_type) {
                errors.push(error(
                    "OrderType",
                    ERROR_INVALID,
                    format!("unknown OrderType {order_type}"),
                ));
            }
        }
        Entity::OrderDetail => {
            if int(row, "StoreId") <= 0 {
                errors.push(error("StoreId", ERROR_REQUIRED, "StoreId is required"));
            }
            if double(row, "Count1") <= 0.0 {
                errors.push(error("Count1", ERROR_INVALID, "Count1 must be positive"));
            }
            if double(row, "Price") < 0.0 {
                errors.push(error("Price", ERROR_INVALID, "Price must not be negative"));
            }
        }
        Entity::Receipt if double(row, "CashAmount") < 0.0 => {
            errors.push(error(
                "CashAmount",
                ERROR_INVALID,
                "CashAmount must not be negative",
            ));
        }
        Entity::Cheque => {
            if double(row, "Amount") <= 0.0 {
                errors.push(error("Amount", ERROR_INVALID, "Amount must be positive"));
            }
            let kind = int(row, "Type");
            if kind != 1 && kind != 2 {
                errors.push(error(
                    "Type",
                    ERROR_INVALID,
                    "Type must be 1 (cheque) or 2 (bank transfer)",
                ));
            }
        }
        _ => {}
    }
}

/// A reference from a row to a parent: `<prefix>Id` / `<prefix>ClientId` point at `target`.
#[derive(Debug, Clone, Copy)]
struct Reference {
    prefix: &'static str,
    target: Entity,
    required: bool,
}

const fn reference(prefix: &'static str, target: Entity, required: bool) -> Reference {
    Reference {
        prefix,
        target,
        required,
    }
}

fn references(entity: Entity, row: &Map<String, Value>) -> Vec<Reference> {
    use Entity as E;
    match entity {
        E::Product => vec![reference("ProductCategory", E::ProductCategory, false)],
        E::ProductDetail => vec![reference("Product", E::Product, true)],
        E::ProductDetailStoreAsset => vec![
            reference("ProductDetail", E::ProductDetail, true),
            reference("Store", E::Store, true),
        ],
        E::PhotoGallery => vec![reference("Picture", E::Picture, true)],
        E::Person => vec![reference("PersonGroup", E::PersonGroup, false)],
        E::PersonAddress | E::VisitorPerson | E::Transaction => {
            vec![reference("Person", E::Person, true)]
        }
        E::VisitorProduct => vec![reference("ProductDetail", E::ProductDetail, true)],
        E::Order => vec![reference("Person", E::Person, true)],
        E::OrderDetail => {
            // Item type 1 is a product line; other types (services, costs) name no variant.
            let item_type = row.get("ItemType").and_then(lenient_i64).unwrap_or(1);
            let mut refs = vec![
                reference("Order", E::Order, true),
                reference("Store", E::Store, false),
            ];
            if item_type == 1 {
                refs.push(reference("ProductDetail", E::ProductDetail, true));
            }
            refs
        }
        E::Receipt => vec![
            reference("Person", E::Person, true),
            reference("Order", E::Order, false),
        ],
        E::Cheque => vec![reference("Receipt", E::Receipt, true)],
        _ => Vec::new(),
    }
}

/// Finds the parent a reference points at and writes its id into the row, or records why not.
/// A delete only checks references it was given.
fn resolve(
    store: &Store,
    visitor: i64,
    row: &mut Map<String, Value>,
    reference: Reference,
    deleted: bool,
    errors: &mut Vec<PropertyError>,
) {
    let id_field = format!("{}Id", reference.prefix);
    let client_field = format!("{}ClientId", reference.prefix);
    let table = store.table(reference.target);
    let id = int(row, &id_field);
    let client_id = int(row, &client_field);
    let target = reference.target;
    if id > 0 {
        if !table.is_live(id) {
            errors.push(error(
                &id_field,
                ERROR_NOT_FOUND,
                format!("no {target} with id {id}"),
            ));
        }
    } else if client_id > 0 {
        match table
            .client_lookup(visitor, client_id)
            .filter(|id| table.is_live(*id))
        {
            Some(id) => {
                row.insert(id_field, Value::from(id));
            }
            None => errors.push(error(
                &client_field,
                ERROR_NOT_FOUND,
                format!("no {target} with client id {client_id} (unknown, deleted or rejected)"),
            )),
        }
    } else if reference.required && !deleted {
        errors.push(error(
            &id_field,
            ERROR_REQUIRED,
            format!("{id_field} or {client_field} is required"),
        ));
    }
}

/// Rows without a ClientId in Mahak's model are matched on their natural key.
fn natural_key_match(
    store: &mut Store,
    entity: Entity,
    visitor: i64,
    row: &Map<String, Value>,
) -> Option<i64> {
    let mut keyed = row.clone();
    if int(&keyed, "VisitorId") == 0 {
        keyed.insert("VisitorId".into(), Value::from(visitor));
    }
    let key = natural_key(entity, &Value::Object(keyed))?;
    store.table_mut(entity).natural_lookup(key)
}
