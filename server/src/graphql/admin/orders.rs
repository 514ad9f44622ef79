//! Orders and customers in the back office: lists with filters, the full detail of an order
//! (lines, payments with their gateway events, history, Mahak references), the staff's moves
//! of the order state machine, and blocking customers. Rules live in
//! `crate::commerce::{fulfilment, order_search}` and `crate::customers`.
//!
//! A page of orders loads its customers, lines, payments, payment events and history in one
//! query each for the whole page (not one per order).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{
    customer_addresses, customers, order_events, order_lines, orders, payment_events, payments,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::access::{self, Permission};
use super::PageInfo;
use crate::commerce::fulfilment::{self, StaffAction};
use crate::commerce::order_search::{self, OrderFilter, PaymentState as SearchPaymentState};
use crate::commerce::orders::OrderStatus as Status;
use crate::customers::{self as rules, CustomerFilter};
use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn page_size(first: Option<i32>) -> ApiResult<u64> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("`first` must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(first as u64)
}

fn parse_customer_id(id: &ID, field: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::bad_input(field, "not a customer id"))
}

/// Where an order is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "AdminOrderStatus")]
pub enum OrderStatus {
    /// Placed, waiting for payment; its stock is reserved. Cancelled automatically after
    /// `checkout.payment_timeout_secs`.
    PendingPayment,
    /// Paid; waiting for the store to confirm it (`confirmOrder`).
    Paid,
    /// Confirmed; being prepared (`shipOrder` next).
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

impl From<OrderStatus> for Status {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::PendingPayment => Status::PendingPayment,
            OrderStatus::Paid => Status::Paid,
            OrderStatus::Processing => Status::Processing,
            OrderStatus::Shipped => Status::Shipped,
            OrderStatus::Delivered => Status::Delivered,
            OrderStatus::Cancelled => Status::Cancelled,
            OrderStatus::Refunded => Status::Refunded,
        }
    }
}

fn status(text: &str) -> ApiResult<OrderStatus> {
    Status::parse(text)
        .map(OrderStatus::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown order status {text}")))
}

/// Whether an order has been paid.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderPaymentState {
    /// Never paid.
    Unpaid,
    /// Paid at some point (refunded and cancelled-after-payment orders included).
    Paid,
}

/// Narrows the order list; every field left out matches everything.
#[derive(InputObject, Default)]
pub struct AdminOrderFilter {
    /// Any of these statuses.
    pub statuses: Option<Vec<OrderStatus>>,
    /// Placed at or after this time.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before this time.
    pub placed_before: Option<DateTime<Utc>>,
    pub customer_id: Option<ID>,
    pub payment: Option<OrderPaymentState>,
    /// The state of the order's push to Mahak: `not_pushed`, `pending`, `pushed`, `failed`.
    pub mahak_state: Option<String>,
}

impl AdminOrderFilter {
    fn to_rules(&self) -> ApiResult<OrderFilter> {
        Ok(OrderFilter {
            statuses: self
                .statuses
                .iter()
                .flatten()
                .map(|s| Status::from(*s))
                .collect(),
            placed_from: self.placed_from,
            placed_before: self.placed_before,
            customer_id: self
                .customer_id
                .as_ref()
                .map(|id| parse_customer_id(id, "customerId"))
                .transpose()?,
            payment: self.payment.map(|p| match p {
                OrderPaymentState::Unpaid => SearchPaymentState::Unpaid,
                OrderPaymentState::Paid => SearchPaymentState::Paid,
            }),
            mahak_state: self.mahak_state.clone(),
        })
    }
}

/// Everything below a page of orders, loaded with one query per table.
#[derive(Default)]
struct OrderDetails {
    customers: HashMap<Uuid, customers::Model>,
    lines: HashMap<Uuid, Vec<order_lines::Model>>,
    payments: HashMap<Uuid, Vec<payments::Model>>,
    payment_events: HashMap<Uuid, Vec<payment_events::Model>>,
    history: HashMap<Uuid, Vec<order_events::Model>>,
}

impl OrderDetails {
    async fn load(db: &DatabaseConnection, rows: &[orders::Model]) -> ApiResult<Arc<Self>> {
        if rows.is_empty() {
            return Ok(Arc::default());
        }
        let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
        let customer_ids: Vec<Uuid> = rows.iter().map(|o| o.customer_id).collect();
        let mut details = OrderDetails {
            customers: customers::Entity::find()
                .filter(customers::Column::Id.is_in(customer_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            ..OrderDetails::default()
        };
        for line in order_lines::Entity::find()
            .filter(order_lines::Column::OrderId.is_in(ids.clone()))
            .order_by_asc(order_lines::Column::Id)
            .all(db)
            .await?
        {
            details.lines.entry(line.order_id).or_default().push(line);
        }
        let payment_rows = payments::Entity::find()
            .filter(payments::Column::OrderId.is_in(ids.clone()))
            .order_by_asc(payments::Column::CreatedAt)
            .all(db)
            .await?;
        let payment_ids: Vec<Uuid> = payment_rows.iter().map(|p| p.id).collect();
        for payment in payment_rows {
            details
                .payments
                .entry(payment.order_id)
                .or_default()
                .push(payment);
        }
        if !payment_ids.is_empty() {
            for event in payment_events::Entity::find()
                .filter(payment_events::Column::PaymentId.is_in(payment_ids))
                .order_by_asc(payment_events::Column::Id)
                .all(db)
                .await?
            {
                details
                    .payment_events
                    .entry(event.payment_id)
                    .or_default()
                    .push(event);
            }
        }
        for event in order_events::Entity::find()
            .filter(order_events::Column::OrderId.is_in(ids))
            .order_by_asc(order_events::Column::Id)
            .all(db)
            .await?
        {
            details
                .history
                .entry(event.order_id)
                .or_default()
                .push(event);
        }
        Ok(Arc::new(details))
    }
}

/// An order as the back office sees it.
pub struct AdminOrder {
    order: orders::Model,
    details: Arc<OrderDetails>,
}

pub(crate) async fn one_order(
    db: &DatabaseConnection,
    order: orders::Model,
) -> ApiResult<AdminOrder> {
    let details = OrderDetails::load(db, std::slice::from_ref(&order)).await?;
    Ok(AdminOrder { order, details })
}

#[Object]
impl AdminOrder {
    async fn id(&self) -> ID {
        ID(self.order.id.to_string())
    }
    /// The number the customer knows the order by.
    async fn number(&self) -> String {
        self.order.number.to_string()
    }
    async fn status(&self) -> ApiResult<OrderStatus> {
        status(&self.order.status)
    }
    async fn customer(&self) -> Option<AdminCustomer> {
        self.details
            .customers
            .get(&self.order.customer_id)
            .cloned()
            .map(AdminCustomer::new)
    }
    async fn subtotal(&self) -> Rial {
        Rial(self.order.subtotal)
    }
    async fn discount(&self) -> Rial {
        Rial(self.order.discount_total)
    }
    async fn tax(&self) -> Rial {
        Rial(self.order.tax_total)
    }
    async fn toll(&self) -> Rial {
        Rial(self.order.toll_total)
    }
    async fn shipping(&self) -> Rial {
        Rial(self.order.shipping_total)
    }
    async fn grand_total(&self) -> Rial {
        Rial(self.order.grand_total)
    }
    async fn coupon_code(&self) -> Option<&str> {
        self.order.coupon_code.as_deref()
    }
    /// The customer's note to the store.
    async fn note(&self) -> &str {
        &self.order.customer_note
    }
    /// The delivery address as it was at checkout.
    async fn shipping_address(&self) -> Json<serde_json::Value> {
        Json(self.order.shipping_address.clone())
    }
    async fn tracking_code(&self) -> Option<&str> {
        self.order.tracking_code.as_deref()
    }
    async fn placed_at(&self) -> Option<DateTime<Utc>> {
        self.order.placed_at
    }
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.order.paid_at
    }
    async fn shipped_at(&self) -> Option<DateTime<Utc>> {
        self.order.shipped_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.order.delivered_at
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.order.cancelled_at
    }
    async fn lines(&self) -> Vec<AdminOrderLine> {
        self.details
            .lines
            .get(&self.order.id)
            .into_iter()
            .flatten()
            .map(|line| AdminOrderLine {
                variant_id: ID(line.variant_id.to_string()),
                mahak_product_detail_id: line.variant_mahak_id,
                product_name: line.product_name.clone(),
                variant_label: line.variant_label.clone(),
                quantity: line.quantity,
                unit_price: Rial(line.unit_price),
                discount: Rial(line.discount),
                tax: Rial(line.tax),
                toll: Rial(line.toll),
                line_total: Rial(line.line_total),
            })
            .collect()
    }
    /// Every payment attempt, oldest first, with what the gateway said.
    async fn payments(&self) -> Vec<AdminPayment> {
        self.details
            .payments
            .get(&self.order.id)
            .into_iter()
            .flatten()
            .map(|payment| AdminPayment {
                payment: payment.clone(),
                events: self
                    .details
                    .payment_events
                    .get(&payment.id)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect()
    }
    /// Every status change and note, oldest first.
    async fn history(&self) -> ApiResult<Vec<AdminOrderEvent>> {
        self.details
            .history
            .get(&self.order.id)
            .into_iter()
            .flatten()
            .map(|event| {
                Ok(AdminOrderEvent {
                    kind: event.kind.clone(),
                    from_status: event.from_status.as_deref().map(status).transpose()?,
                    to_status: event.to_status.as_deref().map(status).transpose()?,
                    actor: event.actor.clone(),
                    message: event.message.clone(),
                    at: event.created_at,
                })
            })
            .collect()
    }
    /// The order's sales invoice in Mahak, once pushed, its return and its receipt.
    async fn mahak(&self, ctx: &Context<'_>) -> MahakOrderLink {
        let grace = ctx
            .data_opt::<crate::reconcile::ReconcileSettings>()
            .cloned()
            .unwrap_or_default()
            .grace();
        let payments = self
            .details
            .payments
            .get(&self.order.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        MahakOrderLink {
            state: self.order.mahak_state.clone(),
            order_id: self.order.mahak_order_id,
            client_id: self.order.mahak_order_client_id,
            row_version: self.order.mahak_row_version,
            error: self.order.mahak_error.clone(),
            pushed_at: self.order.mahak_pushed_at,
            return_state: self.order.mahak_return_state.clone(),
            return_id: self.order.mahak_return_id,
            return_client_id: self.order.mahak_return_client_id,
            return_error: self.order.mahak_return_error.clone(),
            settled_at: self.order.mahak_settled_at,
            receipt_missing: crate::reconcile::receipt_missing(
                &self.order,
                payments,
                grace,
                Utc::now(),
            ),
            accounting_state: crate::reconcile::accounting_state(&self.order).into(),
        }
    }
}

/// One line of an order, with prices as they were at checkout.
#[derive(SimpleObject)]
pub struct AdminOrderLine {
    pub variant_id: ID,
    /// Mahak's `productDetailId` of the variant (what the invoice line refers to).
    pub mahak_product_detail_id: i64,
    pub product_name: String,
    pub variant_label: String,
    pub quantity: i32,
    pub unit_price: Rial,
    pub discount: Rial,
    pub tax: Rial,
    pub toll: Rial,
    pub line_total: Rial,
}

/// One payment attempt.
pub struct AdminPayment {
    payment: payments::Model,
    events: Vec<payment_events::Model>,
}

#[Object]
impl AdminPayment {
    async fn id(&self) -> ID {
        ID(self.payment.id.to_string())
    }
    /// `sandbox` or `zarinpal`.
    async fn provider(&self) -> &str {
        &self.payment.provider
    }
    async fn amount(&self) -> Rial {
        Rial(self.payment.amount)
    }
    /// `started`, `paid`, `failed` or `refunded`.
    async fn status(&self) -> &str {
        &self.payment.status
    }
    /// The gateway's session id.
    async fn authority(&self) -> Option<&str> {
        self.payment.authority.as_deref()
    }
    /// The gateway's settlement reference.
    async fn reference_id(&self) -> Option<&str> {
        self.payment.reference_id.as_deref()
    }
    async fn card_pan_masked(&self) -> Option<&str> {
        self.payment.card_pan_masked.as_deref()
    }
    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.payment.verified_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.payment.created_at
    }
    /// True when a refund could not go through the gateway and must be made by hand (a
    /// `refund_due` event).
    async fn refund_due(&self) -> bool {
        self.events.iter().any(|e| e.kind == "refund_due")
    }
    /// Mahak's receipt for this payment, once pushed.
    async fn mahak_receipt_id(&self) -> Option<i64> {
        self.payment.mahak_receipt_id
    }
    /// What happened to the payment: `paid`, `failed`, `refunded`, `refund_due`, ... with
    /// the gateway's data.
    async fn events(&self) -> Vec<AdminPaymentEvent> {
        self.events
            .iter()
            .map(|e| AdminPaymentEvent {
                kind: e.kind.clone(),
                data: e.data.clone().map(Json),
                at: e.created_at,
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct AdminPaymentEvent {
    pub kind: String,
    pub data: Option<Json<serde_json::Value>>,
    pub at: DateTime<Utc>,
}

/// One entry of an order's history.
#[derive(SimpleObject)]
pub struct AdminOrderEvent {
    /// `placed`, `status_changed`, ...
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: Option<OrderStatus>,
    /// Who: `customer`, `system`, `payment`, or `staff:<staff id>`.
    pub actor: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// An order's or customer's link to Mahak.
#[derive(SimpleObject)]
pub struct MahakOrderLink {
    /// The invoice's push: `not_pushed`, `pending`, `pushed`, `failed` or `dead`.
    pub state: String,
    pub order_id: Option<i64>,
    /// The ClientId the store sent it with (kept across retries).
    pub client_id: Option<i64>,
    pub row_version: Option<i64>,
    /// Mahak's reason, when it refused the invoice.
    pub error: Option<String>,
    pub pushed_at: Option<DateTime<Utc>>,
    /// The sales return's push: null while no return is due, then `pending`, `pushed`,
    /// `failed`, `dead`, or `from_mahak` (entered in Mahak and synced back).
    pub return_state: Option<String>,
    /// The sales return's id in Mahak.
    pub return_id: Option<i64>,
    /// The ClientId the store pushed the return with.
    pub return_client_id: Option<i64>,
    /// Mahak's reason, when it refused the return.
    pub return_error: Option<String>,
    /// When a receipt for the invoice was seen in Mahak.
    pub settled_at: Option<DateTime<Utc>>,
    /// A payment was verified more than `reconcile.receipt_grace_secs` ago and Mahak has
    /// no receipt for the invoice yet.
    pub receipt_missing: bool,
    /// Where the order stands in Mahak's books.
    pub accounting_state: super::reconcile::AccountingState,
}

pub struct AdminOrderConnection {
    rows: Vec<orders::Model>,
    details: Arc<OrderDetails>,
    has_next_page: bool,
}

#[Object]
impl AdminOrderConnection {
    async fn edges(&self) -> Vec<AdminOrderEdge> {
        self.rows
            .iter()
            .map(|order| AdminOrderEdge {
                cursor: order.number.to_string(),
                node: AdminOrder {
                    order: order.clone(),
                    details: self.details.clone(),
                },
            })
            .collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: false,
            start_cursor: self.rows.first().map(|o| o.number.to_string()),
            end_cursor: self.rows.last().map(|o| o.number.to_string()),
        }
    }
}

pub struct AdminOrderEdge {
    cursor: String,
    node: AdminOrder,
}

#[Object]
impl AdminOrderEdge {
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    async fn node(&self) -> &AdminOrder {
        &self.node
    }
}

async fn order_page(
    db: &DatabaseConnection,
    filter: &OrderFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<AdminOrderConnection> {
    let first = page_size(first)?;
    let after = after
        .map(|text| text.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::bad_input("after", "not a cursor of this connection"))?;
    let (rows, has_next_page) = order_search::list(db, filter, first, after).await?;
    let details = OrderDetails::load(db, &rows).await?;
    Ok(AdminOrderConnection {
        rows,
        details,
        has_next_page,
    })
}

/// A customer as the back office sees it. The linked Mahak person is read once, for both
/// `mahakBalance` and `mahakCredit`.
pub struct AdminCustomer(
    customers::Model,
    tokio::sync::OnceCell<Option<entity::mahak_people::Model>>,
);

impl AdminCustomer {
    fn new(customer: customers::Model) -> Self {
        AdminCustomer(customer, tokio::sync::OnceCell::new())
    }

    async fn mahak_person(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<&entity::mahak_people::Model>> {
        let person = self
            .1
            .get_or_try_init(|| rules::mahak_person(&services(ctx).db, &self.0))
            .await?;
        Ok(person.as_ref())
    }
}

#[Object]
impl AdminCustomer {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// E.164 (`+989...`).
    async fn phone(&self) -> &str {
        &self.0.phone
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Blocked customers cannot sign in or order.
    async fn blocked(&self) -> bool {
        self.0.status == crate::auth::BLOCKED
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The Mahak person this customer is linked to, if any.
    async fn mahak_person_id(&self) -> Option<i64> {
        self.0.mahak_person_id
    }
    /// The customer's balance in Mahak's books (Rial; positive: the customer owes the store),
    /// from the linked Mahak person. Owned by Mahak; read-only here. Null when not linked.
    async fn mahak_balance(&self, ctx: &Context<'_>) -> ApiResult<Option<Rial>> {
        Ok(self.mahak_person(ctx).await?.map(|p| Rial(p.balance)))
    }
    /// The credit Mahak allows the customer (Rial). Owned by Mahak; read-only here.
    async fn mahak_credit(&self, ctx: &Context<'_>) -> ApiResult<Option<Rial>> {
        Ok(self.mahak_person(ctx).await?.map(|p| Rial(p.credit)))
    }
    /// The customer's standing in Mahak's books: balance, credit, what is available for
    /// orders on account, whether the account is usable and why not, and the ledger.
    async fn account_standing(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<super::account_credit::AdminAccountStanding> {
        Ok(super::account_credit::AdminAccountStanding(
            crate::account_credit::standing(&services(ctx).db, &self.0).await?,
        ))
    }
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<AdminAddress>> {
        Ok(customer_addresses::Entity::find()
            .filter(customer_addresses::Column::CustomerId.eq(self.0.id))
            .order_by_desc(customer_addresses::Column::IsDefault)
            .order_by_asc(customer_addresses::Column::CreatedAt)
            .all(&services(ctx).db)
            .await?
            .into_iter()
            .map(|a| AdminAddress {
                id: ID(a.id.to_string()),
                title: a.title,
                recipient_name: a.recipient_name,
                recipient_phone: a.recipient_phone,
                province: a.province,
                city: a.city,
                address_line: a.address_line,
                postal_code: a.postal_code,
                is_default: a.is_default,
            })
            .collect())
    }
    /// The customer's orders, newest first.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<AdminOrderConnection> {
        let filter = OrderFilter {
            customer_id: Some(self.0.id),
            ..OrderFilter::default()
        };
        order_page(&services(ctx).db, &filter, first, after).await
    }
}

#[derive(SimpleObject)]
pub struct AdminAddress {
    pub id: ID,
    pub title: String,
    pub recipient_name: String,
    pub recipient_phone: String,
    pub province: String,
    pub city: String,
    pub address_line: String,
    pub postal_code: String,
    pub is_default: bool,
}

pub struct AdminCustomerConnection {
    rows: Vec<customers::Model>,
    has_next_page: bool,
}

#[Object]
impl AdminCustomerConnection {
    async fn nodes(&self) -> Vec<AdminCustomer> {
        self.rows.iter().cloned().map(AdminCustomer::new).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: false,
            start_cursor: self.rows.first().map(|c| c.id.to_string()),
            end_cursor: self.rows.last().map(|c| c.id.to_string()),
        }
    }
}

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// All orders, newest first, narrowed by `filter`. Needs the `orders` permission.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`pageInfo.endCursor` of the previous page.")] after: Option<String>,
        filter: Option<AdminOrderFilter>,
    ) -> ApiResult<AdminOrderConnection> {
        access::require(ctx, Permission::Orders).await?;
        let filter = filter.unwrap_or_default().to_rules()?;
        order_page(&services(ctx).db, &filter, first, after).await
    }

    /// One order by its number (`NOT_FOUND` if there is none). Needs `orders`.
    async fn order(&self, ctx: &Context<'_>, number: String) -> ApiResult<AdminOrder> {
        access::require(ctx, Permission::Orders).await?;
        let db = &services(ctx).db;
        let number =
            crate::commerce::orders::parse_number(&number).ok_or(ApiError::not_found("order"))?;
        let order = orders::Entity::find()
            .filter(orders::Column::Number.eq(number))
            .one(db)
            .await?
            .ok_or(ApiError::not_found("order"))?;
        one_order(db, order).await
    }

    /// Customers, newest first. `search` matches part of the phone number (any digits,
    /// Persian too) or of the name. Needs the `customers` permission.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`pageInfo.endCursor` of the previous page.")] after: Option<String>,
        search: Option<String>,
        #[graphql(desc = "Only blocked (true) or only not blocked (false) customers.")]
        blocked: Option<bool>,
    ) -> ApiResult<AdminCustomerConnection> {
        access::require(ctx, Permission::Customers).await?;
        let first = page_size(first)?;
        let after = after
            .map(|text| Uuid::parse_str(&text))
            .transpose()
            .map_err(|_| ApiError::bad_input("after", "not a cursor of this connection"))?;
        let (rows, has_next_page) = rules::list(
            &services(ctx).db,
            &CustomerFilter { search, blocked },
            first,
            after,
        )
        .await?;
        Ok(AdminCustomerConnection {
            rows,
            has_next_page,
        })
    }

    /// One customer (`NOT_FOUND` if there is none). Needs `customers`.
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<AdminCustomer> {
        access::require(ctx, Permission::Customers).await?;
        let id = Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found("customer"))?;
        Ok(AdminCustomer::new(
            rules::find(&services(ctx).db, id).await?,
        ))
    }
}

#[derive(Default)]
pub struct OrdersMutation;

impl OrdersMutation {
    async fn act(ctx: &Context<'_>, number: &str, action: StaffAction) -> ApiResult<AdminOrder> {
        let staff = access::require(ctx, Permission::Orders).await?;
        let services = services(ctx);
        let order = fulfilment::apply(
            &services.db,
            &services.order_events,
            staff.id,
            number,
            action,
        )
        .await?;
        one_order(&services.db, order).await
    }
}

#[Object]
impl OrdersMutation {
    /// Accepts a paid order for preparation: `PAID` → `PROCESSING`. Needs `orders`;
    /// `CONFLICT` from any other status.
    async fn confirm_order(&self, ctx: &Context<'_>, number: String) -> ApiResult<AdminOrder> {
        Self::act(ctx, &number, StaffAction::Confirm).await
    }

    /// Hands the order to the carrier: `PROCESSING` → `SHIPPED`, and texts the customer the
    /// tracking code (1 to 64 Latin letters, digits, `-`, `_`, `/`). Needs `orders`.
    async fn ship_order(
        &self,
        ctx: &Context<'_>,
        number: String,
        tracking_code: String,
    ) -> ApiResult<AdminOrder> {
        Self::act(ctx, &number, StaffAction::Ship { tracking_code }).await
    }

    /// `SHIPPED` → `DELIVERED`. Needs `orders`.
    async fn deliver_order(&self, ctx: &Context<'_>, number: String) -> ApiResult<AdminOrder> {
        Self::act(ctx, &number, StaffAction::Deliver).await
    }

    /// Cancels an order that is awaiting payment or paid but not yet confirmed: releases
    /// its stock and, if it was paid, refunds through the gateway where the gateway can
    /// (otherwise the payment shows `refundDue` for a manual refund). The reason (1 to 500
    /// characters) goes into the history the customer sees. Needs `orders`.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        number: String,
        reason: String,
    ) -> ApiResult<AdminOrder> {
        Self::act(ctx, &number, StaffAction::Cancel { reason }).await
    }

    /// Refunds a paid, processing, shipped or delivered order: `→ REFUNDED`, stock released,
    /// money back as for `cancelOrder`. Needs `orders`.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        number: String,
        reason: String,
    ) -> ApiResult<AdminOrder> {
        Self::act(ctx, &number, StaffAction::Refund { reason }).await
    }

    /// Blocks a customer: they cannot sign in or order, and their tokens stop working at
    /// once. The reason (1 to 500 characters) is kept in the audit log. Needs `customers`.
    async fn block_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> ApiResult<AdminCustomer> {
        let staff = access::require(ctx, Permission::Customers).await?;
        let id = Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found("customer"))?;
        let customer = rules::set_blocked(&services(ctx).db, staff.id, id, true, &reason).await?;
        Ok(AdminCustomer::new(customer))
    }

    /// Lets a blocked customer sign in and order again. Needs `customers`.
    async fn unblock_customer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<AdminCustomer> {
        let staff = access::require(ctx, Permission::Customers).await?;
        let id = Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found("customer"))?;
        let customer = rules::set_blocked(&services(ctx).db, staff.id, id, false, "").await?;
        Ok(AdminCustomer::new(customer))
    }
}
