//! Images Mahak sends: the real Mahak simulator serves the picture files, the pictures and
//! photo-gallery rows are mirrored into a fresh PostgreSQL database, and
//! `media::mahak_import::import_pending` fetches them into the local-disk object store. Checks:
//! each picture of an existing product becomes one product image (after the product's own
//! images, with decodable thumbnails in the store), other galleries are ignored, a second pass
//! imports nothing, a picture that 404s is counted as failed without blocking the others, and
//! pictures or gallery rows deleted in Mahak remove the image and its objects.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::seed::{self, ProductSpec};
use common::TestDb;
use entity::{mahak_photo_galleries, mahak_pictures, product_images};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use server::config::StorageSettings;
use server::media::mahak_import::{import_pending, ImportReport};
use server::media::{self, MediaRules};
use server::storage::{LocalDiskStore, ObjectStore};
use sync::simulator::{self, DataSizes, SimulatorConfig};

fn rules() -> MediaRules {
    MediaRules {
        max_upload_bytes: 10 * 1024 * 1024,
        allowed_content_types: vec!["image/jpeg".into(), "image/png".into(), "image/webp".into()],
        upload_ttl: Duration::from_secs(600),
    }
}

/// Mirrors one Mahak `Picture` row and one `PhotoGallery` row tying it to an entity.
async fn mirror_picture(
    db: &DatabaseConnection,
    picture_id: i64,
    url: &str,
    title: Option<&str>,
    entity_type: i32,
    item_code: i64,
) {
    let now = Utc::now();
    mahak_pictures::ActiveModel {
        mahak_id: Set(picture_id),
        mahak_client_id: Set(None),
        mahak_code: Set(Some(picture_id)),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(serde_json::json!({ "PictureId": picture_id, "Url": url })),
        synced_at: Set(now),
        url: Set(Some(url.to_string())),
        file_name: Set(url.rsplit('/').next().map(ToString::to_string)),
        title: Set(title.map(ToString::to_string)),
        display_order: Set(Some(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    mahak_photo_galleries::ActiveModel {
        mahak_id: Set(picture_id + 10_000),
        mahak_client_id: Set(None),
        mahak_code: Set(None),
        row_version: Set(1),
        deleted_at: Set(None),
        payload: Set(serde_json::json!({ "PictureId": picture_id })),
        synced_at: Set(now),
        picture_mahak_id: Set(Some(picture_id)),
        entity_type: Set(Some(entity_type)),
        item_code: Set(Some(item_code)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

async fn mahak_images(db: &DatabaseConnection) -> Vec<product_images::Model> {
    product_images::Entity::find()
        .filter(product_images::Column::MahakPictureId.is_not_null())
        .order_by_asc(product_images::Column::MahakPictureId)
        .all(db)
        .await
        .unwrap()
}

/// Every object of an image (original and thumbnails), read back from the store.
async fn objects(store: &dyn ObjectStore, image: &product_images::Model) -> Vec<Option<Vec<u8>>> {
    let mut keys = vec![image.object_key.clone()];
    keys.extend(media::thumbnails(image).into_iter().map(|t| t.key));
    let mut found = Vec::new();
    for key in keys {
        found.push(store.get(&key).await.unwrap());
    }
    found
}

#[tokio::test]
async fn pictures_are_imported_once_and_removed_when_deleted_in_mahak() {
    let sim = simulator::start(SimulatorConfig {
        sizes: DataSizes::for_products(4),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let handle = TestDb::postgres().await;
    let db = handle.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDiskStore::from_settings(&StorageSettings {
        local_dir: dir.path().to_path_buf(),
        ..StorageSettings::default()
    });
    let http = reqwest::Client::new();

    // Product 501 already has one uploaded image; 502 has none.
    let first = seed::product(&db, &ProductSpec::new(501, "Tea glass")).await;
    let second = seed::product(
        &db,
        &ProductSpec {
            images: 0,
            ..ProductSpec::new(502, "Samovar")
        },
    )
    .await;
    let third = seed::product(&db, &ProductSpec::new(503, "Teapot")).await;
    mirror_picture(
        &db,
        1,
        "/Images/Products/1.png",
        Some("Front view"),
        102,
        501,
    )
    .await;
    mirror_picture(&db, 2, "/Images/Products/2.png", None, 102, 502).await;
    // The simulator serves only .png files: this one 404s.
    mirror_picture(&db, 3, "/Images/Products/3.jpg", Some("Missing"), 102, 503).await;
    // A person's picture and a picture of a product the store does not have: ignored.
    mirror_picture(&db, 4, "/Images/Products/4.png", None, 101, 501).await;
    mirror_picture(&db, 5, "/Images/Products/5.png", None, 102, 9_999).await;

    let report = import_pending(&db, &store, &http, &sim.base_url(), &rules())
        .await
        .unwrap();
    assert_eq!(
        report,
        ImportReport {
            imported: 2,
            removed: 0,
            failed: 1,
            deferred: 0
        }
    );
    let served = http
        .get(format!("{}/Images/Products/1.png", sim.root_url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let images = mahak_images(&db).await;
    assert_eq!(images.len(), 2, "{images:?}");
    let (one, two) = (&images[0], &images[1]);
    assert_eq!(
        (one.mahak_picture_id, one.product_id, one.alt_text.as_str()),
        (Some(1), first, "Front view")
    );
    assert_eq!(
        (two.mahak_picture_id, two.product_id, two.alt_text.as_str()),
        (Some(2), second, "Samovar")
    );
    // After the product's uploaded image; first image of a product without any.
    assert_eq!((one.position, two.position), (1, 0));
    assert!(
        one.object_key
            .starts_with(&format!("products/{first}/mahak-1/")),
        "{}",
        one.object_key
    );
    assert_eq!(one.content_type, "image/png");
    assert_eq!(one.byte_size, served.len() as i64);
    for image in &images {
        let thumbs = media::thumbnails(image);
        assert!(!thumbs.is_empty(), "{image:?}");
        let stored = objects(&store, image).await;
        assert_eq!(stored[0].as_deref(), Some(&served[..]));
        for (thumb, bytes) in thumbs.iter().zip(&stored[1..]) {
            let decoded = image::load_from_memory(bytes.as_deref().expect("thumbnail stored"))
                .expect("thumbnail decodes");
            assert_eq!(
                (decoded.width(), decoded.height()),
                (thumb.width, thumb.height)
            );
        }
    }
    let third_images = media::images_of(&db, third).await.unwrap();
    assert_eq!(third_images.len(), 1, "only its uploaded image");

    // A second pass imports nothing new; the 404 is tried again and fails again.
    let again = import_pending(&db, &store, &http, &sim.base_url(), &rules())
        .await
        .unwrap();
    assert_eq!(
        again,
        ImportReport {
            imported: 0,
            removed: 0,
            failed: 1,
            deferred: 0
        }
    );
    assert_eq!(mahak_images(&db).await, images);

    // Mahak deletes picture 1, and the gallery row of picture 2.
    let mut picture: mahak_pictures::ActiveModel = mahak_pictures::Entity::find()
        .filter(mahak_pictures::Column::MahakId.eq(1))
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    picture.deleted_at = Set(Some(Utc::now()));
    picture.update(&db).await.unwrap();
    let mut gallery: mahak_photo_galleries::ActiveModel = mahak_photo_galleries::Entity::find()
        .filter(mahak_photo_galleries::Column::PictureMahakId.eq(2))
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    gallery.deleted_at = Set(Some(Utc::now()));
    gallery.update(&db).await.unwrap();

    let removed = import_pending(&db, &store, &http, &sim.base_url(), &rules())
        .await
        .unwrap();
    assert_eq!(
        removed,
        ImportReport {
            imported: 0,
            removed: 2,
            failed: 1,
            deferred: 0
        }
    );
    assert!(mahak_images(&db).await.is_empty());
    for image in &images {
        assert!(
            objects(&store, image).await.iter().all(Option::is_none),
            "objects of {image:?} left behind"
        );
    }
    // The product's uploaded image is untouched.
    assert_eq!(media::images_of(&db, first).await.unwrap().len(), 1);
}
