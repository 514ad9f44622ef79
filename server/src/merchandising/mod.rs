//! Merchandising: the back office's view of the catalogue and its edits of the shop-owned side.
//!
//! Mahak owns names, prices, stock and tax (`products`, `variants`, `variant_stock`,
//! `warehouses`, `categories`); only sync writes them and nothing here does. The shop owns
//! `product_listings` (slug, description, published flag, SEO text) and `category_listings`
//! (slug, description, display order, published flag), which staff edit through
//! [`update_listing`], [`set_published`] and [`update_category_listing`]; each writes an audit
//! entry in the same transaction as its change.
//!
//! Unlike the shop's `crate::catalogue`, the lists here include unpublished, unpriced and
//! deleted products. Stock is shown as Mahak reports it per warehouse, and per variant as
//! on hand minus the units held by open reservations (the same formula as the cart and
//! checkout, `crate::commerce::cart::available_units`).

mod cursor;

use std::collections::HashMap;

use chrono::Utc;
use entity::{
    categories, category_listings, product_images, product_listings, products, stock_reservations,
    variant_stock, variants, warehouses,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqlErr, TransactionTrait,
};
use uuid::Uuid;

pub use crate::catalogue::ListedProduct;
use crate::commerce::cart::{available_units, on_hand};
use crate::error::{ApiError, ApiResult};
use crate::staff::audit;
pub use cursor::Cursor;

/// Largest page of a list.
pub const MAX_PAGE: u64 = 100;
/// Most products one `set_published` call takes.
pub const MAX_BULK: usize = 500;
/// Longest slug, in characters.
pub const MAX_SLUG: usize = 150;
/// Longest product or category description (Markdown), in characters.
pub const MAX_DESCRIPTION: usize = 20_000;
/// Longest SEO title, in characters.
pub const MAX_SEO_TITLE: usize = 200;
/// Longest SEO description, in characters.
pub const MAX_SEO_DESCRIPTION: usize = 500;
/// Longest search text, in characters.
pub const MAX_SEARCH: usize = 200;

/// Which products to list. Every `None` means "either".
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Words to find in the name (Persian-aware, as in the shop).
    pub search: Option<String>,
    /// Local id of a category (deleted or unpublished categories included).
    pub category_id: Option<i64>,
    pub published: Option<bool>,
    /// Deleted in Mahak.
    pub deleted: Option<bool>,
    /// Has a price (a lowest variant price).
    pub priced: Option<bool>,
    /// Some live variant has units available (after open reservations).
    pub in_stock: Option<bool>,
    /// Some live variant has at most this many units available.
    pub low_stock_threshold: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// Most recently created first (by local id).
    #[default]
    Newest,
    /// Most recently edited listing first.
    Updated,
    NameAsc,
    /// Cheapest first, unpriced last.
    PriceAsc,
    /// Most expensive first, unpriced last.
    PriceDesc,
}

pub struct ProductPage {
    pub items: Vec<(Cursor, ListedProduct)>,
    pub has_next_page: bool,
}

/// Checks `first`, the shared rule of every list here.
pub fn check_first(first: i64) -> ApiResult<u64> {
    if (1..=MAX_PAGE as i64).contains(&first) {
        Ok(first as u64)
    } else {
        Err(ApiError::bad_input(
            "first",
            format!("`first` must be between 1 and {MAX_PAGE}"),
        ))
    }
}

/// Units available of the variant row `alias` in SQL: Mahak's stock over its live warehouse
/// rows (negative rows as zero, rounded down) minus its open reservations. May be negative
/// when more is reserved than Mahak has; callers compare it with a threshold ≥ 0, where
/// that is the same as comparing `max(0, ...)`, i.e. [`available_units`].
fn net_stock_sql(backend: DatabaseBackend, alias: &str) -> String {
    let stock = format!(
        "COALESCE((SELECT SUM(CASE WHEN s.quantity > 0 THEN s.quantity ELSE 0 END) \
         FROM variant_stock s WHERE s.variant_mahak_id = {alias}.mahak_id \
         AND s.deleted_at IS NULL), 0)"
    );
    let floored = match backend {
        DatabaseBackend::Postgres => format!("CAST(FLOOR({stock}) AS BIGINT)"),
        // Non-negative, so truncation is rounding down.
        _ => format!("CAST({stock} AS INTEGER)"),
    };
    format!(
        "({floored} - COALESCE((SELECT SUM(r.quantity) FROM stock_reservations r \
         WHERE r.variant_id = {alias}.id AND r.released_at IS NULL), 0))"
    )
}

/// The `n`th (1-based) value placeholder of a custom SQL expression on `backend`.
fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}

fn live_variant_exists(backend: DatabaseBackend, stock_condition: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM variants v WHERE v.product_mahak_id = products.mahak_id \
         AND v.deleted_at IS NULL AND {} {stock_condition})",
        net_stock_sql(backend, "v")
    )
}

fn filtered(backend: DatabaseBackend, filter: &ProductFilter) -> Condition {
    let mut condition = Condition::all().add(product_listings::Column::ProductId.is_not_null());
    if let Some(search) = &filter.search {
        condition = condition.add(crate::catalogue::search_condition(search));
    }
    if let Some(category_id) = filter.category_id {
        condition = condition.add(
            products::Column::CategoryMahakId.in_subquery(
                Query::select()
                    .column(categories::Column::MahakId)
                    .from(categories::Entity)
                    .and_where(categories::Column::Id.eq(category_id))
                    .to_owned(),
            ),
        );
    }
    if let Some(published) = filter.published {
        condition = condition.add(product_listings::Column::Published.eq(published));
    }
    match filter.deleted {
        Some(true) => condition = condition.add(products::Column::DeletedAt.is_not_null()),
        Some(false) => condition = condition.add(products::Column::DeletedAt.is_null()),
        None => {}
    }
    match filter.priced {
        Some(true) => condition = condition.add(products::Column::MinPrice.is_not_null()),
        Some(false) => condition = condition.add(products::Column::MinPrice.is_null()),
        None => {}
    }
    if let Some(in_stock) = filter.in_stock {
        let exists = live_variant_exists(backend, "> 0");
        condition = condition.add(if in_stock {
            Expr::cust(exists)
        } else {
            Expr::cust(format!("NOT {exists}"))
        });
    }
    if let Some(threshold) = filter.low_stock_threshold {
        condition = condition.add(Expr::cust_with_values(
            live_variant_exists(backend, &format!("<= {}", placeholder(backend, 1))),
            [threshold],
        ));
    }
    condition
}

/// One page of products in `sort` order after the cursor `after` (text as issued in an
/// earlier page). `BAD_USER_INPUT` (`after`) for a cursor of another sort or not ours.
pub async fn list_products<C: ConnectionTrait>(
    db: &C,
    filter: &ProductFilter,
    sort: ProductSort,
    first: u64,
    after: Option<&str>,
) -> ApiResult<ProductPage> {
    let after = after
        .map(|text| Cursor::decode(text, sort))
        .transpose()
        .map_err(|message| ApiError::bad_input("after", message))?;
    let mut query = products::Entity::find()
        .find_also_related(product_listings::Entity)
        .filter(filtered(db.get_database_backend(), filter));
    if let Some(after) = &after {
        query = query.filter(after.after(sort));
    }
    for (key, order) in cursor::order(sort) {
        query = query.order_by(key, order);
    }
    let mut rows = query.limit(first + 1).all(db).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows
        .into_iter()
        .filter_map(|(product, listing)| listing.map(|listing| ListedProduct { product, listing }))
        .map(|row| (Cursor::of(sort, &row), row))
        .collect();
    Ok(ProductPage {
        items,
        has_next_page,
    })
}

/// Number of products matching `filter`.
pub async fn count_products<C: ConnectionTrait>(
    db: &C,
    filter: &ProductFilter,
) -> Result<u64, DbErr> {
    products::Entity::find()
        .inner_join(product_listings::Entity)
        .filter(filtered(db.get_database_backend(), filter))
        .count(db)
        .await
}

/// Any product with its listing, whatever its state.
pub async fn product<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<ListedProduct>, DbErr> {
    let row = products::Entity::find_by_id(id)
        .find_also_related(product_listings::Entity)
        .one(db)
        .await?;
    Ok(
        row.and_then(|(product, listing)| {
            listing.map(|listing| ListedProduct { product, listing })
        }),
    )
}

/// Products with their listings by Mahak id.
async fn products_by_mahak_id<C: ConnectionTrait>(
    db: &C,
    mahak_ids: &[i64],
) -> Result<HashMap<i64, ListedProduct>, DbErr> {
    let rows = products::Entity::find()
        .find_also_related(product_listings::Entity)
        .filter(products::Column::MahakId.is_in(mahak_ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(product, listing)| {
            listing.map(|listing| (product.mahak_id, ListedProduct { product, listing }))
        })
        .collect())
}

/// A category with its listing (absent only before sync has created it).
#[derive(Debug, Clone)]
pub struct AdminCategory {
    pub category: categories::Model,
    pub listing: Option<category_listings::Model>,
}

/// Every category, deleted and unpublished ones included, in the shop's display order.
pub async fn list_categories<C: ConnectionTrait>(db: &C) -> Result<Vec<AdminCategory>, DbErr> {
    let rows = categories::Entity::find()
        .find_also_related(category_listings::Entity)
        .order_by_asc(category_listings::Column::DisplayOrder)
        .order_by_asc(categories::Column::Name)
        .order_by_asc(categories::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(category, listing)| AdminCategory { category, listing })
        .collect())
}

/// Categories (any state) by Mahak id.
pub async fn categories_by_mahak_id<C: ConnectionTrait>(
    db: &C,
    mahak_ids: &[i64],
) -> Result<HashMap<i64, AdminCategory>, DbErr> {
    if mahak_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = categories::Entity::find()
        .find_also_related(category_listings::Entity)
        .filter(categories::Column::MahakId.is_in(mahak_ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(category, listing)| (category.mahak_id, AdminCategory { category, listing }))
        .collect())
}

/// Images of each product in display order, keyed by product id.
pub async fn images_by_product<C: ConnectionTrait>(
    db: &C,
    product_ids: &[i64],
) -> Result<HashMap<i64, Vec<product_images::Model>>, DbErr> {
    if product_ids.is_empty() {
        return Ok(HashMap::new());
    }
    crate::catalogue::images_by_product(db, product_ids).await
}

/// One warehouse's stock of a variant, as Mahak reports it.
#[derive(Debug, Clone)]
pub struct WarehouseStock {
    pub warehouse_mahak_id: i64,
    /// The warehouse's name, when sync has it.
    pub warehouse_name: Option<String>,
    /// Mahak `count1` (fractional for goods sold by weight; may be negative).
    pub quantity: f64,
    /// Mahak `count2`.
    pub quantity2: f64,
    pub synced_at: chrono::DateTime<Utc>,
}

/// A variant's stock: per warehouse as Mahak reports it, and what can still be sold.
#[derive(Debug, Clone)]
pub struct VariantStock {
    pub warehouses: Vec<WarehouseStock>,
    /// Mahak's stock over all warehouses (negative rows as zero), rounded down.
    pub on_hand: i64,
    /// Units held by open reservations (orders placed and not yet released).
    pub reserved: i64,
    /// `on_hand - reserved`, never below zero: what the shop still sells.
    pub available: i64,
}

/// A live variant with its stock.
#[derive(Debug, Clone)]
pub struct VariantView {
    pub variant: variants::Model,
    pub stock: VariantStock,
}

/// Stock of each variant keyed by variant id: three queries whatever the number of variants.
pub async fn stock_of<C: ConnectionTrait>(
    db: &C,
    variants: &[&variants::Model],
) -> Result<HashMap<i64, VariantStock>, DbErr> {
    if variants.is_empty() {
        return Ok(HashMap::new());
    }
    let mahak_ids: Vec<i64> = variants.iter().map(|v| v.mahak_id).collect();
    let ids: Vec<i64> = variants.iter().map(|v| v.id).collect();
    let mut rows = crate::catalogue::stock_by_variant(db, &mahak_ids).await?;
    let mut warehouse_ids: Vec<i64> = rows
        .values()
        .flatten()
        .map(|s| s.warehouse_mahak_id)
        .collect();
    warehouse_ids.sort_unstable();
    warehouse_ids.dedup();
    let names: HashMap<i64, String> = if warehouse_ids.is_empty() {
        HashMap::new()
    } else {
        warehouses::Entity::find()
            .filter(warehouses::Column::MahakId.is_in(warehouse_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|w| (w.mahak_id, w.name))
            .collect()
    };
    let mut reserved: HashMap<i64, i64> = HashMap::new();
    for reservation in stock_reservations::Entity::find()
        .filter(stock_reservations::Column::VariantId.is_in(ids))
        .filter(stock_reservations::Column::ReleasedAt.is_null())
        .all(db)
        .await?
    {
        *reserved.entry(reservation.variant_id).or_default() += i64::from(reservation.quantity);
    }
    Ok(variants
        .iter()
        .map(|variant| {
            let mut stock: Vec<variant_stock::Model> =
                rows.remove(&variant.mahak_id).unwrap_or_default();
            stock.sort_by_key(|s| s.warehouse_mahak_id);
            let held = reserved.get(&variant.id).copied().unwrap_or(0);
            let units = on_hand(stock.iter().map(|s| s.quantity));
            let view = VariantStock {
                warehouses: stock
                    .into_iter()
                    .map(|s| WarehouseStock {
                        warehouse_name: names.get(&s.warehouse_mahak_id).cloned(),
                        warehouse_mahak_id: s.warehouse_mahak_id,
                        quantity: s.quantity,
                        quantity2: s.quantity2,
                        synced_at: s.synced_at,
                    })
                    .collect(),
                on_hand: units,
                reserved: held,
                available: available_units(units, held),
            };
            (variant.id, view)
        })
        .collect())
}

/// Live variants of each product with their stock, keyed by the product's Mahak id: four
/// queries for any number of products.
pub async fn variants_by_product<C: ConnectionTrait>(
    db: &C,
    product_mahak_ids: &[i64],
) -> Result<HashMap<i64, Vec<VariantView>>, DbErr> {
    if product_mahak_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let variants = crate::catalogue::variants_by_product(db, product_mahak_ids).await?;
    let all: Vec<&variants::Model> = variants.values().flatten().collect();
    let mut stock = stock_of(db, &all).await?;
    Ok(variants
        .into_iter()
        .map(|(product, rows)| {
            let views = rows
                .into_iter()
                .filter_map(|variant| {
                    let stock = stock.remove(&variant.id)?;
                    Some(VariantView { variant, stock })
                })
                .collect();
            (product, views)
        })
        .collect())
}

/// One variant (deleted ones included) with its stock and product. `NOT_FOUND` otherwise.
pub async fn variant<C: ConnectionTrait>(
    db: &C,
    variant_id: i64,
) -> ApiResult<(VariantView, Option<ListedProduct>)> {
    let variant = variants::Entity::find_by_id(variant_id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("variant"))?;
    let mut stock = stock_of(db, &[&variant]).await?;
    let stock = stock
        .remove(&variant.id)
        .ok_or(ApiError::not_found("variant"))?;
    let product = products_by_mahak_id(db, &[variant.product_mahak_id])
        .await?
        .remove(&variant.product_mahak_id);
    Ok((VariantView { variant, stock }, product))
}

/// A variant in the low-stock list.
pub struct LowStockItem {
    pub view: VariantView,
    pub product: Option<ListedProduct>,
}

pub struct LowStockPage {
    /// Each item with its opaque cursor.
    pub items: Vec<(String, LowStockItem)>,
    pub has_next_page: bool,
}

fn low_stock_cursor(net: i64, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("low:{net}:{id}"))
}

fn parse_low_stock_cursor(text: &str) -> Option<(i64, i64)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (net, id) = text.strip_prefix("low:")?.split_once(':')?;
    Some((net.parse().ok()?, id.parse().ok()?))
}

/// Live variants of products not deleted in Mahak (published or not) with at most
/// `threshold` units available, fewest first (then by variant id). `BAD_USER_INPUT` for a
/// negative threshold (`threshold`) or a foreign cursor (`after`).
pub async fn low_stock<C: ConnectionTrait>(
    db: &C,
    threshold: i64,
    first: u64,
    after: Option<&str>,
) -> ApiResult<LowStockPage> {
    if threshold < 0 {
        return Err(ApiError::bad_input(
            "threshold",
            "`threshold` must be 0 or more",
        ));
    }
    let backend = db.get_database_backend();
    let net = net_stock_sql(backend, "variants");
    let p = |n| placeholder(backend, n);
    let mut query = variants::Entity::find()
        .select_only()
        .column(variants::Column::Id)
        .column_as(Expr::cust(net.clone()), "net")
        .filter(variants::Column::DeletedAt.is_null())
        .filter(Expr::cust(
            "EXISTS (SELECT 1 FROM products p WHERE p.mahak_id = variants.product_mahak_id \
             AND p.deleted_at IS NULL)",
        ))
        .filter(Expr::cust_with_values(
            format!("{net} <= {}", p(1)),
            [threshold],
        ));
    if let Some(after) = after {
        let (after_net, after_id) = parse_low_stock_cursor(after)
            .ok_or_else(|| ApiError::bad_input("after", "the cursor is not one this API issued"))?;
        query = query.filter(Expr::cust_with_values(
            format!(
                "({net} > {} OR ({net} = {} AND variants.id > {}))",
                p(1),
                p(2),
                p(3)
            ),
            [after_net, after_net, after_id],
        ));
    }
    let mut rows: Vec<(i64, i64)> = query
        .order_by(Expr::cust(net), sea_orm::Order::Asc)
        .order_by_asc(variants::Column::Id)
        .limit(first + 1)
        .into_tuple()
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);

    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let mut variants: HashMap<i64, variants::Model> = variants::Entity::find()
        .filter(variants::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let refs: Vec<&variants::Model> = variants.values().collect();
    let mut stock = stock_of(db, &refs).await?;
    let mut product_ids: Vec<i64> = variants.values().map(|v| v.product_mahak_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let products = products_by_mahak_id(db, &product_ids).await?;
    let items = rows
        .into_iter()
        .filter_map(|(id, net)| {
            let variant = variants.remove(&id)?;
            let stock = stock.remove(&id)?;
            let product = products.get(&variant.product_mahak_id).cloned();
            Some((
                low_stock_cursor(net, id),
                LowStockItem {
                    view: VariantView { variant, stock },
                    product,
                },
            ))
        })
        .collect();
    Ok(LowStockPage {
        items,
        has_next_page,
    })
}

/// A URL slug from what staff typed: letters and digits of any script (Persian kept, Latin
/// lower-cased, Persian and Arabic-Indic digits as Latin, Arabic ي/ك as Persian ی/ک, the
/// zero-width non-joiner dropped), every other run of characters one hyphen. `"  چای سبز /
/// Green Tea ۱۰۰ "` becomes `"چای-سبز-green-tea-100"`.
pub fn normalize_slug(input: &str) -> Result<String, String> {
    let folded = sync::persian::fold_for_search(input);
    let slug = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        return Err("a slug needs at least one letter or digit".into());
    }
    if slug.chars().count() > MAX_SLUG {
        return Err(format!("a slug is limited to {MAX_SLUG} characters"));
    }
    Ok(slug)
}

/// Trims optional text; empty becomes `None`; longer than `max` characters is refused.
fn clean_text(value: Option<&str>, field: &'static str, max: usize) -> ApiResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` is limited to {max} characters"),
        ));
    }
    Ok(Some(value.to_string()))
}

/// Changes to a product's shop-owned fields. `None` leaves a field as it is; for the text
/// fields `Some(None)` (or empty text) clears it.
#[derive(Debug, Clone, Default)]
pub struct ListingPatch {
    pub slug: Option<String>,
    pub description: Option<Option<String>>,
    pub published: Option<bool>,
    pub seo_title: Option<Option<String>>,
    pub seo_description: Option<Option<String>>,
}

/// Why a product cannot be published, if it cannot.
fn unpublishable(product: &products::Model) -> Option<PublishError> {
    if product.deleted_at.is_some() {
        Some(PublishError::Deleted)
    } else if product.min_price.is_none() {
        Some(PublishError::NoPrice)
    } else {
        None
    }
}

fn slug_taken(slug: &str) -> ApiError {
    ApiError::Conflict {
        message: format!("the slug \"{slug}\" is already used by another listing"),
    }
}

fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn json<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Applies `patch` to product `product_id`'s listing and records `product_listing.update`
/// (before and after) in the same transaction. Nothing is written when nothing changes.
///
/// Errors: `NOT_FOUND` (product); `BAD_USER_INPUT` for a slug with no letter or digit or too
/// long (`slug`), text too long (`description`, `seoTitle`, `seoDescription`), publishing a
/// product deleted in Mahak or without a price (`published`); `CONFLICT` when another
/// product's listing has the slug.
pub async fn update_listing(
    db: &DatabaseConnection,
    staff_id: Uuid,
    product_id: i64,
    patch: &ListingPatch,
) -> ApiResult<ListedProduct> {
    let slug = patch
        .slug
        .as_deref()
        .map(normalize_slug)
        .transpose()
        .map_err(|message| ApiError::bad_input("slug", message))?;
    let description = patch
        .description
        .as_ref()
        .map(|d| clean_text(d.as_deref(), "description", MAX_DESCRIPTION))
        .transpose()?;
    let seo_title = patch
        .seo_title
        .as_ref()
        .map(|d| clean_text(d.as_deref(), "seoTitle", MAX_SEO_TITLE))
        .transpose()?;
    let seo_description = patch
        .seo_description
        .as_ref()
        .map(|d| clean_text(d.as_deref(), "seoDescription", MAX_SEO_DESCRIPTION))
        .transpose()?;

    let txn = db.begin().await?;
    let product = products::Entity::find_by_id(product_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("product"))?;
    let before = product_listings::Entity::find_by_id(product_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("product"))?;
    let mut after = before.clone();
    if let Some(slug) = slug {
        if slug != before.slug {
            let taken = product_listings::Entity::find()
                .filter(product_listings::Column::Slug.eq(slug.as_str()))
                .filter(product_listings::Column::ProductId.ne(product_id))
                .count(&txn)
                .await?;
            if taken > 0 {
                return Err(slug_taken(&slug));
            }
        }
        after.slug = slug;
    }
    if let Some(description) = description {
        after.description = description;
    }
    if let Some(seo_title) = seo_title {
        after.seo_title = seo_title;
    }
    if let Some(seo_description) = seo_description {
        after.seo_description = seo_description;
    }
    if let Some(published) = patch.published {
        if published {
            if let Some(error) = unpublishable(&product) {
                return Err(ApiError::bad_input("published", error.message()));
            }
        }
        after.published = published;
    }
    if after == before {
        return Ok(ListedProduct {
            product,
            listing: before,
        });
    }
    after.updated_at = Utc::now();
    let mut active = before.clone().into_active_model();
    active.slug = Set(after.slug.clone());
    active.description = Set(after.description.clone());
    active.published = Set(after.published);
    active.seo_title = Set(after.seo_title.clone());
    active.seo_description = Set(after.seo_description.clone());
    active.updated_at = Set(after.updated_at);
    let listing = match active.update(&txn).await {
        Ok(listing) => listing,
        Err(err) if is_unique_violation(&err) => return Err(slug_taken(&after.slug)),
        Err(err) => return Err(err.into()),
    };
    audit::record(
        &txn,
        staff_id,
        "product_listing.update",
        "product",
        &product_id.to_string(),
        json(&before),
        json(&listing),
    )
    .await?;
    txn.commit().await?;
    Ok(ListedProduct { product, listing })
}

/// Why one product of a bulk publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    /// No such product.
    NotFound,
    /// Deleted in Mahak: it cannot be published (unpublishing is fine).
    Deleted,
    /// Mahak has no price for any of its variants: it cannot be published.
    NoPrice,
}

impl PublishError {
    pub fn message(self) -> &'static str {
        match self {
            PublishError::NotFound => "no such product",
            PublishError::Deleted => "the product is deleted in Mahak and cannot be published",
            PublishError::NoPrice => "the product has no price in Mahak and cannot be published",
        }
    }
}

/// The outcome for one id of [`set_published`].
#[derive(Debug, Clone)]
pub struct PublishOutcome {
    pub product_id: i64,
    /// The product afterwards (absent when not found).
    pub product: Option<ListedProduct>,
    pub error: Option<PublishError>,
    /// The flag was changed (false when it already had the value, or on error).
    pub changed: bool,
}

/// Publishes or unpublishes products: one outcome per id, in order (a repeated id gets the
/// same outcome). Publishing a product deleted in Mahak or without a price is refused even
/// when its flag is already set (the shop does not show it either way). Products that can be changed are, in one transaction, each with a
/// `product_listing.publish` / `.unpublish` audit entry; the others say why not. Nothing
/// is refused as a whole except more than [`MAX_BULK`] ids (`BAD_USER_INPUT`, `productIds`).
pub async fn set_published(
    db: &DatabaseConnection,
    staff_id: Uuid,
    product_ids: &[i64],
    published: bool,
) -> ApiResult<Vec<PublishOutcome>> {
    if product_ids.len() > MAX_BULK {
        return Err(ApiError::bad_input(
            "productIds",
            format!("at most {MAX_BULK} products at a time"),
        ));
    }
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique = product_ids.to_vec();
    unique.sort_unstable();
    unique.dedup();

    let txn = db.begin().await?;
    let listings: HashMap<i64, product_listings::Model> = product_listings::Entity::find()
        .filter(product_listings::Column::ProductId.is_in(unique.iter().copied()))
        .order_by_asc(product_listings::Column::ProductId)
        .lock_exclusive()
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| (l.product_id, l))
        .collect();
    let products: HashMap<i64, products::Model> = products::Entity::find()
        .filter(products::Column::Id.is_in(unique.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    let now = Utc::now();
    let mut results: HashMap<i64, PublishOutcome> = HashMap::new();
    let mut changed = Vec::new();
    for id in unique {
        let (Some(product), Some(listing)) = (products.get(&id), listings.get(&id)) else {
            results.insert(
                id,
                PublishOutcome {
                    product_id: id,
                    product: None,
                    error: Some(PublishError::NotFound),
                    changed: false,
                },
            );
            continue;
        };
        let error = if published {
            unpublishable(product)
        } else {
            None
        };
        let change = error.is_none() && listing.published != published;
        let mut listing = listing.clone();
        if change {
            listing.published = published;
            listing.updated_at = now;
            changed.push(id);
        }
        results.insert(
            id,
            PublishOutcome {
                product_id: id,
                product: Some(ListedProduct {
                    product: product.clone(),
                    listing,
                }),
                error,
                changed: change,
            },
        );
    }
    if !changed.is_empty() {
        product_listings::Entity::update_many()
            .col_expr(product_listings::Column::Published, Expr::value(published))
            .col_expr(product_listings::Column::UpdatedAt, Expr::value(now))
            .filter(product_listings::Column::ProductId.is_in(changed.iter().copied()))
            .exec(&txn)
            .await?;
        let action = if published {
            "product_listing.publish"
        } else {
            "product_listing.unpublish"
        };
        for id in &changed {
            audit::record(
                &txn,
                staff_id,
                action,
                "product",
                &id.to_string(),
                Some(serde_json::json!({ "published": !published })),
                Some(serde_json::json!({ "published": published })),
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(product_ids
        .iter()
        .filter_map(|id| results.get(id).cloned())
        .collect())
}

/// Changes to a category's shop-owned fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub slug: Option<String>,
    pub description: Option<Option<String>>,
    pub display_order: Option<i32>,
    pub published: Option<bool>,
}

/// Applies `patch` to category `category_id`'s listing and records
/// `category_listing.update` in the same transaction. Errors: `NOT_FOUND` (category, or one
/// sync has not yet given a listing); `BAD_USER_INPUT` (`slug`, `description`); `CONFLICT`
/// when another category has the slug.
pub async fn update_category_listing(
    db: &DatabaseConnection,
    staff_id: Uuid,
    category_id: i64,
    patch: &CategoryPatch,
) -> ApiResult<AdminCategory> {
    let slug = patch
        .slug
        .as_deref()
        .map(normalize_slug)
        .transpose()
        .map_err(|message| ApiError::bad_input("slug", message))?;
    let description = patch
        .description
        .as_ref()
        .map(|d| clean_text(d.as_deref(), "description", MAX_DESCRIPTION))
        .transpose()?;

    let txn = db.begin().await?;
    let category = categories::Entity::find_by_id(category_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("category"))?;
    let before = category_listings::Entity::find_by_id(category_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::not_found("category"))?;
    let mut after = before.clone();
    if let Some(slug) = slug {
        if slug != before.slug {
            let taken = category_listings::Entity::find()
                .filter(category_listings::Column::Slug.eq(slug.as_str()))
                .filter(category_listings::Column::CategoryId.ne(category_id))
                .count(&txn)
                .await?;
            if taken > 0 {
                return Err(slug_taken(&slug));
            }
        }
        after.slug = slug;
    }
    if let Some(description) = description {
        after.description = description;
    }
    if let Some(order) = patch.display_order {
        after.display_order = order;
    }
    if let Some(published) = patch.published {
        after.published = published;
    }
    if after == before {
        return Ok(AdminCategory {
            category,
            listing: Some(before),
        });
    }
    let mut active = before.clone().into_active_model();
    active.slug = Set(after.slug.clone());
    active.description = Set(after.description.clone());
    active.display_order = Set(after.display_order);
    active.published = Set(after.published);
    active.updated_at = Set(Utc::now());
    let listing = match active.update(&txn).await {
        Ok(listing) => listing,
        Err(err) if is_unique_violation(&err) => return Err(slug_taken(&after.slug)),
        Err(err) => return Err(err.into()),
    };
    audit::record(
        &txn,
        staff_id,
        "category_listing.update",
        "category",
        &category_id.to_string(),
        json(&before),
        json(&listing),
    )
    .await?;
    txn.commit().await?;
    Ok(AdminCategory {
        category,
        listing: Some(listing),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_normalized_url_safe_and_keep_persian() {
        assert_eq!(
            normalize_slug("  چاي سبز / Green Tea ۱۰۰ ").unwrap(),
            "چای-سبز-green-tea-100"
        );
        assert_eq!(normalize_slug("می\u{200C}خواهم").unwrap(), "میخواهم");
        assert_eq!(normalize_slug("a--b__c").unwrap(), "a-b-c");
        assert!(normalize_slug(" -/- ").is_err());
        assert!(normalize_slug(&"a".repeat(MAX_SLUG + 1)).is_err());
    }

    #[test]
    fn low_stock_cursors_round_trip() {
        let text = low_stock_cursor(-2, 41);
        assert_eq!(parse_low_stock_cursor(&text), Some((-2, 41)));
        assert_eq!(parse_low_stock_cursor("bm9wZQ"), None);
    }
}
