//! Images Mahak sends: every live `PhotoGallery` row of a product (entity type 102) whose live
//! `Picture` has a URL becomes one product image, fetched from the Mahak service into the
//! store's object storage (original and thumbnails, like an uploaded image) and added at the end
//! of the product's images. Images whose picture or gallery row Mahak has since deleted are
//! removed (row and objects).
//!
//! [`import_pending`] is one pass; the server runs it every `storage.mahak_import_interval_secs`.
//! It is idempotent: `product_images.mahak_picture_id` is unique, so a picture becomes at most
//! one image even when two passes race (the loser deletes the objects it stored). A picture that
//! cannot be fetched or is not an image is logged, counted in `mahak_pictures_failed_total` and
//! tried again on the next pass.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use entity::product_images;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, Set, SqlErr, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::{
    delete_objects, next_position, process, put_thumbnails, MediaRules, Rejection, MAX_ALT_CHARS,
    THUMBNAIL_WIDTHS,
};
use crate::storage::ObjectStore;

/// Most pictures fetched in one pass; the rest wait for the next one.
pub const MAX_PER_PASS: usize = 50;
/// Longest wait for one picture's download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Pictures that became product images.
    pub imported: usize,
    /// Images removed because Mahak deleted their picture or gallery row.
    pub removed: usize,
    /// Pictures that could not be imported (tried again on the next pass).
    pub failed: usize,
    /// Pictures left for a later pass (beyond [`MAX_PER_PASS`]).
    pub deferred: usize,
}

/// A picture attached to a product in Mahak, as the store wants it.
#[derive(Debug, Clone, FromQueryResult)]
struct Wanted {
    picture_id: i64,
    product_id: i64,
    url: String,
    title: Option<String>,
    product_name: String,
}

const WANTED_SQL: &str = "\
SELECT g.picture_mahak_id AS picture_id, p.id AS product_id, pic.url AS url, \
pic.title AS title, p.name AS product_name \
FROM mahak_photo_galleries g \
JOIN mahak_pictures pic ON pic.mahak_id = g.picture_mahak_id \
  AND pic.deleted_at IS NULL AND pic.url IS NOT NULL \
JOIN products p ON p.mahak_code = g.item_code AND p.deleted_at IS NULL \
WHERE g.entity_type = 102 /* product */ AND g.deleted_at IS NULL \
ORDER BY g.picture_mahak_id, g.mahak_id, p.id";

/// One pass: removes the images Mahak no longer has, then fetches up to [`MAX_PER_PASS`]
/// pictures not imported yet. `mahak_base_url` is the Mahak service's base URL (picture URLs
/// are relative to its host); pictures elsewhere are refused.
pub async fn import_pending(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    http: &reqwest::Client,
    mahak_base_url: &str,
    rules: &MediaRules,
) -> anyhow::Result<ImportReport> {
    let base = reqwest::Url::parse(mahak_base_url)
        .with_context(|| format!("mahak base URL {mahak_base_url:?}"))?;
    let rows = Wanted::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        WANTED_SQL,
    ))
    .all(db)
    .await?;
    // One image per picture: the first gallery row (lowest id) decides the product.
    let mut wanted: HashMap<i64, Wanted> = HashMap::new();
    for row in rows {
        wanted.entry(row.picture_id).or_insert(row);
    }

    let existing = product_images::Entity::find()
        .filter(product_images::Column::MahakPictureId.is_not_null())
        .all(db)
        .await?;
    let mut report = ImportReport::default();
    let mut have = HashSet::new();
    for image in existing {
        let picture_id = image.mahak_picture_id.unwrap_or_default();
        let keep = wanted
            .get(&picture_id)
            .is_some_and(|w| w.product_id == image.product_id);
        if keep {
            have.insert(picture_id);
            continue;
        }
        let deleted = product_images::Entity::delete_many()
            .filter(product_images::Column::Id.eq(image.id))
            .exec(db)
            .await?;
        if deleted.rows_affected == 1 {
            delete_objects(store, &image).await;
            report.removed += 1;
        }
    }

    let mut pending: Vec<&Wanted> = wanted
        .values()
        .filter(|w| !have.contains(&w.picture_id))
        .collect();
    pending.sort_by_key(|w| w.picture_id);
    report.deferred = pending.len().saturating_sub(MAX_PER_PASS);
    for picture in pending.into_iter().take(MAX_PER_PASS) {
        match import_one(db, store, http, &base, rules, picture).await {
            Ok(true) => report.imported += 1,
            Ok(false) => {}
            Err(err) => {
                report.failed += 1;
                metrics::counter!("mahak_pictures_failed_total").increment(1);
                tracing::warn!(
                    picture_id = picture.picture_id,
                    product_id = picture.product_id,
                    url = %picture.url,
                    error = %format!("{err:#}"),
                    "could not import a Mahak picture; it is tried again on the next pass"
                );
            }
        }
    }
    Ok(report)
}

/// Content type of a picture: the response's, else the one its file extension names.
fn content_type_of(header: Option<&str>, path: &str) -> Option<&'static str> {
    let from_header = header
        .and_then(|h| h.split(';').next())
        .map(|h| h.trim().to_ascii_lowercase());
    let known = |t: &str| {
        crate::config::DECODABLE_IMAGE_TYPES
            .iter()
            .find(|k| **k == t)
            .copied()
    };
    if let Some(t) = from_header.as_deref().and_then(known) {
        return Some(t);
    }
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// Downloads at most `max` bytes.
async fn fetch(
    http: &reqwest::Client,
    url: reqwest::Url,
    max: u64,
) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let mut response = http
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await?
        .error_for_status()?;
    if response.content_length().is_some_and(|len| len > max) {
        anyhow::bail!("the picture is larger than {max} bytes");
    }
    let content_type = content_type_of(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        url.path(),
    )
    .context("not an image type the store accepts (JPEG, PNG, WebP)")?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (bytes.len() + chunk.len()) as u64 > max {
            anyhow::bail!("the picture is larger than {max} bytes");
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, content_type))
}

/// Fetches one picture and adds it to its product; `false` when a concurrent pass won.
async fn import_one(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    http: &reqwest::Client,
    base: &reqwest::Url,
    rules: &MediaRules,
    picture: &Wanted,
) -> anyhow::Result<bool> {
    let url = base.join(picture.url.trim()).context("picture URL")?;
    anyhow::ensure!(
        url.origin() == base.origin(),
        "picture URL {url} is not on the Mahak service's host"
    );
    let (bytes, content_type) = fetch(http, url, rules.max_upload_bytes).await?;
    let processed = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || process(&bytes, content_type, &THUMBNAIL_WIDTHS))
            .await?
    };
    let processed = match processed {
        Ok(processed) => processed,
        Err(Rejection::Invalid(message)) => anyhow::bail!("{message}"),
        Err(Rejection::Internal(err)) => return Err(err),
    };
    let ext = super::extension(content_type).context("content type")?;
    let dir = format!(
        "products/{}/mahak-{}/{}",
        picture.product_id,
        picture.picture_id,
        Uuid::now_v7().simple()
    );
    let key = format!("{dir}/orig.{ext}");
    let byte_size = bytes.len() as i64;
    store.put(&key, content_type, bytes).await?;
    let thumbs = match put_thumbnails(store, &dir, processed.thumbnails).await {
        Ok(thumbs) => thumbs,
        Err(err) => {
            let _ = store.delete(&key).await;
            return Err(err);
        }
    };
    let alt = picture
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(picture.product_name.trim());
    let alt: String = alt.chars().take(MAX_ALT_CHARS).collect();
    let row = product_images::ActiveModel {
        product_id: Set(picture.product_id),
        object_key: Set(key.clone()),
        alt_text: Set(alt),
        position: Set(0),
        width: Set(Some(processed.width as i32)),
        height: Set(Some(processed.height as i32)),
        content_type: Set(content_type.to_string()),
        byte_size: Set(byte_size),
        created_at: Set(Utc::now()),
        thumbnails: Set(Some(serde_json::to_value(&thumbs)?)),
        mahak_picture_id: Set(Some(picture.picture_id)),
        ..Default::default()
    };
    let inserted = async {
        let txn = db.begin().await?;
        let mut row = row;
        row.position = Set(next_position(&txn, picture.product_id).await?);
        let image = row.insert(&txn).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(image)
    }
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) => {
            // Stored objects of a row that was not inserted are never referenced: delete them.
            let orphan = product_images::Model {
                id: 0,
                product_id: picture.product_id,
                object_key: key,
                alt_text: String::new(),
                position: 0,
                width: None,
                height: None,
                content_type: content_type.to_string(),
                byte_size,
                created_at: Utc::now(),
                thumbnails: Some(serde_json::to_value(&thumbs)?),
                mahak_picture_id: Some(picture.picture_id),
            };
            delete_objects(store, &orphan).await;
            if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                Ok(false)
            } else {
                Err(err.into())
            }
        }
    }
}
