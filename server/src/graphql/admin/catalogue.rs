//! The catalogue in the back office (merchandising): every product, published or not and
//! deleted in Mahak or not, with its listing, variants, stock and images; edits of the
//! shop-owned fields; bulk publish. Every field needs the `catalogue` permission; the rules
//! live in `crate::merchandising`.
//!
//! Nested fields (variants with stock, category, images) of a page are loaded for the whole
//! page at once, from what the query selects, so a page costs the same few queries whatever
//! its size.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, MaybeUndefined, Object, SelectionField,
    SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::product_images;

use super::access::{self, Permission};
use super::PageInfo;
use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Rial;
use crate::graphql::shop::ProductImage;
use crate::graphql::Services;
use crate::merchandising::{
    self as merch, AdminCategory as CategoryRow, ListedProduct, VariantStock, VariantView,
};

const DEFAULT_PAGE: i32 = 20;

fn db<'a>(ctx: &Context<'a>) -> &'a sea_orm::DatabaseConnection {
    &ctx.data_unchecked::<Services>().db
}

fn parse_id(id: &ID, field: &'static str, what: &str) -> ApiResult<i64> {
    id.as_str()
        .parse()
        .map_err(|_| ApiError::bad_input(field, format!("not a valid {what} id")))
}

/// Nested data of a page of products, loaded once for the page.
#[derive(Default)]
struct Preloaded {
    /// Live variants with stock, by product Mahak id.
    variants: Option<HashMap<i64, Vec<VariantView>>>,
    /// Categories by Mahak id.
    categories: Option<HashMap<i64, CategoryRow>>,
    /// Images by product id.
    images: Option<HashMap<i64, Vec<product_images::Model>>>,
}

/// Loads what `selection` (the selection set of a product) asks for, for all of `products`.
async fn preload(
    db: &sea_orm::DatabaseConnection,
    products: &[&ListedProduct],
    selection: Option<SelectionField<'_>>,
) -> ApiResult<Arc<Preloaded>> {
    let Some(selection) = selection else {
        return Ok(Arc::default());
    };
    let wants = |name: &str| selection.selection_set().any(|f| f.name() == name);
    let mut pre = Preloaded::default();
    if wants("variants") || wants("totalAvailable") {
        let ids: Vec<i64> = products.iter().map(|p| p.product.mahak_id).collect();
        pre.variants = Some(merch::variants_by_product(db, &ids).await?);
    }
    if wants("category") {
        let mut ids: Vec<i64> = products
            .iter()
            .filter_map(|p| p.product.category_mahak_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        pre.categories = Some(merch::categories_by_mahak_id(db, &ids).await?);
    }
    if wants("images") {
        let ids: Vec<i64> = products.iter().map(|p| p.product.id).collect();
        pre.images = Some(merch::images_by_product(db, &ids).await?);
    }
    Ok(Arc::new(pre))
}

#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// Every product, including unpublished ones and ones deleted in Mahak, as a Relay
    /// connection (forward only). Needs the `catalogue` permission.
    ///
    /// Errors: `BAD_USER_INPUT` for `first` outside 1-100 (`first`), a cursor from another
    /// sort order or not issued here (`after`), and bad filter values (the field is named).
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page (same sort order).")] after: Option<
            String,
        >,
        filter: Option<AdminProductFilter>,
        #[graphql(desc = "Order of the products (default NEWEST).")] sort: Option<AdminProductSort>,
    ) -> ApiResult<AdminProductConnection> {
        access::require(ctx, Permission::Catalogue).await?;
        let first = merch::check_first(i64::from(first.unwrap_or(DEFAULT_PAGE)))?;
        let filter = filter
            .map(AdminProductFilter::parse)
            .transpose()?
            .unwrap_or_default();
        let sort = sort.unwrap_or_default().into();
        let db = db(ctx);
        let page = merch::list_products(db, &filter, sort, first, after.as_deref()).await?;
        let node = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .selection_fields()
            .first()
            .copied();
        let rows: Vec<&ListedProduct> = page.items.iter().map(|(_, row)| row).collect();
        let pre = preload(db, &rows, node).await?;
        Ok(AdminProductConnection { page, filter, pre })
    }

    /// One product by id, whatever its state; null when there is none. Needs `catalogue`.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<AdminProduct>> {
        access::require(ctx, Permission::Catalogue).await?;
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let db = db(ctx);
        let Some(row) = merch::product(db, id).await? else {
            return Ok(None);
        };
        let selection = ctx.look_ahead().selection_fields().first().copied();
        let pre = preload(db, &[&row], selection).await?;
        Ok(Some(AdminProduct { row, pre }))
    }

    /// Every category, including unpublished ones and ones deleted in Mahak, in the shop's
    /// display order (then by name). Needs `catalogue`.
    async fn categories(&self, ctx: &Context<'_>) -> ApiResult<Vec<AdminCategory>> {
        access::require(ctx, Permission::Catalogue).await?;
        Ok(merch::list_categories(db(ctx))
            .await?
            .into_iter()
            .map(AdminCategory)
            .collect())
    }

    /// One variant's stock: per warehouse as Mahak reports it, and the units held by open
    /// reservations and still available. Needs `catalogue`. `NOT_FOUND` for an unknown
    /// variant, `BAD_USER_INPUT` (`variantId`) for an id that is not a number.
    async fn stock(&self, ctx: &Context<'_>, variant_id: ID) -> ApiResult<AdminVariantStock> {
        access::require(ctx, Permission::Catalogue).await?;
        let id = parse_id(&variant_id, "variantId", "variant")?;
        let (view, _) = merch::variant(db(ctx), id).await?;
        Ok(AdminVariantStock(view.stock))
    }

    /// Variants (not deleted, of products not deleted in Mahak, published or not) with at
    /// most `threshold` units available after open reservations, fewest first: what to
    /// restock. Needs `catalogue`. `BAD_USER_INPUT` for a negative `threshold`, `first`
    /// outside 1-100 or a cursor not issued here (`after`).
    async fn low_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Largest number of available units that counts as low (0 or more).")]
        threshold: i32,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> ApiResult<LowStockConnection> {
        access::require(ctx, Permission::Catalogue).await?;
        let first = merch::check_first(i64::from(first.unwrap_or(DEFAULT_PAGE)))?;
        let db = db(ctx);
        let page = merch::low_stock(db, i64::from(threshold), first, after.as_deref()).await?;
        let selection = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("product")
            .selection_fields()
            .first()
            .copied();
        let rows: Vec<&ListedProduct> = page
            .items
            .iter()
            .filter_map(|(_, item)| item.product.as_ref())
            .collect();
        let pre = preload(db, &rows, selection).await?;
        Ok(LowStockConnection { page, pre })
    }
}

#[derive(Default)]
pub struct CatalogueMutation;

#[Object]
impl CatalogueMutation {
    /// Changes a product's shop-owned fields (slug, description, published flag, SEO text).
    /// Fields left out stay as they are; `null` (or empty text) clears a text field. Writes
    /// an audit entry (`product_listing.update`) with the listing before and after; nothing
    /// is written when nothing changes. Needs `catalogue`.
    ///
    /// Errors: `NOT_FOUND` for an unknown product; `BAD_USER_INPUT` with `field` = `slug`
    /// (no letter or digit, over 150 characters), `description` / `seoTitle` /
    /// `seoDescription` (too long), `published` (publishing a product deleted in Mahak or
    /// without a price); `CONFLICT` with `field` = `slug` when another product uses the slug.
    async fn update_product_listing(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        input: ProductListingInput,
    ) -> async_graphql::Result<AdminProduct> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let id = parse_id(&product_id, "productId", "product")?;
        let patch = merch::ListingPatch {
            slug: input.slug,
            description: maybe(input.description),
            published: input.published,
            seo_title: maybe(input.seo_title),
            seo_description: maybe(input.seo_description),
        };
        let row = merch::update_listing(db(ctx), caller.id, id, &patch)
            .await
            .map_err(slug_conflict)?;
        Ok(AdminProduct {
            row,
            pre: Arc::default(),
        })
    }

    /// Publishes (`published: true`) or unpublishes products in bulk, at most 500 ids. Each
    /// id gets its own result, in the order given: a product deleted in Mahak or without a
    /// price cannot be published, an unknown id is `NOT_FOUND`; the others are changed
    /// together, each with an audit entry (`product_listing.publish` / `.unpublish`). Needs
    /// `catalogue`. `BAD_USER_INPUT` (`productIds`) only for more than 500 ids.
    async fn set_products_published(
        &self,
        ctx: &Context<'_>,
        product_ids: Vec<ID>,
        published: bool,
    ) -> ApiResult<Vec<ProductPublishResult>> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        if product_ids.len() > merch::MAX_BULK {
            return Err(ApiError::bad_input(
                "productIds",
                format!("at most {} products at a time", merch::MAX_BULK),
            ));
        }
        let parsed: Vec<Option<i64>> = product_ids.iter().map(|id| id.parse().ok()).collect();
        let valid: Vec<i64> = parsed.iter().flatten().copied().collect();
        let db = db(ctx);
        let outcomes = merch::set_published(db, caller.id, &valid, published).await?;
        let selection = ctx
            .look_ahead()
            .field("product")
            .selection_fields()
            .first()
            .copied();
        let rows: Vec<&ListedProduct> =
            outcomes.iter().filter_map(|o| o.product.as_ref()).collect();
        let pre = preload(db, &rows, selection).await?;
        let mut outcomes = outcomes.into_iter();
        Ok(product_ids
            .into_iter()
            .zip(parsed)
            .map(|(id, parsed)| match parsed.and_then(|_| outcomes.next()) {
                Some(outcome) => ProductPublishResult {
                    product_id: id,
                    ok: outcome.error.is_none(),
                    changed: outcome.changed,
                    error: outcome.error.map(PublishErrorCode::from),
                    message: outcome.error.map(|e| e.message().to_string()),
                    product: outcome.product.map(|row| AdminProduct {
                        row,
                        pre: pre.clone(),
                    }),
                },
                None => ProductPublishResult {
                    product_id: id,
                    ok: false,
                    changed: false,
                    error: Some(PublishErrorCode::NotFound),
                    message: Some(merch::PublishError::NotFound.message().to_string()),
                    product: None,
                },
            })
            .collect())
    }

    /// Changes a category's shop-owned fields: display order, published flag, slug,
    /// description. Writes an audit entry (`category_listing.update`). Needs `catalogue`.
    /// Errors: `NOT_FOUND`; `BAD_USER_INPUT` (`slug`, `description`); `CONFLICT` with
    /// `field` = `slug` when another category uses the slug.
    async fn update_category_listing(
        &self,
        ctx: &Context<'_>,
        category_id: ID,
        input: CategoryListingInput,
    ) -> async_graphql::Result<AdminCategory> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let id = parse_id(&category_id, "categoryId", "category")?;
        let patch = merch::CategoryPatch {
            slug: input.slug,
            description: maybe(input.description),
            display_order: input.display_order,
            published: input.published,
        };
        let row = merch::update_category_listing(db(ctx), caller.id, id, &patch)
            .await
            .map_err(slug_conflict)?;
        Ok(AdminCategory(row))
    }
}

/// `CONFLICT` from a listing update is always about the slug: name the field.
fn slug_conflict(err: ApiError) -> async_graphql::Error {
    let conflict = matches!(err, ApiError::Conflict { .. });
    let err = async_graphql::Error::from(err);
    if conflict {
        err.extend_with(|_, ext| ext.set("field", "slug"))
    } else {
        err
    }
}

/// Absent → unchanged, `null` → cleared, a value → set.
fn maybe(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// The shop-owned fields of a product to change; leave out what stays.
#[derive(InputObject)]
pub struct ProductListingInput {
    /// URL slug, unique among products. Normalized: letters and digits of any script are
    /// kept (Persian included, Latin lower-cased, Persian digits as Latin), everything else
    /// becomes single hyphens (`"چای سبز / Green Tea"` → `"چای-سبز-green-tea"`).
    slug: Option<String>,
    /// Description in Markdown (at most 20000 characters); `null` clears it.
    description: MaybeUndefined<String>,
    /// Shown in the shop. Publishing needs a product not deleted in Mahak and with a price.
    published: Option<bool>,
    /// Title for search engines (at most 200 characters); `null` clears it.
    seo_title: MaybeUndefined<String>,
    /// Description for search engines (at most 500 characters); `null` clears it.
    seo_description: MaybeUndefined<String>,
}

/// The shop-owned fields of a category to change; leave out what stays.
#[derive(InputObject)]
pub struct CategoryListingInput {
    /// Position in the shop's category list (smaller first).
    display_order: Option<i32>,
    /// Shown in the shop.
    published: Option<bool>,
    /// URL slug, unique among categories, normalized as product slugs are.
    slug: Option<String>,
    /// Description in Markdown (at most 20000 characters); `null` clears it.
    description: MaybeUndefined<String>,
}

/// Which products to list; every filter left out means "either".
#[derive(InputObject, Default)]
pub struct AdminProductFilter {
    /// Words to find in the name. Arabic and Persian letter forms, Persian and Latin digits
    /// and the zero-width non-joiner are treated as equal. At most 200 characters.
    search: Option<String>,
    /// Only products of this category (any state).
    category_id: Option<ID>,
    /// Only published (true) or unpublished (false) products.
    published: Option<bool>,
    /// Only products deleted in Mahak (true) or not deleted (false).
    deleted: Option<bool>,
    /// Only products with a price (true) or without one (false).
    priced: Option<bool>,
    /// Only products with some variant available (true: at least one unit after open
    /// reservations) or with none (false).
    in_stock: Option<bool>,
    /// Only products with some live variant at or below this many available units (0 or
    /// more).
    low_stock_threshold: Option<i32>,
}

impl AdminProductFilter {
    fn parse(self) -> ApiResult<merch::ProductFilter> {
        let search = self
            .search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > merch::MAX_SEARCH)
        {
            return Err(ApiError::bad_input(
                "search",
                format!("search text is limited to {} characters", merch::MAX_SEARCH),
            ));
        }
        let category_id = self
            .category_id
            .map(|id| parse_id(&id, "categoryId", "category"))
            .transpose()?;
        if self.low_stock_threshold.is_some_and(|t| t < 0) {
            return Err(ApiError::bad_input(
                "lowStockThreshold",
                "`lowStockThreshold` must be 0 or more",
            ));
        }
        Ok(merch::ProductFilter {
            search,
            category_id,
            published: self.published,
            deleted: self.deleted,
            priced: self.priced,
            in_stock: self.in_stock,
            low_stock_threshold: self.low_stock_threshold.map(i64::from),
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminProductSort {
    /// Most recently added first.
    #[default]
    Newest,
    /// Most recently edited listing (slug, description, published, SEO) first.
    Updated,
    /// By name, alphabetically.
    NameAsc,
    /// Cheapest first (by lowest variant price); unpriced products last.
    PriceAsc,
    /// Most expensive first (by lowest variant price); unpriced products last.
    PriceDesc,
}

impl From<AdminProductSort> for merch::ProductSort {
    fn from(sort: AdminProductSort) -> Self {
        match sort {
            AdminProductSort::Newest => merch::ProductSort::Newest,
            AdminProductSort::Updated => merch::ProductSort::Updated,
            AdminProductSort::NameAsc => merch::ProductSort::NameAsc,
            AdminProductSort::PriceAsc => merch::ProductSort::PriceAsc,
            AdminProductSort::PriceDesc => merch::ProductSort::PriceDesc,
        }
    }
}

/// A page of products.
pub struct AdminProductConnection {
    page: merch::ProductPage,
    filter: merch::ProductFilter,
    pre: Arc<Preloaded>,
}

#[Object]
impl AdminProductConnection {
    async fn edges(&self) -> Vec<AdminProductEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, row)| AdminProductEdge {
                cursor: cursor.encode(),
                node: AdminProduct {
                    row: row.clone(),
                    pre: self.pre.clone(),
                },
            })
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: false,
            start_cursor: self.page.items.first().map(|(c, _)| c.encode()),
            end_cursor: self.page.items.last().map(|(c, _)| c.encode()),
        }
    }

    /// Number of products matching the filter, over all pages (one more query: ask only
    /// when you show it).
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(merch::count_products(db(ctx), &self.filter).await? as i64)
    }
}

pub struct AdminProductEdge {
    cursor: String,
    node: AdminProduct,
}

#[Object]
impl AdminProductEdge {
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &AdminProduct {
        &self.node
    }
}

/// A product as staff see it: Mahak's data (read-only) and the shop's listing (editable
/// with `updateProductListing` and `setProductsPublished`).
pub struct AdminProduct {
    row: ListedProduct,
    pre: Arc<Preloaded>,
}

impl AdminProduct {
    async fn variant_views(&self, ctx: &Context<'_>) -> ApiResult<Vec<VariantView>> {
        let mahak_id = self.row.product.mahak_id;
        if let Some(map) = &self.pre.variants {
            return Ok(map.get(&mahak_id).cloned().unwrap_or_default());
        }
        Ok(merch::variants_by_product(db(ctx), &[mahak_id])
            .await?
            .remove(&mahak_id)
            .unwrap_or_default())
    }
}

#[Object]
impl AdminProduct {
    async fn id(&self) -> ID {
        ID(self.row.product.id.to_string())
    }

    /// Mahak's id of the product.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn mahak_id(&self) -> ID {
        ID(self.row.product.mahak_id.to_string())
    }

    /// Mahak's product code.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn mahak_code(&self) -> Option<ID> {
        self.row.product.mahak_code.map(|c| ID(c.to_string()))
    }

    /// Name (Persian letter forms normalized).
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn name(&self) -> &str {
        &self.row.product.name
    }

    /// Unit of sale (e.g. عدد).
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn unit_name(&self) -> Option<&str> {
        self.row.product.unit_name.as_deref()
    }

    /// Value-added tax, in percent.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn tax_percent(&self) -> f64 {
        self.row.product.tax_percent
    }

    /// Toll (عوارض), in percent.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn toll_percent(&self) -> f64 {
        self.row.product.toll_percent
    }

    /// Lowest shop price over the variants; null when unpriced (such a product cannot be
    /// published).
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn min_price(&self) -> Option<Rial> {
        self.row.product.min_price.map(Rial)
    }

    /// Highest shop price over the variants.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn max_price(&self) -> Option<Rial> {
        self.row.product.max_price.map(Rial)
    }

    /// When Mahak deleted the product; null when it is not deleted. A deleted product cannot be
    /// published.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.product.deleted_at
    }

    /// When the sync last wrote the product.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn synced_at(&self) -> DateTime<Utc> {
        self.row.product.synced_at
    }

    /// The product's category (in any state), by Mahak's link.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn category(&self, ctx: &Context<'_>) -> ApiResult<Option<AdminCategory>> {
        let Some(mahak_id) = self.row.product.category_mahak_id else {
            return Ok(None);
        };
        if let Some(map) = &self.pre.categories {
            return Ok(map.get(&mahak_id).cloned().map(AdminCategory));
        }
        Ok(merch::categories_by_mahak_id(db(ctx), &[mahak_id])
            .await?
            .remove(&mahak_id)
            .map(AdminCategory))
    }

    /// Variants not deleted in Mahak, with their prices and stock.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn variants(&self, ctx: &Context<'_>) -> ApiResult<Vec<AdminVariant>> {
        Ok(self
            .variant_views(ctx)
            .await?
            .into_iter()
            .map(AdminVariant)
            .collect())
    }

    /// Units available over all variants (after open reservations).
    async fn total_available(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(self
            .variant_views(ctx)
            .await?
            .iter()
            .map(|v| v.stock.available)
            .sum())
    }

    /// URL slug (shop-owned, editable). The shop finds the product by it.
    async fn slug(&self) -> &str {
        &self.row.listing.slug
    }

    /// Description in Markdown (shop-owned, editable).
    async fn description(&self) -> Option<&str> {
        self.row.listing.description.as_deref()
    }

    /// Whether the shop may show it (shop-owned, editable).
    async fn published(&self) -> bool {
        self.row.listing.published
    }

    /// Whether the shop shows it now: published, not deleted in Mahak and priced.
    async fn visible_in_shop(&self) -> bool {
        self.row.listing.published
            && self.row.product.deleted_at.is_none()
            && self.row.product.min_price.is_some()
    }

    /// Title for search engines (shop-owned, editable).
    async fn seo_title(&self) -> Option<&str> {
        self.row.listing.seo_title.as_deref()
    }

    /// Description for search engines (shop-owned, editable).
    async fn seo_description(&self) -> Option<&str> {
        self.row.listing.seo_description.as_deref()
    }

    /// When the listing was created (when the product first arrived from Mahak).
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.listing.created_at
    }

    /// When the listing was last edited.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.listing.updated_at
    }

    /// The product's images in display order (manage them with `createImageUpload`,
    /// `attachProductImage`, `reorderProductImages`, `deleteProductImage`).
    async fn images(&self, ctx: &Context<'_>) -> ApiResult<Vec<ProductImage>> {
        let id = self.row.product.id;
        let rows = match &self.pre.images {
            Some(map) => map.get(&id).cloned().unwrap_or_default(),
            None => merch::images_by_product(db(ctx), &[id])
                .await?
                .remove(&id)
                .unwrap_or_default(),
        };
        Ok(rows.into_iter().map(ProductImage::from).collect())
    }
}

/// A variant (Mahak `ProductDetail`). Everything here is Mahak's: read-only.
pub struct AdminVariant(VariantView);

#[Object]
impl AdminVariant {
    async fn id(&self) -> ID {
        ID(self.0.variant.id.to_string())
    }

    /// Mahak's id of the variant.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn mahak_id(&self) -> ID {
        ID(self.0.variant.mahak_id.to_string())
    }

    /// Barcode.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn barcode(&self) -> Option<&str> {
        self.0.variant.barcode.as_deref().filter(|b| !b.is_empty())
    }

    /// What distinguishes the variant (colour, size, ...), as Mahak's property codes and
    /// values.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn properties(&self) -> Vec<AdminVariantProperty> {
        let Some(items) = self.0.variant.properties.as_array() else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let code = item.get("C").or_else(|| item.get("c"))?.as_i64()?;
                let value = match item.get("V").or_else(|| item.get("v"))? {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(AdminVariantProperty { code, value })
            })
            .collect()
    }

    /// The price level (1-10) the shop sells at.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn default_price_level(&self) -> i32 {
        i32::from(self.0.variant.default_price_level)
    }

    /// Shop price: the price at the default level; null when unset (the variant cannot be
    /// bought).
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn price(&self) -> Option<Rial> {
        crate::catalogue::price::shop_price(&self.0.variant).map(Rial)
    }

    /// Every price level that has a price.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn price_levels(&self) -> Vec<AdminPriceLevel> {
        (1..=10)
            .filter_map(|level| {
                crate::catalogue::price::price_at_level(&self.0.variant, level).map(|price| {
                    AdminPriceLevel {
                        level: i32::from(level),
                        price: Rial(price),
                    }
                })
            })
            .collect()
    }

    /// Stock per warehouse (Mahak's) and what is still available after reservations.
    async fn stock(&self) -> AdminVariantStock {
        AdminVariantStock(self.0.stock.clone())
    }
}

/// A variant property. Owned by Mahak; read-only here (changes come from the sync).
#[derive(SimpleObject)]
pub struct AdminVariantProperty {
    /// Mahak's property code.
    code: i64,
    value: String,
}

/// One of Mahak's ten price levels. Owned by Mahak; read-only here (changes come from the
/// sync).
#[derive(SimpleObject)]
pub struct AdminPriceLevel {
    /// 1 to 10.
    level: i32,
    price: Rial,
}

/// A variant's stock. The per-warehouse counts are Mahak's (owned by Mahak; read-only here,
/// changes come from the sync); reservations belong to orders, per variant, not per
/// warehouse.
pub struct AdminVariantStock(VariantStock);

#[Object]
impl AdminVariantStock {
    /// Stock in each warehouse exactly as Mahak reports it (may be fractional or negative).
    async fn warehouses(&self) -> Vec<AdminWarehouseStock> {
        self.0
            .warehouses
            .iter()
            .map(|w| AdminWarehouseStock {
                warehouse_id: ID(w.warehouse_mahak_id.to_string()),
                warehouse_name: w.warehouse_name.clone(),
                quantity: w.quantity,
                quantity2: w.quantity2,
                synced_at: w.synced_at,
            })
            .collect()
    }

    /// Mahak's stock over all warehouses (negative counts as zero), rounded down.
    async fn on_hand(&self) -> i64 {
        self.0.on_hand
    }

    /// Units held by open reservations: orders placed and not yet cancelled, refunded or
    /// delivered through Mahak.
    async fn reserved(&self) -> i64 {
        self.0.reserved
    }

    /// What the shop can still sell: `onHand - reserved`, never below zero.
    async fn available(&self) -> i64 {
        self.0.available
    }
}

/// A variant's stock in one warehouse. Owned by Mahak; read-only here (changes come from the
/// sync).
#[derive(SimpleObject)]
pub struct AdminWarehouseStock {
    /// Mahak's id of the warehouse.
    warehouse_id: ID,
    /// The warehouse's name, when the sync has it.
    warehouse_name: Option<String>,
    /// Mahak `count1`: the quantity (fractional for goods sold by weight).
    quantity: f64,
    /// Mahak `count2`: the second unit's quantity.
    quantity2: f64,
    /// When the sync last wrote this count.
    synced_at: DateTime<Utc>,
}

/// A category as staff see it.
pub struct AdminCategory(CategoryRow);

#[Object]
impl AdminCategory {
    async fn id(&self) -> ID {
        ID(self.0.category.id.to_string())
    }

    /// Mahak's id of the category.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn mahak_id(&self) -> ID {
        ID(self.0.category.mahak_id.to_string())
    }

    /// Name.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn name(&self) -> &str {
        &self.0.category.name
    }

    /// When Mahak deleted the category; null when it is not deleted.
    /// Owned by Mahak; read-only here (changes come from the sync).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.category.deleted_at
    }

    /// URL slug (shop-owned, editable); null only until the sync creates the listing.
    async fn slug(&self) -> Option<&str> {
        self.0.listing.as_ref().map(|l| l.slug.as_str())
    }

    /// Description in Markdown (shop-owned, editable).
    async fn description(&self) -> Option<&str> {
        self.0.listing.as_ref()?.description.as_deref()
    }

    /// Position in the shop's category list, smaller first (shop-owned, editable).
    async fn display_order(&self) -> i32 {
        self.0.listing.as_ref().map_or(0, |l| l.display_order)
    }

    /// Whether the shop shows it (shop-owned, editable).
    async fn published(&self) -> bool {
        self.0.listing.as_ref().is_some_and(|l| l.published)
    }

    /// When the listing was last edited.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.listing.as_ref().map(|l| l.updated_at)
    }
}

/// Why a product of `setProductsPublished` was not changed.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PublishErrorCode {
    /// No product has this id.
    NotFound,
    /// Deleted in Mahak: it cannot be published.
    DeletedInMahak,
    /// Mahak has no price for it: it cannot be published.
    NoPrice,
}

impl From<merch::PublishError> for PublishErrorCode {
    fn from(error: merch::PublishError) -> Self {
        match error {
            merch::PublishError::NotFound => PublishErrorCode::NotFound,
            merch::PublishError::Deleted => PublishErrorCode::DeletedInMahak,
            merch::PublishError::NoPrice => PublishErrorCode::NoPrice,
        }
    }
}

/// The result for one id of `setProductsPublished`.
#[derive(SimpleObject)]
pub struct ProductPublishResult {
    /// The id as given.
    product_id: ID,
    /// The product has the requested state now.
    ok: bool,
    /// This call changed it (false when it already had the state, or on error).
    changed: bool,
    /// Why not, when `ok` is false.
    error: Option<PublishErrorCode>,
    /// The reason in words, when `ok` is false.
    message: Option<String>,
    /// The product as it is now (null when not found).
    product: Option<AdminProduct>,
}

/// A page of `lowStock`.
pub struct LowStockConnection {
    page: merch::LowStockPage,
    pre: Arc<Preloaded>,
}

#[Object]
impl LowStockConnection {
    async fn edges(&self) -> Vec<LowStockEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, item)| LowStockEdge {
                cursor: cursor.clone(),
                node: LowStockItem {
                    variant: item.view.clone(),
                    product: item.product.clone().map(|row| AdminProduct {
                        row,
                        pre: self.pre.clone(),
                    }),
                },
            })
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: false,
            start_cursor: self.page.items.first().map(|(c, _)| c.clone()),
            end_cursor: self.page.items.last().map(|(c, _)| c.clone()),
        }
    }
}

#[derive(SimpleObject)]
pub struct LowStockEdge {
    cursor: String,
    node: LowStockItem,
}

/// A variant low on stock and its product.
pub struct LowStockItem {
    variant: VariantView,
    product: Option<AdminProduct>,
}

#[Object]
impl LowStockItem {
    async fn variant(&self) -> AdminVariant {
        AdminVariant(self.variant.clone())
    }

    /// The variant's product (null only when the sync has not delivered it yet).
    async fn product(&self) -> Option<&AdminProduct> {
        self.product.as_ref()
    }
}
