//! Live order status: `orderStatusChanged` on the shop schema, served over WebSocket
//! (`crate::http::ws`). Fed by `crate::events::OrderEvents`, which carries only committed
//! transitions.

use async_graphql::{Context, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::orders::OrderStatus;
use crate::auth::Caller;
use crate::commerce::orders::{self as rules, OrderStatus as Status};
use crate::error::{ApiError, ApiResult};
use crate::graphql::Services;

/// The status of one of the customer's orders: first as it is when the subscription starts,
/// then after every change.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrderStatusEvent {
    pub order_id: ID,
    /// The order number the customer knows the order by.
    pub order_number: String,
    /// The status before this change; null on the first event, which reports the current
    /// status.
    pub from_status: Option<OrderStatus>,
    pub status: OrderStatus,
    /// When the order got this status.
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct OrderSubscription;

fn parse_status(text: &str) -> ApiResult<Status> {
    Status::parse(text)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown order status {text}")))
}

#[Subscription]
impl OrderSubscription {
    /// The signed-in customer's order `orderNumber`: its current status at once, then every
    /// status change. Anyone else's order (or an unknown number) ends the subscription with
    /// `NOT_FOUND`; without a signed-in customer, `UNAUTHENTICATED`.
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        order_number: String,
    ) -> async_graphql::Result<impl Stream<Item = OrderStatusEvent>> {
        let customer_id = ctx
            .data_opt::<Caller>()
            .unwrap_or(&Caller::Anonymous)
            .customer_id()?;
        let services = ctx.data_unchecked::<Services>();
        // Listen before reading the current status, so no change falls between the two.
        let receiver = services.order_events.subscribe();
        let order =
            rules::find_by_number_for_customer(&services.db, customer_id, &order_number).await?;
        let id = order.id;
        let current = parse_status(&order.status)?;
        let first = OrderStatusEvent {
            order_id: ID(id.to_string()),
            order_number: order.number.to_string(),
            from_status: None,
            status: current.into(),
            at: order.updated_at,
        };
        let state = Watch {
            receiver,
            last: current,
            db: services.db.clone(),
            customer_id,
            order_id: id,
            order_number: order.number,
        };
        let changes = futures::stream::unfold(state, |mut watch| async move {
            let event = watch.next().await?;
            Some((event, watch))
        });
        Ok(futures::stream::once(async move { first }).chain(changes))
    }
}

/// Follows one order's events from the last status the subscriber was told.
struct Watch {
    receiver: tokio::sync::broadcast::Receiver<crate::events::OrderEvent>,
    last: Status,
    db: sea_orm::DatabaseConnection,
    customer_id: Uuid,
    order_id: Uuid,
    order_number: i64,
}

impl Watch {
    async fn next(&mut self) -> Option<OrderStatusEvent> {
        loop {
            match self.receiver.recv().await {
                // An event from an older status was already reflected in the first event.
                Ok(event) if event.order_id == self.order_id && event.from == self.last => {
                    self.last = event.to;
                    return Some(self.event(event.from, event.to, event.at));
                }
                Ok(_) => {}
                // Fell behind: the database says where the order is now.
                Err(RecvError::Lagged(_)) => {
                    let order = rules::find_for_customer(&self.db, self.customer_id, self.order_id)
                        .await
                        .ok()?;
                    let now = parse_status(&order.status).ok()?;
                    if now != self.last {
                        let from = std::mem::replace(&mut self.last, now);
                        return Some(self.event(from, now, order.updated_at));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn event(&self, from: Status, to: Status, at: DateTime<Utc>) -> OrderStatusEvent {
        OrderStatusEvent {
            order_id: ID(self.order_id.to_string()),
            order_number: self.order_number.to_string(),
            from_status: Some(from.into()),
            status: to.into(),
            at,
        }
    }
}
