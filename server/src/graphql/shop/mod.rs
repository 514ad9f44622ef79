//! The shop schema: what customers' web and mobile apps use.

mod catalogue;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Request, Schema};
use sea_orm::DatabaseConnection;

use super::loaders::CatalogueLoaders;

use super::{with_limits, Services};
use crate::config::Settings;

pub use catalogue::CatalogueQuery;

#[derive(MergedObject, Default)]
pub struct ShopQuery(CatalogueQuery);

pub type ShopSchema = Schema<ShopQuery, EmptyMutation, EmptySubscription>;

pub fn build(services: Services, settings: &Settings) -> ShopSchema {
    let builder =
        Schema::build(ShopQuery::default(), EmptyMutation, EmptySubscription).data(services);
    with_limits(builder, settings).finish()
}

/// Gives each request its own catalogue DataLoaders, so batches never mix requests.
pub fn request_preparer(db: DatabaseConnection) -> Box<dyn Fn(Request) -> Request + Send + Sync> {
    Box::new(move |request| request.data(CatalogueLoaders::new(&db)))
}

/// The shop schema without services, for exporting its SDL.
pub fn sdl() -> String {
    Schema::build(ShopQuery::default(), EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
