//! Product images: the rules behind the admin's image mutations, as plain functions over the
//! database and an [`ObjectStore`].
//!
//! 1. [`create_upload`] records an upload (`image_uploads`) and hands back a presigned PUT for
//!    `products/{product_id}/{upload_id}/orig.{jpg|png|webp}`; the client uploads the file
//!    itself, straight to the store.
//! 2. [`attach`] checks the object (present, exactly the declared size, really an image of the
//!    declared type, by decoding it), makes thumbnails beside it (`w160`, `w480`, `w1200`, never
//!    wider than the original) and adds the image at the end of the product's images.
//!    Attaching the same upload again returns the same image.
//! 3. [`reorder`] and [`delete`] (which removes the objects too).
//!
//! Every change writes an audit entry in the transaction that makes it.

pub mod mahak_import;
mod process;

use std::time::Duration;

use chrono::Utc;
use entity::{image_uploads, product_images, products};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use process::{process, Processed, Rejection, THUMBNAIL_WIDTHS};

use crate::config::StorageSettings;
use crate::error::{ApiError, ApiResult};
use crate::staff::audit;
use crate::storage::{ObjectStore, PresignedPut};

/// Longest alt text accepted, in characters.
pub const MAX_ALT_CHARS: usize = 300;

/// What uploads must satisfy, from `storage.*`.
#[derive(Debug, Clone)]
pub struct MediaRules {
    pub max_upload_bytes: u64,
    pub allowed_content_types: Vec<String>,
    /// Lifetime of an upload URL.
    pub upload_ttl: Duration,
}

impl MediaRules {
    pub fn from_settings(settings: &StorageSettings) -> MediaRules {
        MediaRules {
            max_upload_bytes: settings.max_upload_bytes,
            allowed_content_types: settings.allowed_content_types.clone(),
            upload_ttl: Duration::from_secs(settings.presign_ttl_secs),
        }
    }
}

/// One resized copy of an image, as kept in `product_images.thumbnails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub byte_size: u64,
}

/// The thumbnails of an image, narrowest first (none for images stored without any).
pub fn thumbnails(image: &product_images::Model) -> Vec<Thumbnail> {
    let mut list: Vec<Thumbnail> = image
        .thumbnails
        .clone()
        .and_then(|json| serde_json::from_value(json).ok())
        .unwrap_or_default();
    list.sort_by_key(|t| t.width);
    list
}

/// An upload handed to a client: the record and the request to send.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub upload: image_uploads::Model,
    pub put: PresignedPut,
}

/// File extension of an accepted content type.
fn extension(content_type: &str) -> Option<&'static str> {
    match content_type {
        "image/jpeg" => Some("jpg"),
        "image/png" => Some("png"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// Records an upload of `size` bytes of `content_type` for a product and presigns its PUT.
pub async fn create_upload(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    rules: &MediaRules,
    staff_id: Uuid,
    product_id: i64,
    content_type: &str,
    size: i64,
) -> ApiResult<UploadTicket> {
    let content_type = content_type.trim().to_ascii_lowercase();
    let ext = extension(&content_type)
        .filter(|_| rules.allowed_content_types.contains(&content_type))
        .ok_or_else(|| {
            ApiError::bad_input(
                "contentType",
                format!(
                    "content type {content_type:?} is not accepted; use one of: {}",
                    rules.allowed_content_types.join(", ")
                ),
            )
        })?;
    let max = rules.max_upload_bytes;
    let size_ok = u64::try_from(size).is_ok_and(|s| (1..=max).contains(&s));
    if !size_ok {
        return Err(ApiError::bad_input(
            "size",
            format!("size must be between 1 and {max} bytes (got {size})"),
        ));
    }
    let product = products::Entity::find_by_id(product_id)
        .filter(products::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    if product.is_none() {
        return Err(ApiError::not_found("product"));
    }

    let id = Uuid::now_v7();
    let key = format!("products/{product_id}/{id}/orig.{ext}");
    let put = store
        .presign_put(&key, &content_type, size as u64, rules.upload_ttl)
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let upload = image_uploads::ActiveModel {
        id: Set(id),
        product_id: Set(product_id),
        object_key: Set(key),
        content_type: Set(content_type),
        declared_size: Set(size),
        staff_user_id: Set(staff_id),
        created_at: Set(now),
        expires_at: Set(put.expires_at),
        attached_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        staff_id,
        "product_image.upload",
        "image_upload",
        &id.to_string(),
        None,
        Some(serde_json::to_value(&upload).map_err(ApiError::internal)?),
    )
    .await?;
    txn.commit().await?;
    Ok(UploadTicket { upload, put })
}

fn not_uploaded() -> ApiError {
    ApiError::bad_input(
        "uploadId",
        "the file has not been uploaded yet: PUT it to the upload URL first",
    )
}

/// Turns an uploaded file into a product image (see the module documentation). Rejected
/// content (not an image, another format than declared, another size) is deleted from the
/// store, so the client can upload again to the same URL while it is valid.
pub async fn attach(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    rules: &MediaRules,
    staff_id: Uuid,
    upload_id: Uuid,
    alt: &str,
) -> ApiResult<product_images::Model> {
    let alt = alt.trim();
    if alt.chars().count() > MAX_ALT_CHARS {
        return Err(ApiError::bad_input(
            "alt",
            format!("alt text must be at most {MAX_ALT_CHARS} characters"),
        ));
    }
    let upload = image_uploads::Entity::find_by_id(upload_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if let Some(image) = image_by_key(db, &upload.object_key).await? {
        return Ok(image);
    }
    if upload.attached_at.is_some() {
        return Err(ApiError::Conflict {
            message: "the image made from this upload was deleted; upload the file again".into(),
        });
    }

    let key = upload.object_key.as_str();
    let declared = u64::try_from(upload.declared_size).unwrap_or(0);
    let info = store
        .head(key)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_uploaded)?;
    if info.size != declared || info.size > rules.max_upload_bytes {
        discard(store, key).await;
        return Err(ApiError::bad_input(
            "uploadId",
            format!(
                "the uploaded file is {} bytes but {declared} were declared; upload it again",
                info.size
            ),
        ));
    }
    let bytes = store
        .get(key)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_uploaded)?;
    if bytes.len() as u64 != declared {
        discard(store, key).await;
        return Err(ApiError::bad_input(
            "uploadId",
            "the uploaded file changed while it was checked; upload it again",
        ));
    }

    let declared_type = upload.content_type.clone();
    let processed =
        tokio::task::spawn_blocking(move || process(&bytes, &declared_type, &THUMBNAIL_WIDTHS))
            .await
            .map_err(ApiError::internal)?;
    let processed = match processed {
        Ok(processed) => processed,
        Err(Rejection::Invalid(message)) => {
            discard(store, key).await;
            return Err(ApiError::bad_input("uploadId", message));
        }
        Err(Rejection::Internal(err)) => return Err(ApiError::internal(err)),
    };

    let dir = key.rsplit_once('/').map_or("", |(dir, _)| dir);
    let thumbs = put_thumbnails(store, dir, processed.thumbnails)
        .await
        .map_err(ApiError::internal)?;

    let txn = db.begin().await?;
    let position = next_position(&txn, upload.product_id).await?;
    let inserted = product_images::ActiveModel {
        product_id: Set(upload.product_id),
        object_key: Set(upload.object_key.clone()),
        alt_text: Set(alt.to_string()),
        position: Set(position),
        width: Set(Some(processed.width as i32)),
        height: Set(Some(processed.height as i32)),
        content_type: Set(upload.content_type.clone()),
        byte_size: Set(upload.declared_size),
        created_at: Set(Utc::now()),
        thumbnails: Set(Some(
            serde_json::to_value(&thumbs).map_err(ApiError::internal)?,
        )),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let image = match inserted {
        Ok(image) => image,
        // A concurrent attach of the same upload won: answer with its image.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            return image_by_key(db, &upload.object_key)
                .await?
                .ok_or_else(|| ApiError::internal(err));
        }
        Err(err) => return Err(err.into()),
    };
    image_uploads::Entity::update_many()
        .col_expr(
            image_uploads::Column::AttachedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(image_uploads::Column::Id.eq(upload.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        staff_id,
        "product_image.attach",
        "product_image",
        &image.id.to_string(),
        None,
        Some(serde_json::to_value(&image).map_err(ApiError::internal)?),
    )
    .await?;
    txn.commit().await?;
    Ok(image)
}

/// Deletes a rejected upload; a failure only leaves an unused object behind.
async fn discard(store: &dyn ObjectStore, key: &str) {
    if let Err(err) = store.delete(key).await {
        tracing::warn!(error = ?err, key, "could not delete a rejected upload");
    }
}

async fn image_by_key<C: ConnectionTrait>(
    conn: &C,
    key: &str,
) -> Result<Option<product_images::Model>, DbErr> {
    product_images::Entity::find()
        .filter(product_images::Column::ObjectKey.eq(key))
        .one(conn)
        .await
}

pub(crate) async fn next_position<C: ConnectionTrait>(
    conn: &C,
    product_id: i64,
) -> Result<i32, DbErr> {
    let last: Option<Option<i32>> = product_images::Entity::find()
        .select_only()
        .column_as(product_images::Column::Position.max(), "last")
        .filter(product_images::Column::ProductId.eq(product_id))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(last.flatten().map_or(0, |p| p + 1))
}

/// A product's images in display order.
pub async fn images_of<C: ConnectionTrait>(
    conn: &C,
    product_id: i64,
) -> Result<Vec<product_images::Model>, DbErr> {
    product_images::Entity::find()
        .filter(product_images::Column::ProductId.eq(product_id))
        .order_by_asc(product_images::Column::Position)
        .order_by_asc(product_images::Column::Id)
        .all(conn)
        .await
}

/// Puts a product's images in the order given, which must list each of them exactly once.
pub async fn reorder(
    db: &DatabaseConnection,
    staff_id: Uuid,
    product_id: i64,
    image_ids: &[i64],
) -> ApiResult<Vec<product_images::Model>> {
    let txn = db.begin().await?;
    if products::Entity::find_by_id(product_id)
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("product"));
    }
    let current = images_of(&txn, product_id).await?;
    let mut wanted: Vec<i64> = image_ids.to_vec();
    wanted.sort_unstable();
    let mut have: Vec<i64> = current.iter().map(|i| i.id).collect();
    have.sort_unstable();
    if wanted != have {
        return Err(ApiError::bad_input(
            "imageIds",
            format!(
                "must list each of the product's {} images exactly once",
                current.len()
            ),
        ));
    }
    let before: Vec<i64> = current.iter().map(|i| i.id).collect();
    let mut reordered = Vec::with_capacity(current.len());
    let mut by_id: std::collections::HashMap<i64, product_images::Model> =
        current.into_iter().map(|i| (i.id, i)).collect();
    for (position, id) in image_ids.iter().enumerate() {
        let mut image = by_id.remove(id).expect("checked above");
        let position = position as i32;
        if image.position != position {
            let mut active: product_images::ActiveModel = image.clone().into();
            active.position = Set(position);
            image = active.update(&txn).await?;
        }
        reordered.push(image);
    }
    audit::record(
        &txn,
        staff_id,
        "product_image.reorder",
        "product",
        &product_id.to_string(),
        Some(serde_json::json!({ "image_ids": before })),
        Some(serde_json::json!({ "image_ids": image_ids })),
    )
    .await?;
    txn.commit().await?;
    Ok(reordered)
}

/// Deletes an image and then its objects (original and thumbnails). Objects the store fails
/// to delete are logged and left behind; the image is gone either way.
pub async fn delete(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    staff_id: Uuid,
    image_id: i64,
) -> ApiResult<product_images::Model> {
    let txn = db.begin().await?;
    let image = product_images::Entity::find_by_id(image_id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("image"))?;
    product_images::Entity::delete_by_id(image.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        staff_id,
        "product_image.delete",
        "product_image",
        &image.id.to_string(),
        Some(serde_json::to_value(&image).map_err(ApiError::internal)?),
        None,
    )
    .await?;
    txn.commit().await?;
    delete_objects(store, &image).await;
    Ok(image)
}

/// Stores the thumbnails made by [`process`] beside the original, as `{dir}/w{width}.{ext}`.
pub(crate) async fn put_thumbnails(
    store: &dyn ObjectStore,
    dir: &str,
    encoded: Vec<process::EncodedThumbnail>,
) -> anyhow::Result<Vec<Thumbnail>> {
    let mut thumbs = Vec::with_capacity(encoded.len());
    for thumb in encoded {
        let thumb_key = format!("{dir}/w{}.{}", thumb.width, thumb.extension);
        let byte_size = thumb.bytes.len() as u64;
        store
            .put(&thumb_key, thumb.content_type, thumb.bytes)
            .await?;
        thumbs.push(Thumbnail {
            key: thumb_key,
            width: thumb.width,
            height: thumb.height,
            content_type: thumb.content_type.to_string(),
            byte_size,
        });
    }
    Ok(thumbs)
}

/// Deletes an image's objects (original and thumbnails); failures are logged and the objects
/// left behind.
pub(crate) async fn delete_objects(store: &dyn ObjectStore, image: &product_images::Model) {
    let keys = std::iter::once(image.object_key.clone())
        .chain(thumbnails(image).into_iter().map(|t| t.key));
    for key in keys {
        if let Err(err) = store.delete(&key).await {
            tracing::error!(error = ?err, key, "could not delete a deleted image's object");
        }
    }
}
