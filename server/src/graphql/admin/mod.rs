//! The admin schema: what the staff's back office uses. A separate schema from the shop's,
//! never the same one with guards.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

use super::{with_limits, Services};
use crate::config::Settings;

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// Version of the running server.
    async fn server_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

pub type AdminSchema = Schema<AdminQuery, EmptyMutation, EmptySubscription>;

pub fn build(services: Services, settings: &Settings) -> AdminSchema {
    let builder = Schema::build(AdminQuery, EmptyMutation, EmptySubscription).data(services);
    with_limits(builder, settings).finish()
}

/// The admin schema without services, for exporting its SDL.
pub fn sdl() -> String {
    Schema::build(AdminQuery, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
