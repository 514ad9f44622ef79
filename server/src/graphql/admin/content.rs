//! Content pages, banners and promotions in the back office (permission `CONTENT`). Rules and
//! the audit entries live in `crate::content`.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, ID};
use chrono::{DateTime, Utc};
use entity::{banners, content_pages, promotions};
use uuid::Uuid;

use super::access::{self, Permission};
use crate::content::banners::{self as banner_rules, BannerPatch, NewBanner};
use crate::content::pages::{self as page_rules, NewPage, PagePatch};
use crate::content::promotions::{
    self as promotion_rules, Discount, DiscountKind as Kind, NewPromotion, PromotionPatch,
};
use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn parse_id(id: &ID, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found(what))
}

/// `Some(None)` for an explicit null, `None` when the field was left out.
fn patch<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// A content page of the shop (about, terms, shipping, ...).
pub struct ContentPage(content_pages::Model);

#[Object]
impl ContentPage {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The page's address on the shop: lowercase letters, digits and hyphens, unique.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Markdown (CommonMark with tables). The shop also serves it as sanitized HTML.
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Only published pages are shown on the shop.
    async fn published(&self) -> bool {
        self.0.published
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(InputObject)]
pub struct CreatePageInput {
    /// 1 to 100 lowercase letters a-z, digits and single hyphens inside; unique (`CONFLICT`).
    pub slug: String,
    /// 1 to 200 characters.
    pub title: String,
    /// Markdown, at most 200,000 characters.
    pub body: String,
    #[graphql(default)]
    pub published: bool,
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdatePageInput {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Banners

/// A promotional banner of the shop (the shop schema shows it as `Banner`).
pub struct ContentBanner(banners::Model);

#[Object]
impl ContentBanner {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The image as stored: an object key in the store's storage, or an absolute URL.
    async fn image(&self) -> &str {
        &self.0.image
    }
    /// Where the image can be loaded from now.
    async fn image_url(&self, ctx: &Context<'_>) -> ApiResult<String> {
        banner_rules::image_url(services(ctx).storage.as_ref(), &self.0.image)
            .await
            .map_err(ApiError::internal)
    }
    /// Where a tap leads: an absolute URL or a path of the shop.
    async fn link_url(&self) -> Option<&str> {
        self.0.link_url.as_deref()
    }
    /// Banners are shown in ascending position.
    async fn position(&self) -> i32 {
        self.0.position
    }
    /// Shown from this time on (null: no start).
    async fn starts_at(&self) -> Option<DateTime<Utc>> {
        self.0.starts_at
    }
    /// Shown until this time, excluded (null: no end).
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    async fn published(&self) -> bool {
        self.0.published
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(InputObject)]
pub struct CreateBannerInput {
    /// 1 to 200 characters (also the image's alternative text).
    pub title: String,
    /// An object key in the store's storage (e.g. one returned by an image upload) or an
    /// absolute `http(s)` URL.
    pub image: String,
    /// An absolute `http(s)` URL or a path of the shop starting with `/`.
    pub link_url: Option<String>,
    /// 0 to 10,000; lower first.
    #[graphql(default)]
    pub position: i32,
    pub starts_at: Option<DateTime<Utc>>,
    /// Must be after `startsAt`.
    pub ends_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    pub published: bool,
}

/// Fields left out stay as they are; `null` clears `linkUrl`, `startsAt` or `endsAt`.
#[derive(InputObject)]
pub struct UpdateBannerInput {
    pub title: Option<String>,
    pub image: Option<String>,
    pub link_url: MaybeUndefined<String>,
    pub position: Option<i32>,
    pub starts_at: MaybeUndefined<DateTime<Utc>>,
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    pub published: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Promotions

/// How a promotion discounts.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DiscountKind {
    /// A percentage of the cart's subtotal (rounded half up to whole Rial).
    Percentage,
    /// A fixed amount of Rial.
    FixedAmount,
}

/// A coupon code the shop's cart applies (`applyCoupon`). A cart gets its discount while the
/// promotion is active, within its window, below its usage limits and when the subtotal is at
/// least `minSubtotal`. The discount is taken off the goods before tax, capped by
/// `maxDiscount` and by the subtotal.
pub struct Promotion(promotions::Model);

#[Object]
impl Promotion {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What customers type; matched exactly. Cannot be changed once created.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn kind(&self) -> ApiResult<DiscountKind> {
        match Kind::parse(&self.0.kind) {
            Some(Kind::Percentage) => Ok(DiscountKind::Percentage),
            Some(Kind::Fixed) => Ok(DiscountKind::FixedAmount),
            None => Err(ApiError::internal(anyhow::anyhow!(
                "promotion {} has unknown kind {}",
                self.0.id,
                self.0.kind
            ))),
        }
    }
    /// The percentage (1 to 100) of a `PERCENTAGE` promotion; null otherwise.
    async fn percentage(&self) -> Option<i64> {
        (Kind::parse(&self.0.kind) == Some(Kind::Percentage))
            .then(|| promotion_rules::display_value(&self.0))
    }
    /// The amount of a `FIXED_AMOUNT` promotion; null otherwise.
    async fn amount(&self) -> Option<Rial> {
        (Kind::parse(&self.0.kind) == Some(Kind::Fixed)).then_some(Rial(self.0.value))
    }
    /// Smallest cart subtotal the code applies to.
    async fn min_subtotal(&self) -> Rial {
        Rial(self.0.min_subtotal)
    }
    /// Largest discount one cart gets (null: no cap).
    async fn max_discount(&self) -> Option<Rial> {
        self.0.max_discount.map(Rial)
    }
    /// Checkouts allowed in all (null: unlimited).
    async fn usage_limit(&self) -> Option<i32> {
        self.0.usage_limit
    }
    /// Orders one customer may place with the code, cancelled ones not counted (null:
    /// unlimited).
    async fn per_customer_limit(&self) -> Option<i32> {
        self.0.per_customer_limit
    }
    /// Checkouts that used the code so far.
    async fn used_count(&self) -> i32 {
        self.0.used_count
    }
    /// Valid from this time on (null: no start).
    async fn starts_at(&self) -> Option<DateTime<Utc>> {
        self.0.starts_at
    }
    /// Valid until this time, excluded (null: no end).
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Exactly one of `percentage` and `amount` sets the discount.
fn discount(percentage: Option<i64>, amount: Option<Rial>) -> ApiResult<Option<Discount>> {
    match (percentage, amount) {
        (Some(_), Some(_)) => Err(ApiError::bad_input(
            "amount",
            "give either percentage or amount, not both",
        )),
        (Some(p), None) => Ok(Some(Discount::Percentage(p))),
        (None, Some(a)) => Ok(Some(Discount::Fixed(a.0))),
        (None, None) => Ok(None),
    }
}

#[derive(InputObject)]
pub struct CreatePromotionInput {
    /// 3 to 32 letters, digits, `-` and `_`; unique (`CONFLICT`).
    pub code: String,
    #[graphql(default)]
    pub description: String,
    /// A percentage discount, 1 to 100. Give this or `amount`.
    pub percentage: Option<i64>,
    /// A fixed discount, more than 0 Rial. Give this or `percentage`.
    pub amount: Option<Rial>,
    /// At least 0; default 0.
    pub min_subtotal: Option<Rial>,
    /// More than 0; null for no cap.
    pub max_discount: Option<Rial>,
    /// At least 1; null for unlimited.
    pub usage_limit: Option<i32>,
    /// At least 1; null for unlimited.
    pub per_customer_limit: Option<i32>,
    pub starts_at: Option<DateTime<Utc>>,
    /// Must be after `startsAt`.
    pub ends_at: Option<DateTime<Utc>>,
    #[graphql(default = true)]
    pub active: bool,
}

/// Fields left out stay as they are; `null` clears a nullable one. `percentage` or `amount`
/// replaces the discount (and its kind).
#[derive(InputObject)]
pub struct UpdatePromotionInput {
    pub description: Option<String>,
    pub percentage: Option<i64>,
    pub amount: Option<Rial>,
    pub min_subtotal: Option<Rial>,
    pub max_discount: MaybeUndefined<Rial>,
    pub usage_limit: MaybeUndefined<i32>,
    pub per_customer_limit: MaybeUndefined<i32>,
    pub starts_at: MaybeUndefined<DateTime<Utc>>,
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    pub active: Option<bool>,
}

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
pub struct ContentQuery;

#[Object]
impl ContentQuery {
    /// Every content page, published or not, by slug. Permission `CONTENT`.
    async fn content_pages(&self, ctx: &Context<'_>) -> ApiResult<Vec<ContentPage>> {
        access::require(ctx, Permission::Content).await?;
        Ok(page_rules::list(&services(ctx).db)
            .await?
            .into_iter()
            .map(ContentPage)
            .collect())
    }

    /// One content page. Permission `CONTENT`.
    async fn content_page(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ContentPage> {
        access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "page")?;
        Ok(ContentPage(page_rules::get(&services(ctx).db, id).await?))
    }

    /// Every banner, shown or not, by position. Permission `CONTENT`.
    async fn banners(&self, ctx: &Context<'_>) -> ApiResult<Vec<ContentBanner>> {
        access::require(ctx, Permission::Content).await?;
        Ok(banner_rules::list(&services(ctx).db)
            .await?
            .into_iter()
            .map(ContentBanner)
            .collect())
    }

    /// Every promotion, newest first. Permission `CONTENT`.
    async fn promotions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Promotion>> {
        access::require(ctx, Permission::Content).await?;
        Ok(promotion_rules::list(&services(ctx).db)
            .await?
            .into_iter()
            .map(Promotion)
            .collect())
    }
}

#[derive(Default)]
pub struct ContentMutation;

/// Every mutation here needs the permission `CONTENT` and is written to the audit log.
#[Object]
impl ContentMutation {
    async fn create_page(
        &self,
        ctx: &Context<'_>,
        input: CreatePageInput,
    ) -> ApiResult<ContentPage> {
        let caller = access::require(ctx, Permission::Content).await?;
        let page = page_rules::create(
            &services(ctx).db,
            caller.id,
            NewPage {
                slug: input.slug,
                title: input.title,
                body: input.body,
                published: input.published,
            },
        )
        .await?;
        Ok(ContentPage(page))
    }

    async fn update_page(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePageInput,
    ) -> ApiResult<ContentPage> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "page")?;
        let page = page_rules::update(
            &services(ctx).db,
            caller.id,
            id,
            PagePatch {
                slug: input.slug,
                title: input.title,
                body: input.body,
                published: input.published,
            },
        )
        .await?;
        Ok(ContentPage(page))
    }

    /// Deletes a page for good; returns it as it was.
    async fn delete_page(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ContentPage> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "page")?;
        Ok(ContentPage(
            page_rules::delete(&services(ctx).db, caller.id, id).await?,
        ))
    }

    async fn create_banner(
        &self,
        ctx: &Context<'_>,
        input: CreateBannerInput,
    ) -> ApiResult<ContentBanner> {
        let caller = access::require(ctx, Permission::Content).await?;
        let banner = banner_rules::create(
            &services(ctx).db,
            caller.id,
            NewBanner {
                title: input.title,
                image: input.image,
                link_url: input.link_url,
                position: input.position,
                starts_at: input.starts_at,
                ends_at: input.ends_at,
                published: input.published,
            },
        )
        .await?;
        Ok(ContentBanner(banner))
    }

    async fn update_banner(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateBannerInput,
    ) -> ApiResult<ContentBanner> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "banner")?;
        let banner = banner_rules::update(
            &services(ctx).db,
            caller.id,
            id,
            BannerPatch {
                title: input.title,
                image: input.image,
                link_url: patch(input.link_url),
                position: input.position,
                starts_at: patch(input.starts_at),
                ends_at: patch(input.ends_at),
                published: input.published,
            },
        )
        .await?;
        Ok(ContentBanner(banner))
    }

    /// Deletes a banner for good; returns it as it was.
    async fn delete_banner(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ContentBanner> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "banner")?;
        Ok(ContentBanner(
            banner_rules::delete(&services(ctx).db, caller.id, id).await?,
        ))
    }

    async fn create_promotion(
        &self,
        ctx: &Context<'_>,
        input: CreatePromotionInput,
    ) -> ApiResult<Promotion> {
        let caller = access::require(ctx, Permission::Content).await?;
        let discount = discount(input.percentage, input.amount)?.ok_or_else(|| {
            ApiError::bad_input("percentage", "give the discount: percentage or amount")
        })?;
        let promotion = promotion_rules::create(
            &services(ctx).db,
            caller.id,
            NewPromotion {
                code: input.code,
                description: input.description,
                discount,
                min_subtotal: input.min_subtotal.map_or(0, |r| r.0),
                max_discount: input.max_discount.map(|r| r.0),
                usage_limit: input.usage_limit,
                per_customer_limit: input.per_customer_limit,
                starts_at: input.starts_at,
                ends_at: input.ends_at,
                active: input.active,
            },
        )
        .await?;
        Ok(Promotion(promotion))
    }

    async fn update_promotion(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePromotionInput,
    ) -> ApiResult<Promotion> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "promotion")?;
        let promotion = promotion_rules::update(
            &services(ctx).db,
            caller.id,
            id,
            PromotionPatch {
                description: input.description,
                discount: discount(input.percentage, input.amount)?,
                min_subtotal: input.min_subtotal.map(|r| r.0),
                max_discount: patch(input.max_discount).map(|m| m.map(|r| r.0)),
                usage_limit: patch(input.usage_limit),
                per_customer_limit: patch(input.per_customer_limit),
                starts_at: patch(input.starts_at),
                ends_at: patch(input.ends_at),
                active: input.active,
            },
        )
        .await?;
        Ok(Promotion(promotion))
    }

    /// Stops the code from applying to any cart (carts holding it show a coupon problem).
    /// `updatePromotion(active: true)` turns it on again.
    async fn deactivate_promotion(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Promotion> {
        let caller = access::require(ctx, Permission::Content).await?;
        let id = parse_id(&id, "promotion")?;
        Ok(Promotion(
            promotion_rules::deactivate(&services(ctx).db, caller.id, id).await?,
        ))
    }
}
