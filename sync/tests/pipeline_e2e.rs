//! The inbound pipeline end to end on the real RabbitMQ and PostgreSQL, against the Mahak
//! simulator over HTTP. Every case ends by comparing the whole mirror with the simulator.

mod common;

use std::time::Duration;

use common::{query_i64, Harness};
use sea_orm::ConnectionTrait;
use serde_json::json;
use sync::mahak::Entity;
use sync::pipeline::lock;
use sync::simulator::{Faults, RateLimitFault};

const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn full_then_incremental_sync_matches_mahak() {
    let mut h = Harness::new(120).await;
    h.start_consumer();
    let runner = h.amqp_runner(50).await;
    let report = runner.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    assert!(
        report.fetched > 1000,
        "a realistic mix was fetched: {}",
        report.fetched
    );
    h.assert_mirror_matches(&[], SETTLE).await;

    // Changes, deletes, an undelete, new rows and many rows sharing one RowVersion.
    let c = h.sim.control();
    let products: Vec<i64> = c.snapshot(Entity::Product).iter().map(|s| s.id).collect();
    let variants: Vec<i64> = c
        .snapshot(Entity::ProductDetail)
        .iter()
        .map(|s| s.id)
        .collect();
    let stock: Vec<i64> = c
        .snapshot(Entity::ProductDetailStoreAsset)
        .iter()
        .map(|s| s.id)
        .collect();
    for id in &products[..10] {
        assert!(c.patch_row(Entity::Product, *id, json!({ "Name": "نام تازه" })));
    }
    for id in &variants[..5] {
        assert!(c.delete_row(Entity::ProductDetail, *id));
    }
    assert!(c.undelete_row(Entity::ProductDetail, variants[0]));
    let shared = c.share_row_version(Entity::ProductDetailStoreAsset, &stock[..120]);
    assert!(shared > 0);
    c.upsert_row(
        Entity::Store,
        json!({ "StoreId": 900, "Name": "انبار جدید", "Deleted": false }),
    );
    let report = runner.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    h.assert_mirror_matches(&[], SETTLE).await;
    let names = query_i64(
        &h.db,
        "SELECT COUNT(*) FROM products WHERE name = 'نام تازه'",
    )
    .await;
    assert_eq!(names[0][0], 10);

    // A third run finds nothing new: only the inclusive cursor's boundary rows, unchanged.
    let third = runner.run_once("test").await.unwrap();
    h.assert_mirror_matches(&[], SETTLE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = query_i64(
        &h.db,
        &format!(
            "SELECT upserted, unchanged FROM sync_runs WHERE id = '{}'",
            third.run_id
        ),
    )
    .await;
    assert_eq!(counts[0][0], 0, "the third run wrote nothing");
    h.stop_consumers().await;
}

#[tokio::test]
async fn faults_at_a_20_percent_error_rate_lose_nothing() {
    let mut h = Harness::new(100).await;
    h.start_consumer();
    let c = h.sim.control();
    c.set_faults(Faults {
        error_rate: 0.2,
        timeout_rate: 0.02,
        rate_limit: Some(RateLimitFault {
            calls: 3,
            retry_after_secs: 1,
        }),
        drop_connection_rate: 0.05,
        ..Faults::default()
    });
    let expiring = tokio::spawn({
        let c = c.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(700)).await;
                c.expire_tokens();
            }
        }
    });
    let runner = h.amqp_runner(40).await;
    // A run may give up on an entity when the retry budget runs out; the next run resumes
    // from the checkpoint. Nothing may be lost either way.
    let mut runs = 0;
    loop {
        runs += 1;
        let report = runner.run_once("test").await.unwrap();
        if report.error.is_none() {
            break;
        }
        assert!(
            runs < 6,
            "still failing after {runs} runs: {:?}",
            report.error
        );
    }
    expiring.abort();
    c.set_faults(Faults::default());
    h.assert_mirror_matches(&[], SETTLE).await;
    let stats = c.stats();
    eprintln!("fault run: {runs} run(s), simulator stats {stats:?}");
    h.stop_consumers().await;
}

#[tokio::test]
async fn poison_rows_are_dead_lettered_and_the_rest_lands() {
    let mut h = Harness::new(60).await;
    let c = h.sim.control();
    // Unreadable for the adapter: dead-lettered at fetch time.
    let variant = c.snapshot(Entity::ProductDetail)[3].clone();
    let mut bad_row = variant.row.clone();
    bad_row["Price1"] = json!("abc");
    c.upsert_row(Entity::ProductDetail, bad_row);
    // Readable, but refused by the database (a rule the shop added): split out by the consumer.
    h.db.execute_unprepared(
        "ALTER TABLE warehouses ADD CONSTRAINT no_closed CHECK (name <> 'بسته')",
    )
    .await
    .unwrap();
    let closed = c.upsert_row(
        Entity::Store,
        json!({ "StoreId": 777, "StoreCode": 777, "Name": "بسته", "Deleted": false }),
    );
    h.start_consumer();
    let runner = h.amqp_runner(50).await;
    runner.run_once("test").await.unwrap();
    let expected = [(Entity::ProductDetail, variant.id), (Entity::Store, closed)];
    h.assert_mirror_matches(&expected, SETTLE).await;

    // Fixed in Mahak: the newer version supersedes the dead letter.
    let mut fixed = variant.row.clone();
    fixed["Price1"] = json!(150000.0);
    c.upsert_row(Entity::ProductDetail, fixed);
    runner.run_once("test").await.unwrap();
    h.assert_mirror_matches(&[(Entity::Store, closed)], SETTLE)
        .await;

    // Fixed on our side: replay applies the stored row.
    h.db.execute_unprepared("ALTER TABLE warehouses DROP CONSTRAINT no_closed")
        .await
        .unwrap();
    let open = sync::pipeline::dead_letters::list_open(&h.db)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    let outcome = sync::worker::replay(&h.db, &Default::default(), &open[0])
        .await
        .unwrap();
    assert_eq!(outcome, Ok(()));
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
}

#[tokio::test]
async fn only_one_replica_fetches_an_entity_at_a_time() {
    let mut h = Harness::new(80).await;
    // The lock itself: a second holder is refused until the first lets go.
    let held = lock::try_lock(&h.db, Entity::Product)
        .await
        .unwrap()
        .expect("free at first");
    assert!(lock::try_lock(&h.db, Entity::Product)
        .await
        .unwrap()
        .is_none());
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(lock::try_lock(&h.db, Entity::Product)
        .await
        .unwrap()
        .is_some());

    // Two replicas started at once: each entity is fetched by one of them, the other skips it.
    h.sim.control().set_faults(Faults {
        latency_ms: 30,
        ..Faults::default()
    });
    h.start_consumer();
    let (a, b) = (h.amqp_runner(40).await, h.amqp_runner(40).await);
    let (ra, rb) = tokio::join!(a.run_once("replica-a"), b.run_once("replica-b"));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let skipped: usize = ra
        .per_entity
        .iter()
        .chain(&rb.per_entity)
        .filter(|(_, r)| r.skipped)
        .count();
    assert!(skipped > 0, "the replicas never met: {ra:?} {rb:?}");
    h.sim.control().set_faults(Faults::default());
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
}
