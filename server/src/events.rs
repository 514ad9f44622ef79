//! Live order events: every committed order status change, fanned out to the subscriptions
//! that watch it (`orderStatusChanged` on the shop schema).
//!
//! [`OrderEvents`] is the embedded implementation: a tokio broadcast channel inside this
//! process, which is enough for one server replica. It is the one seam a later issue backs
//! with RabbitMQ (a fan-out exchange every replica binds a private queue to) so that a
//! transition made on one replica reaches subscribers connected to another: publishers and
//! subscribers only see [`OrderEvents::publish`] and [`OrderEvents::subscribe`].
//!
//! Publish only after the transaction that made the transition has committed, never from
//! inside it: an event whose transaction rolled back must never reach a client.

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::commerce::orders::OrderStatus;

/// One committed status change of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The order-event bus (in-process broadcast; see the module documentation).
#[derive(Clone)]
pub struct OrderEvents {
    sender: broadcast::Sender<OrderEvent>,
    /// New orders, as checkout committed them (for the staff's `orderPlaced`).
    placed: broadcast::Sender<entity::orders::Model>,
}

impl Default for OrderEvents {
    fn default() -> Self {
        OrderEvents {
            sender: broadcast::channel(CAPACITY).0,
            placed: broadcast::channel(CAPACITY).0,
        }
    }
}

impl OrderEvents {
    /// Delivers a committed event to every current subscriber. Nobody listening is fine.
    pub fn publish(&self, event: OrderEvent) {
        let _ = self.sender.send(event);
    }

    /// Every event published from now on (of all orders: filter by `order_id`).
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.sender.subscribe()
    }

    /// Delivers a newly placed order (committed, `pending_payment`) to every current
    /// subscriber of [`OrderEvents::subscribe_placed`].
    pub fn publish_placed(&self, order: entity::orders::Model) {
        let _ = self.placed.send(order);
    }

    /// Every order placed from now on.
    pub fn subscribe_placed(&self) -> broadcast::Receiver<entity::orders::Model> {
        self.placed.subscribe()
    }
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
