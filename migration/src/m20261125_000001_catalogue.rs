//! The catalogue. Mahak owns names, prices, stock and tax: those live in the mirror tables
//! (`warehouses`, `categories`, `products`, `variants`, `variant_stock`) and only sync writes
//! them. The shop owns slugs, descriptions, the published flag, SEO text and images: those live
//! in `category_listings`, `product_listings` and `product_images`, which sync never updates.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_catalogue"
    }
}

// `MigrationTrait` takes `&SchemaManager` with its lifetime elided; under `async_trait`, writing
// `SchemaManager<'_>` makes that lifetime early-bound and the impl no longer matches the trait.
#[allow(elided_lifetimes_in_paths)]
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Mahak `Store`: a warehouse holding stock.
        manager
            .create_table(mirror_table("warehouses").col(string(name("name"))).take())
            .await?;
        create_mirror_indexes(manager, "warehouses").await?;

        // Mahak `ProductCategory`.
        manager
            .create_table(mirror_table("categories").col(string(name("name"))).take())
            .await?;
        create_mirror_indexes(manager, "categories").await?;

        // Mahak `Product`. `name` is normalized for display (Arabic ي/ك to Persian ی/ک), the
        // raw value stays in `payload`; `search_text` is the name folded for search.
        // `min_price`/`max_price` summarise the variants' shop prices and are refreshed by the
        // code that writes variants; they let listings filter and sort on price with an index.
        manager
            .create_table(
                mirror_table("products")
                    .col(big_integer_null(name("category_mahak_id")))
                    .col(string(name("name")))
                    .col(text(name("search_text")).default(""))
                    .col(string_null(name("unit_name")))
                    .col(double(name("tax_percent")).default(0.0))
                    .col(double(name("toll_percent")).default(0.0))
                    .col(double_null(name("weight")))
                    .col(money_null("min_price"))
                    .col(money_null("max_price"))
                    .take(),
            )
            .await?;
        create_mirror_indexes(manager, "products").await?;
        index(manager, "products", &["category_mahak_id"]).await?;
        index(manager, "products", &["min_price"]).await?;

        // Mahak `ProductDetail`: the sellable variant, with Mahak's ten price levels.
        let mut variants = mirror_table("variants");
        variants
            .col(big_integer(name("product_mahak_id")))
            .col(string_null(name("barcode")))
            .col(json("properties"))
            .col(small_integer(name("default_price_level")).default(1));
        for level in 1..=10 {
            variants.col(money_null(&format!("price_{level}")));
        }
        manager.create_table(variants).await?;
        create_mirror_indexes(manager, "variants").await?;
        index(manager, "variants", &["product_mahak_id"]).await?;
        index(manager, "variants", &["barcode"]).await?;

        // Mahak `ProductDetailStoreAsset`: stock of one variant in one warehouse, as Mahak
        // counts it (`count1`, `count2`; fractional for goods sold by weight).
        manager
            .create_table(
                mirror_table("variant_stock")
                    .col(big_integer(name("variant_mahak_id")))
                    .col(big_integer(name("warehouse_mahak_id")))
                    .col(double(name("quantity")).default(0.0))
                    .col(double(name("quantity2")).default(0.0))
                    .take(),
            )
            .await?;
        create_mirror_indexes(manager, "variant_stock").await?;
        index(manager, "variant_stock", &["variant_mahak_id"]).await?;

        // Shop-owned side of a category.
        manager
            .create_table(
                Table::create()
                    .table(name("category_listings"))
                    .col(big_integer(name("category_id")).primary_key())
                    .col(string_uniq(name("slug")))
                    .col(text_null(name("description")))
                    .col(integer(name("display_order")).default(0))
                    .col(boolean(name("published")).default(true))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "category_listings",
                        "category_id",
                        "categories",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        // Shop-owned side of a product.
        manager
            .create_table(
                Table::create()
                    .table(name("product_listings"))
                    .col(big_integer(name("product_id")).primary_key())
                    .col(string_uniq(name("slug")))
                    .col(text_null(name("description")))
                    .col(boolean(name("published")).default(false))
                    .col(string_null(name("seo_title")))
                    .col(text_null(name("seo_description")))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut foreign_key(
                        "product_listings",
                        "product_id",
                        "products",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "product_listings", &["published"]).await?;

        // Product images: objects in S3-compatible storage, owned by the shop.
        manager
            .create_table(
                Table::create()
                    .table(name("product_images"))
                    .col(big_pk("id"))
                    .col(big_integer(name("product_id")))
                    .col(string_uniq(name("object_key")))
                    .col(string(name("alt_text")).default(""))
                    .col(integer(name("position")).default(0))
                    .col(integer_null(name("width")))
                    .col(integer_null(name("height")))
                    .col(string(name("content_type")))
                    .col(big_integer(name("byte_size")))
                    .col(created_at())
                    .foreign_key(&mut foreign_key(
                        "product_images",
                        "product_id",
                        "products",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "product_images", &["product_id", "position"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "product_images",
                "product_listings",
                "category_listings",
                "variant_stock",
                "variants",
                "products",
                "categories",
                "warehouses",
            ],
        )
        .await
    }
}
