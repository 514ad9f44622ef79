//! The shop schema: what customers' web and mobile apps use.

mod account;
mod cart;
mod catalogue;
mod content;
mod credit;
mod live;
mod orders;
mod payments;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};
use sea_orm::DatabaseConnection;

use super::loaders::CatalogueLoaders;

use super::{with_limits, Services};
use crate::auth::{Caller, JwtKeys};
use crate::config::Settings;

pub use account::{AccountMutation, AccountQuery};
pub use cart::{CartMutation, CartQuery, CartToken};
pub use catalogue::{CatalogueQuery, ProductImage};
pub use live::{OrderStatusEvent, OrderSubscription};
pub use orders::{OrdersMutation, OrdersQuery};

#[derive(MergedObject, Default)]
pub struct ShopQuery(
    CatalogueQuery,
    AccountQuery,
    CartQuery,
    OrdersQuery,
    content::ContentQuery,
);

#[derive(MergedObject, Default)]
pub struct ShopMutation(
    AccountMutation,
    CartMutation,
    OrdersMutation,
    payments::PaymentsMutation,
    credit::CreditMutation,
);

#[derive(MergedSubscription, Default)]
pub struct ShopSubscription(OrderSubscription);

pub type ShopSchema = Schema<ShopQuery, ShopMutation, ShopSubscription>;

pub fn build(services: Services, settings: &Settings) -> ShopSchema {
    let builder = Schema::build(
        ShopQuery::default(),
        ShopMutation::default(),
        ShopSubscription::default(),
    )
    .data(services)
    .data(settings.checkout.clone());
    with_limits(builder, settings).finish()
}

/// Gives each request its own catalogue DataLoaders (reading from `catalogue_db`, the
/// catalogue's read connection `Services::read_db`), so batches never mix requests, and the
/// caller's identity from `Authorization: Bearer <access token>`, and the guest cart token
/// from `X-Cart-Token`.
pub fn request_preparer(
    catalogue_db: DatabaseConnection,
    keys: Arc<JwtKeys>,
) -> crate::http::graphql::Prepare {
    Box::new(move |request, headers| {
        request
            .data(CatalogueLoaders::new(&catalogue_db))
            .data(Caller::from_headers(headers, &keys))
            .data(CartToken::from_headers(headers))
    })
}

/// The shop schema without services, for exporting its SDL.
pub fn sdl() -> String {
    Schema::build(
        ShopQuery::default(),
        ShopMutation::default(),
        ShopSubscription::default(),
    )
    .finish()
    .sdl()
}
