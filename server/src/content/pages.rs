//! Content pages (about, terms, shipping, ...): a unique slug, a title and a Markdown body,
//! shown on the shop only while published.

use chrono::Utc;
use entity::content_pages::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{audit, conflict_on_unique, required_text};
use crate::error::{ApiError, ApiResult};

pub const MAX_SLUG: usize = 100;
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 200_000;
const TARGET: &str = "content_page";

/// A new page.
#[derive(Debug, Clone)]
pub struct NewPage {
    pub slug: String,
    pub title: String,
    pub body: String,
    pub published: bool,
}

/// Changes to a page: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PagePatch {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

/// A slug: 1..=100 of lowercase ASCII letters, digits and single hyphens inside
/// (`shipping-and-returns`).
pub fn check_slug(slug: &str) -> ApiResult<String> {
    let slug = slug.trim();
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(slug.to_string())
    } else {
        Err(ApiError::bad_input(
            "slug",
            format!(
                "a slug is 1 to {MAX_SLUG} lowercase letters a-z, digits and single hyphens \
                 inside (e.g. shipping-and-returns)"
            ),
        ))
    }
}

fn check_body(body: &str) -> ApiResult<String> {
    if body.chars().count() > MAX_BODY {
        return Err(ApiError::bad_input(
            "body",
            format!("body is longer than {MAX_BODY} characters"),
        ));
    }
    Ok(body.to_string())
}

fn taken(slug: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a page with the slug {slug} already exists")
}

async fn slug_taken<C: ConnectionTrait>(
    db: &C,
    slug: &str,
    except: Option<Uuid>,
) -> ApiResult<bool> {
    let mut query = Entity::find().filter(Column::Slug.eq(slug));
    if let Some(id) = except {
        query = query.filter(Column::Id.ne(id));
    }
    Ok(query.one(db).await?.is_some())
}

/// Every page, published or not, by slug.
pub async fn list<C: ConnectionTrait>(db: &C) -> ApiResult<Vec<content_pages::Model>> {
    Ok(Entity::find().order_by_asc(Column::Slug).all(db).await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<content_pages::Model> {
    Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("page"))
}

/// The published page with `slug`; unpublished and unknown pages are both `NOT_FOUND`.
pub async fn published<C: ConnectionTrait>(db: &C, slug: &str) -> ApiResult<content_pages::Model> {
    Entity::find()
        .filter(Column::Slug.eq(slug.trim()))
        .filter(Column::Published.eq(true))
        .one(db)
        .await?
        .ok_or(ApiError::not_found("page"))
}

pub async fn create(
    db: &DatabaseConnection,
    staff_id: Uuid,
    input: NewPage,
) -> ApiResult<content_pages::Model> {
    let slug = check_slug(&input.slug)?;
    let title = required_text("title", &input.title, MAX_TITLE)?;
    let body = check_body(&input.body)?;
    let txn = db.begin().await?;
    if slug_taken(&txn, &slug, None).await? {
        return Err(ApiError::Conflict {
            message: taken(&slug)(),
        });
    }
    let now = Utc::now();
    let page = content_pages::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.clone()),
        title: Set(title),
        body: Set(body),
        published: Set(input.published),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| conflict_on_unique(e, taken(&slug)))?;
    audit(
        &txn,
        staff_id,
        "content_page.create",
        TARGET,
        page.id,
        None,
        Some(&page),
    )
    .await?;
    txn.commit().await?;
    Ok(page)
}

pub async fn update(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
    patch: PagePatch,
) -> ApiResult<content_pages::Model> {
    let slug = patch.slug.as_deref().map(check_slug).transpose()?;
    let title = patch
        .title
        .as_deref()
        .map(|t| required_text("title", t, MAX_TITLE))
        .transpose()?;
    let body = patch.body.as_deref().map(check_body).transpose()?;
    let txn = db.begin().await?;
    let before = get(&txn, id).await?;
    if let Some(slug) = &slug {
        if slug_taken(&txn, slug, Some(id)).await? {
            return Err(ApiError::Conflict {
                message: taken(slug)(),
            });
        }
    }
    let mut page: content_pages::ActiveModel = before.clone().into();
    if let Some(slug) = slug.clone() {
        page.slug = Set(slug);
    }
    if let Some(title) = title {
        page.title = Set(title);
    }
    if let Some(body) = body {
        page.body = Set(body);
    }
    if let Some(published) = patch.published {
        page.published = Set(published);
    }
    page.updated_at = Set(Utc::now());
    let slug_for_error = slug.unwrap_or_else(|| before.slug.clone());
    let after = page
        .update(&txn)
        .await
        .map_err(|e| conflict_on_unique(e, taken(&slug_for_error)))?;
    audit(
        &txn,
        staff_id,
        "content_page.update",
        TARGET,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Deletes a page; returns it as it was.
pub async fn delete(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
) -> ApiResult<content_pages::Model> {
    let txn = db.begin().await?;
    let before = get(&txn, id).await?;
    Entity::delete_by_id(id).exec(&txn).await?;
    audit(
        &txn,
        staff_id,
        "content_page.delete",
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
    use super::check_slug;

    #[test]
    fn slugs() {
        assert_eq!(check_slug(" about-us ").unwrap(), "about-us");
        assert!(check_slug("terms2").is_ok());
        for bad in ["", "About", "a b", "-a", "a-", "a--b", "درباره", "a/b"] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
        assert!(check_slug(&"a".repeat(101)).is_err());
    }
}
