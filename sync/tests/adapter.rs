//! The Mahak adapter against the Mahak simulator, over real HTTP on localhost.
//!
//! Each test starts its own simulator on a random port. Client timeouts and backoff are cut
//! to milliseconds so fault tests run in seconds; the behaviour is the production code path.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::SecretString;
use serde_json::json;
use sync::mahak::models::{CommitData, OrderDetailModel, OrderModel, PersonModel};
use sync::mahak::{
    pages, BreakerConfig, BreakerState, Entity, Fault, MahakClient, MahakClientConfig, MahakError,
    Page, PagingError, PagingOptions, Record, RejectedRow, RequestAllData, RetryPolicy,
};
use sync::simulator::{
    start, DataSizes, Faults, RateLimitFault, RowState, RunningSimulator, SimulatorConfig,
};

async fn simulator(products: usize, max_page_size: usize) -> RunningSimulator {
    start(SimulatorConfig {
        sizes: DataSizes::for_products(products),
        seed: 7,
        max_page_size,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Production behaviour with test-sized timings.
fn fast_config(sim: &RunningSimulator) -> MahakClientConfig {
    let mut config = MahakClientConfig::new(sim.base_url(), "demo", SecretString::from("demo"), 1);
    config.timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config.retry = RetryPolicy {
        max_attempts: 10,
        max_elapsed: Duration::from_secs(30),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    config.breaker = BreakerConfig {
        failure_threshold: 12,
        cool_down: Duration::from_millis(200),
    };
    config.rate_limit = None;
    config
}

fn client(config: MahakClientConfig) -> MahakClient {
    MahakClient::new(config).expect("valid config")
}

fn options(page_size: u32, max_page_size: u32) -> PagingOptions {
    PagingOptions {
        page_size,
        max_page_size,
        ..PagingOptions::default()
    }
}

/// What a paging run saw: per id the latest (RowVersion, deleted), and the rejects.
#[derive(Debug, Default)]
struct Seen {
    latest: BTreeMap<i64, (i64, bool)>,
    rejects: Vec<RejectedRow>,
    pages: usize,
    largest_page: usize,
    largest_page_size: u32,
    cursor: i64,
}

impl Seen {
    fn absorb(&mut self, page: &Page) {
        assert!(page.next_cursor >= page.from_cursor, "cursor went back");
        assert!(
            page.len() <= page.page_size as usize,
            "page of {} rows for pageSize {}",
            page.len(),
            page.page_size
        );
        assert!(
            page.records
                .iter()
                .all(|r| r.row_version() >= page.from_cursor),
            "a row older than the inclusive cursor"
        );
        for record in &page.records {
            let entry = self
                .latest
                .entry(record.id())
                .or_insert((record.row_version(), record.deleted()));
            if record.row_version() >= entry.0 {
                *entry = (record.row_version(), record.deleted());
            }
        }
        self.rejects.extend(page.rejects.iter().cloned());
        self.pages += 1;
        self.largest_page = self.largest_page.max(page.len());
        self.largest_page_size = self.largest_page_size.max(page.page_size);
        self.cursor = page.next_cursor;
    }
}

async fn walk(
    client: &MahakClient,
    entity: Entity,
    start: i64,
    options: &PagingOptions,
) -> Result<Seen, (Seen, PagingError)> {
    let mut seen = Seen {
        cursor: start,
        ..Seen::default()
    };
    let mut stream = pin!(pages(client.clone(), entity, start, options));
    while let Some(item) = stream.next().await {
        match item {
            Ok(page) => seen.absorb(&page),
            Err(e) => return Err((seen, e)),
        }
    }
    Ok(seen)
}

/// Every stored row (but the `skip` storage ids) was seen at its latest RowVersion and
/// deleted flag, and nothing else was seen.
fn assert_latest(entity: Entity, seen: &Seen, snapshot: &[RowState], skip: &[i64]) {
    let expected: BTreeMap<i64, (i64, bool)> = snapshot
        .iter()
        .filter(|r| !skip.contains(&r.id))
        .map(|r| (r.id, (r.row_version, r.deleted)))
        .collect();
    let missing: Vec<_> = expected
        .keys()
        .filter(|id| !seen.latest.contains_key(id))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "{entity}: rows never seen: {missing:?}");
    let stale: Vec<_> = expected
        .iter()
        .filter(|(id, want)| seen.latest.get(id) != Some(want))
        .take(10)
        .map(|(id, want)| (id, want, seen.latest.get(id)))
        .collect();
    assert!(
        stale.is_empty(),
        "{entity}: rows not at their latest version: {stale:?}"
    );
    assert_eq!(
        seen.latest.len(),
        expected.len(),
        "{entity}: unknown rows seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_every_entity_of_a_generated_data_set() {
    let sim = simulator(300, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    for entity in Entity::ALL {
        let seen = walk(&client, entity, 0, &options(100, 1000))
            .await
            .unwrap_or_else(|(_, e)| panic!("{entity}: {e}"));
        let snapshot = control.snapshot(entity);
        assert!(
            seen.rejects.is_empty(),
            "{entity}: generated rows rejected: {:?}",
            seen.rejects.first()
        );
        assert_latest(entity, &seen, &snapshot, &[]);
        if snapshot.len() > 100 {
            assert!(seen.pages > 1, "{entity}: expected several pages");
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_rows_share_a_row_version_than_fit_in_a_page() {
    let sim = simulator(300, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let ids: Vec<i64> = control
        .snapshot(Entity::ProductDetail)
        .iter()
        .map(|r| r.id)
        .take(250)
        .collect();
    assert_eq!(ids.len(), 250);
    let shared = control.share_row_version(Entity::ProductDetail, &ids);
    // Something newer, so the walk has to get past the group.
    let newer = control.upsert_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Price1": 1000, "Properties": "[]"}),
    );

    let seen = walk(&client, Entity::ProductDetail, 0, &options(100, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    assert_latest(
        Entity::ProductDetail,
        &seen,
        &control.snapshot(Entity::ProductDetail),
        &[],
    );
    assert!(
        seen.largest_page_size >= 400,
        "the page grew past the group"
    );
    assert!(seen.latest.contains_key(&newer));
    assert!(ids.iter().all(|id| seen.latest[id].0 == shared));

    // Starting at the group's RowVersion (a checkpoint inside the group) works too.
    let seen = walk(&client, Entity::ProductDetail, shared, &options(100, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    assert!(ids.iter().all(|id| seen.latest.contains_key(id)));

    // A page limit below the group is a clear error, not a loop.
    let (_, error) = walk(&client, Entity::ProductDetail, shared, &options(100, 200))
        .await
        .expect_err("stuck");
    assert_eq!(
        error,
        PagingError::Stuck {
            entity: Entity::ProductDetail,
            row_version: shared,
            page_size: 200
        }
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_capping_pages_below_a_row_version_group_is_reported() {
    // The simulator silently caps pages at 100; the client believes it may ask 1000.
    let sim = simulator(100, 100).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let ids: Vec<i64> = control
        .snapshot(Entity::ProductDetail)
        .iter()
        .map(|r| r.id)
        .take(150)
        .collect();
    let shared = control.share_row_version(Entity::ProductDetail, &ids);
    control.upsert_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Properties": "[]"}),
    );
    let (_, error) = walk(&client, Entity::ProductDetail, 0, &options(100, 1000))
        .await
        .expect_err("capped");
    assert!(
        matches!(error, PagingError::ServerCap { row_version, .. } if row_version == shared),
        "{error}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_deletes_between_pages_are_picked_up() {
    let sim = simulator(300, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let entity = Entity::Product;
    let mut seen = Seen::default();
    let mut stream = pin!(pages(client.clone(), entity, 0, &options(50, 1000)));
    let first = stream.next().await.expect("a page").expect("no error");
    seen.absorb(&first);
    let already = first.records[0].id();
    let also = first.records[1].id();

    // Behind the walk's back: a price-relevant edit of a row already seen, a delete of
    // another, an undelete-delete cycle, and a new row.
    assert!(control.patch_row(entity, already, json!({"Name": "ويرايش شده"})));
    assert!(control.delete_row(entity, also));
    let later = control.snapshot(entity).last().expect("rows").id;
    assert!(control.delete_row(entity, later));
    assert!(control.undelete_row(entity, later));
    let created = control.upsert_row(entity, json!({"Name": "new", "ProductCategoryId": 1}));

    while let Some(page) = stream.next().await {
        seen.absorb(&page.expect("no error"));
    }
    assert_latest(entity, &seen, &control.snapshot(entity), &[]);
    assert!(seen.latest[&also].1, "the delete arrived");
    assert!(!seen.latest[&later].1, "the undelete arrived");
    assert!(seen.latest.contains_key(&created));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_leads_to_one_relogin_http_401_and_envelope_401() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let request = RequestAllData::for_entity(Entity::Store, 0);
    client.get_all_data(&request).await.expect("first call");
    assert_eq!(client.stats().logins, 1);

    // HTTP 401.
    control.expire_tokens();
    client.get_all_data(&request).await.expect("after re-login");
    assert_eq!(client.stats().logins, 2);

    // Envelope {Result: false, Code: 401} with HTTP 200.
    control.set_faults(Faults {
        token_expiry_as_envelope: true,
        ..Faults::default()
    });
    control.expire_tokens();
    client.get_all_data(&request).await.expect("after re-login");
    assert_eq!(client.stats().logins, 3);

    // Concurrent tasks that all hit the expired token log in once between them.
    control.expire_tokens();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.get_all_data(&request).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("call");
    }
    assert_eq!(client.stats().logins, 4, "one shared re-login");
    let unauthorized = control.stats().unauthorized;
    assert!((3..=6).contains(&unauthorized), "{unauthorized}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_503_is_retried_and_recovers() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    client.login().await.expect("login");
    control.set_faults(Faults {
        burst_5xx: 4,
        ..Faults::default()
    });
    let answer = client
        .get_all_data(&RequestAllData::for_entity(Entity::Product, 0))
        .await
        .expect("recovers");
    assert!(!answer.rows(Entity::Product).is_empty());
    assert_eq!(client.stats().retries, 4);
    assert_eq!(control.stats().faults.unavailable, 4);
    assert_eq!(client.breaker_state(), BreakerState::Closed);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_errors_open_the_breaker_which_fails_fast_then_probes() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let mut config = fast_config(&sim);
    config.breaker = BreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_millis(300),
    };
    let client = client(config);
    client.login().await.expect("login");
    control.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let request = RequestAllData::for_entity(Entity::Product, 0);
    let error = client.get_all_data(&request).await.expect_err("fails");
    assert!(matches!(error, MahakError::CircuitOpen { .. }), "{error}");
    assert_eq!(client.breaker_state(), BreakerState::Open);
    assert_eq!(control.stats().faults.server_errors, 3);

    // While open: no request reaches Mahak, and the answer is immediate.
    let started = Instant::now();
    let error = client.get_all_data(&request).await.expect_err("fails fast");
    let fast = started.elapsed();
    assert!(matches!(error, MahakError::CircuitOpen { .. }), "{error}");
    assert!(fast < Duration::from_millis(50), "took {fast:?}");
    assert_eq!(control.stats().get_all_data_requests, 3);

    // After the cool-down one probe goes through; it succeeds and closes the breaker.
    control.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(client.breaker_state(), BreakerState::HalfOpen);
    client.get_all_data(&request).await.expect("probe succeeds");
    assert_eq!(client.breaker_state(), BreakerState::Closed);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retry_budget_names_the_last_fault() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let mut config = fast_config(&sim);
    config.retry.max_attempts = 3;
    config.timeout = Duration::from_millis(300);
    let client = client(config);
    client.login().await.expect("login");
    let request = RequestAllData::for_entity(Entity::Store, 0);

    control.set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let started = Instant::now();
    let error = client.get_all_data(&request).await.expect_err("times out");
    assert!(
        matches!(
            error,
            MahakError::Exhausted {
                attempts: 3,
                last: Fault::Timeout,
                ..
            }
        ),
        "{error}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    control.set_faults(Faults {
        drop_connection_rate: 1.0,
        ..Faults::default()
    });
    let error = client.get_all_data(&request).await.expect_err("dropped");
    assert!(
        matches!(
            error,
            MahakError::Exhausted {
                last: Fault::Body(_) | Fault::Connection(_),
                ..
            }
        ),
        "{error}"
    );

    // With the default budget, calls get through a 50 % drop rate.
    let client = MahakClient::new(fast_config(&sim)).expect("config");
    control.set_faults(Faults {
        drop_connection_rate: 0.5,
        ..Faults::default()
    });
    for _ in 0..5 {
        client
            .get_all_data(&request)
            .await
            .expect("retries past drops");
    }
    assert!(client.stats().retries > 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_a_429_is_honoured() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    client.login().await.expect("login");
    control.set_faults(Faults {
        rate_limit: Some(RateLimitFault {
            calls: 1,
            retry_after_secs: 1,
        }),
        ..Faults::default()
    });
    let started = Instant::now();
    client
        .get_all_data(&RequestAllData::for_entity(Entity::Store, 0))
        .await
        .expect("after waiting");
    let waited = started.elapsed();
    println!("429 with Retry-After: 1 -> call took {waited:?}");
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(client.stats().retries, 1);

    // A Retry-After beyond the allowed wait fails the call at once.
    control.set_faults(Faults {
        rate_limit: Some(RateLimitFault {
            calls: 1,
            retry_after_secs: 60,
        }),
        ..Faults::default()
    });
    let started = Instant::now();
    let error = client
        .get_all_data(&RequestAllData::for_entity(Entity::Store, 0))
        .await
        .expect_err("too long to wait");
    assert!(matches!(error, MahakError::Exhausted { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_rate_limit_paces_calls() {
    let sim = simulator(20, 1000).await;
    let mut config = fast_config(&sim);
    config.rate_limit = Some(sync::mahak::RateLimit {
        per_second: 20.0,
        burst: 1,
    });
    let client = client(config);
    client.login().await.expect("login");
    let started = Instant::now();
    for _ in 0..10 {
        client
            .get_all_data(&RequestAllData::for_entity(Entity::Store, 0))
            .await
            .expect("call");
    }
    // 11 requests (login included) at 20/s with a burst of 1: at least 10 × 50 ms.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_row_is_reported_and_the_rest_of_the_page_parses() {
    let sim = simulator(50, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let bad = control.insert_malformed_row(
        Entity::ProductDetail,
        json!({"ProductDetailId": 900001, "ProductId": 1, "Price1": "abc", "Deleted": false}),
    );
    let not_an_object = control.insert_malformed_row(Entity::ProductDetail, json!("garbage"));
    let seen = walk(&client, Entity::ProductDetail, 0, &options(1000, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    assert_latest(
        Entity::ProductDetail,
        &seen,
        &control.snapshot(Entity::ProductDetail),
        &[bad, not_an_object],
    );
    let rejected = seen
        .rejects
        .iter()
        .find(|r| r.identity.id == Some(900_001))
        .expect("the bad row is reported");
    assert_eq!(rejected.entity, Entity::ProductDetail);
    assert!(rejected.identity.row_version.is_some());
    assert!(rejected.reason.contains("price1"), "{}", rejected.reason);
    assert_eq!(rejected.raw["Price1"], "abc");
    assert!(seen
        .rejects
        .iter()
        .any(|r| r.raw == json!("garbage") && r.reason.contains("object")));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_and_time_edge_cases_over_the_wire() {
    let sim = simulator(0, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let as_strings = control.upsert_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Price1": "125000", "Price2": 9_007_199_254_740_992_i64,
               "Properties": "[{\"C\":12,\"V\":\"قرمز\"}]", "Deleted": "0",
               "CreateDate": "2025-03-01T14:30:00.250"}),
    );
    let fractional = control.upsert_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Price1": 1.5, "Properties": "[]"}),
    );
    let too_big = control.upsert_row(
        Entity::ProductDetail,
        json!({"ProductId": 1, "Price1": 1e16, "Properties": "[]"}),
    );
    let ambiguous = control.upsert_row(
        Entity::Order,
        json!({"PersonId": 1, "OrderType": 201, "OrderDate": "2021-09-21T23:30:00",
               "DeliveryDate": "2021-03-22T00:30:00", "Discount": "5000", "SendCost": 0}),
    );
    let bad_date = control.upsert_row(
        Entity::Order,
        json!({"PersonId": 1, "OrderType": 201, "OrderDate": "1403/12/11"}),
    );

    let details = walk(&client, Entity::ProductDetail, 0, &options(100, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    let mut stream = pin!(pages(
        client.clone(),
        Entity::ProductDetail,
        0,
        &options(100, 1000)
    ));
    let page = stream.next().await.expect("page").expect("ok");
    let detail = page
        .records
        .iter()
        .find_map(|r| match r {
            Record::ProductDetail(d) if d.id == as_strings => Some(d.clone()),
            _ => None,
        })
        .expect("parsed");
    assert_eq!(detail.prices[0], Some(125_000));
    assert_eq!(detail.prices[1], Some(9_007_199_254_740_992));
    assert_eq!(detail.properties, json!([{"C": 12, "V": "قرمز"}]));
    assert_eq!(
        detail.created_at.map(|t| t.to_rfc3339()),
        Some("2025-03-01T11:00:00.250+00:00".into())
    );
    let reason = |id: i64| {
        details
            .rejects
            .iter()
            .find(|r| r.identity.id == Some(id))
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("row {id} not rejected"))
    };
    assert!(
        reason(fractional).contains("whole number"),
        "{}",
        reason(fractional)
    );
    assert!(reason(too_big).contains("2^53"), "{}", reason(too_big));

    let orders = walk(&client, Entity::Order, 0, &options(100, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    // The boundary row comes back with the inclusive cursor: one distinct reject.
    let rejected: std::collections::BTreeSet<_> =
        orders.rejects.iter().map(|r| r.identity.id).collect();
    assert_eq!(
        rejected.into_iter().collect::<Vec<_>>(),
        vec![Some(bad_date)]
    );
    assert!(orders.rejects[0].reason.contains("orderDate"));
    let mut stream = pin!(pages(client.clone(), Entity::Order, 0, &options(100, 1000)));
    let page = stream.next().await.expect("page").expect("ok");
    let Some(Record::Order(order)) = page.records.iter().find(|r| r.id() == ambiguous) else {
        panic!("order not parsed")
    };
    // Ambiguous (DST ended): the earlier instant, +04:30.
    assert_eq!(
        order.order_date.map(|t| t.to_rfc3339()),
        Some("2021-09-21T19:00:00+00:00".into())
    );
    // Nonexistent (DST began): read with the offset before the jump, +03:30.
    assert_eq!(
        order.delivery_date.map(|t| t.to_rfc3339()),
        Some("2021-03-21T21:00:00+00:00".into())
    );
    assert_eq!(order.discount, Some(5000));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_false_surfaces_mahaks_message() {
    let sim = simulator(20, 1000).await;
    let mut config = fast_config(&sim);
    config.password = SecretString::from("wrong");
    let error = client(config)
        .get_all_data(&RequestAllData::for_entity(Entity::Store, 0))
        .await
        .expect_err("bad password");
    match &error {
        MahakError::Login { message } => {
            assert!(message.contains("invalid user name"), "{message}");
        }
        other => panic!("unexpected: {other}"),
    }

    // A push with one bad row: Result false, Mahak's message, and a verdict per row.
    let client = client(fast_config(&sim));
    let data = CommitData {
        orders: vec![OrderModel {
            order_client_id: Some(555_001),
            person_id: Some(987_654_321),
            order_type: Some(201),
            order_date: Some("2025-03-01T14:30:00".into()),
            ..OrderModel::default()
        }],
        ..CommitData::default()
    };
    let result = client.save_all_data(&data).await.expect("an answer");
    assert!(!result.result);
    assert!(
        result
            .message
            .as_deref()
            .is_some_and(|m| m.contains("rejected")),
        "{:?}",
        result.message
    );
    let row = result.result_for(Entity::Order, 0).expect("row verdict");
    assert!(!row.succeeded());
    assert!(
        row.errors.as_ref().is_some_and(|e| e.iter().any(|e| e
            .property
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("personId")))),
        "{row:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_all_data_pushes_a_parent_and_children_idempotently() {
    let sim = simulator(20, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    let session = client.session().await.expect("login");
    let variant = control.snapshot(Entity::ProductDetail)[0].id;
    let store = control.snapshot(Entity::Store)[0].id;
    let data = CommitData {
        people: vec![PersonModel {
            person_client_id: Some(7_000_001),
            first_name: Some("علی".into()),
            last_name: Some("رضایی".into()),
            mobile: Some("09120000000".into()),
            ..PersonModel::default()
        }],
        orders: vec![OrderModel {
            order_client_id: Some(7_100_001),
            person_client_id: Some(7_000_001),
            visitor_id: session.visitor_id,
            order_type: Some(201),
            order_date: Some(sync::mahak::convert::utc_to_tehran_text(chrono::Utc::now())),
            shipping_address: Some(json!({"city": "تهران"}).to_string()),
            ..OrderModel::default()
        }],
        order_details: vec![OrderDetailModel {
            order_detail_client_id: Some(7_200_001),
            order_client_id: Some(7_100_001),
            item_type: Some(1),
            product_detail_id: Some(variant),
            price: Some(125_000.0),
            count1: Some(2.0),
            store_id: Some(store),
            ..OrderDetailModel::default()
        }],
        ..CommitData::default()
    };
    let first = client.save_all_data(&data).await.expect("saved");
    for entity in [Entity::Person, Entity::Order, Entity::OrderDetail] {
        let row = first.result_for(entity, 0).expect("verdict");
        assert!(row.succeeded(), "{entity}: {row:?}");
    }
    // A retry after a lost answer re-sends the same ClientIds: same rows, no duplicates.
    let again = client.save_all_data(&data).await.expect("saved again");
    assert_eq!(
        first.result_for(Entity::Order, 0).and_then(|r| r.entity_id),
        again.result_for(Entity::Order, 0).and_then(|r| r.entity_id)
    );
    let order_id = again
        .result_for(Entity::Order, 0)
        .and_then(|r| r.entity_id)
        .expect("id");
    let pulled = walk(&client, Entity::Order, 0, &options(1000, 1000))
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    assert!(pulled.latest.contains_key(&order_id));
    assert_eq!(
        control
            .snapshot(Entity::Order)
            .iter()
            .filter(|r| r.row.get("OrderClientId") == Some(&json!(7_100_001)))
            .count(),
        1
    );
    sim.shutdown().await;
}

/// The acceptance: 10,000 products, 20 % of calls failing (plus dropped connections
/// and edits made while paging); every row of every entity ends at its latest version. A
/// failed page is resumed from the last checkpoint, as the sync worker does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_products_with_twenty_percent_errors_miss_nothing() {
    let sim = simulator(10_000, 1000).await;
    let control = sim.control();
    let client = client(fast_config(&sim));
    control.set_faults(Faults {
        error_rate: 0.2,
        drop_connection_rate: 0.05,
        ..Faults::default()
    });

    // Edits behind the walk's back until it is well under way.
    let editing = Arc::new(AtomicBool::new(true));
    let mut editor = Some({
        let control = control.clone();
        let editing = editing.clone();
        tokio::spawn(async move {
            let ids: Vec<i64> = control
                .snapshot(Entity::Product)
                .iter()
                .map(|r| r.id)
                .collect();
            let mut edits = 0usize;
            // At least 50 edits, so some land between pages whatever the timing.
            while editing.load(Ordering::SeqCst) || edits < 50 {
                let id = ids[(edits * 7919) % ids.len()];
                if edits % 5 == 0 {
                    control.delete_row(Entity::Product, id);
                } else {
                    control.patch_row(
                        Entity::Product,
                        id,
                        json!({"Name": format!("edit {edits}")}),
                    );
                }
                edits += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            edits
        })
    });
    let mut edits = 0;

    let started = Instant::now();
    let opts = options(500, 1000);
    let mut restarts = 0;
    let mut total_pages = 0;
    for entity in Entity::ALL {
        let mut seen = Seen::default();
        let mut checkpoint = 0;
        loop {
            let mut stream = pin!(pages(client.clone(), entity, checkpoint, &opts));
            let mut failed = false;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(page) => {
                        seen.absorb(&page);
                        checkpoint = page.next_cursor;
                        total_pages += 1;
                        if entity == Entity::Product && seen.pages == 10 {
                            // Stop editing, and wait until the last edit is in, while the
                            // walk still has pages to go.
                            editing.store(false, Ordering::SeqCst);
                            if let Some(editor) = editor.take() {
                                edits = editor.await.expect("editor");
                            }
                        }
                    }
                    Err(error) => {
                        restarts += 1;
                        assert!(restarts <= 20, "too many failed runs; last: {error}");
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                break;
            }
        }
        assert!(
            editor.is_none() || entity != Entity::Product,
            "edits stopped mid-walk"
        );
        assert!(
            seen.rejects.is_empty(),
            "{entity}: {:?}",
            seen.rejects.first()
        );
        assert_latest(entity, &seen, &control.snapshot(entity), &[]);
    }
    let elapsed = started.elapsed();
    let stats = client.stats();
    let faults = control.stats().faults;
    let rows: usize = Entity::ALL.iter().map(|e| control.snapshot(*e).len()).sum();
    println!(
        "10k products, 20% errors: {rows} rows in {total_pages} pages, {edits} edits while \
         paging, {elapsed:?}; client: {} calls, {} attempts, {} retries, {} logins; \
         simulator injected {} HTTP 500 and {} dropped connections; {restarts} resumed runs",
        stats.calls,
        stats.attempts,
        stats.retries,
        stats.logins,
        faults.server_errors,
        faults.dropped_connections,
    );
    assert!(stats.retries > 0, "faults were injected");
    assert!(edits > 0);
    sim.shutdown().await;
}
