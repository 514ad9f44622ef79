//! Checkout and the customer's orders on the shop schema. Resolvers call
//! `crate::commerce::{checkout, orders}`; every lookup is scoped to the caller, so another
//! customer's order is `NOT_FOUND`.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{order_events, order_lines, orders};
use uuid::Uuid;

use super::cart::{db, settings};
use crate::auth::Caller;
use crate::commerce::checkout::{self, CheckoutRequest};
use crate::commerce::orders::{self as rules, OrderStatus as Status};
use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Rial;

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

fn customer_id(ctx: &Context<'_>) -> ApiResult<Uuid> {
    ctx.data_opt::<Caller>()
        .unwrap_or(&Caller::Anonymous)
        .customer_id()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    /// Placed, waiting for payment; its stock is reserved.
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl From<Status> for OrderStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::PendingPayment => OrderStatus::PendingPayment,
            Status::Paid => OrderStatus::Paid,
            Status::Processing => OrderStatus::Processing,
            Status::Shipped => OrderStatus::Shipped,
            Status::Delivered => OrderStatus::Delivered,
            Status::Cancelled => OrderStatus::Cancelled,
            Status::Refunded => OrderStatus::Refunded,
        }
    }
}

fn status(text: &str) -> ApiResult<OrderStatus> {
    Status::parse(text)
        .map(OrderStatus::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown order status {text}")))
}

/// An order of the signed-in customer; prices, names and the address are copied at checkout.
pub struct Order(pub(super) orders::Model);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The human order number shown to the customer.
    async fn number(&self) -> String {
        self.0.number.to_string()
    }
    async fn status(&self) -> ApiResult<OrderStatus> {
        status(&self.0.status)
    }
    async fn subtotal(&self) -> Rial {
        Rial(self.0.subtotal)
    }
    async fn discount(&self) -> Rial {
        Rial(self.0.discount_total)
    }
    async fn tax(&self) -> Rial {
        Rial(self.0.tax_total)
    }
    async fn toll(&self) -> Rial {
        Rial(self.0.toll_total)
    }
    async fn shipping(&self) -> Rial {
        Rial(self.0.shipping_total)
    }
    /// What the customer pays.
    async fn grand_total(&self) -> Rial {
        Rial(self.0.grand_total)
    }
    async fn coupon_code(&self) -> Option<&str> {
        self.0.coupon_code.as_deref()
    }
    async fn note(&self) -> &str {
        &self.0.customer_note
    }
    async fn placed_at(&self) -> Option<DateTime<Utc>> {
        self.0.placed_at
    }
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }
    async fn shipping_address(&self) -> OrderAddress {
        let a = &self.0.shipping_address;
        let text = |key: &str| a[key].as_str().unwrap_or_default().to_string();
        OrderAddress {
            title: text("title"),
            recipient_name: text("recipientName"),
            recipient_phone: text("recipientPhone"),
            province: text("province"),
            city: text("city"),
            address_line: text("addressLine"),
            postal_code: text("postalCode"),
        }
    }
    async fn lines(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderLine>> {
        Ok(rules::lines(db(ctx), self.0.id)
            .await?
            .into_iter()
            .map(OrderLine)
            .collect())
    }
    /// Every status change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderEvent>> {
        Ok(rules::history(db(ctx), self.0.id)
            .await?
            .into_iter()
            .map(OrderEvent)
            .collect())
    }
    /// Every attempt to pay this order, oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::payments::Payment>> {
        Ok(crate::commerce::payments::for_order(db(ctx), self.0.id)
            .await?
            .into_iter()
            .map(super::payments::Payment)
            .collect())
    }
}

/// The delivery address as it was at checkout.
#[derive(SimpleObject)]
pub struct OrderAddress {
    pub title: String,
    pub recipient_name: String,
    pub recipient_phone: String,
    pub province: String,
    pub city: String,
    pub address_line: String,
    pub postal_code: String,
}

pub struct OrderLine(order_lines::Model);

#[Object]
impl OrderLine {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn variant_id(&self) -> ID {
        ID(self.0.variant_id.to_string())
    }
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }
    async fn variant_label(&self) -> &str {
        &self.0.variant_label
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn unit_price(&self) -> Rial {
        Rial(self.0.unit_price)
    }
    async fn discount(&self) -> Rial {
        Rial(self.0.discount)
    }
    async fn tax(&self) -> Rial {
        Rial(self.0.tax)
    }
    async fn toll(&self) -> Rial {
        Rial(self.0.toll)
    }
    async fn line_total(&self) -> Rial {
        Rial(self.0.line_total)
    }
}

/// One entry of an order's history.
pub struct OrderEvent(order_events::Model);

#[Object]
impl OrderEvent {
    /// `placed` or `status_changed`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn from_status(&self) -> ApiResult<Option<OrderStatus>> {
        self.0.from_status.as_deref().map(status).transpose()
    }
    async fn to_status(&self) -> ApiResult<Option<OrderStatus>> {
        self.0.to_status.as_deref().map(status).transpose()
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The customer's orders, newest first.
pub struct OrderConnection {
    rows: Vec<orders::Model>,
    has_next_page: bool,
}

#[Object]
impl OrderConnection {
    async fn edges(&self) -> Vec<OrderEdge> {
        self.rows
            .iter()
            .map(|o| OrderEdge {
                cursor: o.number.to_string(),
                node: Order(o.clone()),
            })
            .collect()
    }
    async fn page_info(&self) -> OrderPageInfo {
        OrderPageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: false,
            start_cursor: self.rows.first().map(|o| o.number.to_string()),
            end_cursor: self.rows.last().map(|o| o.number.to_string()),
        }
    }
}

pub struct OrderEdge {
    cursor: String,
    node: Order,
}

#[Object]
impl OrderEdge {
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    async fn node(&self) -> &Order {
        &self.node
    }
}

/// Relay page information of an order connection (forward only).
#[derive(SimpleObject)]
pub struct OrderPageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

#[derive(InputObject)]
pub struct CheckoutInput {
    /// One of the customer's saved addresses.
    pub address_id: ID,
    /// A note for the store, at most 1000 characters.
    pub note: Option<String>,
    /// Any unique string per checkout attempt (e.g. a UUID). Retrying with the same key
    /// returns the order the first attempt created instead of placing another.
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// The signed-in customer's orders, newest first, as a Relay cursor connection.
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last order of the previous page.")] after: Option<String>,
    ) -> ApiResult<OrderConnection> {
        let customer_id = customer_id(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("`first` must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = after
            .map(|text| text.parse::<i64>())
            .transpose()
            .map_err(|_| ApiError::bad_input("after", "not a cursor of this connection"))?;
        let (rows, has_next_page) =
            rules::list_for_customer(db(ctx), customer_id, first as u64, after).await?;
        Ok(OrderConnection {
            rows,
            has_next_page,
        })
    }

    /// One of the signed-in customer's orders, by its number (ASCII, Persian or Arabic
    /// digits); anyone else's, or an unknown number, is `NOT_FOUND`.
    async fn order(&self, ctx: &Context<'_>, number: String) -> ApiResult<Order> {
        let customer_id = customer_id(ctx)?;
        Ok(Order(
            rules::find_by_number_for_customer(db(ctx), customer_id, &number).await?,
        ))
    }
}

#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Turns the signed-in customer's cart into an order awaiting payment
    /// (`PENDING_PAYMENT`): prices are recomputed, stock is re-checked and reserved, the
    /// coupon is used, and the cart is emptied. Errors: `FORBIDDEN` (blocked account),
    /// `NOT_FOUND` (address), `BAD_USER_INPUT` (empty cart, item no longer for sale, coupon no
    /// longer valid), `CONFLICT` (not enough stock left).
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> ApiResult<Order> {
        let customer_id = customer_id(ctx)?;
        let address_id = Uuid::parse_str(input.address_id.as_str())
            .map_err(|_| ApiError::not_found("address"))?;
        let order = checkout::checkout(
            db(ctx),
            settings(ctx),
            &ctx.data_unchecked::<crate::graphql::Services>()
                .order_events,
            customer_id,
            &CheckoutRequest {
                address_id,
                note: input.note,
                idempotency_key: input.idempotency_key,
            },
        )
        .await?;
        Ok(Order(order))
    }

    /// Cancels one of the signed-in customer's unpaid (`PENDING_PAYMENT`) orders and releases
    /// its stock. Errors: `NOT_FOUND` (not the caller's order), `CONFLICT` (already paid or
    /// cancelled).
    async fn cancel_order(&self, ctx: &Context<'_>, order_number: String) -> ApiResult<Order> {
        let customer_id = customer_id(ctx)?;
        let services = ctx.data_unchecked::<crate::graphql::Services>();
        let order = rules::cancel_unpaid(
            &services.db,
            &services.order_events,
            customer_id,
            &order_number,
        )
        .await?;
        Ok(Order(order))
    }
}
