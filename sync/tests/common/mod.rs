//! Harness for the pipeline tests: a database of the test's own, a Mahak simulator over real
//! HTTP, RabbitMQ queues of the test's own (a unique prefix), and the comparison of the
//! whole mirror against the simulator's state.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod proxy;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use secrecy::SecretString;
use sync::mahak::{BreakerConfig, Entity, MahakClient, MahakClientConfig, RetryPolicy};
use sync::mirror::spec_for;
use sync::pipeline::bus::amqp::{self, AmqpConfig, AmqpPublisher};
use sync::pipeline::consumer::Consumer;
use sync::pipeline::events::Events;
use sync::pipeline::fetcher::Fetcher;
use sync::pipeline::runner::Runner;
use sync::pipeline::source::MahakSource;
use sync::simulator::{self, DataSizes, RunningSimulator, SimulatorConfig};
use sync::testing::TestDb;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub struct Harness {
    pub test_db: TestDb,
    pub db: DatabaseConnection,
    pub sim: RunningSimulator,
    pub amqp: AmqpConfig,
    consumers: Vec<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Harness {
    pub async fn new(products: usize) -> Harness {
        let test_db = TestDb::postgres().await;
        let db = test_db.connect().await;
        let sim = simulator::start(SimulatorConfig {
            sizes: DataSizes::for_products(products),
            seed: 11,
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator");
        let mut amqp = AmqpConfig::new(AMQP_URL, format!("test.{}", uuid::Uuid::new_v4().simple()));
        amqp.retry_delays = vec![
            Duration::from_millis(200),
            Duration::from_millis(500),
            Duration::from_secs(1),
        ];
        amqp.max_attempts = 8;
        Harness {
            test_db,
            db,
            sim,
            amqp,
            consumers: Vec::new(),
        }
    }

    /// A client with short timeouts and backoff, so fault tests run in seconds.
    pub fn client(&self) -> MahakClient {
        let mut config =
            MahakClientConfig::new(self.sim.base_url(), "demo", SecretString::from("demo"), 1);
        config.timeout = Duration::from_secs(2);
        config.retry = RetryPolicy {
            max_attempts: 12,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(3),
        };
        config.breaker = BreakerConfig {
            failure_threshold: 50,
            cool_down: Duration::from_millis(200),
        };
        config.rate_limit = None;
        MahakClient::new(config).expect("client")
    }

    pub fn source(&self, page_size: u32) -> MahakSource {
        MahakSource {
            client: self.client(),
            paging: sync::mahak::PagingOptions {
                page_size,
                max_page_size: 1000,
                ..Default::default()
            },
        }
    }

    pub fn consumer(&self) -> Consumer {
        Consumer::new(self.db.clone(), Default::default(), Events::default())
    }

    /// A runner publishing to this test's RabbitMQ queues.
    pub async fn amqp_runner(&self, page_size: u32) -> Runner<MahakSource, AmqpPublisher> {
        let publisher = AmqpPublisher::connect(self.amqp.clone())
            .await
            .expect("publisher");
        Runner::new(Fetcher {
            db: self.db.clone(),
            source: self.source(page_size),
            publisher,
            events: Events::default(),
        })
    }

    /// Starts a consumer loop on this test's queue, in this process.
    pub fn start_consumer(&mut self) {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (config, consumer) = (self.amqp.clone(), self.consumer());
        let handle = tokio::spawn(async move {
            loop {
                let shutdown = async {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if amqp::consume(&config, consumer.clone(), shutdown)
                    .await
                    .is_ok()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        self.consumers.push((stop, handle));
    }

    pub async fn stop_consumers(&mut self) {
        for (stop, handle) in self.consumers.drain(..) {
            let _ = stop.send(true);
            let _ = handle.await;
        }
    }

    /// Waits until the mirror equals the simulator's state (consumers work asynchronously),
    /// failing with the differences after `timeout`.
    pub async fn assert_mirror_matches(&self, expected_dead: &[(Entity, i64)], timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match compare(&self.db, &self.sim, expected_dead).await {
                Ok(()) => return,
                Err(diff) if tokio::time::Instant::now() >= deadline => {
                    panic!("mirror differs from Mahak:\n{diff}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

pub async fn query_i64(db: &DatabaseConnection, sql: &str) -> Vec<Vec<i64>> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (0..)
                .map_while(|i| {
                    row.try_get_by_index::<Option<i64>>(i)
                        .ok()
                        .map(|v| v.unwrap_or(-1))
                })
                .collect()
        })
        .collect()
}

/// Every source row is in the mirror at its latest RowVersion and delete flag, or open in
/// the dead-letter store; the mirror has no other rows; the open dead letters are exactly
/// `expected_dead`.
pub async fn compare(
    db: &DatabaseConnection,
    sim: &RunningSimulator,
    expected_dead: &[(Entity, i64)],
) -> Result<(), String> {
    let mut problems = Vec::new();
    let open_dead: HashSet<(String, i64, i64)> = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT entity, COALESCE(mahak_id, -1) AS m, COALESCE(row_version, -1) AS r FROM dead_letters \
             WHERE replayed_at IS NULL AND discarded_at IS NULL"
                .to_string(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("", "entity").unwrap(), r.try_get("", "m").unwrap(), r.try_get("", "r").unwrap()))
        .collect();
    let dead_ids: HashSet<(String, i64)> =
        open_dead.iter().map(|(e, m, _)| (e.clone(), *m)).collect();
    let expected: HashSet<(String, i64)> = expected_dead
        .iter()
        .map(|(e, id)| (e.name().to_string(), *id))
        .collect();
    if dead_ids != expected {
        problems.push(format!(
            "open dead letters {dead_ids:?}, expected {expected:?}"
        ));
    }
    for entity in Entity::ALL {
        let table = spec_for(entity).table;
        let source: HashMap<i64, (i64, bool)> = sim
            .control()
            .snapshot(entity)
            .into_iter()
            .map(|s| (s.id, (s.row_version, s.deleted)))
            .collect();
        let mirror: HashMap<i64, (i64, bool)> = query_i64(
            db,
            &format!("SELECT mahak_id, row_version, CAST(CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END AS BIGINT) FROM {table}"),
        )
        .await
        .into_iter()
        .map(|r| (r[0], (r[1], r[2] == 1)))
        .collect();
        let mut missing = 0;
        for (id, state) in &source {
            match mirror.get(id) {
                Some(stored) if stored == state => {}
                _ if open_dead.contains(&(entity.name().to_string(), *id, state.0)) => {}
                Some(stored) => {
                    missing += 1;
                    if missing <= 5 {
                        problems.push(format!("{entity} {id}: mirror {stored:?}, Mahak {state:?}"));
                    }
                }
                None => {
                    missing += 1;
                    if missing <= 5 {
                        problems.push(format!("{entity} {id}: missing (Mahak {state:?})"));
                    }
                }
            }
        }
        if missing > 5 {
            problems.push(format!("{entity}: {missing} rows differ in all"));
        }
        let extra: Vec<_> = mirror
            .keys()
            .filter(|id| !source.contains_key(id))
            .take(5)
            .collect();
        if !extra.is_empty() {
            problems.push(format!("{entity}: rows not in Mahak: {extra:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
