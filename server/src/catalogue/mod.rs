//! The catalogue as the shop sees it: published, not deleted, priced products with their
//! variants, stock, images and categories. Plain functions over the database, called by the
//! GraphQL layer (directly or through DataLoaders), the sync consumer and tests.
//!
//! Mahak rows link to each other by Mahak id (`variants.product_mahak_id`,
//! `variant_stock.variant_mahak_id`, `products.category_mahak_id`), so every lookup here goes
//! by those ids.

mod cursor;

pub use sync::mirror::price;

use std::collections::HashMap;

use entity::{
    categories, category_listings, product_images, product_listings, products, variant_stock,
    variants,
};
use sea_orm::sea_query::{Expr, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

pub use cursor::{Cursor, CursorError};

/// `E`'s rows without their Mahak document: every column but `payload`, which reads as `{}`.
/// The shop never shows that document, and it is the largest column of the mirrored rows:
/// reading it had PostgreSQL send and the server parse one JSON document per product,
/// variant and stock row of every page (README "Performance").
fn without_payload<E: EntityTrait>(select: Select<E>) -> Select<E> {
    select
        .select_only()
        .columns(E::Column::iter().filter(|column| column.as_str() != "payload"))
        .column_as(Expr::val(serde_json::json!({})), "payload")
}

/// A product the shop may show: the Mahak mirror row and the shop-owned listing.
#[derive(Debug, Clone)]
pub struct ListedProduct {
    pub product: products::Model,
    pub listing: product_listings::Model,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Local id of a category.
    pub category_id: Option<i64>,
    /// Free text; matched word by word against the folded product name.
    pub search: Option<String>,
    /// Only products with at least one variant in stock.
    pub in_stock: bool,
    /// Bounds (inclusive) on the product's lowest variant price, in Rial.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSort {
    #[default]
    Newest,
    NameAsc,
    PriceAsc,
    PriceDesc,
}

pub struct ProductPage {
    pub items: Vec<(Cursor, ListedProduct)>,
    pub has_next_page: bool,
}

/// Products the shop shows: not deleted in Mahak, published by the shop, and priced.
fn visible() -> Condition {
    Condition::all()
        .add(products::Column::DeletedAt.is_null())
        .add(products::Column::MinPrice.is_not_null())
        .add(product_listings::Column::Published.eq(true))
}

fn filtered(filter: &ProductFilter) -> Condition {
    let mut condition = visible();
    if let Some(category_id) = filter.category_id {
        condition = condition.add(
            products::Column::CategoryMahakId.in_subquery(
                Query::select()
                    .column(categories::Column::MahakId)
                    .from(categories::Entity)
                    .and_where(categories::Column::Id.eq(category_id))
                    .and_where(categories::Column::DeletedAt.is_null())
                    .to_owned(),
            ),
        );
    }
    if let Some(search) = &filter.search {
        condition = condition.add(search_condition(search));
    }
    if filter.in_stock {
        condition = condition.add(Expr::cust(
            "EXISTS (SELECT 1 FROM variants v JOIN variant_stock s ON s.variant_mahak_id = v.mahak_id \
             WHERE v.product_mahak_id = products.mahak_id AND v.deleted_at IS NULL \
             AND s.deleted_at IS NULL AND s.quantity > 0)",
        ));
    }
    if let Some(min) = filter.min_price {
        condition = condition.add(products::Column::MinPrice.gte(min));
    }
    if let Some(max) = filter.max_price {
        condition = condition.add(products::Column::MinPrice.lte(max));
    }
    condition
}

/// Products whose folded name contains every word of `search` (Persian-aware: Arabic and
/// Persian letter forms, Persian/Arabic-Indic and Latin digits match, ZWNJ ignored). Shared
/// with the admin's product list.
pub fn search_condition(search: &str) -> Condition {
    let mut condition = Condition::all();
    for term in sync::persian::fold_for_search(search)
        .split(' ')
        .filter(|t| !t.is_empty())
    {
        let pattern = format!("%{}%", escape_like(term));
        condition =
            condition.add(products::Column::SearchText.like(LikeExpr::new(pattern).escape('!')));
    }
    condition
}

/// Escapes LIKE wildcards with `!` (a backslash would need different quoting per backend).
fn escape_like(term: &str) -> String {
    term.replace('!', "!!")
        .replace('%', "!%")
        .replace('_', "!_")
}

/// One page of products, keyset-paginated: `after` is the cursor of the last product of the
/// previous page, so pages stay stable while products are added.
pub async fn list_products<C: ConnectionTrait>(
    db: &C,
    filter: &ProductFilter,
    sort: ProductSort,
    first: u64,
    after: Option<&Cursor>,
) -> Result<ProductPage, DbErr> {
    let mut query = without_payload(products::Entity::find())
        .find_also_related(product_listings::Entity)
        .filter(filtered(filter));
    if let Some(after) = after {
        query = query.filter(cursor::after_condition(sort, after));
    }
    let (key, order) = match sort {
        ProductSort::Newest => (None, Order::Desc),
        ProductSort::NameAsc => (Some(products::Column::Name), Order::Asc),
        ProductSort::PriceAsc => (Some(products::Column::MinPrice), Order::Asc),
        ProductSort::PriceDesc => (Some(products::Column::MinPrice), Order::Desc),
    };
    if let Some(key) = key {
        query = query.order_by(key, order.clone());
    }
    query = query.order_by(products::Column::Id, order).limit(first + 1);

    let mut rows = query.all(db).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows
        .into_iter()
        .filter_map(|(product, listing)| listing.map(|listing| ListedProduct { product, listing }))
        .map(|listed| (Cursor::of(sort, &listed.product), listed))
        .collect();
    Ok(ProductPage {
        items,
        has_next_page,
    })
}

pub async fn count_products<C: ConnectionTrait>(
    db: &C,
    filter: &ProductFilter,
) -> Result<u64, DbErr> {
    products::Entity::find()
        .inner_join(product_listings::Entity)
        .filter(filtered(filter))
        .count(db)
        .await
}

pub async fn product_by_id<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<ListedProduct>, DbErr> {
    find_one(db, products::Column::Id.eq(id)).await
}

pub async fn product_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &str,
) -> Result<Option<ListedProduct>, DbErr> {
    find_one(db, product_listings::Column::Slug.eq(slug)).await
}

async fn find_one<C: ConnectionTrait>(
    db: &C,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<Option<ListedProduct>, DbErr> {
    let row = without_payload(products::Entity::find())
        .find_also_related(product_listings::Entity)
        .filter(visible())
        .filter(condition)
        .one(db)
        .await?;
    Ok(
        row.and_then(|(product, listing)| {
            listing.map(|listing| ListedProduct { product, listing })
        }),
    )
}

/// Live variants of each product, keyed by the product's Mahak id.
pub async fn variants_by_product<C: ConnectionTrait>(
    db: &C,
    product_mahak_ids: &[i64],
) -> Result<HashMap<i64, Vec<variants::Model>>, DbErr> {
    let rows = without_payload(variants::Entity::find())
        .filter(variants::Column::ProductMahakId.is_in(product_mahak_ids.iter().copied()))
        .filter(variants::Column::DeletedAt.is_null())
        .order_by_asc(variants::Column::MahakId)
        .all(db)
        .await?;
    Ok(group_by(rows, |v| v.product_mahak_id))
}

/// Live stock rows of each variant, keyed by the variant's Mahak id.
pub async fn stock_by_variant<C: ConnectionTrait>(
    db: &C,
    variant_mahak_ids: &[i64],
) -> Result<HashMap<i64, Vec<variant_stock::Model>>, DbErr> {
    let rows = without_payload(variant_stock::Entity::find())
        .filter(variant_stock::Column::VariantMahakId.is_in(variant_mahak_ids.iter().copied()))
        .filter(variant_stock::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    Ok(group_by(rows, |s| s.variant_mahak_id))
}

/// Images of each product in display order, keyed by the product's local id.
pub async fn images_by_product<C: ConnectionTrait>(
    db: &C,
    product_ids: &[i64],
) -> Result<HashMap<i64, Vec<product_images::Model>>, DbErr> {
    let rows = product_images::Entity::find()
        .filter(product_images::Column::ProductId.is_in(product_ids.iter().copied()))
        .order_by_asc(product_images::Column::Position)
        .order_by_asc(product_images::Column::Id)
        .all(db)
        .await?;
    Ok(group_by(rows, |i| i.product_id))
}

/// A category the shop shows: the Mahak row and the shop-owned listing.
#[derive(Debug, Clone)]
pub struct ListedCategory {
    pub category: categories::Model,
    pub listing: category_listings::Model,
}

fn visible_category() -> Condition {
    Condition::all()
        .add(categories::Column::DeletedAt.is_null())
        .add(category_listings::Column::Published.eq(true))
}

/// Published categories by Mahak id.
pub async fn categories_by_mahak_id<C: ConnectionTrait>(
    db: &C,
    mahak_ids: &[i64],
) -> Result<HashMap<i64, ListedCategory>, DbErr> {
    let rows = without_payload(categories::Entity::find())
        .find_also_related(category_listings::Entity)
        .filter(visible_category())
        .filter(categories::Column::MahakId.is_in(mahak_ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(category, listing)| {
            listing.map(|listing| (category.mahak_id, ListedCategory { category, listing }))
        })
        .collect())
}

/// All published categories in display order.
pub async fn list_categories<C: ConnectionTrait>(db: &C) -> Result<Vec<ListedCategory>, DbErr> {
    let rows = without_payload(categories::Entity::find())
        .find_also_related(category_listings::Entity)
        .filter(visible_category())
        .order_by_asc(category_listings::Column::DisplayOrder)
        .order_by_asc(categories::Column::Name)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(category, listing)| {
            listing.map(|listing| ListedCategory { category, listing })
        })
        .collect())
}

fn group_by<T>(rows: Vec<T>, key: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut groups: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}
