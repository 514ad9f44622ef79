//! Checkout: the customer's cart becomes an order in `pending_payment`.
//!
//! Everything happens in one transaction that first takes the next order number with
//! `UPDATE order_number_seq SET last_value = last_value + 1 ... RETURNING last_value`. On
//! PostgreSQL that row lock is held until commit, so checkouts run one after another from that
//! point on: each re-prices the cart, re-checks stock against Mahak's stock minus the open
//! reservations (which include every order committed before it), and reserves its units, so
//! two checkouts can never sell the same last unit. SQLite has a single writer, which gives the
//! same order. A failed checkout rolls back and leaves a gap in the numbers, nothing else.
//!
//! With an `idempotency_key`, a retried checkout returns the order the first attempt created
//! (looked up before and, under the lock, again inside the transaction; a unique index on
//! `(customer_id, idempotency_key)` backs this).
//!
//! Payment plugs in after this: the order is `pending_payment` with its `grand_total`; the
//! payment module moves it on with [`super::orders::transition`].

use chrono::Utc;
use entity::{cart_lines, carts, customer_addresses, customers, order_lines, orders, promotions};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::cart::{self, CartOwner};
use super::orders::{self as order_rules, OrderStatus};
use super::CheckoutSettings;
use crate::error::{ApiError, ApiResult};

const MAX_NOTE: usize = 1_000;
const MAX_IDEMPOTENCY_KEY: usize = 100;

#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub address_id: Uuid,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Places the customer's cart as an order. Errors: `FORBIDDEN` (blocked customer),
/// `NOT_FOUND` (address not theirs), `BAD_USER_INPUT` (empty cart, item no longer for sale,
/// coupon no longer valid, note too long), `CONFLICT` (not enough stock left). A new order
/// is published to `events` (`OrderEvents::publish_placed`) after the commit; a repeated
/// request answered with the order it already placed is not.
pub async fn checkout(
    db: &DatabaseConnection,
    settings: &CheckoutSettings,
    events: &crate::events::OrderEvents,
    customer_id: Uuid,
    request: &CheckoutRequest,
) -> ApiResult<orders::Model> {
    let note = request.note.as_deref().unwrap_or("").trim().to_string();
    if note.chars().count() > MAX_NOTE {
        return Err(ApiError::bad_input(
            "note",
            format!("at most {MAX_NOTE} characters"),
        ));
    }
    let key = match request.idempotency_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(key) if key.len() > MAX_IDEMPOTENCY_KEY => {
            return Err(ApiError::bad_input(
                "idempotencyKey",
                format!("at most {MAX_IDEMPOTENCY_KEY} characters"),
            ))
        }
        Some(key) => Some(key.to_string()),
    };
    let customer = customers::Entity::find_by_id(customer_id)
        .one(db)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    crate::auth::ensure_not_blocked(&customer)?;
    if let Some(key) = &key {
        if let Some(order) = by_key(db, customer_id, key).await? {
            return Ok(order);
        }
    }
    let address = customer_addresses::Entity::find_by_id(request.address_id)
        .filter(customer_addresses::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or(ApiError::not_found("address"))?;

    let txn = db.begin().await?;
    let number = next_number(&txn).await?;
    if let Some(key) = &key {
        if let Some(order) = by_key(&txn, customer_id, key).await? {
            return Ok(order);
        }
    }
    let owner = CartOwner::Customer(customer_id);
    let cart = cart::find_cart(&txn, &owner).await?;
    let empty = || ApiError::bad_input("cart", "the cart is empty");
    let cart = cart.ok_or_else(empty)?;
    let view = cart::price_cart(&txn, &cart, Some(&customer), settings, true).await?;
    if view.lines.is_empty() {
        return Err(empty());
    }
    for line in &view.lines {
        if line.priced.is_none() {
            return Err(ApiError::bad_input(
                "cart",
                format!(
                    "{} can no longer be bought; remove it from the cart",
                    if line.product_name.is_empty() {
                        "an item"
                    } else {
                        line.product_name.as_str()
                    }
                ),
            ));
        }
        if i64::from(line.line.quantity) > line.available {
            return Err(ApiError::Conflict {
                message: if line.available == 0 {
                    format!("{} is out of stock", line.product_name)
                } else {
                    format!("only {} of {} left", line.available, line.product_name)
                },
            });
        }
    }

    let now = Utc::now();
    let order_id = Uuid::now_v7();
    let totals = &view.totals;
    let coupon = cart.coupon_code.clone();
    let order = orders::ActiveModel {
        id: Set(order_id),
        number: Set(number),
        customer_id: Set(customer_id),
        status: Set(OrderStatus::PendingPayment.as_str().to_string()),
        subtotal: Set(totals.subtotal),
        discount_total: Set(totals.discount),
        tax_total: Set(totals.tax),
        toll_total: Set(totals.toll),
        shipping_total: Set(totals.shipping),
        grand_total: Set(totals.grand_total),
        coupon_code: Set(coupon.clone()),
        shipping_address: Set(json!({
            "title": address.title,
            "recipientName": address.recipient_name,
            "recipientPhone": address.recipient_phone,
            "province": address.province,
            "city": address.city,
            "addressLine": address.address_line,
            "postalCode": address.postal_code,
        })),
        customer_note: Set(note),
        placed_at: Set(Some(now)),
        paid_at: Set(None),
        cancelled_at: Set(None),
        tracking_code: Set(None),
        shipped_at: Set(None),
        delivered_at: Set(None),
        mahak_order_id: Set(None),
        mahak_order_client_id: Set(None),
        mahak_row_version: Set(None),
        mahak_state: Set("not_pushed".into()),
        mahak_error: Set(None),
        mahak_pushed_at: Set(None),
        mahak_return_id: Set(None),
        mahak_return_client_id: Set(None),
        mahak_return_state: Set(None),
        mahak_return_error: Set(None),
        mahak_settled_at: Set(None),
        version: Set(0),
        idempotency_key: Set(key),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    for line in &view.lines {
        let priced = line.priced.as_ref().expect("checked above");
        order_lines::ActiveModel {
            id: Set(Uuid::now_v7()),
            order_id: Set(order_id),
            variant_id: Set(line.line.variant_id),
            variant_mahak_id: Set(line.variant_mahak_id),
            product_name: Set(line.product_name.clone()),
            variant_label: Set(line.variant_label.clone()),
            unit_price: Set(priced.unit_price),
            quantity: Set(line.line.quantity),
            discount: Set(priced.discount),
            tax: Set(priced.tax),
            toll: Set(priced.toll),
            line_total: Set(priced.total),
            mahak_detail_client_id: Set(None),
            mahak_detail_id: Set(None),
            mahak_return_detail_client_id: Set(None),
            tax_bp: Set(i32::try_from(line.tax_bp).ok()),
            toll_bp: Set(i32::try_from(line.toll_bp).ok()),
        }
        .insert(&txn)
        .await?;
        entity::stock_reservations::ActiveModel {
            id: Set(Uuid::now_v7()),
            order_id: Set(order_id),
            variant_id: Set(line.line.variant_id),
            quantity: Set(line.line.quantity),
            created_at: Set(now),
            released_at: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    if let Some(code) = &coupon {
        // Guarded so that two orders cannot both take a coupon's last use.
        let used = promotions::Entity::update_many()
            .col_expr(
                promotions::Column::UsedCount,
                Expr::col(promotions::Column::UsedCount).add(1),
            )
            .filter(promotions::Column::Code.eq(code.clone()))
            .filter(
                sea_orm::Condition::any()
                    .add(promotions::Column::UsageLimit.is_null())
                    .add(
                        Expr::col(promotions::Column::UsedCount)
                            .lt(Expr::col(promotions::Column::UsageLimit)),
                    ),
            )
            .exec(&txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(ApiError::bad_input(
                "couponCode",
                "this coupon has been used up",
            ));
        }
    }
    order_rules::record_event(
        &txn,
        order_id,
        "placed",
        None,
        Some(OrderStatus::PendingPayment),
        "customer",
        "order placed",
    )
    .await?;
    cart_lines::Entity::delete_many()
        .filter(cart_lines::Column::CartId.eq(cart.id))
        .exec(&txn)
        .await?;
    carts::Entity::update_many()
        .col_expr(
            carts::Column::CouponCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(carts::Column::UpdatedAt, Expr::value(now))
        .filter(carts::Column::Id.eq(cart.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    events.publish_placed(order.clone());
    Ok(order)
}

async fn by_key<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    key: &str,
) -> ApiResult<Option<orders::Model>> {
    Ok(orders::Entity::find()
        .filter(orders::Column::CustomerId.eq(customer_id))
        .filter(orders::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// The next order number (see the module documentation for why this also serializes
/// checkouts).
async fn next_number<C: ConnectionTrait>(db: &C) -> ApiResult<i64> {
    let backend = db.get_database_backend();
    // `RETURNING` works on PostgreSQL and on SQLite (3.35+).
    let sql = "UPDATE order_number_seq SET last_value = last_value + 1 WHERE id = 1 \
               RETURNING last_value";
    let row = db
        .query_one(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order_number_seq has no row 1")))?;
    Ok(row.try_get::<i64>("", "last_value")?)
}
