//! Carts of signed-in customers and of guests.
//!
//! A guest cart belongs to whoever holds its token: 32 random bytes (base64url) handed out
//! once by [`create_guest_cart`], stored only as a SHA-256 hash. When the guest signs in with
//! the token, [`merge_guest_cart`] moves its lines into the customer's cart (quantities added,
//! capped at the stock available) and deletes it. A customer has one cart, created on first
//! use.
//!
//! Every lookup is scoped to the owner: a cart or line id of someone else is `NOT_FOUND`.

use std::collections::HashMap;

use base64::Engine;
use chrono::Utc;
use entity::{
    cart_lines, carts, customers, orders, product_listings, products, promotions,
    stock_reservations, variant_stock, variants,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::pricing::{self, LineInput, PricedLine, Totals};
use super::CheckoutSettings;
use crate::error::{ApiError, ApiResult};

/// Whose cart a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    Customer(Uuid),
    /// The raw guest token as the client sent it.
    Guest(String),
}

/// A fresh guest token: 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Creates an empty guest cart; returns it with its token (shown this once).
pub async fn create_guest_cart<C: ConnectionTrait>(db: &C) -> ApiResult<(carts::Model, String)> {
    let token = new_token();
    let now = Utc::now();
    let cart = carts::ActiveModel {
        id: Set(Uuid::new_v4()),
        customer_id: Set(None),
        guest_token_hash: Set(Some(hash_token(&token))),
        coupon_code: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((cart, token))
}

/// The owner's cart, if there is one. An unknown guest token is `NOT_FOUND`.
pub async fn find_cart<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
) -> ApiResult<Option<carts::Model>> {
    match owner {
        CartOwner::Customer(id) => Ok(carts::Entity::find()
            .filter(carts::Column::CustomerId.eq(*id))
            .order_by_asc(carts::Column::CreatedAt)
            .order_by_asc(carts::Column::Id)
            .one(db)
            .await?),
        CartOwner::Guest(token) => carts::Entity::find()
            .filter(carts::Column::GuestTokenHash.eq(hash_token(token)))
            .filter(carts::Column::CustomerId.is_null())
            .one(db)
            .await?
            .map(Some)
            .ok_or(ApiError::not_found("cart")),
    }
}

/// The owner's cart, created for a customer who has none yet.
async fn cart_for_write<C: ConnectionTrait>(db: &C, owner: &CartOwner) -> ApiResult<carts::Model> {
    if let Some(cart) = find_cart(db, owner).await? {
        return Ok(cart);
    }
    let CartOwner::Customer(customer_id) = owner else {
        return Err(ApiError::not_found("cart"));
    };
    let now = Utc::now();
    Ok(carts::ActiveModel {
        id: Set(Uuid::new_v4()),
        customer_id: Set(Some(*customer_id)),
        guest_token_hash: Set(None),
        coupon_code: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// A variant the shop sells: live, of a live and published product.
pub async fn sellable_variant<C: ConnectionTrait>(
    db: &C,
    variant_id: i64,
) -> ApiResult<(variants::Model, products::Model)> {
    let not_for_sale = || ApiError::bad_input("variantId", "this product is not for sale");
    let variant = variants::Entity::find_by_id(variant_id)
        .filter(variants::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(not_for_sale)?;
    let product = products::Entity::find()
        .filter(products::Column::MahakId.eq(variant.product_mahak_id))
        .filter(products::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(not_for_sale)?;
    let published = product_listings::Entity::find_by_id(product.id)
        .one(db)
        .await?
        .is_some_and(|l| l.published);
    if !published {
        return Err(not_for_sale());
    }
    Ok((variant, product))
}

/// Units that can still be sold: Mahak's stock over all warehouses (negative rows count as
/// zero, the sum rounded down) minus the units held by open reservations.
pub async fn available_stock<C: ConnectionTrait>(
    db: &C,
    variant: &variants::Model,
) -> Result<i64, DbErr> {
    let stock = variant_stock::Entity::find()
        .filter(variant_stock::Column::VariantMahakId.eq(variant.mahak_id))
        .filter(variant_stock::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    let reserved: i64 = stock_reservations::Entity::find()
        .filter(stock_reservations::Column::VariantId.eq(variant.id))
        .filter(stock_reservations::Column::ReleasedAt.is_null())
        .all(db)
        .await?
        .iter()
        .map(|r| i64::from(r.quantity))
        .sum();
    Ok(available_units(
        on_hand(stock.iter().map(|row| row.quantity)),
        reserved,
    ))
}

/// Mahak's stock of a variant over its warehouses' live rows: negative rows count as zero,
/// the sum rounded down (goods sold by weight have fractional counts).
pub fn on_hand(quantities: impl IntoIterator<Item = f64>) -> i64 {
    quantities
        .into_iter()
        .map(|q| q.max(0.0))
        .sum::<f64>()
        .floor() as i64
}

/// Units that can still be sold: [`on_hand`] minus the units held by open reservations,
/// never below zero. The one formula behind the cart, checkout and the admin stock view.
pub fn available_units(on_hand: i64, reserved: i64) -> i64 {
    (on_hand - reserved).max(0)
}

fn check_quantity(quantity: i64, available: i64, settings: &CheckoutSettings) -> ApiResult<()> {
    if quantity > i64::from(settings.max_line_quantity) {
        return Err(ApiError::bad_input(
            "quantity",
            format!(
                "at most {} units of one item per order",
                settings.max_line_quantity
            ),
        ));
    }
    if quantity > available {
        return Err(ApiError::bad_input(
            "quantity",
            if available == 0 {
                "out of stock".to_string()
            } else {
                format!("only {available} in stock")
            },
        ));
    }
    Ok(())
}

async fn price_level_of<C: ConnectionTrait>(
    db: &C,
    customer: Option<&customers::Model>,
) -> Result<Option<i16>, DbErr> {
    pricing::customer_price_level(db, customer.and_then(|c| c.mahak_person_id)).await
}

/// Adds `quantity` units of a variant (to the line already holding it, if any).
pub async fn add_to_cart<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
    customer: Option<&customers::Model>,
    variant_id: i64,
    quantity: i64,
    settings: &CheckoutSettings,
) -> ApiResult<carts::Model> {
    if quantity < 1 {
        return Err(ApiError::bad_input("quantity", "must be at least 1"));
    }
    let (variant, _) = sellable_variant(db, variant_id).await?;
    let level = price_level_of(db, customer).await?;
    if pricing::unit_price(&variant, level).is_none() {
        return Err(ApiError::bad_input(
            "variantId",
            "this item has no price and cannot be bought",
        ));
    }
    let cart = cart_for_write(db, owner).await?;
    let existing = cart_lines::Entity::find()
        .filter(cart_lines::Column::CartId.eq(cart.id))
        .filter(cart_lines::Column::VariantId.eq(variant.id))
        .one(db)
        .await?;
    let total = existing.as_ref().map_or(0, |l| i64::from(l.quantity)) + quantity;
    check_quantity(total, available_stock(db, &variant).await?, settings)?;
    let now = Utc::now();
    match existing {
        Some(line) => {
            let mut line = line.into_active_model();
            line.quantity = Set(total as i32);
            line.updated_at = Set(now);
            line.update(db).await?;
        }
        None => {
            cart_lines::ActiveModel {
                id: Set(Uuid::new_v4()),
                cart_id: Set(cart.id),
                variant_id: Set(variant.id),
                quantity: Set(total as i32),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    touch(db, cart).await
}

async fn touch<C: ConnectionTrait>(db: &C, cart: carts::Model) -> ApiResult<carts::Model> {
    let mut active = cart.into_active_model();
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// A line of the owner's cart, or `NOT_FOUND`.
async fn owned_line<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
    line_id: Uuid,
) -> ApiResult<(carts::Model, cart_lines::Model)> {
    let not_found = || ApiError::not_found("cart line");
    let cart = find_cart(db, owner)
        .await
        .map_err(|_| not_found())?
        .ok_or_else(not_found)?;
    let line = cart_lines::Entity::find_by_id(line_id)
        .filter(cart_lines::Column::CartId.eq(cart.id))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    Ok((cart, line))
}

/// Sets a line's quantity; 0 removes the line.
pub async fn update_line<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
    line_id: Uuid,
    quantity: i64,
    settings: &CheckoutSettings,
) -> ApiResult<carts::Model> {
    if quantity < 0 {
        return Err(ApiError::bad_input("quantity", "must not be negative"));
    }
    let (cart, line) = owned_line(db, owner, line_id).await?;
    if quantity == 0 {
        cart_lines::Entity::delete_by_id(line.id).exec(db).await?;
        return touch(db, cart).await;
    }
    let (variant, _) = sellable_variant(db, line.variant_id).await?;
    check_quantity(quantity, available_stock(db, &variant).await?, settings)?;
    let mut active = line.into_active_model();
    active.quantity = Set(quantity as i32);
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    touch(db, cart).await
}

pub async fn remove_line<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
    line_id: Uuid,
) -> ApiResult<carts::Model> {
    let (cart, line) = owned_line(db, owner, line_id).await?;
    cart_lines::Entity::delete_by_id(line.id).exec(db).await?;
    touch(db, cart).await
}

/// Checks a coupon code against its rules for this customer and subtotal; the reason it
/// does not apply is a `BAD_USER_INPUT` on `field`.
pub async fn check_promotion<C: ConnectionTrait>(
    db: &C,
    field: &'static str,
    code: &str,
    customer_id: Option<Uuid>,
    subtotal: i64,
) -> ApiResult<promotions::Model> {
    let bad = |message: String| ApiError::bad_input(field, message);
    let promotion = promotions::Entity::find()
        .filter(promotions::Column::Code.eq(code.trim()))
        .one(db)
        .await?
        .ok_or_else(|| bad("unknown coupon code".into()))?;
    let now = Utc::now();
    if !promotion.active {
        return Err(bad("this coupon is no longer active".into()));
    }
    if promotion.starts_at.is_some_and(|t| t > now) {
        return Err(bad("this coupon is not valid yet".into()));
    }
    if promotion.ends_at.is_some_and(|t| t <= now) {
        return Err(bad("this coupon has expired".into()));
    }
    if promotion
        .usage_limit
        .is_some_and(|limit| promotion.used_count >= limit)
    {
        return Err(bad("this coupon has been used up".into()));
    }
    if let (Some(limit), Some(customer_id)) = (promotion.per_customer_limit, customer_id) {
        let used = orders::Entity::find()
            .filter(orders::Column::CustomerId.eq(customer_id))
            .filter(orders::Column::CouponCode.eq(promotion.code.clone()))
            .filter(orders::Column::Status.ne(super::orders::OrderStatus::Cancelled.as_str()))
            .count(db)
            .await?;
        if used >= u64::try_from(limit.max(0)).unwrap_or(0) {
            return Err(bad(format!(
                "you have already used this coupon the allowed {limit} time(s)"
            )));
        }
    }
    if subtotal < promotion.min_subtotal {
        return Err(bad(format!(
            "this coupon needs a subtotal of at least {} Rial",
            promotion.min_subtotal
        )));
    }
    Ok(promotion)
}

pub async fn apply_coupon<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
    customer: Option<&customers::Model>,
    code: &str,
    settings: &CheckoutSettings,
) -> ApiResult<carts::Model> {
    let cart = find_cart(db, owner)
        .await?
        .ok_or_else(|| ApiError::bad_input("code", "the cart is empty"))?;
    let mut without = cart.clone();
    without.coupon_code = None;
    let view = price_cart(db, &without, customer, settings, false).await?;
    let promotion = check_promotion(
        db,
        "code",
        code,
        customer.map(|c| c.id),
        view.totals.subtotal,
    )
    .await?;
    let mut active = cart.into_active_model();
    active.coupon_code = Set(Some(promotion.code));
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

pub async fn remove_coupon<C: ConnectionTrait>(
    db: &C,
    owner: &CartOwner,
) -> ApiResult<Option<carts::Model>> {
    let Some(cart) = find_cart(db, owner).await? else {
        return Ok(None);
    };
    let mut active = cart.into_active_model();
    active.coupon_code = Set(None);
    active.updated_at = Set(Utc::now());
    Ok(Some(active.update(db).await?))
}

/// Moves a guest cart's lines into the customer's cart: quantities are added and capped at
/// the stock available (and the per-line maximum); the guest's coupon is kept when the
/// customer's cart has none. The guest cart is deleted. An unknown token does nothing.
pub async fn merge_guest_cart<C: TransactionTrait>(
    db: &C,
    token: &str,
    customer_id: Uuid,
    settings: &CheckoutSettings,
) -> ApiResult<()> {
    let txn = db.begin().await?;
    let Some(guest) = carts::Entity::find()
        .filter(carts::Column::GuestTokenHash.eq(hash_token(token)))
        .filter(carts::Column::CustomerId.is_null())
        .one(&txn)
        .await?
    else {
        return Ok(());
    };
    let owner = CartOwner::Customer(customer_id);
    let cart = cart_for_write(&txn, &owner).await?;
    let mine: HashMap<i64, cart_lines::Model> = cart_lines::Entity::find()
        .filter(cart_lines::Column::CartId.eq(cart.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| (l.variant_id, l))
        .collect();
    let theirs = cart_lines::Entity::find()
        .filter(cart_lines::Column::CartId.eq(guest.id))
        .all(&txn)
        .await?;
    let now = Utc::now();
    for line in theirs {
        let Ok((variant, _)) = sellable_variant(&txn, line.variant_id).await else {
            continue;
        };
        let cap = available_stock(&txn, &variant)
            .await?
            .min(i64::from(settings.max_line_quantity));
        let existing = mine.get(&line.variant_id);
        let have = existing.map_or(0, |l| i64::from(l.quantity));
        let want = (have + i64::from(line.quantity)).min(cap);
        if want <= have {
            continue;
        }
        match existing {
            Some(existing) => {
                let mut active = existing.clone().into_active_model();
                active.quantity = Set(want as i32);
                active.updated_at = Set(now);
                active.update(&txn).await?;
            }
            None => {
                cart_lines::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    cart_id: Set(cart.id),
                    variant_id: Set(line.variant_id),
                    quantity: Set(want as i32),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    let coupon = cart.coupon_code.clone().or(guest.coupon_code.clone());
    let mut active = cart.into_active_model();
    active.coupon_code = Set(coupon);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    carts::Entity::delete_by_id(guest.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// One priced line of a cart.
#[derive(Debug, Clone)]
pub struct CartLineView {
    pub line: cart_lines::Model,
    pub product_name: String,
    pub variant_label: String,
    pub variant_mahak_id: i64,
    /// Tax and toll rates applied, in basis points.
    pub tax_bp: i64,
    pub toll_bp: i64,
    /// `None` when the item can no longer be bought (unpublished, deleted, unpriced); such a
    /// line counts for nothing and blocks checkout until removed.
    pub priced: Option<PricedLine>,
    pub available: i64,
}

#[derive(Debug, Clone)]
pub struct CartView {
    pub cart: carts::Model,
    pub lines: Vec<CartLineView>,
    pub totals: Totals,
    /// Why the cart's coupon gives no discount now (e.g. the subtotal fell below its minimum).
    pub coupon_problem: Option<String>,
}

/// The variant's distinguishing property values, e.g. "Red / XL".
pub fn variant_label(variant: &variants::Model) -> String {
    variant
        .properties
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| match &item["V"] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default()
}

/// Prices a cart for a customer (or a guest: `None`). With `strict_coupon`, a coupon that does
/// not apply is an error (checkout); otherwise it gives no discount and the reason is shown.
pub async fn price_cart<C: ConnectionTrait>(
    db: &C,
    cart: &carts::Model,
    customer: Option<&customers::Model>,
    settings: &CheckoutSettings,
    strict_coupon: bool,
) -> ApiResult<CartView> {
    let level = price_level_of(db, customer).await?;
    let rates = pricing::default_rates(db).await?;
    let lines = cart_lines::Entity::find()
        .filter(cart_lines::Column::CartId.eq(cart.id))
        .order_by_asc(cart_lines::Column::CreatedAt)
        .order_by_asc(cart_lines::Column::Id)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(lines.len());
    let mut inputs = Vec::new();
    for line in lines {
        let sellable = sellable_variant(db, line.variant_id).await;
        let (view, input) = match sellable {
            Ok((variant, product)) => {
                let available = available_stock(db, &variant).await?;
                let tax_bp = pricing::rate_or_default(product.tax_percent, rates.tax_bp);
                let toll_bp = pricing::rate_or_default(product.toll_percent, rates.toll_bp);
                let input = pricing::unit_price(&variant, level).map(|unit_price| LineInput {
                    unit_price,
                    quantity: i64::from(line.quantity),
                    tax_bp,
                    toll_bp,
                });
                (
                    CartLineView {
                        product_name: product.name.clone(),
                        variant_label: variant_label(&variant),
                        variant_mahak_id: variant.mahak_id,
                        tax_bp,
                        toll_bp,
                        priced: None,
                        available,
                        line,
                    },
                    input,
                )
            }
            Err(ApiError::BadUserInput { .. }) => (
                CartLineView {
                    product_name: String::new(),
                    variant_label: String::new(),
                    variant_mahak_id: 0,
                    tax_bp: 0,
                    toll_bp: 0,
                    priced: None,
                    available: 0,
                    line,
                },
                None,
            ),
            Err(err) => return Err(err),
        };
        if let Some(input) = input {
            inputs.push((views.len(), input));
        }
        views.push(view);
    }
    let line_inputs: Vec<LineInput> = inputs.iter().map(|(_, i)| i.clone()).collect();
    let subtotal: i64 = line_inputs.iter().map(|l| l.unit_price * l.quantity).sum();
    let mut discount = 0;
    let mut coupon_problem = None;
    if let Some(code) = &cart.coupon_code {
        match check_promotion(db, "couponCode", code, customer.map(|c| c.id), subtotal).await {
            Ok(promotion) => discount = pricing::promotion_discount(&promotion, subtotal),
            Err(err @ ApiError::BadUserInput { .. }) if strict_coupon => return Err(err),
            Err(ApiError::BadUserInput { message, .. }) => coupon_problem = Some(message),
            Err(err) => return Err(err),
        }
    }
    let (priced, totals) = pricing::price_lines(&line_inputs, discount, settings);
    for ((index, _), priced) in inputs.iter().zip(priced) {
        views[*index].priced = Some(priced);
    }
    Ok(CartView {
        cart: cart.clone(),
        lines: views,
        totals,
        coupon_problem,
    })
}
