//! What a run shows of itself while it runs (its `sync_runs` row, page by page, for a server
//! that does not share the worker's events), and requests to run now (`sync_requests`): served
//! by the daemon with a run of just the entities asked for, each request claimed once.
//! PostgreSQL and the simulator over HTTP; the in-process bus.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Harness;
use entity::{sync_requests, sync_runs};
use sea_orm::{DatabaseConnection, EntityTrait};
use sync::mahak::Entity;
use sync::pipeline::bus::{InProcessBus, Publisher};
use sync::pipeline::events::{Events, SyncEvent};
use sync::pipeline::fetcher::Fetcher;
use sync::pipeline::requests;
use sync::pipeline::runner::Runner;
use sync::pipeline::source::MahakSource;
use sync::pipeline::Batch;
use uuid::Uuid;

/// The run's row as a publish of a page saw it (before that page counted), and the page.
#[derive(Debug, Clone)]
struct Seen {
    entity: Entity,
    rows: i64,
    current_entity: Option<String>,
    current_fetched: i64,
    fetched: i64,
}

/// Applies batches in-process, first noting what the run's row shows at that moment.
struct Recorder {
    inner: InProcessBus,
    db: DatabaseConnection,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[async_trait::async_trait]
impl Publisher for Recorder {
    async fn publish(&self, batch: &Batch) -> anyhow::Result<()> {
        let run_id = batch.run_id.expect("batches of a run carry its id");
        let row = sync_runs::Entity::find_by_id(run_id)
            .one(&self.db)
            .await?
            .expect("the run's row exists while it runs");
        self.seen.lock().unwrap().push(Seen {
            entity: batch.entity,
            rows: batch.rows.len() as i64,
            current_entity: row.current_entity,
            current_fetched: row.current_fetched,
            fetched: row.fetched,
        });
        self.inner.publish(batch).await
    }
}

fn runner(h: &Harness, events: Events) -> Runner<MahakSource, InProcessBus> {
    Runner::new(Fetcher {
        db: h.db.clone(),
        source: h.source(10),
        publisher: InProcessBus::new(h.consumer()),
        events,
    })
}

#[tokio::test]
async fn a_run_shows_its_progress_page_by_page_in_its_row() {
    let h = Harness::new(30).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let events = Events::default();
    let mut received = events.subscribe();
    let mut runner = Runner::new(Fetcher {
        db: h.db.clone(),
        source: h.source(10),
        publisher: Recorder {
            inner: InProcessBus::new(h.consumer()),
            db: h.db.clone(),
            seen: seen.clone(),
        },
        events,
    });
    runner.entities = vec![Entity::ProductCategory, Entity::Product];
    let report = runner.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");

    let seen = seen.lock().unwrap().clone();
    let products: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.entity == Entity::Product)
        .collect();
    assert!(products.len() >= 3, "30 products in pages of 10: {seen:?}");
    // Before each page is handed on, the row names the entity and counts its earlier pages,
    // and the run's total counts every earlier page of every entity.
    let (mut entity_so_far, mut run_so_far, mut last) = (0, 0, None);
    for s in &seen {
        if last != Some(s.entity) {
            entity_so_far = 0;
            last = Some(s.entity);
        }
        assert_eq!(s.current_entity.as_deref(), Some(s.entity.name()), "{s:?}");
        assert_eq!(s.current_fetched, entity_so_far, "{s:?}");
        assert_eq!(s.fetched, run_so_far, "{s:?}");
        entity_so_far += s.rows;
        run_so_far += s.rows;
    }

    let row = sync_runs::Entity::find_by_id(report.run_id)
        .one(&h.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.outcome, "succeeded");
    assert_eq!(row.entities.as_deref(), Some("ProductCategory,Product"));
    assert_eq!(row.current_entity, None);
    assert_eq!(row.current_fetched, 0);
    assert_eq!(row.fetched, report.fetched as i64);
    assert_eq!(row.fetched, run_so_far);
    let per_entity = row.per_entity.unwrap();
    let product_fetched = products.iter().map(|s| s.rows).sum::<i64>();
    assert_eq!(per_entity["Product"]["fetched"], product_fetched);
    assert!(per_entity["ProductCategory"]["fetched"].as_i64().unwrap() > 0);

    // The same story as events: the run's entities, then growing counts per entity.
    let mut progress = Vec::new();
    let mut started = None;
    while let Ok(event) = received.try_recv() {
        match event {
            SyncEvent::RunStarted {
                run_id,
                trigger,
                entities,
            } => started = Some((run_id, trigger, entities)),
            SyncEvent::Progress {
                entity: Entity::Product,
                fetched,
                ..
            } => progress.push(fetched),
            _ => {}
        }
    }
    assert_eq!(
        started,
        Some((
            report.run_id,
            "test".to_string(),
            vec![Entity::ProductCategory, Entity::Product]
        ))
    );
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress.last().copied(), Some(product_fetched as u64));
}

async fn wait_for_run(db: &DatabaseConnection, request: i64) -> sync_runs::Model {
    for _ in 0..300 {
        let request = sync_requests::Entity::find_by_id(request)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        if let Some(run_id) = request.run_id {
            assert!(request.picked_up_at.is_some());
            let run = sync_runs::Entity::find_by_id(run_id).one(db).await.unwrap();
            if let Some(run) = run.filter(|r| r.outcome != "running") {
                return run;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("request {request} was not served within 30 s");
}

#[tokio::test]
async fn the_daemon_serves_requests_with_runs_of_the_entities_asked_for() {
    let h = Harness::new(20).await;
    let store = requests::create(&h.db, Some(Entity::Store), None)
        .await
        .unwrap();
    assert!(store.run_id.is_none() && store.picked_up_at.is_none());

    let runner = Arc::new(runner(&h, Events::default()));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let daemon = {
        let runner = runner.clone();
        tokio::spawn(async move {
            runner
                .daemon(Duration::from_secs(3600), async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        })
    };

    // Pending at start: served before the scheduled run, by a run of that entity alone.
    let run = wait_for_run(&h.db, store.id).await;
    assert_eq!(run.trigger, "request");
    assert_eq!(run.entities.as_deref(), Some("Store"));
    assert_eq!(run.outcome, "succeeded");

    // Two requests waiting together are served by one run covering both, in run order.
    let product = requests::create(&h.db, Some(Entity::Product), None)
        .await
        .unwrap();
    let category = requests::create(&h.db, Some(Entity::ProductCategory), None)
        .await
        .unwrap();
    runner.wake.notify_one();
    let first = wait_for_run(&h.db, product.id).await;
    let second = wait_for_run(&h.db, category.id).await;
    // The daemon may have claimed one while the other was not yet written; either way each
    // request got a run of what it asked for.
    for (run, name) in [(&first, "Product"), (&second, "ProductCategory")] {
        let entities = run.entities.clone().unwrap();
        assert!(entities.split(',').any(|e| e == name), "{run:?}");
        assert_eq!(run.trigger, "request");
    }
    if first.id == second.id {
        assert_eq!(first.entities.as_deref(), Some("ProductCategory,Product"));
    }

    // Every entity (no entity named).
    let all = requests::create(&h.db, None, None).await.unwrap();
    runner.wake.notify_one();
    let run = wait_for_run(&h.db, all.id).await;
    assert_eq!(
        run.entities.unwrap().split(',').count(),
        sync::pipeline::runner::RUN_ORDER.len()
    );

    let _ = stop.send(true);
    daemon.await.unwrap();
}

#[tokio::test]
async fn concurrent_claims_take_each_request_once() {
    let h = Harness::new(5).await;
    for _ in 0..20 {
        requests::create(&h.db, Some(Entity::Store), None)
            .await
            .unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (ra, rb) = tokio::join!(requests::claim(&h.db, a), requests::claim(&h.db, b));
        let claimed = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            claimed.iter().filter(|c| c.is_some()).count(),
            1,
            "{claimed:?}"
        );
        let entities = claimed.into_iter().flatten().next().unwrap();
        assert_eq!(entities, vec![Entity::Store]);
    }
    assert_eq!(requests::claim(&h.db, Uuid::now_v7()).await.unwrap(), None);
}
