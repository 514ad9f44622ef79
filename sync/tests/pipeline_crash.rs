//! Processes dying at the worst moment and connections failing mid-flight: the worker killed
//! between publishing and moving its checkpoint, a consumer killed between its commit and its
//! ack, the broker connection cut while publishing, the database gone while consuming.
//! Each case ends with the whole mirror equal to Mahak.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::proxy::Proxy;
use common::{query_i64, Harness, AMQP_URL};
use sea_orm::Database;
use sync::mahak::Entity;
use sync::pipeline::consumer::Consumer;
use sync::pipeline::events::Events;

const SETTLE: Duration = Duration::from_secs(90);

/// The `sync` binary with this test's database, broker prefix and simulator.
fn sync_command(h: &Harness, args: &[&str], failpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sync"));
    command
        .args(args)
        .env_clear()
        .env("APP__DATABASE__URL", &h.test_db.url)
        .env("APP__AMQP__URL", AMQP_URL)
        .env("APP__SYNC__AMQP_PREFIX", &h.amqp.prefix)
        .env("APP__SYNC__PAGE_SIZE", "30")
        .env("APP__MAHAK__BASE_URL", h.sim.base_url())
        .env("APP__LOG__FORMAT", "json")
        .env("SYNC_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn assert_aborted(status: std::process::ExitStatus) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "the process should have died at its failpoint (SIGABRT): {status:?}"
    );
}

#[tokio::test]
async fn worker_killed_after_publishing_before_checkpointing_loses_nothing() {
    let mut h = Harness::new(80).await;
    h.start_consumer();
    let status = tokio::task::spawn_blocking({
        let mut command = sync_command(&h, &["run"], "after_publish:5");
        move || command.status().unwrap()
    })
    .await
    .unwrap();
    assert_aborted(status);
    // Five batches reached the broker, but the checkpoint stopped behind the fifth.
    let published_cursor = query_i64(
        &h.db,
        "SELECT COALESCE(MAX(row_version), 0) FROM sync_checkpoints",
    )
    .await[0][0];
    assert!(published_cursor > 0, "earlier pages were checkpointed");
    // A new worker resumes from the checkpoint; the re-sent page is harmless. The dead
    // worker held the entity's fetch lock when it died: its connection took the lock with it,
    // so no entity is skipped as if another worker were fetching it.
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    assert!(
        report.per_entity.iter().all(|(_, entity)| !entity.skipped),
        "the killed worker's lock was released: {report:?}"
    );
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
}

#[tokio::test]
async fn consumer_killed_after_commit_before_ack_applies_each_batch_once() {
    let mut h = Harness::new(60).await;
    let mut consumer = tokio::task::spawn_blocking({
        let mut command = sync_command(&h, &["consume"], "after_commit:3");
        move || command.status().unwrap()
    });
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    let status = tokio::time::timeout(Duration::from_secs(60), &mut consumer)
        .await
        .expect("consumer died")
        .unwrap();
    assert_aborted(status);
    // The third batch was committed but not acked: RabbitMQ delivers it again.
    h.start_consumer();
    h.assert_mirror_matches(&[], SETTLE).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let run = query_i64(
        &h.db,
        &format!(
            "SELECT fetched, upserted, unchanged FROM sync_runs WHERE id = '{}'",
            report.run_id
        ),
    )
    .await;
    let (fetched, upserted, unchanged) = (run[0][0], run[0][1], run[0][2]);
    assert_eq!(
        upserted + unchanged,
        fetched,
        "every fetched row counted exactly once (no batch applied twice)"
    );
    h.stop_consumers().await;
}

#[tokio::test]
async fn broker_connection_cut_mid_publish_loses_nothing() {
    let mut h = Harness::new(80).await;
    h.start_consumer();
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let mut through_proxy = h.amqp.clone();
    through_proxy.url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let publisher = sync::pipeline::bus::amqp::AmqpPublisher::connect(through_proxy)
        .await
        .unwrap();
    let runner = sync::pipeline::runner::Runner::new(sync::pipeline::fetcher::Fetcher {
        db: h.db.clone(),
        source: h.source(20),
        publisher,
        events: Events::default(),
    });
    h.sim.control().set_faults(sync::simulator::Faults {
        latency_ms: 10,
        ..Default::default()
    });
    let cutter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.restore();
        proxy
    });
    let first = runner.run_once("test").await.unwrap();
    let _proxy = cutter.await.unwrap();
    assert!(
        first.error.is_some(),
        "the cut should have failed some entity's fetch"
    );
    h.sim.control().set_faults(Default::default());
    // The same worker reconnects on its next run and finishes the job.
    let second = runner.run_once("test").await.unwrap();
    assert!(second.error.is_none(), "{second:?}");
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
}

#[tokio::test]
async fn database_unavailable_while_consuming_loses_nothing() {
    let h = Harness::new(80).await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let name = h.test_db.url.rsplit('/').next().unwrap().to_string();
    let proxied = format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port);
    let mut options = sea_orm::ConnectOptions::new(proxied);
    options
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1));
    let consumer_db = Database::connect(options).await.unwrap();
    let consumer = Consumer::new(consumer_db, Default::default(), Events::default());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let config = h.amqp.clone();
    let consuming = tokio::spawn(async move {
        loop {
            let shutdown = async {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if sync::pipeline::bus::amqp::consume(&config, consumer.clone(), shutdown)
                .await
                .is_ok()
            {
                return;
            }
        }
    });
    proxy.cut();
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(
        report.error.is_none(),
        "publishing does not need the consumer's database"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let applied = query_i64(&h.db, "SELECT COUNT(*) FROM sync_inbox").await[0][0];
    assert_eq!(
        applied, 0,
        "nothing can be applied while the database is away"
    );
    proxy.restore();
    h.assert_mirror_matches(&[], SETTLE).await;
    let _ = stop.send(true);
    let _ = consuming.await;
    let products = h.sim.control().snapshot(Entity::Product).len() as i64;
    assert_eq!(
        query_i64(&h.db, "SELECT COUNT(*) FROM products").await[0][0],
        products
    );
}
