//! Content pages and banners on the shop schema: only what is published (and, for banners,
//! within its window) is visible. Rules live in `crate::content`.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use entity::{banners, content_pages};

use crate::content::{banners as banner_rules, markdown, pages as page_rules};
use crate::error::{ApiError, ApiResult};
use crate::graphql::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// A content page of the shop (about, terms, shipping, ...).
pub struct Page(content_pages::Model);

#[Object]
impl Page {
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The page as written, in Markdown (CommonMark with tables).
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// The page rendered to HTML and sanitized (no scripts, event handlers or `javascript:`
    /// links), safe to insert into a page as it is.
    async fn html(&self) -> String {
        markdown::to_safe_html(&self.0.body)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A promotional banner.
pub struct Banner(banners::Model);

#[Object]
impl Banner {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Also the image's alternative text.
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn image_url(&self, ctx: &Context<'_>) -> ApiResult<String> {
        banner_rules::image_url(services(ctx).storage.as_ref(), &self.0.image)
            .await
            .map_err(ApiError::internal)
    }
    /// Where a tap leads: an absolute URL or a path of the shop (`/c/tea`); null: nowhere.
    async fn link_url(&self) -> Option<&str> {
        self.0.link_url.as_deref()
    }
    /// Banners come in ascending position.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

#[derive(Default)]
pub struct ContentQuery;

#[Object]
impl ContentQuery {
    /// A published content page by its slug; `NOT_FOUND` for an unknown or unpublished one.
    async fn page(&self, ctx: &Context<'_>, slug: String) -> ApiResult<Page> {
        Ok(Page(page_rules::published(&services(ctx).db, &slug).await?))
    }

    /// The banners to show now (published, within their window), in position order.
    async fn banners(&self, ctx: &Context<'_>) -> ApiResult<Vec<Banner>> {
        Ok(banner_rules::visible(&services(ctx).db, Utc::now())
            .await?
            .into_iter()
            .map(Banner)
            .collect())
    }
}
