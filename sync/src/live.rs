//! Live events across processes: what one process publishes (an order changed status, a sync
//! run moved on) reaches every other process of the deployment, so a subscriber connected to
//! any server replica sees what happened on another replica or in the sync worker.
//!
//! Topology, declared idempotently by every process that relays (`{p}` is the configured
//! `sync.amqp_prefix`):
//! - `{p}.live`: a durable topic exchange; events are published with routing keys such as
//!   `order.status`, `order.placed`, `sync.progress`;
//! - one queue per process: server-named, exclusive and auto-deleted (it lives exactly as long
//!   as the process's connection), bound to `#`, with a message TTL and a length cap so that a
//!   stalled replica cannot pile events up in the broker.
//!
//! Live events are a view, not a record: the state they describe is in PostgreSQL, and every
//! subscription starts from (and falls back on) the database. So delivery is at most once:
//! no publisher confirms, no acks, and an event published while the broker is unreachable is
//! dropped (counted in `live_events_dropped_total`). Each process delivers its own events to
//! its own subscribers directly and skips them when they come back from the broker (the
//! `origin` header), so a broker outage never hides a process's own events from itself.
//!
//! Each message carries the W3C `traceparent` of the request or run that caused it, so the
//! logs of the process that receives it join the trace of the one that sent it.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Consumer, ExchangeKind};
use tokio::sync::mpsc;

use crate::pipeline::bus::amqp::{self, AmqpConfig};
use crate::pipeline::events::{Events, SyncEvent};

/// Events waiting to be published while the broker is slow or being reconnected to; beyond
/// this they are dropped (see the module documentation).
const OUTBOUND_BUFFER: usize = 4096;
/// How long an event waits in a replica's queue before the broker drops it.
const QUEUE_TTL_MS: i32 = 60_000;
/// How many events a replica's queue holds at most (the oldest go first).
const QUEUE_MAX_LENGTH: i32 = 10_000;
const ORIGIN_HEADER: &str = "origin";
const TRACEPARENT_HEADER: &str = "traceparent";

/// One event as it travels: a routing key, a JSON body and the trace it belongs to.
#[derive(Debug, Clone)]
pub struct LiveMessage {
    pub routing_key: String,
    pub body: Vec<u8>,
    /// W3C trace context (`00-<trace id>-<span id>-<flags>`), when known.
    pub traceparent: Option<String>,
}

/// The sending side, cheap to clone; [`LiveRelay::publish`] never waits.
#[derive(Clone)]
pub struct LiveRelay {
    outbound: mpsc::Sender<LiveMessage>,
}

/// The connection side: publishes what [`LiveRelay`] queued and delivers what other processes
/// published; run it with [`RelayLink::run`].
pub struct RelayLink {
    config: AmqpConfig,
    origin: String,
    outbound: mpsc::Receiver<LiveMessage>,
}

/// The relay of this process on the broker described by `config`.
pub fn relay(config: AmqpConfig) -> (LiveRelay, RelayLink) {
    let (outbound, queued) = mpsc::channel(OUTBOUND_BUFFER);
    let link = RelayLink {
        config,
        origin: uuid::Uuid::new_v4().to_string(),
        outbound: queued,
    };
    (LiveRelay { outbound }, link)
}

/// The exchange live events go through.
pub fn exchange(config: &AmqpConfig) -> String {
    format!("{}.live", config.prefix)
}

impl LiveRelay {
    /// Queues `message` for every other process; dropped (and counted) when the buffer is full.
    pub fn publish(&self, message: LiveMessage) {
        if self.outbound.try_send(message).is_err() {
            metrics::counter!("live_events_dropped_total", "reason" => "buffer_full").increment(1);
        }
    }

    /// Publishes every event of `events` (a sync worker's), until the process ends.
    pub fn forward_sync_events(&self, events: &Events) -> tokio::task::JoinHandle<()> {
        let mut receiver = events.subscribe();
        let relay = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match receiver.recv().await {
                    Ok(event) => match serde_json::to_vec(&event) {
                        Ok(body) => relay.publish(LiveMessage {
                            routing_key: sync_routing_key(&event),
                            body,
                            traceparent: None,
                        }),
                        Err(err) => tracing::warn!(error = %err, "sync event not encodable"),
                    },
                    Err(RecvError::Lagged(missed)) => {
                        metrics::counter!("live_events_dropped_total", "reason" => "lagged")
                            .increment(missed);
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}

/// A worker's sync events on their way to the other processes (see [`forward_worker_events`]).
pub struct Forwarding {
    forward: tokio::task::JoinHandle<()>,
    link: tokio::task::JoinHandle<()>,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// Publishes every event of `events` (a sync worker's: runs, progress, applied batches) on the
/// live exchange, so the admin console's subscribers on every server replica follow it.
pub fn forward_worker_events(config: AmqpConfig, events: &Events) -> Forwarding {
    let (relay, link) = relay(config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    Forwarding {
        forward: relay.forward_sync_events(events),
        link: tokio::spawn(link.run(None, stopped)),
        _stop: stop,
    }
}

impl Forwarding {
    /// Waits (a few seconds at most) for the last events to be published; call once every
    /// `Events` sender is dropped (the runner or consumer is gone), else it just times out.
    pub async fn finish(self) {
        let flushed = async {
            let _ = self.forward.await;
            let _ = self.link.await;
        };
        if tokio::time::timeout(Duration::from_secs(5), flushed)
            .await
            .is_err()
        {
            tracing::warn!("live events still unpublished at exit");
        }
    }
}

/// `sync.<kind>`: `sync.run_started`, `sync.progress`, `sync.batch_applied`, ...
pub fn sync_routing_key(event: &SyncEvent) -> String {
    let kind = match event {
        SyncEvent::RunStarted { .. } => "run_started",
        SyncEvent::Progress { .. } => "progress",
        SyncEvent::EntityFinished { .. } => "entity_finished",
        SyncEvent::RunFinished { .. } => "run_finished",
        SyncEvent::BatchApplied { .. } => "batch_applied",
    };
    format!("sync.{kind}")
}

/// What a process does with the events other processes publish (`None`: it only publishes,
/// as the sync worker does).
pub type Deliver = Option<Box<dyn Fn(LiveMessage) + Send + Sync>>;

impl RelayLink {
    /// Publishes queued events and hands every event from another process to `deliver`,
    /// reconnecting with backoff, until `stopped` turns true, or until every [`LiveRelay`] is
    /// dropped and what they queued is published (how a worker flushes its last events).
    pub async fn run(mut self, deliver: Deliver, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let outcome = tokio::select! {
                outcome = self.session(deliver.as_deref()) => outcome,
                _ = stopped.wait_for(|s| *s) => return,
            };
            match outcome {
                Ok(()) => return,
                Err(err) => {
                    metrics::gauge!("live_relay_connected").set(0.0);
                    tracing::warn!(error = %format!("{err:#}"), retry_in_ms = backoff.as_millis() as u64, "live event relay lost the broker");
                }
            }
            // Events queued while disconnected would describe a past the subscribers have
            // already re-read from the database; drop them rather than replay them late.
            let mut dropped = 0u64;
            while self.outbound.try_recv().is_ok() {
                dropped += 1;
            }
            if dropped > 0 {
                metrics::counter!("live_events_dropped_total", "reason" => "disconnected")
                    .increment(dropped);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// One connection's life: returns `Ok` once every [`LiveRelay`] is gone and nothing is
    /// left to deliver, else the error that ended it.
    async fn session(
        &mut self,
        deliver: Option<&(dyn Fn(LiveMessage) + Send + Sync)>,
    ) -> anyhow::Result<()> {
        let connection = amqp::connect(&self.config).await?;
        let channel = connection.create_channel().await?;
        let exchange = exchange(&self.config);
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut deliveries = match deliver {
            Some(_) => Some(self.consume(&channel, &exchange).await?),
            None => None,
        };
        metrics::gauge!("live_relay_connected").set(1.0);
        tracing::info!(%exchange, receiving = deliver.is_some(), "live event relay connected");
        let mut publishing = true;
        loop {
            tokio::select! {
                message = self.outbound.recv(), if publishing => {
                    let Some(message) = message else {
                        publishing = false;
                        if deliveries.is_none() {
                            let _ = connection.close(200, "done".into()).await;
                            return Ok(());
                        }
                        continue;
                    };
                    let mut headers = FieldTable::default();
                    headers.insert(ORIGIN_HEADER.into(), text(&self.origin));
                    if let Some(traceparent) = &message.traceparent {
                        headers.insert(TRACEPARENT_HEADER.into(), text(traceparent));
                    }
                    channel
                        .basic_publish(
                            exchange.as_str().into(),
                            message.routing_key.as_str().into(),
                            BasicPublishOptions::default(),
                            &message.body,
                            BasicProperties::default()
                                .with_content_type("application/json".into())
                                .with_headers(headers),
                        )
                        .await?;
                    metrics::counter!("live_events_published_total").increment(1);
                }
                delivery = next_delivery(&mut deliveries) => {
                    let Some(delivery) = delivery else {
                        anyhow::bail!("the broker ended the live event consumer");
                    };
                    let delivery = delivery?;
                    let headers = delivery.properties.headers().as_ref();
                    if header(headers, ORIGIN_HEADER).as_deref() == Some(self.origin.as_str()) {
                        continue;
                    }
                    metrics::counter!("live_events_received_total").increment(1);
                    if let Some(deliver) = deliver {
                        deliver(LiveMessage {
                            routing_key: delivery.routing_key.to_string(),
                            traceparent: header(headers, TRACEPARENT_HEADER),
                            body: delivery.data,
                        });
                    }
                }
            }
        }
    }

    /// This process's own queue, bound to every event, consumed without acks.
    async fn consume(&self, channel: &Channel, exchange: &str) -> anyhow::Result<Consumer> {
        let mut limits = FieldTable::default();
        limits.insert("x-message-ttl".into(), AMQPValue::LongInt(QUEUE_TTL_MS));
        limits.insert("x-max-length".into(), AMQPValue::LongInt(QUEUE_MAX_LENGTH));
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                limits,
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                format!("live-{}", self.origin).as_str().into(),
                BasicConsumeOptions {
                    no_ack: true,
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        tracing::debug!(queue = %queue.name(), "live event queue declared");
        Ok(consumer)
    }
}

/// The next delivery, or never when this process does not receive.
async fn next_delivery(
    deliveries: &mut Option<Consumer>,
) -> Option<Result<lapin::message::Delivery, lapin::Error>> {
    match deliveries {
        Some(deliveries) => deliveries.next().await,
        None => std::future::pending().await,
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn header(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}
