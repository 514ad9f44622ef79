//! The cart on the shop schema. Resolvers find whose cart it is and call
//! `crate::commerce::cart`; prices and totals are always computed server-side, in Rial.
//!
//! Guests: `createCart` returns a cart token; send it back as the `X-Cart-Token` header on
//! every cart request, and on `verifyOtp` to merge the guest cart into the customer's cart. A
//! signed-in caller (a valid `Authorization` header) always works on their own cart and the
//! header is ignored, except by `verifyOtp`.

use async_graphql::{Context, Object, SimpleObject, ID};
use axum::http::HeaderMap;
use entity::customers;
use uuid::Uuid;

use crate::auth::{self, Caller};
use crate::commerce::cart::{self as rules, CartLineView, CartOwner, CartView};
use crate::commerce::CheckoutSettings;
use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

/// The `X-Cart-Token` header of a request, if any.
#[derive(Debug, Clone, Default)]
pub struct CartToken(pub Option<String>);

impl CartToken {
    pub const HEADER: &'static str = "x-cart-token";

    pub fn from_headers(headers: &HeaderMap) -> CartToken {
        CartToken(
            headers
                .get(Self::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v.len() <= 200),
        )
    }
}

pub(super) fn settings<'a>(ctx: &Context<'a>) -> &'a CheckoutSettings {
    ctx.data_unchecked::<CheckoutSettings>()
}

pub(super) fn db<'a>(ctx: &Context<'a>) -> &'a sea_orm::DatabaseConnection {
    &ctx.data_unchecked::<Services>().db
}

/// Whose cart this request works on: the signed-in customer's (blocked: `FORBIDDEN`), or the
/// guest cart of the `X-Cart-Token` header; with neither, `UNAUTHENTICATED`.
async fn owner(ctx: &Context<'_>) -> ApiResult<(CartOwner, Option<customers::Model>)> {
    let caller = ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous);
    match caller {
        Caller::Customer { .. } => {
            let customer = auth::current_customer(db(ctx), caller).await?;
            Ok((CartOwner::Customer(customer.id), Some(customer)))
        }
        Caller::Invalid => Err(ApiError::Unauthenticated),
        Caller::Anonymous => match ctx.data_opt::<CartToken>().and_then(|t| t.0.clone()) {
            Some(token) => Ok((CartOwner::Guest(token), None)),
            None => Err(ApiError::Unauthenticated),
        },
    }
}

async fn view(
    ctx: &Context<'_>,
    cart: &entity::carts::Model,
    customer: Option<&customers::Model>,
) -> ApiResult<Cart> {
    Ok(Cart(
        rules::price_cart(db(ctx), cart, customer, settings(ctx), false).await?,
    ))
}

fn parse_id(id: &ID, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found(what))
}

/// A cart with its prices and totals as they are now, in Rial.
pub struct Cart(CartView);

#[Object]
impl Cart {
    async fn id(&self) -> ID {
        ID(self.0.cart.id.to_string())
    }
    async fn lines(&self) -> Vec<CartLine> {
        self.0.lines.iter().cloned().map(CartLine).collect()
    }
    /// Units over all lines.
    async fn item_count(&self) -> i32 {
        self.0.lines.iter().map(|l| l.line.quantity).sum()
    }
    async fn coupon_code(&self) -> Option<&str> {
        self.0.cart.coupon_code.as_deref()
    }
    /// Why the applied coupon gives no discount at the moment (e.g. the subtotal fell below
    /// its minimum); checkout refuses the cart until it is fixed or the coupon removed.
    async fn coupon_problem(&self) -> Option<&str> {
        self.0.coupon_problem.as_deref()
    }
    /// Sum of unit price × quantity of the lines that can be bought.
    async fn subtotal(&self) -> Rial {
        Rial(self.0.totals.subtotal)
    }
    async fn discount(&self) -> Rial {
        Rial(self.0.totals.discount)
    }
    async fn tax(&self) -> Rial {
        Rial(self.0.totals.tax)
    }
    async fn toll(&self) -> Rial {
        Rial(self.0.totals.toll)
    }
    async fn shipping(&self) -> Rial {
        Rial(self.0.totals.shipping)
    }
    /// subtotal − discount + tax + toll + shipping.
    async fn grand_total(&self) -> Rial {
        Rial(self.0.totals.grand_total)
    }
}

/// One variant in the cart. Money fields are absent when the item can no longer be bought.
pub struct CartLine(CartLineView);

#[Object]
impl CartLine {
    async fn id(&self) -> ID {
        ID(self.0.line.id.to_string())
    }
    async fn variant_id(&self) -> ID {
        ID(self.0.line.variant_id.to_string())
    }
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }
    /// The variant's property values, e.g. "Red / XL".
    async fn variant_label(&self) -> &str {
        &self.0.variant_label
    }
    async fn quantity(&self) -> i32 {
        self.0.line.quantity
    }
    /// False when the item was unpublished, deleted or lost its price: remove it to check out.
    async fn purchasable(&self) -> bool {
        self.0.priced.is_some()
    }
    /// Units that can still be ordered (stock minus what other orders hold).
    async fn available_quantity(&self) -> i32 {
        i32::try_from(self.0.available).unwrap_or(i32::MAX)
    }
    /// Price of one unit at the customer's price level.
    async fn unit_price(&self) -> Option<Rial> {
        self.0.priced.as_ref().map(|p| Rial(p.unit_price))
    }
    /// This line's share of the coupon discount.
    async fn discount(&self) -> Option<Rial> {
        self.0.priced.as_ref().map(|p| Rial(p.discount))
    }
    async fn tax(&self) -> Option<Rial> {
        self.0.priced.as_ref().map(|p| Rial(p.tax))
    }
    async fn toll(&self) -> Option<Rial> {
        self.0.priced.as_ref().map(|p| Rial(p.toll))
    }
    /// unit price × quantity − discount + tax + toll.
    async fn line_total(&self) -> Option<Rial> {
        self.0.priced.as_ref().map(|p| Rial(p.total))
    }
}

/// A new guest cart and the token that reaches it.
#[derive(SimpleObject)]
pub struct GuestCart {
    /// Send as the `X-Cart-Token` header on cart requests and on `verifyOtp`. Shown once.
    pub token: String,
    pub cart: Cart,
}

#[derive(Default)]
pub struct CartQuery;

#[Object]
impl CartQuery {
    /// The caller's cart: the signed-in customer's, or the guest cart of the `X-Cart-Token`
    /// header. Null when the customer has no cart yet. `UNAUTHENTICATED` with neither a
    /// customer token nor a cart token; `NOT_FOUND` for an unknown cart token.
    async fn cart(&self, ctx: &Context<'_>) -> ApiResult<Option<Cart>> {
        let (owner, customer) = owner(ctx).await?;
        match rules::find_cart(db(ctx), &owner).await? {
            Some(cart) => Ok(Some(view(ctx, &cart, customer.as_ref()).await?)),
            None => Ok(None),
        }
    }
}

#[derive(Default)]
pub struct CartMutation;

#[Object]
impl CartMutation {
    /// Starts a guest cart. Signed-in customers do not need one: their cart is created on
    /// first use.
    async fn create_cart(&self, ctx: &Context<'_>) -> ApiResult<GuestCart> {
        let (cart, token) = rules::create_guest_cart(db(ctx)).await?;
        Ok(GuestCart {
            token,
            cart: view(ctx, &cart, None).await?,
        })
    }

    /// Adds units of a variant (to its line, if the cart already has it). The total is checked
    /// against the stock available: `BAD_USER_INPUT` on `quantity` when it is not there, on
    /// `variantId` when the item is not for sale.
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        variant_id: ID,
        #[graphql(default = 1)] quantity: i32,
    ) -> ApiResult<Cart> {
        let (owner, customer) = owner(ctx).await?;
        let variant_id = variant_id
            .parse::<i64>()
            .map_err(|_| ApiError::bad_input("variantId", "this product is not for sale"))?;
        let cart = rules::add_to_cart(
            db(ctx),
            &owner,
            customer.as_ref(),
            variant_id,
            i64::from(quantity),
            settings(ctx),
        )
        .await?;
        view(ctx, &cart, customer.as_ref()).await
    }

    /// Sets a line's quantity; 0 removes the line.
    async fn update_cart_line(
        &self,
        ctx: &Context<'_>,
        line_id: ID,
        quantity: i32,
    ) -> ApiResult<Cart> {
        let (owner, customer) = owner(ctx).await?;
        let line_id = parse_id(&line_id, "cart line")?;
        let cart = rules::update_line(db(ctx), &owner, line_id, i64::from(quantity), settings(ctx))
            .await?;
        view(ctx, &cart, customer.as_ref()).await
    }

    async fn remove_cart_line(&self, ctx: &Context<'_>, line_id: ID) -> ApiResult<Cart> {
        let (owner, customer) = owner(ctx).await?;
        let line_id = parse_id(&line_id, "cart line")?;
        let cart = rules::remove_line(db(ctx), &owner, line_id).await?;
        view(ctx, &cart, customer.as_ref()).await
    }

    /// Applies a coupon code (case-sensitive). Why it does not apply (unknown, inactive, not
    /// yet valid, expired, used up, already used by you, subtotal too small) is a
    /// `BAD_USER_INPUT` on `code`.
    async fn apply_coupon(&self, ctx: &Context<'_>, code: String) -> ApiResult<Cart> {
        let (owner, customer) = owner(ctx).await?;
        let cart =
            rules::apply_coupon(db(ctx), &owner, customer.as_ref(), &code, settings(ctx)).await?;
        view(ctx, &cart, customer.as_ref()).await
    }

    async fn remove_coupon(&self, ctx: &Context<'_>) -> ApiResult<Option<Cart>> {
        let (owner, customer) = owner(ctx).await?;
        match rules::remove_coupon(db(ctx), &owner).await? {
            Some(cart) => Ok(Some(view(ctx, &cart, customer.as_ref()).await?)),
            None => Ok(None),
        }
    }
}

/// Called by `verifyOtp`: merges the guest cart of the request's `X-Cart-Token` into the
/// customer's cart. A failure is logged, never fails the sign-in.
pub async fn merge_on_sign_in(ctx: &Context<'_>, customer_id: Uuid) {
    let Some(token) = ctx.data_opt::<CartToken>().and_then(|t| t.0.clone()) else {
        return;
    };
    if let Err(err) = rules::merge_guest_cart(db(ctx), &token, customer_id, settings(ctx)).await {
        tracing::warn!(error = ?err, "could not merge the guest cart at sign-in");
    }
}
