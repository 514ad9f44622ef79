//! The shop schema: what customers' web and mobile apps use.

mod account;
mod catalogue;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use super::loaders::CatalogueLoaders;

use super::{with_limits, Services};
use crate::auth::{Caller, JwtKeys};
use crate::config::Settings;

pub use account::{AccountMutation, AccountQuery};
pub use catalogue::CatalogueQuery;

#[derive(MergedObject, Default)]
pub struct ShopQuery(CatalogueQuery, AccountQuery);

#[derive(MergedObject, Default)]
pub struct ShopMutation(AccountMutation);

pub type ShopSchema = Schema<ShopQuery, ShopMutation, EmptySubscription>;

pub fn build(services: Services, settings: &Settings) -> ShopSchema {
    let builder = Schema::build(
        ShopQuery::default(),
        ShopMutation::default(),
        EmptySubscription,
    )
    .data(services);
    with_limits(builder, settings).finish()
}

/// Gives each request its own catalogue DataLoaders, so batches never mix requests, and the
/// caller's identity from `Authorization: Bearer <access token>`.
pub fn request_preparer(
    db: DatabaseConnection,
    keys: Arc<JwtKeys>,
) -> crate::http::graphql::Prepare {
    Box::new(move |request, headers| {
        request
            .data(CatalogueLoaders::new(&db))
            .data(Caller::from_headers(headers, &keys))
    })
}

/// The shop schema without services, for exporting its SDL.
pub fn sdl() -> String {
    Schema::build(
        ShopQuery::default(),
        ShopMutation::default(),
        EmptySubscription,
    )
    .finish()
    .sdl()
}
