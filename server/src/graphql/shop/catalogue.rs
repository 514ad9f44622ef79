//! Catalogue queries and types of the shop schema: categories, a Relay connection of
//! products with filters and sorting, and one product by id or slug.
//!
//! Every read here, the per-request loaders' included, goes to `Services::read_db` (the read
//! replica of `database.read_url` when configured): it is public data that may lag the
//! primary by a moment. What must be current (prices and stock at checkout, the cart) is read
//! by the commerce modules from the primary.

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use entity::{product_images, variant_stock};

use crate::catalogue::{self, Cursor, ListedCategory, ListedProduct, ProductFilter, ProductSort};
use crate::error::{ApiError, ApiResult};
use crate::graphql::loaders::{CatalogueLoaders, VariantWithStock};
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// Published categories, in the shop's display order.
    async fn categories(&self, ctx: &Context<'_>) -> ApiResult<Vec<Category>> {
        let services = ctx.data_unchecked::<Services>();
        Ok(catalogue::list_categories(&services.read_db)
            .await?
            .into_iter()
            .map(Category)
            .collect())
    }

    /// Published products, as a Relay cursor connection.
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last product of the previous page.")] after: Option<String>,
        filter: Option<ProductFilterInput>,
        #[graphql(desc = "Order of the products (default NEWEST).")] sort: Option<ProductSortInput>,
    ) -> ApiResult<ProductConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::bad_input(
                "first",
                format!("`first` must be between 1 and {MAX_PAGE}"),
            ));
        }
        let sort = ProductSort::from(sort.unwrap_or_default());
        let after = after
            .map(|text| Cursor::decode(&text, sort))
            .transpose()
            .map_err(|e| ApiError::bad_input("after", e.to_string()))?;
        let filter = filter
            .map(ProductFilterInput::into_filter)
            .transpose()?
            .unwrap_or_default();
        let services = ctx.data_unchecked::<Services>();
        let page = catalogue::list_products(
            &services.read_db,
            &filter,
            sort,
            first as u64,
            after.as_ref(),
        )
        .await?;
        if let Some(node) = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .selection_fields()
            .first()
        {
            let products: Vec<_> = page
                .items
                .iter()
                .map(|(_, listed)| &listed.product)
                .collect();
            loaders(ctx).prime(&products, *node).await?;
        }
        Ok(ProductConnection {
            items: page
                .items
                .into_iter()
                .map(|(cursor, product)| (cursor, Arc::new(product)))
                .collect(),
            has_next_page: page.has_next_page,
            filter,
        })
    }

    /// One published product, by `id` or by `slug` (exactly one of them).
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> ApiResult<Option<Product>> {
        let db = &ctx.data_unchecked::<Services>().read_db;
        let found = match (id, slug) {
            (Some(id), None) => match parse_id(&id) {
                Some(id) => catalogue::product_by_id(db, id).await?,
                None => None,
            },
            (None, Some(slug)) => catalogue::product_by_slug(db, &slug).await?,
            _ => {
                return Err(ApiError::bad_input(
                    "id",
                    "give exactly one of `id` and `slug`",
                ))
            }
        };
        Ok(found.map(|product| Product(Arc::new(product))))
    }
}

fn parse_id(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok()
}

#[derive(InputObject)]
#[graphql(name = "ProductFilter")]
pub struct ProductFilterInput {
    /// Only products of this category.
    category_id: Option<ID>,
    /// Words to find in the product name. Arabic and Persian letter forms, Persian and Latin
    /// digits, and the zero-width non-joiner are treated as equal.
    search: Option<String>,
    /// Only products with a variant in stock.
    in_stock: Option<bool>,
    /// Bounds on the product's lowest variant price.
    price_range: Option<PriceRange>,
}

#[derive(InputObject)]
pub struct PriceRange {
    min: Option<Rial>,
    max: Option<Rial>,
}

impl ProductFilterInput {
    fn into_filter(self) -> ApiResult<ProductFilter> {
        let category_id = match self.category_id {
            Some(id) => Some(
                parse_id(&id)
                    .ok_or_else(|| ApiError::bad_input("categoryId", "unknown category id"))?,
            ),
            None => None,
        };
        let search = self
            .search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
            return Err(ApiError::bad_input(
                "search",
                "search text is limited to 200 characters",
            ));
        }
        let (min_price, max_price) = match self.price_range {
            Some(range) => (range.min.map(|r| r.0), range.max.map(|r| r.0)),
            None => (None, None),
        };
        if let (Some(min), Some(max)) = (min_price, max_price) {
            if min > max {
                return Err(ApiError::bad_input(
                    "priceRange",
                    "`min` must not exceed `max`",
                ));
            }
        }
        Ok(ProductFilter {
            category_id,
            search,
            in_stock: self.in_stock.unwrap_or(false),
            min_price,
            max_price,
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(name = "ProductSort")]
pub enum ProductSortInput {
    /// Most recently added first.
    #[default]
    Newest,
    /// By name, alphabetically.
    NameAsc,
    /// Cheapest first (by lowest variant price).
    PriceAsc,
    /// Most expensive first (by lowest variant price).
    PriceDesc,
}

impl From<ProductSortInput> for ProductSort {
    fn from(sort: ProductSortInput) -> Self {
        match sort {
            ProductSortInput::Newest => ProductSort::Newest,
            ProductSortInput::NameAsc => ProductSort::NameAsc,
            ProductSortInput::PriceAsc => ProductSort::PriceAsc,
            ProductSortInput::PriceDesc => ProductSort::PriceDesc,
        }
    }
}

/// A page of products. Each product sits behind an `Arc`: its edge shares it instead of
/// copying the rows (with their Mahak JSON) once more per request.
pub struct ProductConnection {
    items: Vec<(Cursor, Arc<ListedProduct>)>,
    has_next_page: bool,
    filter: ProductFilter,
}

#[Object]
impl ProductConnection {
    async fn edges(&self) -> Vec<ProductEdge> {
        self.items
            .iter()
            .map(|(cursor, product)| ProductEdge {
                cursor: cursor.encode(),
                node: Product(product.clone()),
            })
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: false,
            start_cursor: self.items.first().map(|(c, _)| c.encode()),
            end_cursor: self.items.last().map(|(c, _)| c.encode()),
        }
    }

    /// Number of products matching the filter, over all pages. Costs one count query; ask
    /// for it only when you show it.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let db = &ctx.data_unchecked::<Services>().read_db;
        Ok(catalogue::count_products(db, &self.filter).await? as i64)
    }
}

pub struct ProductEdge {
    cursor: String,
    node: Product,
}

#[Object]
impl ProductEdge {
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &Product {
        &self.node
    }
}

/// Relay page information. Pagination runs forward only (`first`/`after`), so
/// `hasPreviousPage` is always false.
#[derive(SimpleObject)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

pub struct Product(Arc<ListedProduct>);

fn loaders<'a>(ctx: &'a Context<'_>) -> &'a CatalogueLoaders {
    ctx.data_unchecked::<CatalogueLoaders>()
}

#[Object]
impl Product {
    async fn id(&self) -> ID {
        ID(self.0.product.id.to_string())
    }

    /// Stable, URL-friendly name chosen by the shop.
    async fn slug(&self) -> &str {
        &self.0.listing.slug
    }

    /// Name as kept in Mahak (Persian letter forms normalized).
    async fn name(&self) -> &str {
        &self.0.product.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.listing.description.as_deref()
    }

    async fn seo_title(&self) -> Option<&str> {
        self.0.listing.seo_title.as_deref()
    }

    async fn seo_description(&self) -> Option<&str> {
        self.0.listing.seo_description.as_deref()
    }

    /// Value-added tax, in percent, as set in Mahak.
    async fn tax_percent(&self) -> f64 {
        self.0.product.tax_percent
    }

    /// Toll (عوارض), in percent, as set in Mahak.
    async fn toll_percent(&self) -> f64 {
        self.0.product.toll_percent
    }

    /// Lowest price among the variants.
    async fn min_price(&self) -> Option<Rial> {
        self.0.product.min_price.map(Rial)
    }

    /// Highest price among the variants.
    async fn max_price(&self) -> Option<Rial> {
        self.0.product.max_price.map(Rial)
    }

    async fn category(&self, ctx: &Context<'_>) -> ApiResult<Option<Category>> {
        let Some(mahak_id) = self.0.product.category_mahak_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)
            .categories
            .load_one(mahak_id)
            .await?
            .map(Category))
    }

    /// Sellable variants (not deleted in Mahak).
    async fn variants(&self, ctx: &Context<'_>) -> ApiResult<Vec<Variant>> {
        let rows = loaders(ctx)
            .variants
            .load_one(self.0.product.mahak_id)
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Variant).collect())
    }

    /// The product's images in display order (the first is the main one).
    async fn images(&self, ctx: &Context<'_>) -> ApiResult<Vec<ProductImage>> {
        let rows = loaders(ctx).images.load_one(self.0.product.id).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(ProductImage)
            .collect())
    }
}

/// Shared with the request's loader cache (see `graphql::loaders`), not copied out of it.
pub struct Variant(Arc<VariantWithStock>);

#[Object]
impl Variant {
    async fn id(&self) -> ID {
        ID(self.0.variant.id.to_string())
    }

    async fn barcode(&self) -> Option<&str> {
        self.0.variant.barcode.as_deref().filter(|b| !b.is_empty())
    }

    /// What distinguishes this variant (colour, size, ...), as Mahak's property codes and values.
    async fn properties(&self) -> Vec<VariantProperty> {
        VariantProperty::parse(&self.0.variant.properties)
    }

    /// Price for the customer, at the variant's default price level. Absent when Mahak has no
    /// price for it; such a variant cannot be bought.
    async fn price(&self) -> Option<Rial> {
        catalogue::price::shop_price(&self.0.variant).map(Rial)
    }

    /// Units in stock over all warehouses, rounded down.
    async fn available_quantity(&self) -> i64 {
        total_stock(&self.0.stock)
    }

    async fn in_stock(&self) -> bool {
        total_stock(&self.0.stock) > 0
    }
}

fn total_stock(rows: &[variant_stock::Model]) -> i64 {
    rows.iter()
        .map(|row| row.quantity.max(0.0))
        .sum::<f64>()
        .floor() as i64
}

#[derive(SimpleObject)]
pub struct VariantProperty {
    /// Mahak's property code.
    code: i64,
    value: String,
}

impl VariantProperty {
    /// Mahak's `[{"C":12,"V":"Red"}]`; entries of other shapes are skipped.
    fn parse(json: &serde_json::Value) -> Vec<VariantProperty> {
        let Some(items) = json.as_array() else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let code = item.get("C").or_else(|| item.get("c"))?.as_i64()?;
                let value = item.get("V").or_else(|| item.get("v"))?;
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(VariantProperty { code, value })
            })
            .collect()
    }
}

/// A product image: the original and smaller copies of it for lists and screens of every size.
pub struct ProductImage(product_images::Model);

impl From<product_images::Model> for ProductImage {
    fn from(row: product_images::Model) -> Self {
        ProductImage(row)
    }
}

#[Object]
impl ProductImage {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// URL of the original image. Depending on the server's configuration it is a permanent
    /// public URL or a signed one that expires (after at least half of `storage.presign_ttl_secs`):
    /// do not store it, ask again.
    async fn url(&self, ctx: &Context<'_>) -> ApiResult<String> {
        read_url(ctx, &self.0.object_key).await
    }

    /// Text describing the image, for screen readers and when it cannot be shown.
    async fn alt_text(&self) -> &str {
        &self.0.alt_text
    }

    /// Width of the original in pixels.
    async fn width(&self) -> Option<i32> {
        self.0.width
    }

    /// Height of the original in pixels.
    async fn height(&self) -> Option<i32> {
        self.0.height
    }

    /// Place among the product's images, from 0 (the main image).
    async fn position(&self) -> i32 {
        self.0.position
    }

    /// Smaller copies, narrowest first (up to 160, 480 and 1200 pixels wide, never wider than
    /// the original). Pick the narrowest one at least as wide as the space it fills; empty for
    /// images that have none.
    async fn thumbnails(&self, ctx: &Context<'_>) -> ApiResult<Vec<ImageThumbnail>> {
        let mut list = Vec::new();
        for thumb in crate::media::thumbnails(&self.0) {
            list.push(ImageThumbnail {
                url: read_url(ctx, &thumb.key).await?,
                width: thumb.width as i32,
                height: thumb.height as i32,
            });
        }
        Ok(list)
    }
}

/// A resized copy of a product image.
#[derive(SimpleObject)]
pub struct ImageThumbnail {
    /// Same rules as `ProductImage.url`.
    url: String,
    /// Width in pixels.
    width: i32,
    /// Height in pixels.
    height: i32,
}

/// The URL clients read an object from (public, or presigned: no database access either way).
async fn read_url(ctx: &Context<'_>, key: &str) -> ApiResult<String> {
    ctx.data_unchecked::<Services>()
        .storage
        .read_url(key)
        .await
        .map_err(ApiError::internal)
}

pub struct Category(ListedCategory);

#[Object]
impl Category {
    async fn id(&self) -> ID {
        ID(self.0.category.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.category.name
    }

    async fn slug(&self) -> &str {
        &self.0.listing.slug
    }

    async fn description(&self) -> Option<&str> {
        self.0.listing.description.as_deref()
    }

    async fn display_order(&self) -> i32 {
        self.0.listing.display_order
    }
}
