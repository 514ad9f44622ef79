//! The consumer's life on a real RabbitMQ and PostgreSQL, with the real `sync` binary:
//! SIGTERM in the middle of a batch (held there by the `before_commit` pause point) either lets
//! the batch finish and be acked within `sync.shutdown_grace_secs`, or abandons it past the
//! grace, rolled back and redelivered; nothing is lost either way. And `amqp.url` as a
//! cluster's node list: a dead node is skipped, every node failing is reported without
//! passwords.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{query_i64, Harness, AMQP_URL};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::Value;
use sync::pipeline::bus::amqp::{self, AmqpConfig};

const SETTLE: Duration = Duration::from_secs(90);

/// `sync consume` running on the test's queue, its standard error kept line by line.
struct ConsumeProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ConsumeProcess {
    /// One batch at a time (prefetch 1), so exactly one is in hand when the pause is reached.
    fn start(h: &Harness, amqp_url: &str, env: &[(&str, &str)]) -> ConsumeProcess {
        ConsumeProcess::start_on(&h.test_db.url, &h.amqp.prefix, amqp_url, env)
    }

    fn start_on(
        database_url: &str,
        prefix: &str,
        amqp_url: &str,
        env: &[(&str, &str)],
    ) -> ConsumeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sync"));
        command
            .arg("consume")
            .env_clear()
            .env("APP__DATABASE__URL", database_url)
            .env("APP__AMQP__URL", amqp_url)
            .env("APP__SYNC__AMQP_PREFIX", prefix)
            .env("APP__SYNC__PREFETCH", "1")
            .env("APP__LOG__FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start sync consume");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = child.stderr.take().expect("stderr");
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[sync] {line}");
                kept.lock().unwrap().push(line);
            }
        });
        ConsumeProcess { child, lines }
    }

    /// Waits for a line containing `text` (a liveness bound of 60 s, not a timing assertion).
    async fn wait_for_line(&self, text: &str) {
        for _ in 0..600 {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`sync consume` never wrote `{text}`");
    }

    fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; fails the test if it is still running.
    async fn exit_status(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`sync consume` still running {limit:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The JSON log event whose message starts with `prefix`.
    fn event(&self, prefix: &str) -> Value {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no log event `{prefix}...`"))
    }
}

impl Drop for ConsumeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes the whole simulated Mahak to the test's queue, with no consumer running;
/// returns how many batches the queue holds.
async fn publish_everything(h: &Harness) -> u32 {
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    let connection = amqp::connect(&h.amqp).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare(h.amqp.queue().into(), passive, FieldTable::default())
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    assert!(queue.message_count() > 3, "several batches to work on");
    queue.message_count()
}

fn inbox_batches(rows: Vec<Vec<i64>>) -> i64 {
    rows[0][0]
}

/// The batch ids waiting in the queue, read by a probe that publishes a marker after
/// everything else and takes messages until the marker: a batch the stopped consumer had left
/// unacknowledged was returned to the queue before the marker was enqueued, so it is counted.
/// Nothing is acked; the messages go back when the probe's connection closes.
async fn queued_batch_ids(config: &AmqpConfig) -> Vec<String> {
    let connection = amqp::connect(config).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let marker = uuid::Uuid::new_v4().to_string();
    channel
        .basic_publish(
            "".into(),
            config.queue().as_str().into(),
            BasicPublishOptions::default(),
            marker.as_bytes(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..10_000 {
        let Some(message) = channel
            .basic_get(config.queue().as_str().into(), BasicGetOptions::default())
            .await
            .unwrap()
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if message.delivery.data == marker.as_bytes() {
            let _ = connection.close(200, "done".into()).await;
            return ids;
        }
        let id = message
            .delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("batch-id").cloned());
        match id {
            Some(AMQPValue::LongString(id)) => ids.push(id.to_string()),
            other => panic!("a batch without its batch-id header: {other:?}"),
        }
    }
    panic!("the marker never came back");
}

/// Publishes everything, starts `sync consume` held `pause_ms` inside its first batch's
/// transaction with a shutdown grace of `grace_secs`, sends SIGTERM once it is there and
/// waits (60 s at most) for a clean exit; returns the number of batches published.
async fn sigterm_mid_batch(h: &Harness, pause_ms: u64, grace_secs: u64) -> (u32, ConsumeProcess) {
    let published = publish_everything(h).await;
    let pause = format!("before_commit:{pause_ms}");
    let grace = grace_secs.to_string();
    let mut consumer = ConsumeProcess::start(
        h,
        AMQP_URL,
        &[
            ("SYNC_PAUSE", pause.as_str()),
            ("APP__SYNC__SHUTDOWN_GRACE_SECS", grace.as_str()),
        ],
    );
    consumer
        .wait_for_line("pause point `before_commit` reached")
        .await;
    consumer.sigterm();
    let status = consumer.exit_status(Duration::from_secs(60)).await;
    assert!(status.success(), "{status:?}");
    (published, consumer)
}

#[tokio::test]
async fn sigterm_mid_batch_finishes_and_acks_it_within_the_grace() {
    let mut h = Harness::new(40).await;
    let (published, consumer) = sigterm_mid_batch(&h, 1500, 60).await;

    // The batch in hand was committed, and no other batch was started after the signal.
    let inbox = query_i64(&h.db, "SELECT COUNT(*) FROM sync_inbox").await;
    assert_eq!(
        inbox_batches(inbox),
        1,
        "exactly the batch in hand was applied"
    );
    // ... and acknowledged: it is not in the queue any more, the others all are.
    let committed: String = {
        use sea_orm::{ConnectionTrait, Statement};
        let row =
            h.db.query_one(Statement::from_string(
                h.db.get_database_backend(),
                "SELECT batch_id FROM sync_inbox".to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "batch_id").unwrap()
    };
    let queued = queued_batch_ids(&h.amqp).await;
    assert!(
        !queued.contains(&committed),
        "the finished batch was acked, not returned to the queue"
    );
    assert_eq!(queued.len() as u32, published - 1, "{queued:?}");
    let stopped = consumer.event("consumer stopped");
    assert_eq!(stopped["drained"], 1, "{stopped}");
    assert_eq!(stopped["abandoned"], 0, "{stopped}");

    // Another consumer applies the rest; everything fetched is counted once.
    h.start_consumer();
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
    let run = query_i64(&h.db, "SELECT fetched, upserted, unchanged FROM sync_runs").await;
    assert_eq!(run[0][1] + run[0][2], run[0][0], "{run:?}");
}

#[tokio::test]
async fn sigterm_mid_batch_past_the_grace_abandons_it_to_be_redelivered() {
    let mut h = Harness::new(40).await;
    // A pause far longer than the grace and than the exit bound: only abandoning the batch
    // lets the process exit in time.
    let (published, consumer) = sigterm_mid_batch(&h, 120_000, 1).await;

    // The batch was rolled back and handed back to the broker.
    let inbox = query_i64(&h.db, "SELECT COUNT(*) FROM sync_inbox").await;
    assert_eq!(
        inbox_batches(inbox),
        0,
        "the abandoned batch was not committed"
    );
    let stopped = consumer.event("consumer stopped");
    assert_eq!(stopped["drained"], 0, "{stopped}");
    assert_eq!(stopped["abandoned"], 1, "{stopped}");
    let queued = queued_batch_ids(&h.amqp).await;
    assert_eq!(
        queued.len() as u32,
        published,
        "every batch is in the queue again"
    );

    // Another consumer gets it again: the mirror ends equal to Mahak.
    h.start_consumer();
    h.assert_mirror_matches(&[], SETTLE).await;
    h.stop_consumers().await;
    let run = query_i64(&h.db, "SELECT fetched, upserted, unchanged FROM sync_runs").await;
    assert_eq!(run[0][1] + run[0][2], run[0][0], "{run:?}");
}

/// A local port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_node_list_with_a_dead_first_node_publishes_and_consumes() {
    let mut h = Harness::new(40).await;
    let list = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f, {AMQP_URL}",
        dead_port()
    );
    h.amqp.url = list.clone();
    // Whichever node a connection starts at, it ends on the live one.
    for start in 0..2 {
        let (connection, node) = amqp::connect_from(&h.amqp, start).await.unwrap();
        assert_eq!(node, 1, "starting at node {start}");
        let _ = connection.close(200, "done".into()).await;
    }
    // The real binary's consumer, configured with the list, and a publisher using it too.
    let mut consumer = ConsumeProcess::start(&h, &list, &[]);
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    h.assert_mirror_matches(&[], SETTLE).await;
    consumer.sigterm();
    let status = consumer.exit_status(Duration::from_secs(60)).await;
    assert!(status.success(), "{status:?}");
    let connected = consumer.event("connected to RabbitMQ");
    assert_eq!(connected["node"], "amqp://guest@127.0.0.1:5672/%2f");
}

#[tokio::test]
async fn a_node_list_with_no_live_node_names_each_without_its_password() {
    let (a, b) = (dead_port(), dead_port());
    let config = AmqpConfig::new(
        format!("amqp://guest:pw-s3cret@127.0.0.1:{a}/%2f,amqp://ops:pw-s3cret@127.0.0.1:{b}/vh"),
        "test.unreachable",
    );
    let error = format!("{:#}", amqp::connect(&config).await.unwrap_err());
    assert!(
        error.contains(&format!("amqp://guest@127.0.0.1:{a}/%2f")),
        "{error}"
    );
    assert!(
        error.contains(&format!("amqp://ops@127.0.0.1:{b}/vh")),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");

    // The same list given to the binary: it keeps retrying, logging the nodes it tried,
    // never the password; SIGTERM during the backoff still stops it cleanly.
    let db = sync::testing::TestDb::sqlite();
    let mut consumer = ConsumeProcess::start_on(&db.url, "test.unreachable", &config.url, &[]);
    consumer
        .wait_for_line("consumer lost its connection; reconnecting")
        .await;
    consumer.sigterm();
    let status = consumer.exit_status(Duration::from_secs(60)).await;
    assert!(status.success(), "{status:?}");
    let lost = consumer.event("consumer lost its connection");
    let logged = lost["error"].as_str().unwrap_or_default();
    assert!(
        logged.contains(&format!("amqp://ops@127.0.0.1:{b}/vh")),
        "{lost}"
    );
    let all = consumer.lines.lock().unwrap().join("\n");
    assert!(!all.contains("s3cret"), "{all}");
}

#[tokio::test]
async fn the_consumer_logs_each_batch_in_the_trace_of_the_run_that_fetched_it() {
    let h = Harness::new(30).await;
    let report = h.amqp_runner(30).await.run_once("test").await.unwrap();
    assert!(report.error.is_none(), "{report:?}");
    let consumer = ConsumeProcess::start(&h, AMQP_URL, &[("APP__LOG__LEVEL", "info,sync=debug")]);
    h.assert_mirror_matches(&[], SETTLE).await;
    consumer.wait_for_line("batch applied").await;
    // The trace id travelled in each message's `traceparent` header: it is the run's id.
    let run_trace = report.run_id.simple().to_string();
    let applied: Vec<Value> = consumer
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["message"] == "batch applied")
        .collect();
    assert!(!applied.is_empty());
    for event in &applied {
        assert_eq!(event["span"]["trace_id"], run_trace.as_str(), "{event}");
    }
}
