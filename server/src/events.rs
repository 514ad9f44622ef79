//! Live order events: every committed order status change, fanned out to the subscriptions
//! that watch it (`orderStatusChanged` on the shop schema).
//!
//! [`OrderEvents`] delivers to this process's subscribers through tokio broadcast channels.
//! With a broker configured (`amqp.url`) it also hands every event to the live relay
//! (`sync::live`), which publishes it to the other replicas and brings theirs (and the sync
//! worker's) back through [`deliver_relayed`]; so a transition made on one replica reaches
//! subscribers connected to any other. In the embedded default there is no relay and the
//! broadcast alone is the bus. Publishers and subscribers only see [`OrderEvents::publish`]
//! and [`OrderEvents::subscribe`] either way.
//!
//! Publish only after the transaction that made the transition has committed, never from
//! inside it: an event whose transaction rolled back must never reach a client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync::live::{LiveMessage, LiveRelay};
use sync::pipeline::events::Events as SyncEvents;
use sync::trace::TraceContext;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::commerce::orders::OrderStatus;

/// One committed status change of one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub at: DateTime<Utc>,
}

/// How many events a slow subscriber may fall behind before it is told it lagged (it then
/// reloads the order's status from the database).
const CAPACITY: usize = 1024;

/// Routing keys of the relayed order events.
const ORDER_STATUS: &str = "order.status";
const ORDER_PLACED: &str = "order.placed";

/// The order-event bus (in-process broadcast; see the module documentation).
#[derive(Clone)]
pub struct OrderEvents {
    sender: broadcast::Sender<OrderEvent>,
    /// New orders, as checkout committed them (for the staff's `orderPlaced`).
    placed: broadcast::Sender<entity::orders::Model>,
    /// The other processes, when a broker is configured.
    relay: Option<LiveRelay>,
}

impl Default for OrderEvents {
    fn default() -> Self {
        OrderEvents {
            sender: broadcast::channel(CAPACITY).0,
            placed: broadcast::channel(CAPACITY).0,
            relay: None,
        }
    }
}

impl OrderEvents {
    /// A bus that also publishes every event to the other processes through `relay`.
    pub fn relayed(relay: LiveRelay) -> Self {
        OrderEvents {
            relay: Some(relay),
            ..OrderEvents::default()
        }
    }

    /// Delivers a committed event to every current subscriber, here and on the other
    /// replicas. Nobody listening is fine.
    pub fn publish(&self, event: OrderEvent) {
        self.relay(ORDER_STATUS, &event);
        let _ = self.sender.send(event);
    }

    /// Every event published from now on (of all orders: filter by `order_id`).
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.sender.subscribe()
    }

    /// Delivers a newly placed order (committed, `pending_payment`) to every current
    /// subscriber of [`OrderEvents::subscribe_placed`].
    pub fn publish_placed(&self, order: entity::orders::Model) {
        self.relay(ORDER_PLACED, &order);
        let _ = self.placed.send(order);
    }

    /// Every order placed from now on.
    pub fn subscribe_placed(&self) -> broadcast::Receiver<entity::orders::Model> {
        self.placed.subscribe()
    }

    /// Hands `event` to the relay, stamped with the trace of the request that caused it.
    fn relay(&self, routing_key: &str, event: &impl Serialize) {
        let Some(relay) = &self.relay else {
            return;
        };
        match serde_json::to_vec(event) {
            Ok(body) => relay.publish(LiveMessage {
                routing_key: routing_key.to_string(),
                body,
                traceparent: sync::trace::current().map(|c| c.child().to_string()),
            }),
            Err(err) => tracing::warn!(error = %err, routing_key, "order event not encodable"),
        }
    }
}

/// What the relay does with an event another process published: hands it to this process's
/// subscribers (order events to `orders`, sync events to `sync_events`), logging it with the trace it
/// belongs to.
pub fn deliver_relayed(orders: OrderEvents, sync_events: SyncEvents) -> sync::live::Deliver {
    Some(Box::new(move |message: LiveMessage| {
        let trace_id = message
            .traceparent
            .as_deref()
            .and_then(TraceContext::parse)
            .map(|c| c.trace_id_hex());
        let key = message.routing_key.as_str();
        let delivered = match key {
            ORDER_STATUS => serde_json::from_slice(&message.body).map(|event| {
                let _ = orders.sender.send(event);
            }),
            ORDER_PLACED => serde_json::from_slice(&message.body).map(|order| {
                let _ = orders.placed.send(order);
            }),
            _ if key.starts_with("sync.") => {
                serde_json::from_slice(&message.body).map(|event| sync_events.emit(event))
            }
            _ => {
                tracing::debug!(routing_key = key, "live event of an unknown kind ignored");
                return;
            }
        };
        match delivered {
            Ok(()) if key.starts_with("sync.") => {
                tracing::debug!(
                    routing_key = key,
                    trace_id,
                    "live event from another process"
                );
            }
            Ok(()) => tracing::info!(
                routing_key = key,
                trace_id,
                "live event from another process"
            ),
            // A replica of another version may speak a newer shape; its event is lost here,
            // and the subscription's next database read makes up for it.
            Err(err) => {
                tracing::warn!(routing_key = key, trace_id, error = %err, "undecodable live event");
            }
        }
    }))
}

impl OrderEvent {
    /// The event of a transition from `before` to `after` (the row `transition` returned).
    pub fn between(
        before: &entity::orders::Model,
        after: &entity::orders::Model,
    ) -> Option<OrderEvent> {
        Some(OrderEvent {
            order_id: after.id,
            customer_id: after.customer_id,
            from: OrderStatus::parse(&before.status)?,
            to: OrderStatus::parse(&after.status)?,
            at: after.updated_at,
        })
    }
}
