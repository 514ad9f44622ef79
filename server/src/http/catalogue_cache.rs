//! The shop's anonymous catalogue responses, kept per process and dropped the moment the
//! catalogue changes.
//!
//! Most of a shop's traffic is anonymous browsing: the same listing pages, product pages and
//! searches, identical for every visitor. Running them again costs the server several
//! milliseconds of GraphQL work per listing (see README "Performance"), so the shop endpoint
//! keeps the serialized answer of each such request and serves it again while the catalogue
//! is unchanged.
//!
//! What is cached: a single query over POST or GET with no `Authorization` and no
//! `X-Cart-Token` header, whose root fields are all catalogue fields ([`CATALOGUE_FIELDS`]),
//! that ran without errors. The key is the query text (after persisted-query resolution),
//! the operation name and the variables. Nothing in those answers depends on who asks.
//!
//! When it is dropped: a trigger on every catalogue table (migration
//! `m20261129_000001_catalogue_notify`) sends `NOTIFY catalogue_changed`, which PostgreSQL
//! delivers when the writing transaction commits, to every process listening, whichever
//! process wrote (the sync consumer, a staff edit, another replica). Each notification
//! empties the cache. An answer computed while a notification arrived is not stored (it may
//! predate the change); while the listening connection is down nothing is served from the
//! cache or stored, and on reconnecting the cache starts empty (notifications sent meanwhile
//! are lost). Entries also expire after `graphql.catalogue_cache_ttl_secs`, which bounds what
//! the notification cannot cover: a read replica (`database.read_url`) that has not yet
//! replayed a change the primary announced, and signed image URLs.
//!
//! SQLite has no notifications: there the cache is off.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::{OperationType, Selection, SelectionSet};
use async_graphql::Positioned;
use async_graphql::Request;
use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use sea_orm::sqlx::postgres::PgListener;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// The shop's root query fields whose answers are the same for every anonymous visitor
/// (`graphql::shop::catalogue`).
pub const CATALOGUE_FIELDS: [&str; 4] = ["products", "product", "categories", "__typename"];

/// The PostgreSQL notification channel the catalogue triggers send on.
pub const CHANNEL: &str = "catalogue_changed";

type Key = [u8; 32];

/// Whether the listener is connected and how many times the catalogue changed.
#[derive(Default)]
struct Freshness {
    listening: AtomicBool,
    generation: AtomicU64,
}

/// The cache. Cloning shares it.
#[derive(Clone)]
pub struct CatalogueCache {
    entries: moka::future::Cache<Key, Bytes>,
    freshness: Arc<Freshness>,
}

impl CatalogueCache {
    /// A cache of at most `max_bytes` of answers, each kept at most `ttl`, serving nothing
    /// until [`CatalogueCache::listen`] has connected.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let entries = moka::future::Cache::builder()
            .weigher(|_key: &Key, body: &Bytes| u32::try_from(body.len()).unwrap_or(u32::MAX))
            .max_capacity(max_bytes)
            .time_to_live(ttl)
            .build();
        CatalogueCache {
            entries,
            freshness: Arc::default(),
        }
    }

    /// Starts listening for catalogue changes on `database_url` (PostgreSQL), reconnecting
    /// with a growing pause after a failure, until `stop` turns true.
    pub fn listen(&self, database_url: String, stop: watch::Receiver<bool>) {
        let cache = self.clone();
        tokio::spawn(async move { cache.listen_loop(database_url, stop).await });
    }

    async fn listen_loop(self, database_url: String, mut stop: watch::Receiver<bool>) {
        let mut pause = Duration::from_millis(500);
        loop {
            let session = async {
                let mut listener = PgListener::connect(&database_url).await?;
                listener.listen(CHANNEL).await?;
                // Changes made while no one listened were not heard: start empty.
                self.changed();
                self.freshness.listening.store(true, Ordering::Release);
                metrics::gauge!("catalogue_cache_listening").set(1.0);
                tracing::info!("catalogue cache: listening for catalogue changes");
                loop {
                    // `None`: the connection was lost (sqlx would reconnect silently on the
                    // next call, losing what was sent meanwhile; this loop reconnects itself).
                    match listener.try_recv().await? {
                        Some(_) => self.changed(),
                        None => return Ok::<_, sea_orm::sqlx::Error>(()),
                    }
                }
            };
            let result = tokio::select! {
                result = session => result,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            self.freshness.listening.store(false, Ordering::Release);
            metrics::gauge!("catalogue_cache_listening").set(0.0);
            self.changed();
            match result {
                Ok(()) => tracing::warn!("catalogue cache: the listening connection closed; not caching until it is back"),
                Err(error) => tracing::warn!(%error, "catalogue cache: cannot listen for catalogue changes; not caching until it can"),
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    }

    /// The catalogue changed: nothing cached so far may be served again.
    fn changed(&self) {
        self.freshness.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// The cache key of `request`, or `None` when its answer may not be cached or the cache
    /// is not serving (listener down).
    pub fn key(&self, request: &mut Request, headers: &HeaderMap) -> Option<[u8; 32]> {
        if !self.freshness.listening.load(Ordering::Acquire)
            || headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key(crate::graphql::shop::CartToken::HEADER)
            || !reads_only_catalogue(request)
        {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        let mut hash = Sha256::new();
        for part in [
            request.query.as_str(),
            request.operation_name.as_deref().unwrap_or(""),
            variables.as_str(),
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        Some(hash.finalize().into())
    }

    /// The answer stored under `key`, or `run`'s. `run` gives the serialized answer, what
    /// the caller needs to know about it (`T`: its status) and whether it may be stored (no
    /// errors). `T` comes back when this call's answer was not served from the cache.
    /// Concurrent requests for a key that is not stored wait for one run instead of each
    /// running.
    pub async fn get_or_run<F, T>(&self, key: Key, run: F) -> (Bytes, Option<T>)
    where
        F: Future<Output = (Bytes, T, bool)>,
        T: Clone + Send + Sync + 'static,
    {
        let generation = self.freshness.generation.load(Ordering::Acquire);
        let freshness = &self.freshness;
        let mut ran = None;
        let entry = self
            .entries
            .entry(key)
            .or_try_insert_with(async {
                let (body, about, storable) = run.await;
                // A change committed while this ran may or may not be in `body`.
                let fresh = freshness.listening.load(Ordering::Acquire)
                    && freshness.generation.load(Ordering::Acquire) == generation;
                if storable && fresh {
                    ran = Some(about);
                    Ok(body)
                } else {
                    Err((body, about))
                }
            })
            .await;
        let (body, about) = match entry {
            Ok(entry) => (entry.into_value(), ran),
            // Not stored: this call's answer, or that of the call it waited for.
            Err(answer) => {
                let (body, about) = (*answer).clone();
                (body, Some(about))
            }
        };
        let outcome = if about.is_some() { "miss" } else { "hit" };
        metrics::counter!("catalogue_cache_requests_total", "outcome" => outcome).increment(1);
        (body, about)
    }
}

/// True when the operation `request` selects is a query whose root selections are all
/// catalogue fields (fragments at the root are looked into). Anything unusual, an
/// unparsable document included, is not cached; execution reports what is wrong with it.
fn reads_only_catalogue(request: &mut Request) -> bool {
    let Some((document, operation)) = super::graphql::selected_operation(request) else {
        return false;
    };
    if operation.node.ty != OperationType::Query {
        return false;
    }
    fn items(set: &Positioned<SelectionSet>) -> impl Iterator<Item = &Selection> {
        set.node.items.iter().map(|item| &item.node)
    }
    let mut pending: Vec<&Selection> = items(&operation.node.selection_set).collect();
    // Fragments can spread each other; a bound keeps a cyclic (invalid) document finite.
    let mut budget = 256;
    while let Some(selection) = pending.pop() {
        budget -= 1;
        if budget == 0 {
            return false;
        }
        match selection {
            Selection::Field(field) => {
                if !CATALOGUE_FIELDS.contains(&field.node.name.node.as_str()) {
                    return false;
                }
            }
            Selection::InlineFragment(fragment) => {
                pending.extend(items(&fragment.node.selection_set));
            }
            Selection::FragmentSpread(spread) => {
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => pending.extend(items(&fragment.node.selection_set)),
                    None => return false,
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue_only(query: &str, operation: Option<&str>) -> bool {
        let mut request = Request::new(query);
        if let Some(name) = operation {
            request = request.operation_name(name);
        }
        reads_only_catalogue(&mut request)
    }

    #[test]
    fn only_catalogue_queries_are_cacheable() {
        assert!(catalogue_only(
            "{ products(first: 5) { edges { node { name } } } }",
            None
        ));
        assert!(catalogue_only(
            "query P($s: String) { product(slug: $s) { name } categories { name } }",
            None
        ));
        assert!(catalogue_only(
            "query A { ...F } fragment F on ShopQuery { ... on ShopQuery { categories { name } } }",
            Some("A")
        ));
        // Personal, or not a query.
        assert!(!catalogue_only(
            "{ products { edges { cursor } } me { id } }",
            None
        ));
        assert!(!catalogue_only("{ cart { id } }", None));
        assert!(!catalogue_only("mutation { logout }", None));
        assert!(!catalogue_only(
            "subscription { orderStatusChanged { status } }",
            None
        ));
        assert!(!catalogue_only(
            "query A { ...F } fragment F on ShopQuery { me { id } }",
            None
        ));
        // Which operation runs must be certain.
        assert!(!catalogue_only(
            "query A { categories { name } } query B { me { id } }",
            None
        ));
        assert!(!catalogue_only(
            "query A { categories { name } }",
            Some("B")
        ));
        assert!(!catalogue_only("{ products(", None));
    }

    #[tokio::test]
    async fn stores_only_error_free_answers_computed_while_unchanged() {
        let cache = CatalogueCache::new(1 << 20, Duration::from_secs(60));
        cache.freshness.listening.store(true, Ordering::Release);
        let key = [1; 32];
        let run = |body: &'static str, storable| async move { (Bytes::from(body), body, storable) };
        let ran = |body: &'static str| (Bytes::from(body), Some(body));

        assert_eq!(
            cache.get_or_run(key, run("error", false)).await,
            ran("error")
        );
        assert_eq!(cache.get_or_run(key, run("a", true)).await, ran("a"));
        assert_eq!(
            cache.get_or_run(key, run("b", true)).await,
            (Bytes::from("a"), None)
        );

        cache.changed();
        assert_eq!(cache.get_or_run(key, run("c", true)).await, ran("c"));

        // A change while the answer was computed: served to this caller, not stored.
        let key = [2; 32];
        let racing = async {
            cache.changed();
            (Bytes::from("d"), "d", true)
        };
        assert_eq!(cache.get_or_run(key, racing).await, ran("d"));
        assert_eq!(cache.get_or_run(key, run("e", true)).await, ran("e"));

        // Not listening: nothing stored.
        cache.freshness.listening.store(false, Ordering::Release);
        let key = [3; 32];
        assert_eq!(cache.get_or_run(key, run("f", true)).await, ran("f"));
        assert_eq!(cache.get_or_run(key, run("g", true)).await, ran("g"));
    }
}
