//! Images Mahak sends: `product_images.mahak_picture_id` is the Mahak `Picture` id an image
//! was fetched from (null for images staff uploaded). Unique, so a picture becomes at most one
//! image even when two import passes race.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000008_mahak_pictures"
    }
}

// See m20261125_000002 for why the lifetime stays elided.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(name("product_images"))
                    .add_column(
                        ColumnDef::new(name("mahak_picture_id"))
                            .big_integer()
                            .null()
                            .take(),
                    )
                    .take(),
            )
            .await?;
        unique(manager, "product_images", &["mahak_picture_id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_product_images_mahak_picture_id")
                    .table(name("product_images"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("product_images"))
                    .drop_column(name("mahak_picture_id"))
                    .take(),
            )
            .await
    }
}
