//! Product image uploads.
//!
//! - `image_uploads`: one row per presigned upload handed to a staff user
//!   (`createImageUpload`): the object key the file must be PUT to, the declared content type
//!   and exact size, who asked, when the URL expires and when the upload became a product
//!   image (`attachProductImage`; attaching again returns that same image).
//! - `product_images.thumbnails`: the resized copies made at attach time, a JSON array of
//!   `{ "key", "width", "height", "content_type", "byte_size" }` (null for images that have
//!   none, such as ones written before this migration).

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_image_uploads"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(name("image_uploads"))
                    .col(uuid_pk("id"))
                    .col(big_integer(name("product_id")))
                    .col(string_uniq(name("object_key")))
                    .col(string(name("content_type")))
                    .col(big_integer(name("declared_size")))
                    // The staff user who asked (not a foreign key, like `audit_entries`).
                    .col(uuid(name("staff_user_id")))
                    .col(created_at())
                    .col(timestamp("expires_at"))
                    .col(timestamp_null("attached_at"))
                    .foreign_key(&mut foreign_key(
                        "image_uploads",
                        "product_id",
                        "products",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "image_uploads", &["product_id"]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("product_images"))
                    .add_column(json_null("thumbnails"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(name("product_images"))
                    .drop_column(name("thumbnails"))
                    .take(),
            )
            .await?;
        drop_tables(manager, &["image_uploads"]).await
    }
}
