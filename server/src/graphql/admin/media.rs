//! Product images in the back office: upload (presigned, straight to the object store), attach,
//! reorder, delete. Every operation needs the `catalogue` permission; the rules live in
//! `crate::media`. Images are returned as the shop's `ProductImage` type (one definition in
//! both schemas).

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{self, Permission};
use crate::error::{ApiError, ApiResult};
use crate::graphql::shop::ProductImage;
use crate::graphql::Services;
use crate::media;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn parse_i64(id: &ID, field: &'static str, what: &str) -> ApiResult<i64> {
    id.as_str()
        .parse()
        .map_err(|_| ApiError::bad_input(field, format!("not a valid {what} id")))
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Starts uploading an image for a product. Send the file yourself with the returned
    /// request: `method` to `url`, with every header in `headers` (the signature covers them;
    /// browsers set `content-length` themselves from the body), the body being exactly `size`
    /// bytes, before `expiresAt`. Then call `attachProductImage` with `uploadId`.
    ///
    /// Errors: `BAD_USER_INPUT` (`field` = `contentType`) for a type other than the accepted
    /// ones (by default `image/jpeg`, `image/png`, `image/webp`); `BAD_USER_INPUT` (`size`)
    /// for an empty file or one over the size limit (10 MiB by default); `NOT_FOUND` for an
    /// unknown product.
    async fn create_image_upload(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product the image is for.")] product_id: ID,
        #[graphql(desc = "The file's MIME type: image/jpeg, image/png or image/webp.")]
        content_type: String,
        #[graphql(desc = "The file's exact size in bytes.")] size: i64,
    ) -> ApiResult<ImageUpload> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let product_id = parse_i64(&product_id, "productId", "product")?;
        let services = services(ctx);
        let ticket = media::create_upload(
            &services.db,
            services.storage.as_ref(),
            &services.media,
            caller.id,
            product_id,
            &content_type,
            size,
        )
        .await?;
        Ok(ImageUpload {
            upload_id: ID(ticket.upload.id.to_string()),
            method: ticket.put.method.to_string(),
            url: ticket.put.url,
            headers: ticket
                .put
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            expires_at: ticket.put.expires_at,
        })
    }

    /// Turns an uploaded file into the product's last image, with thumbnails. The file is
    /// checked: it must be there, exactly the declared size, and really an image of the
    /// declared type; otherwise `BAD_USER_INPUT` (`field` = `uploadId`) says why, and a
    /// rejected file is deleted (upload it again to the same URL while it is valid). Calling
    /// it again for the same upload returns the same image.
    async fn attach_product_image(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`uploadId` from `createImageUpload`.")] upload_id: ID,
        #[graphql(desc = "Text describing the image (at most 300 characters).")] alt: Option<
            String,
        >,
    ) -> ApiResult<ProductImage> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let upload_id = Uuid::parse_str(upload_id.as_str())
            .map_err(|_| ApiError::bad_input("uploadId", "not a valid upload id"))?;
        let services = services(ctx);
        let image = media::attach(
            &services.db,
            services.storage.as_ref(),
            &services.media,
            caller.id,
            upload_id,
            alt.as_deref().unwrap_or(""),
        )
        .await?;
        Ok(ProductImage::from(image))
    }

    /// Puts a product's images in the given order (the first is the main image).
    /// `imageIds` must list each of the product's images exactly once, else
    /// `BAD_USER_INPUT` (`field` = `imageIds`). Returns the images in their new order.
    async fn reorder_product_images(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        image_ids: Vec<ID>,
    ) -> ApiResult<Vec<ProductImage>> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let product_id = parse_i64(&product_id, "productId", "product")?;
        let image_ids = image_ids
            .iter()
            .map(|id| parse_i64(id, "imageIds", "image"))
            .collect::<ApiResult<Vec<_>>>()?;
        let images = media::reorder(&services(ctx).db, caller.id, product_id, &image_ids).await?;
        Ok(images.into_iter().map(ProductImage::from).collect())
    }

    /// Deletes a product image and its files (original and thumbnails). Returns its id.
    async fn delete_product_image(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = access::require(ctx, Permission::Catalogue).await?;
        let image_id = parse_i64(&id, "id", "image")?;
        let services = services(ctx);
        let image =
            media::delete(&services.db, services.storage.as_ref(), caller.id, image_id).await?;
        Ok(ID(image.id.to_string()))
    }
}

/// An upload to send: one HTTP request whose body is the file.
#[derive(SimpleObject)]
pub struct ImageUpload {
    /// Pass it to `attachProductImage` once the file is uploaded.
    pub upload_id: ID,
    /// The HTTP method to use (`PUT`).
    pub method: String,
    /// Where to send the file.
    pub url: String,
    /// Headers the request must carry, exactly as given.
    pub headers: Vec<HttpHeader>,
    /// The URL stops working at this time.
    pub expires_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}
