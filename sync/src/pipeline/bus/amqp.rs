//! The RabbitMQ bus.
//!
//! Topology (declared idempotently by publishers and consumers on start; `{p}` is the
//! configured prefix, so tests and environments can share a broker):
//! - `{p}`: durable topic exchange; a batch is published with routing key `mahak.<Entity>`.
//! - `{p}.batches`: quorum queue bound to `mahak.#` and `retry`; its dead-letter exchange is
//!   `{p}.dlx` and its delivery limit bounds redeliveries of a message that keeps crashing
//!   consumers.
//! - `{p}.retry.<delay>ms`: quorum delay queues (message TTL of that delay) that dead-letter
//!   back to `{p}` with routing key `retry`: a batch that failed transiently waits there, then
//!   returns.
//! - `{p}.dlx` (fanout) → `{p}.dead` (quorum): batches given up on.
//!
//! Every queue that holds a batch is a quorum queue (replicated on a cluster), and every
//! dead-lettering hop is `at-least-once` (RabbitMQ 3.10 or later), so neither a node's loss
//! nor a failed hop drops a batch. Declaring is idempotent; a broker holding these queues
//! with other arguments (an earlier topology) refuses the declaration
//! (`PRECONDITION_FAILED`): drain and delete them once, then start the new version.
//!
//! At-least-once: publishers use confirms, persistent messages and `mandatory` (an
//! unroutable batch is an error, not a silent ack), with a bounded window of unconfirmed
//! publishes; consumers ack only after the database commit (or after the batch is safely
//! re-published to a retry or dead queue). The consumer's inbox makes redeliveries harmless.
//!
//! A broker may be a cluster: `url` is then a comma-separated list of its nodes' URLs, and
//! every connection (publisher, consumer, server) goes through [`connect`], which tries them in
//! turn from a rotating start.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

use super::Publisher;
use crate::pipeline::batch::{content_hash, Batch};
use crate::pipeline::consumer::{ConsumeError, Consumer};
use crate::pipeline::dead_letters::{self, DeadLetter};
use crate::trace::TraceContext;

/// Delays of the retry steps; a batch failing transiently more often is dead-lettered.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

const ATTEMPT_HEADER: &str = "x-attempt";
const TRACEPARENT_HEADER: &str = "traceparent";

/// How long one node may take to accept a connection before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// One amqp(s) URL, or a comma-separated list of a cluster's nodes.
    pub url: String,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
    /// Unconfirmed publishes allowed at once.
    pub publish_window: usize,
    /// Deliveries a consumer may hold unacknowledged (and process at once).
    pub prefetch: u16,
    /// Transient failures of one batch before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays between attempts; the last one repeats.
    pub retry_delays: Vec<Duration>,
    /// On shutdown, how long a consumer lets the batches in hand finish before it abandons
    /// them (rolled back, and redelivered by the broker).
    pub shutdown_grace: Duration,
}

impl AmqpConfig {
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        AmqpConfig {
            url: url.into(),
            prefix: prefix.into(),
            publish_window: 64,
            prefetch: 8,
            max_attempts: 5,
            retry_delays: RETRY_DELAYS.to_vec(),
            shutdown_grace: Duration::from_secs(20),
        }
    }

    pub fn exchange(&self) -> String {
        self.prefix.clone()
    }

    pub fn queue(&self) -> String {
        format!("{}.batches", self.prefix)
    }

    /// The delay queue of retry step `step`, named by its delay so that configurations
    /// with other delays declare queues of their own instead of clashing on `x-message-ttl`.
    pub fn retry_queue(&self, step: usize) -> String {
        let delay = self
            .retry_delays
            .get(step)
            .or(self.retry_delays.last())
            .copied()
            .unwrap_or_default();
        format!("{}.retry.{}ms", self.prefix, delay.as_millis())
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
}

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in pairs {
        table.insert(ShortString::from(*key), value.clone());
    }
    table
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// The node URLs of an `amqp.url`: one URL, or a comma-separated list (empty entries are
/// skipped; settings validation refuses them).
pub fn nodes(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .collect()
}

/// A node URL fit for logs and errors: the password is left out (`amqp://user@host:5672/vh`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    // Up to the last `@`: a password may hold `/` or `@` that were not percent-encoded.
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// Where the next [`connect`] starts in the node list: a random place per process, then
/// rotating, so that replicas and reconnects spread over a cluster's nodes.
static NEXT_NODE: LazyLock<AtomicUsize> =
    LazyLock::new(|| AtomicUsize::new(rand::random::<u16>().into()));

/// Connects to one of the nodes in `config.url`, trying each in turn from a rotating start;
/// fails only when every node failed, naming each (without its password).
pub async fn connect(config: &AmqpConfig) -> anyhow::Result<Connection> {
    let start = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
    Ok(connect_from(config, start).await?.0)
}

/// As [`connect`], starting at node `start` (modulo their number); also returns the index of
/// the node connected to.
pub async fn connect_from(
    config: &AmqpConfig,
    start: usize,
) -> anyhow::Result<(Connection, usize)> {
    let nodes = nodes(&config.url);
    if nodes.is_empty() {
        bail!(
            "connecting to RabbitMQ for `{}`: amqp.url names no node",
            config.prefix
        );
    }
    let mut failures = Vec::new();
    for step in 0..nodes.len() {
        let index = (start + step) % nodes.len();
        let node = redact(nodes[index]);
        // Parsed here rather than by lapin: its parse error quotes the whole URL, password
        // included.
        let Ok(uri) = nodes[index].parse::<AMQPUri>() else {
            failures.push(format!("{node}: not a valid amqp URL"));
            continue;
        };
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri(uri, ConnectionProperties::default()),
        )
        .await;
        match attempt {
            Ok(Ok(connection)) => {
                tracing::info!(%node, prefix = %config.prefix, "connected to RabbitMQ");
                return Ok((connection, index));
            }
            Ok(Err(err)) => {
                tracing::warn!(%node, error = %err, "RabbitMQ node unreachable");
                failures.push(format!("{node}: {err}"));
            }
            Err(_) => {
                tracing::warn!(%node, "RabbitMQ node did not answer in time");
                failures.push(format!(
                    "{node}: no connection within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ));
            }
        }
    }
    bail!(
        "connecting to RabbitMQ for `{}`: no node reachable ({})",
        config.prefix,
        failures.join("; ")
    )
}

/// Declares exchanges, queues and bindings; safe to run any number of times.
pub async fn declare_topology(channel: &Channel, config: &AmqpConfig) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            config.exchange().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            config.dead_exchange().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(
            config.dead_queue().into(),
            queue,
            args(&[("x-queue-type", text("quorum"))]),
        )
        .await?;
    channel
        .queue_bind(
            config.dead_queue().into(),
            config.dead_exchange().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            config.queue().into(),
            queue,
            args(&[
                ("x-queue-type", text("quorum")),
                ("x-dead-letter-exchange", text(&config.dead_exchange())),
                ("x-delivery-limit", AMQPValue::LongInt(20)),
                // A batch dead-lettered at the delivery limit must reach `{p}.dead`, not be
                // dropped if that hop fails (at-least-once needs `reject-publish`).
                ("x-dead-letter-strategy", text("at-least-once")),
                ("x-overflow", text("reject-publish")),
            ]),
        )
        .await?;
    for key in ["mahak.#", "retry"] {
        channel
            .queue_bind(
                config.queue().into(),
                config.exchange().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    for (step, delay) in config.retry_delays.iter().enumerate() {
        channel
            .queue_declare(
                config.retry_queue(step).into(),
                queue,
                args(&[
                    // Replicated like the batches themselves: a batch waiting to be retried
                    // survives the loss of a node. Every message of a delay queue has the
                    // same TTL, so they expire in order from the head.
                    ("x-queue-type", text("quorum")),
                    (
                        "x-message-ttl",
                        AMQPValue::LongLongInt(delay.as_millis() as i64),
                    ),
                    ("x-dead-letter-exchange", text(&config.exchange())),
                    ("x-dead-letter-routing-key", text("retry")),
                    ("x-dead-letter-strategy", text("at-least-once")),
                    ("x-overflow", text("reject-publish")),
                ]),
            )
            .await?;
    }
    Ok(())
}

/// Publishes with confirms on one channel; `publish` returns once the broker has the batch.
/// A failed publish drops the connection, and the next publish opens a new one, so a broker
/// restart or a cut connection costs one failed fetch, not a stuck worker.
pub struct AmqpPublisher {
    config: AmqpConfig,
    link: tokio::sync::Mutex<Option<(Connection, Channel)>>,
    window: Arc<Semaphore>,
}

impl AmqpPublisher {
    pub async fn connect(config: AmqpConfig) -> anyhow::Result<Self> {
        let window = Arc::new(Semaphore::new(config.publish_window.max(1)));
        let publisher = AmqpPublisher {
            config,
            link: tokio::sync::Mutex::new(None),
            window,
        };
        publisher.channel().await?;
        Ok(publisher)
    }

    async fn channel(&self) -> anyhow::Result<Channel> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref() {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let connection = connect(&self.config).await?;
        let channel = connection.create_channel().await?;
        declare_topology(&channel, &self.config).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *link = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn reset(&self) {
        if let Some((connection, _)) = self.link.lock().await.take() {
            let _ = connection.close(200, "publish failed".into()).await;
        }
    }
}

/// Publishes `payload` and waits for the broker's confirm; an unroutable or refused message
/// is an error.
async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    headers: FieldTable,
) -> anyhow::Result<()> {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let confirmation = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            payload,
            properties,
        )
        .await?
        .await?;
    if confirmation.is_nack() {
        bail!("RabbitMQ refused the message (nack) for `{routing_key}`");
    }
    if confirmation.take_message().is_some() {
        bail!("no queue is bound for `{routing_key}` on `{exchange}`: the message was returned");
    }
    Ok(())
}

/// The headers of a batch; `traceparent` puts it in the trace of the run that fetched it (the
/// trace id is the run id, see `crate::trace`), so the consumer's logs join the run's.
fn batch_headers(batch: &Batch, body: &[u8], attempt: u32) -> FieldTable {
    let mut headers = args(&[
        ("batch-id", text(&batch.batch_id.to_string())),
        ("content-sha256", text(&content_hash(body))),
        ("entity", text(batch.entity.name())),
        (ATTEMPT_HEADER, AMQPValue::LongLongInt(i64::from(attempt))),
    ]);
    if let Some(run_id) = batch.run_id {
        let trace = TraceContext::for_id(run_id).child();
        headers.insert(TRACEPARENT_HEADER.into(), text(&trace.to_string()));
    }
    headers
}

/// The trace id a delivery's `traceparent` header names, if any.
fn delivery_trace_id(delivery: &lapin::message::Delivery) -> Option<String> {
    match delivery
        .properties
        .headers()
        .as_ref()?
        .inner()
        .get(TRACEPARENT_HEADER)?
    {
        AMQPValue::LongString(value) => {
            TraceContext::parse(&String::from_utf8_lossy(value.as_bytes()))
                .map(|trace| trace.trace_id_hex())
        }
        _ => None,
    }
}

#[async_trait]
impl Publisher for AmqpPublisher {
    async fn publish(&self, batch: &Batch) -> anyhow::Result<()> {
        let _permit = self.window.acquire().await?;
        let body = batch.encode();
        let started = std::time::Instant::now();
        let channel = self.channel().await?;
        let published = publish_confirmed(
            &channel,
            &self.config.exchange(),
            &batch.routing_key(),
            &body,
            batch_headers(batch, &body, 0),
        )
        .await;
        if published.is_err() {
            self.reset().await;
        }
        published?;
        metrics::histogram!("sync_publish_confirm_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// Consumes batches until `shutdown` resolves or the connection fails (the caller
/// reconnects). Acks only after the batch is applied or safely re-published.
///
/// On shutdown it drains: the consumer is cancelled (the broker sends nothing more, and a
/// delivery already on its way is handed back), the batches in hand may finish and be acked
/// for up to `config.shutdown_grace`, then the connection is closed. A batch still unfinished
/// then is abandoned: its transaction rolls back and the broker redelivers it.
pub async fn consume(
    config: &AmqpConfig,
    consumer: Consumer,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let connection = connect(config).await?;
    let channel = connection.create_channel().await?;
    declare_topology(&channel, config).await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    let republish = connection.create_channel().await?;
    republish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let tag = format!(
        "{}-consumer-{}",
        config.prefix,
        uuid::Uuid::new_v4().simple()
    );
    let deliveries = channel
        .basic_consume(
            config.queue().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %config.queue(), prefetch = config.prefetch, "consuming batches");

    let stopping = AtomicBool::new(false);
    // Batches being applied; those still counted when the grace ends are abandoned.
    let in_hand = watch::Sender::new(0_usize);
    let drained = AtomicUsize::new(0);
    let (stopping, in_hand_ref, drained_ref) = (&stopping, &in_hand, &drained);
    let mut work = Box::pin(deliveries.for_each_concurrent(
        usize::from(config.prefetch.max(1)),
        |delivery| {
            let consumer = consumer.clone();
            let republish = republish.clone();
            async move {
                let delivery = match delivery {
                    Ok(delivery) => delivery,
                    Err(err) => {
                        tracing::error!(error = %err, "delivery failed");
                        return;
                    }
                };
                if stopping.load(Ordering::SeqCst) {
                    // Arrived after shutdown began: handed back at once for another consumer.
                    let requeue = BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    };
                    let _ = delivery.nack(requeue).await;
                    return;
                }
                in_hand_ref.send_modify(|n| *n += 1);
                if let Err(err) = handle_delivery(config, &consumer, &republish, &delivery).await {
                    // Not acked: the broker redelivers it when this channel closes.
                    tracing::error!(error = %format!("{err:#}"), "batch left unacknowledged");
                }
                if stopping.load(Ordering::SeqCst) {
                    drained_ref.fetch_add(1, Ordering::SeqCst);
                }
                in_hand_ref.send_modify(|n| *n -= 1);
            }
        },
    ));
    let depth = async {
        loop {
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            if let Ok(queue) = republish
                .queue_declare(config.queue().into(), passive, FieldTable::default())
                .await
            {
                metrics::gauge!("sync_queue_depth", "queue" => config.queue())
                    .set(f64::from(queue.message_count()));
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    tokio::select! {
        () = &mut work => bail!("the broker closed the consumer"),
        () = depth => unreachable!("the depth probe loops forever"),
        () = shutdown => {}
    }

    stopping.store(true, Ordering::SeqCst);
    tracing::info!(
        in_hand = *in_hand.borrow(),
        grace_secs = config.shutdown_grace.as_secs(),
        "consumer stopping: taking no more batches, finishing those in hand"
    );
    if let Err(err) = channel
        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await
    {
        tracing::warn!(error = %err, "could not cancel the consumer; closing its channel instead");
    }
    let mut idle = in_hand.subscribe();
    let drain = async {
        // `work` must keep being polled: it drives the batches in hand. It ends when the
        // cancelled stream ends and every batch is done; without a working cancel, the
        // batches in hand being done is enough.
        tokio::select! {
            () = &mut work => {}
            _ = idle.wait_for(|n| *n == 0) => {}
        }
    };
    let finished = tokio::time::timeout(config.shutdown_grace, drain)
        .await
        .is_ok();
    let abandoned = if finished { 0 } else { *in_hand.borrow() };
    // Dropping the unfinished batches' futures rolls their transactions back, before the
    // broker is free to hand them to another consumer.
    drop(work);
    let _ = connection.close(200, "shutdown".into()).await;
    let drained = drained.load(Ordering::SeqCst);
    if abandoned == 0 {
        tracing::info!(
            drained,
            abandoned,
            "consumer stopped: every batch in hand finished"
        );
    } else {
        tracing::warn!(
            drained,
            abandoned,
            "consumer stopped: batches unfinished within the grace are rolled back and will be redelivered"
        );
    }
    Ok(())
}

async fn handle_delivery(
    config: &AmqpConfig,
    consumer: &Consumer,
    republish: &Channel,
    delivery: &lapin::message::Delivery,
) -> anyhow::Result<()> {
    let batch = match Batch::decode(&delivery.data) {
        Ok(batch) => batch,
        Err(err) => {
            tracing::error!(error = %err, "undecodable message; sent to the dead-letter queue");
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await?;
            return Ok(());
        }
    };
    let attempt = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(0);
    let span = tracing::info_span!(
        "batch",
        batch_id = %batch.batch_id,
        entity = batch.entity.name(),
        trace_id = delivery_trace_id(delivery).unwrap_or_default(),
    );
    match consumer.handle(&batch).instrument(span).await {
        Ok(_) => crate::failpoint::hit("after_commit"),
        Err(ConsumeError::Transient(err)) if attempt + 1 < config.max_attempts => {
            let step = (attempt as usize).min(config.retry_delays.len().saturating_sub(1));
            tracing::warn!(batch_id = %batch.batch_id, attempt, error = %err, "transient failure; batch sent to retry");
            publish_confirmed(
                republish,
                "",
                &config.retry_queue(step),
                &delivery.data,
                batch_headers(&batch, &delivery.data, attempt + 1),
            )
            .await?;
            metrics::counter!("sync_batch_retries_total", "entity" => batch.entity.name())
                .increment(1);
        }
        Err(ConsumeError::Transient(err)) => {
            tracing::error!(batch_id = %batch.batch_id, attempt, error = %err, "giving up on batch; dead-lettered");
            publish_confirmed(
                republish,
                &config.dead_exchange(),
                "",
                &delivery.data,
                batch_headers(&batch, &delivery.data, attempt + 1),
            )
            .await?;
            let letters: Vec<DeadLetter> = batch
                .rows
                .iter()
                .map(|row| DeadLetter {
                    entity: batch.entity,
                    mahak_id: Some(row.mahak_id),
                    client_id: row.client_id,
                    row_version: Some(row.row_version),
                    batch_id: Some(batch.batch_id.to_string()),
                    payload: row.payload.clone(),
                    error: format!("gave up after {} attempts: {err}", attempt + 1),
                    attempts: (attempt + 1) as i32,
                })
                .collect();
            // The batch is in the dead queue either way; the table is the operator's view.
            if let Err(db_err) = dead_letters::record(consumer.db(), &letters).await {
                tracing::error!(error = %db_err, "could not record dead letters in the database; they are in the dead queue");
            }
        }
    }
    delivery.ack(BasicAckOptions::default()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::{nodes, redact};
    use crate::settings::AmqpSettings;

    #[test]
    fn a_url_list_splits_into_nodes() {
        assert_eq!(
            nodes("amqp://a:1/%2f, amqp://b:2/%2f ,amqp://c:3/%2f"),
            ["amqp://a:1/%2f", "amqp://b:2/%2f", "amqp://c:3/%2f"]
        );
        assert_eq!(nodes("amqp://only/%2f"), ["amqp://only/%2f"]);
    }

    #[test]
    fn redaction_keeps_the_user_and_drops_the_password() {
        assert_eq!(
            redact("amqp://guest:secret@rabbit-0:5672/%2f"),
            "amqp://guest@rabbit-0:5672/%2f"
        );
        // Unencoded `/` or `@` in a password must not let part of it through.
        assert_eq!(
            redact("amqps://ops:se/cr@et@rabbit-1/vh"),
            "amqps://ops@rabbit-1/vh"
        );
        assert_eq!(redact("amqp://rabbit-2/vh"), "amqp://rabbit-2/vh");
        assert_eq!(redact("guest:secret@host"), "(not a URL)");
    }

    fn validate(url: &str) -> Result<(), String> {
        AmqpSettings {
            url: Some(SecretString::from(url.to_string())),
        }
        .validate()
        .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_accept_a_node_list_and_name_a_bad_entry_without_its_password() {
        assert_eq!(validate("amqp://guest:guest@127.0.0.1:5672/%2f"), Ok(()));
        assert_eq!(
            validate("amqp://u:p@rabbit-0:5672/%2f,amqp://u:p@rabbit-1:5672/%2f, amqps://u:p@rabbit-2/%2f"),
            Ok(())
        );
        let error = validate("amqp://u:pw-secret@rabbit-0/%2f,http://u:pw-secret@rabbit-1/%2f")
            .unwrap_err();
        assert!(error.contains("amqp.url"), "{error}");
        assert!(
            error.contains("entry 2 (`http://u@rabbit-1/%2f`)"),
            "{error}"
        );
        assert!(!error.contains("pw-secret"), "{error}");
        let error = validate("amqp://rabbit-0/%2f,,amqp://rabbit-1/%2f").unwrap_err();
        assert!(error.contains("entry 2"), "{error}");
        assert!(validate("redis://localhost").is_err());
        assert!(validate("amqp://rabbit-0:notaport/%2f").is_err());
    }
}
