//! Promotions: the coupon codes the shop's cart applies
//! (`crate::commerce::cart::check_promotion` and `crate::commerce::pricing::promotion_discount`).
//!
//! The cart's rules, which these writes keep valid: a code matches exactly (after trimming);
//! a promotion applies while `active`, from `starts_at` (inclusive) until `ends_at`
//! (exclusive), until `used_count` reaches `usage_limit` (counted at checkout), at most
//! `per_customer_limit` times per customer (their orders with the code that are not
//! cancelled), on a subtotal of at least `min_subtotal`. The discount is a percentage of the
//! subtotal (stored in basis points, 1000 = 10%, rounded half up) or a fixed amount, capped by
//! `max_discount` and by the subtotal.
//!
//! Written here: percentage 1..=100 (whole percent), fixed amount > 0, the window ends after it
//! starts, limits at least 1, the code unique (`CONFLICT`). The code cannot be changed once
//! created: customers' per-customer counts are kept by code.

use chrono::{DateTime, Utc};
use entity::promotions::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{audit, check_window, conflict_on_unique};
use crate::error::{ApiError, ApiResult};

pub const MAX_CODE: usize = 32;
pub const MAX_DESCRIPTION: usize = 1_000;
/// Largest Rial amount accepted (2^53 - 1, exact in JavaScript).
const MAX_RIAL: i64 = (1 << 53) - 1;
const TARGET: &str = "promotion";

/// `promotions.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    /// A percentage of the subtotal.
    Percentage,
    /// A fixed amount of Rial.
    Fixed,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscountKind::Percentage => "percent",
            DiscountKind::Fixed => "fixed",
        }
    }

    pub fn parse(text: &str) -> Option<DiscountKind> {
        match text {
            "percent" => Some(DiscountKind::Percentage),
            "fixed" => Some(DiscountKind::Fixed),
            _ => None,
        }
    }
}

/// The discount a promotion gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A whole percent of the subtotal, 1..=100.
    Percentage(i64),
    /// Rial, more than 0.
    Fixed(i64),
}

/// A new promotion.
#[derive(Debug, Clone)]
pub struct NewPromotion {
    pub code: String,
    pub description: String,
    pub discount: Discount,
    pub min_subtotal: i64,
    pub max_discount: Option<i64>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub active: bool,
}

/// Changes to a promotion: `None` leaves a field as it is; `Some(None)` clears a nullable
/// one. A new discount replaces kind and value together.
#[derive(Debug, Clone, Default)]
pub struct PromotionPatch {
    pub description: Option<String>,
    pub discount: Option<Discount>,
    pub min_subtotal: Option<i64>,
    pub max_discount: Option<Option<i64>>,
    pub usage_limit: Option<Option<i32>>,
    pub per_customer_limit: Option<Option<i32>>,
    pub starts_at: Option<Option<DateTime<Utc>>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub active: Option<bool>,
}

/// A code: 3..=32 letters (any script), digits, `-` and `_`, trimmed.
pub fn check_code(code: &str) -> ApiResult<String> {
    let code = code.trim();
    let len = code.chars().count();
    if (3..=MAX_CODE).contains(&len)
        && code
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        Ok(code.to_string())
    } else {
        Err(ApiError::bad_input(
            "code",
            format!("a code is 3 to {MAX_CODE} letters, digits, - and _"),
        ))
    }
}

/// The stored kind and value (basis points for a percentage) of a discount.
fn stored_value(discount: Discount) -> ApiResult<(DiscountKind, i64)> {
    match discount {
        Discount::Percentage(p) if (1..=100).contains(&p) => {
            Ok((DiscountKind::Percentage, p * 100))
        }
        Discount::Percentage(_) => Err(ApiError::bad_input(
            "percentage",
            "a percentage must be a whole number from 1 to 100",
        )),
        Discount::Fixed(amount) if (1..=MAX_RIAL).contains(&amount) => {
            Ok((DiscountKind::Fixed, amount))
        }
        Discount::Fixed(_) => Err(ApiError::bad_input(
            "amount",
            "a fixed discount must be more than 0 Rial",
        )),
    }
}

/// The value as written by staff: whole percent for a percentage, Rial for a fixed amount.
pub fn display_value(promotion: &promotions::Model) -> i64 {
    match DiscountKind::parse(&promotion.kind) {
        Some(DiscountKind::Percentage) => promotion.value / 100,
        _ => promotion.value,
    }
}

fn check_amounts(
    min_subtotal: i64,
    max_discount: Option<i64>,
    usage_limit: Option<i32>,
    per_customer_limit: Option<i32>,
) -> ApiResult<()> {
    if !(0..=MAX_RIAL).contains(&min_subtotal) {
        return Err(ApiError::bad_input(
            "minSubtotal",
            "minSubtotal must be 0 or more Rial",
        ));
    }
    if max_discount.is_some_and(|m| !(1..=MAX_RIAL).contains(&m)) {
        return Err(ApiError::bad_input(
            "maxDiscount",
            "maxDiscount must be more than 0 Rial (or null for no cap)",
        ));
    }
    if usage_limit.is_some_and(|l| l < 1) {
        return Err(ApiError::bad_input(
            "usageLimit",
            "usageLimit must be at least 1 (or null for no limit)",
        ));
    }
    if per_customer_limit.is_some_and(|l| l < 1) {
        return Err(ApiError::bad_input(
            "perCustomerLimit",
            "perCustomerLimit must be at least 1 (or null for no limit)",
        ));
    }
    Ok(())
}

fn check_description(text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_input(
            "description",
            format!("description is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(text.to_string())
}

fn taken(code: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a promotion with the code {code} already exists")
}

/// Every promotion, newest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<promotions::Model>> {
    Ok(Entity::find()
        .order_by_desc(Column::CreatedAt)
        .order_by_asc(Column::Code)
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<promotions::Model> {
    Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("promotion"))
}

pub async fn create(
    db: &DatabaseConnection,
    staff_id: Uuid,
    input: NewPromotion,
) -> ApiResult<promotions::Model> {
    let code = check_code(&input.code)?;
    let description = check_description(&input.description)?;
    let (kind, value) = stored_value(input.discount)?;
    check_amounts(
        input.min_subtotal,
        input.max_discount,
        input.usage_limit,
        input.per_customer_limit,
    )?;
    check_window(input.starts_at, input.ends_at)?;
    let txn = db.begin().await?;
    if Entity::find()
        .filter(Column::Code.eq(code.clone()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            message: taken(&code)(),
        });
    }
    let now = Utc::now();
    let promotion = promotions::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(code.clone()),
        description: Set(description),
        kind: Set(kind.as_str().to_string()),
        value: Set(value),
        min_subtotal: Set(input.min_subtotal),
        max_discount: Set(input.max_discount),
        usage_limit: Set(input.usage_limit),
        per_customer_limit: Set(input.per_customer_limit),
        used_count: Set(0),
        starts_at: Set(input.starts_at),
        ends_at: Set(input.ends_at),
        active: Set(input.active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| conflict_on_unique(e, taken(&code)))?;
    audit(
        &txn,
        staff_id,
        "promotion.create",
        TARGET,
        promotion.id,
        None,
        Some(&promotion),
    )
    .await?;
    txn.commit().await?;
    Ok(promotion)
}

pub async fn update(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
    patch: PromotionPatch,
) -> ApiResult<promotions::Model> {
    apply(db, staff_id, id, patch, "promotion.update").await
}

async fn apply(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
    patch: PromotionPatch,
    action: &str,
) -> ApiResult<promotions::Model> {
    let description = patch
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let discount = patch.discount.map(stored_value).transpose()?;
    let txn = db.begin().await?;
    let before = get(&txn, id).await?;
    let min_subtotal = patch.min_subtotal.unwrap_or(before.min_subtotal);
    let max_discount = patch.max_discount.unwrap_or(before.max_discount);
    let usage_limit = patch.usage_limit.unwrap_or(before.usage_limit);
    let per_customer_limit = patch
        .per_customer_limit
        .unwrap_or(before.per_customer_limit);
    let starts_at = patch.starts_at.unwrap_or(before.starts_at);
    let ends_at = patch.ends_at.unwrap_or(before.ends_at);
    check_amounts(min_subtotal, max_discount, usage_limit, per_customer_limit)?;
    check_window(starts_at, ends_at)?;

    let mut promotion: promotions::ActiveModel = before.clone().into();
    if let Some(description) = description {
        promotion.description = Set(description);
    }
    if let Some((kind, value)) = discount {
        promotion.kind = Set(kind.as_str().to_string());
        promotion.value = Set(value);
    }
    promotion.min_subtotal = Set(min_subtotal);
    promotion.max_discount = Set(max_discount);
    promotion.usage_limit = Set(usage_limit);
    promotion.per_customer_limit = Set(per_customer_limit);
    promotion.starts_at = Set(starts_at);
    promotion.ends_at = Set(ends_at);
    if let Some(active) = patch.active {
        promotion.active = Set(active);
    }
    promotion.updated_at = Set(Utc::now());
    // `used_count` is left out of the update: checkout increments it concurrently.
    promotion.used_count = sea_orm::ActiveValue::NotSet;
    let after = promotion.update(&txn).await?;
    audit(
        &txn,
        staff_id,
        action,
        TARGET,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Stops a promotion from applying to any cart (it can be turned on again with `update`).
pub async fn deactivate(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
) -> ApiResult<promotions::Model> {
    apply(
        db,
        staff_id,
        id,
        PromotionPatch {
            active: Some(false),
            ..PromotionPatch::default()
        },
        "promotion.deactivate",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_cart_s_units() {
        let p = |v| stored_value(Discount::Percentage(v));
        let f = |v| stored_value(Discount::Fixed(v));
        assert_eq!(p(10).unwrap(), (DiscountKind::Percentage, 1_000));
        assert_eq!(p(100).unwrap(), (DiscountKind::Percentage, 10_000));
        assert!(p(0).is_err());
        assert!(p(101).is_err());
        assert_eq!(f(50_000).unwrap(), (DiscountKind::Fixed, 50_000));
        assert!(f(0).is_err());
        assert!(f(-5).is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(check_code(" NOROOZ-1405 ").unwrap(), "NOROOZ-1405");
        assert!(check_code("نوروز").is_ok());
        for bad in ["", "ab", "a b c", "x;drop", &"A".repeat(33)] {
            assert!(check_code(bad).is_err(), "{bad}");
        }
    }
}
