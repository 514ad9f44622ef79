//! Persisted operations on the shop endpoint: Apollo's automatic persisted queries (APQ) and
//! an operation safelist.
//!
//! **APQ.** A client sends `extensions: {persistedQuery: {version: 1, sha256Hash}}` without
//! `query`. A hash the server knows runs its query; an unknown one answers the error Apollo
//! clients look for (`message: "PersistedQueryNotFound"`, `extensions.code:
//! "PERSISTED_QUERY_NOT_FOUND"`), and the client retries with the full query, which the server
//! checks against the hash (`PERSISTED_QUERY_HASH_MISMATCH` when it differs) and remembers.
//! Works over GET (what lets a CDN cache queries) and POST, and on the shop's WebSocket. The
//! cache is an in-process LRU of `graphql.persisted_query_cache_entries` queries: with several
//! replicas each keeps its own, and a miss on another replica costs the client one extra round
//! trip, never a wrong answer, because a hash names exactly one query text.
//!
//! **Safelist.** With `graphql.safelist_file` set, the shop endpoint runs only the operations
//! listed there (keyed by the SHA-256 of their exact text); anything else is refused with
//! `OPERATION_NOT_ALLOWED`, whether it came as full text, by hash, or over WebSocket. Listed
//! operations can be sent by hash alone, and APQ registers nothing outside the list.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_graphql::{Request, ServerError, Value};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The `extensions.code` of each refusal.
pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
pub const HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
pub const INVALID: &str = "PERSISTED_QUERY_INVALID";
pub const NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";

/// The lowercase hex SHA-256 of a query's exact text.
pub fn hash(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

/// The operations a safelist allows, by hash.
#[derive(Debug, Default)]
pub struct Safelist(HashMap<String, Arc<str>>);

/// The two file formats a safelist is read from.
#[derive(Deserialize)]
#[serde(untagged)]
enum SafelistFile {
    /// Apollo's persisted query manifest (`generate-persisted-query-manifest`).
    Manifest {
        format: String,
        operations: Vec<ManifestOperation>,
    },
    /// `{"<sha256>": "<query>", ...}`, as GraphQL Code Generator's persisted documents.
    Map(HashMap<String, String>),
}

#[derive(Deserialize)]
struct ManifestOperation {
    id: String,
    body: String,
}

impl Safelist {
    /// Reads a safelist file; every entry's key must be the SHA-256 of its query.
    pub fn load(path: &Path) -> Result<Safelist, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Safelist, String> {
        let file: SafelistFile = serde_json::from_str(text).map_err(|e| {
            format!("not a persisted query manifest or a {{hash: query}} JSON object: {e}")
        })?;
        let entries: Vec<(String, String)> = match file {
            SafelistFile::Manifest { format, operations } => {
                if format != "apollo-persisted-query-manifest" {
                    return Err(format!("unknown manifest format {format:?}"));
                }
                operations.into_iter().map(|op| (op.id, op.body)).collect()
            }
            SafelistFile::Map(map) => map.into_iter().collect(),
        };
        let mut list = HashMap::with_capacity(entries.len());
        for (key, query) in entries {
            let actual = hash(&query);
            if !key.eq_ignore_ascii_case(&actual) {
                return Err(format!(
                    "the entry {key} is not the SHA-256 of its query (that is {actual})"
                ));
            }
            list.insert(actual, Arc::from(query));
        }
        Ok(Safelist(list))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A bounded map from hash to query that forgets the least recently used entry.
struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (Arc<str>, u64)>,
}

impl Lru {
    fn get(&mut self, key: &str) -> Option<Arc<str>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(query, used)| {
            *used = tick;
            query.clone()
        })
    }

    fn insert(&mut self, key: String, query: Arc<str>) {
        self.tick += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (query, self.tick));
    }
}

/// Persisted operations of one endpoint: see the module documentation.
pub struct PersistedQueries {
    cache: Option<Mutex<Lru>>,
    safelist: Option<Safelist>,
}

fn refusal(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

/// The answer to a hash-only request where nothing is persisted (Apollo's exact message).
pub fn not_supported() -> ServerError {
    refusal("PersistedQueryNotSupported", NOT_SUPPORTED)
}

impl PersistedQueries {
    /// `cache_entries` 0 turns APQ off; `safelist` restricts the operations run.
    pub fn new(cache_entries: usize, safelist: Option<Safelist>) -> Self {
        PersistedQueries {
            cache: (cache_entries > 0).then(|| {
                Mutex::new(Lru {
                    capacity: cache_entries,
                    tick: 0,
                    entries: HashMap::new(),
                })
            }),
            safelist,
        }
    }

    /// The shop endpoint's, from `graphql.*`. A safelist that no longer loads (it was checked
    /// when the configuration was) leaves an empty list: every operation is refused rather
    /// than every operation allowed.
    pub fn from_settings(settings: &crate::config::GraphqlSettings) -> Self {
        let safelist = settings
            .safelist_file
            .as_deref()
            .map(|path| match Safelist::load(path) {
                Ok(list) => {
                    tracing::info!(operations = list.len(), "operation safelist loaded");
                    list
                }
                Err(error) => {
                    tracing::error!(%error, "operation safelist unreadable: refusing every operation");
                    Safelist::default()
                }
            });
        Self::new(settings.persisted_query_cache_entries, safelist)
    }

    /// Turns a request into the one to execute: fills `query` from a persisted-query hash,
    /// registers a full query sent with its hash, and applies the safelist. The error is a
    /// request error for the client.
    pub fn resolve(&self, mut request: Request) -> Result<Request, ServerError> {
        let mut known_hash = None;
        if let Some(extension) = request.extensions.remove("persistedQuery") {
            let wanted = parse_extension(extension)?;
            if request.query.is_empty() {
                let listed = self
                    .safelist
                    .as_ref()
                    .and_then(|list| list.0.get(&wanted).cloned());
                let query = match listed {
                    Some(query) => Some(query),
                    None => self.cache.as_ref().and_then(|cache| {
                        cache
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get(&wanted)
                    }),
                };
                match query {
                    Some(query) => request.query = query.to_string(),
                    None if self.cache.is_none() && self.safelist.is_none() => {
                        return Err(not_supported());
                    }
                    None if self.safelist.is_some() && self.cache.is_none() => {
                        return Err(refusal(
                            "this operation is not in the server's safelist",
                            NOT_ALLOWED,
                        ));
                    }
                    None => return Err(refusal("PersistedQueryNotFound", NOT_FOUND)),
                }
            } else {
                let actual = hash(&request.query);
                if actual != wanted {
                    return Err(refusal("provided sha does not match query", HASH_MISMATCH));
                }
                let allowed = self
                    .safelist
                    .as_ref()
                    .is_none_or(|list| list.0.contains_key(&actual));
                if let (Some(cache), true) = (&self.cache, allowed) {
                    cache
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(actual.clone(), Arc::from(request.query.as_str()));
                }
            }
            known_hash = Some(wanted);
        }
        if let Some(list) = &self.safelist {
            let key = known_hash.unwrap_or_else(|| hash(&request.query));
            if !list.0.contains_key(&key) {
                return Err(refusal(
                    "this operation is not in the server's safelist",
                    NOT_ALLOWED,
                ));
            }
        }
        Ok(request)
    }
}

/// `{version: 1, sha256Hash: "<64 hex digits>"}`; the hash lowercased.
fn parse_extension(value: Value) -> Result<String, ServerError> {
    let invalid = |why: &str| refusal(&format!("invalid persistedQuery extension: {why}"), INVALID);
    let Value::Object(map) = value else {
        return Err(invalid("it must be an object"));
    };
    match map.get("version") {
        Some(Value::Number(n)) if n.as_i64() == Some(1) => {}
        Some(_) => return Err(invalid("only version 1 is supported")),
        None => return Err(invalid("`version` is required")),
    }
    match map.get("sha256Hash") {
        Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(invalid("`sha256Hash` must be 64 hex digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extension =
            Value::from_json(serde_json::json!({ "version": 1, "sha256Hash": hash })).unwrap();
        request
            .extensions
            .insert("persistedQuery".into(), extension);
        request
    }

    fn code(error: &ServerError) -> String {
        let value = error.extensions.as_ref().unwrap().get("code").unwrap();
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    #[test]
    fn the_least_recently_used_entry_is_forgotten() {
        let apq = PersistedQueries::new(2, None);
        let (a, b, c) = ("{ a }", "{ b }", "{ c }");
        for q in [a, b] {
            apq.resolve(with_hash(q, &hash(q))).unwrap();
        }
        // Touch `a`, so `b` is the oldest when `c` arrives.
        apq.resolve(with_hash("", &hash(a))).unwrap();
        apq.resolve(with_hash(c, &hash(c))).unwrap();
        assert_eq!(apq.resolve(with_hash("", &hash(a))).unwrap().query, a);
        assert_eq!(apq.resolve(with_hash("", &hash(c))).unwrap().query, c);
        let miss = apq.resolve(with_hash("", &hash(b))).unwrap_err();
        assert_eq!(miss.message, "PersistedQueryNotFound");
        assert_eq!(code(&miss), NOT_FOUND);
    }

    #[test]
    fn safelists_are_checked_on_load() {
        let q = "query Q { a }";
        let ok = Safelist::parse(&serde_json::json!({ hash(q): q }).to_string()).unwrap();
        assert_eq!(ok.len(), 1);
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": hash(q), "name": "Q", "type": "query", "body": q }],
        });
        assert_eq!(Safelist::parse(&manifest.to_string()).unwrap().len(), 1);
        let wrong = serde_json::json!({ hash("{ b }"): q });
        assert!(Safelist::parse(&wrong.to_string()).is_err());
        assert!(Safelist::parse("[1, 2]").is_err());
    }

    #[test]
    fn bad_extensions_are_refused() {
        let apq = PersistedQueries::new(4, None);
        let mut request = Request::new("");
        request.extensions.insert(
            "persistedQuery".into(),
            Value::from_json(serde_json::json!({ "version": 2, "sha256Hash": hash("{ a }") }))
                .unwrap(),
        );
        assert_eq!(code(&apq.resolve(request).unwrap_err()), INVALID);
        assert_eq!(
            code(&apq.resolve(with_hash("", "abc")).unwrap_err()),
            INVALID
        );
        let off = PersistedQueries::new(0, None);
        let error = off.resolve(with_hash("", &hash("{ a }"))).unwrap_err();
        assert_eq!(error.message, "PersistedQueryNotSupported");
    }
}
