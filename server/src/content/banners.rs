//! Banners: an image (an object key in the store's object storage, or an absolute URL), an
//! optional link, a position, an optional window `[starts_at, ends_at)` and a published flag.
//! The shop shows the published banners whose window holds the current time, by position.

use chrono::{DateTime, Utc};
use entity::banners::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{audit, check_window, required_text};
use crate::error::{ApiError, ApiResult};

pub const MAX_TITLE: usize = 200;
pub const MAX_URL: usize = 2_000;
pub const MAX_POSITION: i32 = 10_000;
const TARGET: &str = "banner";

#[derive(Debug, Clone)]
pub struct NewBanner {
    pub title: String,
    pub image: String,
    pub link_url: Option<String>,
    pub position: i32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub published: bool,
}

/// Changes to a banner: `None` leaves a field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct BannerPatch {
    pub title: Option<String>,
    pub image: Option<String>,
    pub link_url: Option<Option<String>>,
    pub position: Option<i32>,
    pub starts_at: Option<Option<DateTime<Utc>>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub published: Option<bool>,
}

fn is_http_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && text.len() > "https://".len()
        && !text.chars().any(char::is_whitespace)
}

/// An object key of the store (`banners/noruz.jpg`) or an absolute `http(s)` URL.
pub fn check_image(image: &str) -> ApiResult<String> {
    let image = image.trim();
    if image.len() <= MAX_URL && (is_http_url(image) || crate::storage::valid_key(image)) {
        Ok(image.to_string())
    } else {
        Err(ApiError::bad_input(
            "image",
            "image must be an object key (letters, digits, -, _, . and /) or an http(s) URL",
        ))
    }
}

/// An absolute `http(s)` URL or a path of the shop starting with `/`.
pub fn check_link(link: &str) -> ApiResult<Option<String>> {
    let link = link.trim();
    if link.is_empty() {
        return Ok(None);
    }
    let path = link.starts_with('/')
        && !link.starts_with("//")
        && !link.chars().any(|c| c.is_whitespace() || c == '\\');
    if link.len() <= MAX_URL && (path || is_http_url(link)) {
        Ok(Some(link.to_string()))
    } else {
        Err(ApiError::bad_input(
            "linkUrl",
            "linkUrl must be an http(s) URL or a path of the shop starting with /",
        ))
    }
}

fn check_position(position: i32) -> ApiResult<i32> {
    if (0..=MAX_POSITION).contains(&position) {
        Ok(position)
    } else {
        Err(ApiError::bad_input(
            "position",
            format!("position must be 0 to {MAX_POSITION}"),
        ))
    }
}

/// The URL a banner's image is read from: the image itself when it is a URL, else the object
/// store's URL for its key.
pub async fn image_url(
    storage: &dyn crate::storage::ObjectStore,
    image: &str,
) -> anyhow::Result<String> {
    if is_http_url(image) {
        return Ok(image.to_string());
    }
    storage.read_url(image).await
}

/// Every banner, by position.
pub async fn list<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<banners::Model>> {
    Ok(Entity::find()
        .order_by_asc(Column::Position)
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?)
}

/// The banners the shop shows at `now`: published and within their window, by position.
pub async fn visible<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> ApiResult<Vec<banners::Model>> {
    Ok(Entity::find()
        .filter(Column::Published.eq(true))
        .filter(
            Condition::any()
                .add(Column::StartsAt.is_null())
                .add(Column::StartsAt.lte(now)),
        )
        .filter(
            Condition::any()
                .add(Column::EndsAt.is_null())
                .add(Column::EndsAt.gt(now)),
        )
        .order_by_asc(Column::Position)
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<banners::Model> {
    Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("banner"))
}

pub async fn create(
    db: &DatabaseConnection,
    staff_id: Uuid,
    input: NewBanner,
) -> ApiResult<banners::Model> {
    let title = required_text("title", &input.title, MAX_TITLE)?;
    let image = check_image(&input.image)?;
    let link_url = input
        .link_url
        .as_deref()
        .map(check_link)
        .transpose()?
        .flatten();
    let position = check_position(input.position)?;
    check_window(input.starts_at, input.ends_at)?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let banner = banners::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        image: Set(image),
        link_url: Set(link_url),
        position: Set(position),
        starts_at: Set(input.starts_at),
        ends_at: Set(input.ends_at),
        published: Set(input.published),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit(
        &txn,
        staff_id,
        "banner.create",
        TARGET,
        banner.id,
        None,
        Some(&banner),
    )
    .await?;
    txn.commit().await?;
    Ok(banner)
}

pub async fn update(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
    patch: BannerPatch,
) -> ApiResult<banners::Model> {
    let title = patch
        .title
        .as_deref()
        .map(|t| required_text("title", t, MAX_TITLE))
        .transpose()?;
    let image = patch.image.as_deref().map(check_image).transpose()?;
    let link_url = match &patch.link_url {
        None => None,
        Some(None) => Some(None),
        Some(Some(link)) => Some(check_link(link)?),
    };
    let position = patch.position.map(check_position).transpose()?;
    let txn = db.begin().await?;
    let before = get(&txn, id).await?;
    let starts_at = patch.starts_at.unwrap_or(before.starts_at);
    let ends_at = patch.ends_at.unwrap_or(before.ends_at);
    check_window(starts_at, ends_at)?;
    let mut banner: banners::ActiveModel = before.clone().into();
    if let Some(title) = title {
        banner.title = Set(title);
    }
    if let Some(image) = image {
        banner.image = Set(image);
    }
    if let Some(link_url) = link_url {
        banner.link_url = Set(link_url);
    }
    if let Some(position) = position {
        banner.position = Set(position);
    }
    if let Some(published) = patch.published {
        banner.published = Set(published);
    }
    banner.starts_at = Set(starts_at);
    banner.ends_at = Set(ends_at);
    banner.updated_at = Set(Utc::now());
    let after = banner.update(&txn).await?;
    audit(
        &txn,
        staff_id,
        "banner.update",
        TARGET,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Deletes a banner; returns it as it was.
pub async fn delete(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
) -> ApiResult<banners::Model> {
    let txn = db.begin().await?;
    let before = get(&txn, id).await?;
    Entity::delete_by_id(id).exec(&txn).await?;
    audit(
        &txn,
        staff_id,
        "banner.delete",
        TARGET,
        id,
        Some(&before),
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_links() {
        assert!(check_image("banners/noruz-1405.jpg").is_ok());
        assert!(check_image("https://cdn.example.com/a.jpg").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            "javascript:alert(1)",
            "a b.jpg",
            "/abs.jpg",
        ] {
            assert!(check_image(bad).is_err(), "{bad}");
        }
        assert_eq!(check_link("").unwrap(), None);
        assert_eq!(check_link("/c/tea").unwrap().as_deref(), Some("/c/tea"));
        assert!(check_link("https://example.com/x").is_ok());
        for bad in ["javascript:alert(1)", "//evil.example", "tea", "/a b"] {
            assert!(check_link(bad).is_err(), "{bad}");
        }
    }
}
