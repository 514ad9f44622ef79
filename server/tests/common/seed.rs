//! Catalogue fixtures written straight into the database, as the sync consumer will write
//! them: Mahak mirror rows linked by Mahak ids, plus the shop-owned listings.

use chrono::Utc;
use entity::{
    categories, category_listings, product_images, product_listings, products, variant_stock,
    variants,
};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, NotSet};
use serde_json::json;

pub struct CategorySeed {
    pub id: i64,
    pub mahak_id: i64,
}

pub async fn category(
    db: &DatabaseConnection,
    mahak_id: i64,
    name: &str,
    slug: &str,
    order: i32,
) -> CategorySeed {
    let row = categories::ActiveModel {
        id: NotSet,
        mahak_id: Set(mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(mahak_id)),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(json!({ "ProductCategoryId": mahak_id, "Name": name })),
        synced_at: Set(Utc::now()),
        name: Set(name.to_string()),
    };
    let id = categories::Entity::insert(row)
        .exec(db)
        .await
        .unwrap()
        .last_insert_id;
    category_listings::Entity::insert(category_listings::ActiveModel {
        category_id: Set(id),
        slug: Set(slug.to_string()),
        description: Set(None),
        display_order: Set(order),
        published: Set(true),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
    })
    .exec(db)
    .await
    .unwrap();
    CategorySeed { id, mahak_id }
}

/// What a seeded product looks like.
#[derive(Clone)]
pub struct ProductSpec {
    pub mahak_id: i64,
    pub name: String,
    pub category_mahak_id: Option<i64>,
    pub published: bool,
    pub deleted: bool,
    /// One entry per variant: (shop price at level 1, stock quantity).
    pub variants: Vec<(Option<i64>, f64)>,
    pub images: usize,
}

impl ProductSpec {
    pub fn new(mahak_id: i64, name: &str) -> Self {
        ProductSpec {
            mahak_id,
            name: name.to_string(),
            category_mahak_id: None,
            published: true,
            deleted: false,
            variants: vec![(Some(100_000), 3.0)],
            images: 1,
        }
    }
}

/// Inserts a product with its listing, variants (ids `mahak_id * 10 + n`), one stock row per
/// variant and its images; returns the product's local id.
pub async fn product(db: &DatabaseConnection, spec: &ProductSpec) -> i64 {
    let now = Utc::now();
    let row = products::ActiveModel {
        id: NotSet,
        mahak_id: Set(spec.mahak_id),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(spec.mahak_id)),
        row_version: Set(1),
        deleted_at: Set(spec.deleted.then_some(now)),
        payload: Set(json!({ "ProductId": spec.mahak_id, "Name": spec.name })),
        synced_at: Set(now),
        category_mahak_id: Set(spec.category_mahak_id),
        name: Set(sync::persian::normalize_display(&spec.name)),
        search_text: Set(sync::persian::fold_for_search(&spec.name)),
        unit_name: Set(Some("عدد".into())),
        tax_percent: Set(9.0),
        toll_percent: Set(1.0),
        weight: Set(None),
        min_price: Set(None),
        max_price: Set(None),
    };
    let id = products::Entity::insert(row)
        .exec(db)
        .await
        .unwrap()
        .last_insert_id;
    product_listings::Entity::insert(product_listings::ActiveModel {
        product_id: Set(id),
        slug: Set(format!("p-{}", spec.mahak_id)),
        description: Set(Some(format!("توضیح {}", spec.name))),
        published: Set(spec.published),
        seo_title: Set(None),
        seo_description: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db)
    .await
    .unwrap();
    for (n, (price, stock)) in spec.variants.iter().enumerate() {
        let variant_mahak_id = spec.mahak_id * 10 + n as i64;
        variants::Entity::insert(variants::ActiveModel {
            id: NotSet,
            mahak_id: Set(variant_mahak_id),
            mahak_client_id: Set(None),
            mahak_code: Set(None),
            row_version: Set(1),
            deleted_at: Set(None),
            payload: Set(json!({ "ProductDetailId": variant_mahak_id })),
            synced_at: Set(now),
            product_mahak_id: Set(spec.mahak_id),
            barcode: Set(Some(format!("626{variant_mahak_id:010}"))),
            properties: Set(json!([{ "C": 1, "V": format!("رنگ {n}") }])),
            default_price_level: Set(1),
            price_1: Set(*price),
            price_2: Set(price.map(|p| p - 1000)),
            price_3: Set(None),
            price_4: Set(None),
            price_5: Set(None),
            price_6: Set(None),
            price_7: Set(None),
            price_8: Set(None),
            price_9: Set(None),
            price_10: Set(None),
        })
        .exec(db)
        .await
        .unwrap();
        variant_stock::Entity::insert(variant_stock::ActiveModel {
            id: NotSet,
            mahak_id: Set(variant_mahak_id),
            mahak_client_id: Set(None),
            mahak_code: Set(None),
            row_version: Set(1),
            deleted_at: Set(None),
            payload: Set(json!({ "ProductDetailStoreAssetId": variant_mahak_id })),
            synced_at: Set(now),
            variant_mahak_id: Set(variant_mahak_id),
            warehouse_mahak_id: Set(1),
            quantity: Set(*stock),
            quantity2: Set(0.0),
        })
        .exec(db)
        .await
        .unwrap();
    }
    for position in 0..spec.images {
        product_images::Entity::insert(product_images::ActiveModel {
            id: NotSet,
            product_id: Set(id),
            object_key: Set(format!("products/{}/{position}.webp", spec.mahak_id)),
            alt_text: Set(spec.name.clone()),
            position: Set(position as i32),
            width: Set(Some(800)),
            height: Set(Some(800)),
            content_type: Set("image/webp".into()),
            byte_size: Set(1024),
            created_at: Set(now),
            thumbnails: Set(None),
            mahak_picture_id: Set(None),
        })
        .exec(db)
        .await
        .unwrap();
    }
    server::catalogue::price::refresh_price_summary(db, &[spec.mahak_id])
        .await
        .unwrap();
    id
}
