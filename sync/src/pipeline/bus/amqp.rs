//! The RabbitMQ bus.
//!
//! Topology (declared idempotently by publishers and consumers on start; `{p}` is the
//! configured prefix, so tests and environments can share a broker):
//! - `{p}`: durable topic exchange; a batch is published with routing key `mahak.<Entity>`.
//! - `{p}.batches`: quorum queue bound to `mahak.#` and `retry`; its dead-letter exchange is
//!   `{p}.dlx` and its delivery limit bounds redeliveries of a message that keeps crashing
//!   consumers.
//! - `{p}.retry.<delay>ms`: delay queues (message TTL of that delay) that dead-letter back to `{p}`
//!   with routing key `retry`: a batch that failed transiently waits there, then returns.
//! - `{p}.dlx` (fanout) → `{p}.dead` (quorum): batches given up on.
//!
//! At-least-once: publishers use confirms, persistent messages and `mandatory` (an
//! unroutable batch is an error, not a silent ack), with a bounded window of unconfirmed
//! publishes; consumers ack only after the database commit (or after the batch is safely
//! re-published to a retry or dead queue). The consumer's inbox makes redeliveries harmless.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Semaphore;

use super::Publisher;
use crate::pipeline::batch::{content_hash, Batch};
use crate::pipeline::consumer::{ConsumeError, Consumer};
use crate::pipeline::dead_letters::{self, DeadLetter};

/// Delays of the retry steps; a batch failing transiently more often is dead-lettered.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

const ATTEMPT_HEADER: &str = "x-attempt";

#[derive(Debug, Clone)]
pub struct AmqpConfig {
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

pub async fn connect(config: &AmqpConfig) -> anyhow::Result<Connection> {
    Connection::connect(&config.url, ConnectionProperties::default())
        .await
        .with_context(|| format!("connecting to RabbitMQ for `{}`", config.prefix))
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
                    (
                        "x-message-ttl",
                        AMQPValue::LongLongInt(delay.as_millis() as i64),
                    ),
                    ("x-dead-letter-exchange", text(&config.exchange())),
                    ("x-dead-letter-routing-key", text("retry")),
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

fn batch_headers(batch: &Batch, body: &[u8], attempt: u32) -> FieldTable {
    args(&[
        ("batch-id", text(&batch.batch_id.to_string())),
        ("content-sha256", text(&content_hash(body))),
        ("entity", text(batch.entity.name())),
        (ATTEMPT_HEADER, AMQPValue::LongLongInt(i64::from(attempt))),
    ])
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

    let work = deliveries.for_each_concurrent(usize::from(config.prefetch.max(1)), |delivery| {
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
            if let Err(err) = handle_delivery(config, &consumer, &republish, &delivery).await {
                // Not acked: the broker redelivers it when this channel closes.
                tracing::error!(error = %format!("{err:#}"), "batch left unacknowledged");
            }
        }
    });
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
        () = work => bail!("the broker closed the consumer"),
        () = depth => unreachable!("the depth probe loops forever"),
        () = shutdown => {
            tracing::info!("consumer stopping");
            let _ = channel.close(200, "shutdown".into()).await;
            Ok(())
        }
    }
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
    match consumer.handle(&batch).await {
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
