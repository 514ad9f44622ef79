//! Product images end to end: presigned uploads to a real S3-compatible server (s3s-fs,
//! started here on a free port with a temporary directory), attach with decoding and
//! thumbnails, reorder and delete; the shop's image URLs; and the local-disk store that the
//! server serves itself (signed PUT, GET back, tampered signatures refused).
//!
//! s3s-fs is found at `S3S_FS_BIN` or `/work/tools/bin/s3s-fs`; without it these tests fail and
//! say how to install it.

mod admin;
mod common;

use std::io::Cursor;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::seed::{self, ProductSpec};
use common::{TestDb, TestServer};
use entity::{audit_entries, image_uploads, product_images};
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, Rgba};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{json, Value};
use server::config::{StorageBackend, StorageSettings};
use server::error::ApiError;
use server::media::{self, MediaRules};
use server::storage::{ObjectStore, S3Store};
use uuid::Uuid;

const ACCESS_KEY: &str = "media-test-access";
const SECRET_KEY: &str = "media-test-secret-key-0123456789";
const BUCKET: &str = "store-media";

/// A running s3s-fs with a bucket, in a temporary directory of its own.
struct S3Server {
    child: Child,
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

impl S3Server {
    fn binary() -> PathBuf {
        let path = std::env::var_os("S3S_FS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/work/tools/bin/s3s-fs"));
        assert!(
            path.is_file(),
            "s3s-fs not found at {} (set S3S_FS_BIN): install it with \
             `cargo install --locked s3s-fs --version 0.14.1 --features binary --root /work/tools`",
            path.display()
        );
        path
    }

    async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new(Self::binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let addr = format!("127.0.0.1:{port}");
        let mut up = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "s3s-fs did not listen on {addr}");
        S3Server {
            child,
            endpoint: format!("http://{addr}"),
            root,
        }
    }

    fn settings(&self) -> StorageSettings {
        StorageSettings {
            backend: StorageBackend::S3,
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SecretString::from(SECRET_KEY)),
            path_style: true,
            ..StorageSettings::default()
        }
    }

    /// `APP__STORAGE__...` for a server using this bucket.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("APP__STORAGE__BACKEND", "s3".into()),
            ("APP__STORAGE__ENDPOINT", self.endpoint.clone()),
            ("APP__STORAGE__REGION", "us-east-1".into()),
            ("APP__STORAGE__BUCKET", BUCKET.into()),
            ("APP__STORAGE__ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("APP__STORAGE__SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }

    /// Whether the object is on s3s-fs's disk (checked behind the S3 API's back).
    fn has_file(&self, key: &str) -> bool {
        self.root.path().join(BUCKET).join(key).is_file()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rules(max_upload_bytes: u64) -> MediaRules {
    MediaRules {
        max_upload_bytes,
        allowed_content_types: vec!["image/jpeg".into(), "image/png".into(), "image/webp".into()],
        upload_ttl: Duration::from_secs(600),
    }
}

/// A photo-like JPEG (a gradient) of the given size.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 120])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(width, height, |x, y| Rgba([x as u8, y as u8, 200, 180]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(img)
        .write_to(&mut out, ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Sends a file the way a front end does: the presigned request, its headers, the bytes (the
/// HTTP client sets `content-length` itself, as browsers do).
async fn upload(url: &str, headers: &[(String, String)], bytes: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().put(url);
    for (name, value) in headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    request.body(bytes).send().await.expect("upload request")
}

/// The URL with the first hex digit after `marker` changed (a signature that no longer fits).
fn flip_after(url: &str, marker: &str) -> String {
    let at = url.find(marker).expect("marker in URL") + marker.len();
    let flipped = if url[at..].starts_with('0') { "1" } else { "0" };
    format!("{}{flipped}{}", &url[..at], &url[at + 1..])
}

fn field_of(err: &ApiError) -> Option<&'static str> {
    match err {
        ApiError::BadUserInput { field, .. } => *field,
        _ => None,
    }
}

fn message_of(err: &ApiError) -> String {
    match err {
        ApiError::BadUserInput { message, .. } | ApiError::Conflict { message } => message.clone(),
        other => other.code().to_string(),
    }
}

async fn audit_actions(db: &DatabaseConnection) -> Vec<String> {
    let mut actions: Vec<String> = audit_entries::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    actions.sort();
    actions
}

/// The whole flow on the domain functions against the real S3 server: upload, attach with
/// thumbnails, idempotent retry, reorder, delete.
#[tokio::test]
async fn s3_upload_attach_reorder_delete() {
    let s3 = S3Server::start().await;
    let store = S3Store::from_settings(&s3.settings()).unwrap();
    let db_handle = TestDb::postgres().await;
    let db = db_handle.connect().await;
    let product = seed::product(
        &db,
        &ProductSpec {
            images: 0,
            ..ProductSpec::new(4001, "لیوان")
        },
    )
    .await;
    let staff = Uuid::new_v4();
    let rules = rules(10 * 1024 * 1024);

    // Two images: a 1600×1000 JPEG and a 300×200 PNG with transparency.
    let mut images = Vec::new();
    for (bytes, content_type, alt) in [
        (jpeg(1600, 1000), "image/jpeg", "front"),
        (png(300, 200), "image/png", "side"),
    ] {
        let ticket = media::create_upload(
            &db,
            &store,
            &rules,
            staff,
            product,
            content_type,
            bytes.len() as i64,
        )
        .await
        .unwrap();
        assert_eq!(ticket.put.method, "PUT");
        // The client must send the declared type (it is signed); never a host header.
        assert!(
            ticket
                .put
                .headers
                .contains(&("content-type".to_string(), content_type.to_string())),
            "{:?}",
            ticket.put.headers
        );
        assert!(ticket.put.headers.iter().all(|(name, _)| name != "host"));
        let key = ticket.upload.object_key.clone();
        assert!(key.starts_with(&format!("products/{product}/")), "{key}");

        // Not uploaded yet.
        let err = media::attach(&db, &store, &rules, staff, ticket.upload.id, alt)
            .await
            .unwrap_err();
        assert_eq!(field_of(&err), Some("uploadId"));
        assert!(message_of(&err).contains("not been uploaded"));

        let response = upload(&ticket.put.url, &ticket.put.headers, bytes.clone()).await;
        assert!(response.status().is_success(), "{}", response.status());
        assert!(s3.has_file(&key));

        // Two attaches at once (a double click, a retry racing the first): one image.
        let (image, twin) = tokio::join!(
            media::attach(&db, &store, &rules, staff, ticket.upload.id, alt),
            media::attach(&db, &store, &rules, staff, ticket.upload.id, alt),
        );
        let (image, twin) = (image.unwrap(), twin.unwrap());
        assert_eq!(twin.id, image.id);
        // Attaching again answers the same image and adds nothing.
        let again = media::attach(&db, &store, &rules, staff, ticket.upload.id, alt)
            .await
            .unwrap();
        assert_eq!(again.id, image.id);
        assert_eq!(image.object_key, key);
        assert_eq!(image.alt_text, alt);
        assert_eq!(image.byte_size, bytes.len() as i64);
        images.push((image, bytes));
    }
    assert_eq!(
        product_images::Entity::find()
            .filter(product_images::Column::ProductId.eq(product))
            .all(&db)
            .await
            .unwrap()
            .len(),
        2
    );

    // The JPEG: 1600×1000, thumbnails at 160, 480, 1200 wide in JPEG, stored beside it.
    let (front, front_bytes) = &images[0];
    assert_eq!(
        (front.width, front.height, front.position),
        (Some(1600), Some(1000), 0)
    );
    let thumbs = media::thumbnails(front);
    let sizes: Vec<(u32, u32)> = thumbs.iter().map(|t| (t.width, t.height)).collect();
    assert_eq!(sizes, [(160, 100), (480, 300), (1200, 750)]);
    let dir = front.object_key.rsplit_once('/').unwrap().0;
    for thumb in &thumbs {
        assert_eq!(thumb.key, format!("{dir}/w{}.jpg", thumb.width));
        let stored = store
            .get(&thumb.key)
            .await
            .unwrap()
            .expect("thumbnail stored");
        assert_eq!(stored.len() as u64, thumb.byte_size);
        let decoded = image::load_from_memory_with_format(&stored, ImageFormat::Jpeg).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (thumb.width, thumb.height)
        );
    }
    // The original is untouched.
    assert_eq!(
        &store.get(&front.object_key).await.unwrap().unwrap(),
        front_bytes
    );

    // The PNG: never upscaled (160 and 300 only), WebP to keep the transparency.
    let (side, _) = &images[1];
    assert_eq!(
        (side.width, side.height, side.position),
        (Some(300), Some(200), 1)
    );
    let thumbs = media::thumbnails(side);
    let sizes: Vec<(u32, u32)> = thumbs.iter().map(|t| (t.width, t.height)).collect();
    assert_eq!(sizes, [(160, 107), (300, 200)]);
    for thumb in &thumbs {
        assert_eq!(thumb.content_type, "image/webp");
        let stored = store.get(&thumb.key).await.unwrap().unwrap();
        let decoded = image::load_from_memory_with_format(&stored, ImageFormat::WebP).unwrap();
        assert!(decoded.color().has_alpha());
        assert_eq!(
            (decoded.width(), decoded.height()),
            (thumb.width, thumb.height)
        );
    }

    // Reorder: must list exactly the product's images.
    for bad in [
        vec![front.id],
        vec![front.id, front.id],
        vec![front.id, side.id, 999_999],
    ] {
        let err = media::reorder(&db, staff, product, &bad).await.unwrap_err();
        assert_eq!(field_of(&err), Some("imageIds"), "{bad:?}");
    }
    let reordered = media::reorder(&db, staff, product, &[side.id, front.id])
        .await
        .unwrap();
    let order: Vec<(i64, i32)> = reordered.iter().map(|i| (i.id, i.position)).collect();
    assert_eq!(order, [(side.id, 0), (front.id, 1)]);
    let stored: Vec<i64> = media::images_of(&db, product)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(stored, [side.id, front.id]);

    // Delete: the row and every object go.
    let keys: Vec<String> = std::iter::once(front.object_key.clone())
        .chain(media::thumbnails(front).into_iter().map(|t| t.key))
        .collect();
    media::delete(&db, &store, staff, front.id).await.unwrap();
    for key in &keys {
        assert!(
            store.head(key).await.unwrap().is_none(),
            "{key} left behind"
        );
        assert!(!s3.has_file(key), "{key} left on disk");
    }
    assert!(matches!(
        media::delete(&db, &store, staff, front.id).await,
        Err(ApiError::NotFound { .. })
    ));
    assert!(
        s3.has_file(&side.object_key),
        "the other image is untouched"
    );
    // Its upload cannot be attached again: the image was deleted.
    let front_upload = image_uploads::Entity::find()
        .filter(image_uploads::Column::ObjectKey.eq(&front.object_key))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(front_upload.attached_at.is_some());
    let err = media::attach(&db, &store, &rules, staff, front_upload.id, "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");

    // Every change is audited: two uploads, two attaches, one reorder, one delete.
    assert_eq!(
        audit_actions(&db).await,
        [
            "product_image.attach",
            "product_image.attach",
            "product_image.delete",
            "product_image.reorder",
            "product_image.upload",
            "product_image.upload",
        ]
    );
}

/// Bad uploads are refused and lose nothing: wrong type or size at create, an unknown
/// product, a file that is not an image, a PNG declared as JPEG, a file of another size.
#[tokio::test]
async fn s3_bad_uploads_are_rejected() {
    let s3 = S3Server::start().await;
    let store = S3Store::from_settings(&s3.settings()).unwrap();
    let db_handle = TestDb::postgres().await;
    let db = db_handle.connect().await;
    let product = seed::product(
        &db,
        &ProductSpec {
            images: 0,
            ..ProductSpec::new(4002, "کاسه")
        },
    )
    .await;
    let staff = Uuid::new_v4();
    let rules = rules(64 * 1024);

    let create = |content_type: &'static str, size: i64, product: i64| {
        let (db, store, rules) = (&db, &store, &rules);
        async move { media::create_upload(db, store, rules, staff, product, content_type, size).await }
    };
    for (content_type, size, field) in [
        ("image/gif", 1000, "contentType"),
        ("text/plain", 1000, "contentType"),
        ("image/svg+xml", 1000, "contentType"),
        ("image/jpeg", 64 * 1024 + 1, "size"),
        ("image/jpeg", 0, "size"),
        ("image/png", -5, "size"),
    ] {
        let err = create(content_type, size, product).await.unwrap_err();
        assert_eq!(field_of(&err), Some(field), "{content_type} {size}");
    }
    assert!(matches!(
        create("image/jpeg", 1000, 987_654).await,
        Err(ApiError::NotFound { what: "product" })
    ));
    assert!(image_uploads::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .is_empty());

    // Text declared as a PNG: refused at attach, and the object is deleted.
    let text = b"this is a text file pretending to be a picture\n".repeat(20);
    let ticket = create("image/png", text.len() as i64, product)
        .await
        .unwrap();
    assert!(upload(&ticket.put.url, &ticket.put.headers, text.clone())
        .await
        .status()
        .is_success());
    assert!(s3.has_file(&ticket.upload.object_key));
    let err = media::attach(&db, &store, &rules, staff, ticket.upload.id, "")
        .await
        .unwrap_err();
    assert_eq!(field_of(&err), Some("uploadId"));
    assert!(
        message_of(&err).contains("not a valid PNG"),
        "{}",
        message_of(&err)
    );
    assert!(store
        .head(&ticket.upload.object_key)
        .await
        .unwrap()
        .is_none());
    assert!(!s3.has_file(&ticket.upload.object_key));

    // A PNG declared as a JPEG.
    let bytes = png(100, 80);
    let ticket = create("image/jpeg", bytes.len() as i64, product)
        .await
        .unwrap();
    assert!(upload(&ticket.put.url, &ticket.put.headers, bytes)
        .await
        .status()
        .is_success());
    let err = media::attach(&db, &store, &rules, staff, ticket.upload.id, "")
        .await
        .unwrap_err();
    assert!(
        message_of(&err).contains("is a PNG image"),
        "{}",
        message_of(&err)
    );
    assert!(!s3.has_file(&ticket.upload.object_key));

    // A body longer than declared: S3 refuses the PUT itself (the length is signed).
    let bytes = jpeg(64, 64);
    let ticket = create("image/jpeg", bytes.len() as i64 - 10, product)
        .await
        .unwrap();
    let status = upload(&ticket.put.url, &ticket.put.headers, bytes)
        .await
        .status();
    assert!(status.is_client_error(), "{status}");
    assert!(!s3.has_file(&ticket.upload.object_key));

    // A file of the wrong type at the PUT: the signed content type does not match.
    let bytes = jpeg(64, 64);
    let ticket = create("image/jpeg", bytes.len() as i64, product)
        .await
        .unwrap();
    let headers: Vec<(String, String)> = ticket
        .put
        .headers
        .iter()
        .map(|(n, v)| {
            let v = if n == "content-type" {
                "image/png".to_string()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect();
    let status = upload(&ticket.put.url, &headers, bytes.clone())
        .await
        .status();
    assert!(status.is_client_error(), "{status}");
    // The right request still works afterwards, and the image attaches.
    assert!(upload(&ticket.put.url, &ticket.put.headers, bytes)
        .await
        .status()
        .is_success());
    media::attach(&db, &store, &rules, staff, ticket.upload.id, "ok")
        .await
        .unwrap();

    // Nothing rejected became an image; the upload records are kept.
    let images = product_images::Entity::find().all(&db).await.unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].alt_text, "ok");
    assert_eq!(
        image_uploads::Entity::find().all(&db).await.unwrap().len(),
        4
    );
}

/// The embedded default's local-disk store, over HTTP: the server takes a signed PUT, serves
/// the file back, and refuses tampered or mismatched uploads and path tricks.
#[tokio::test]
async fn local_disk_store_signed_put_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let signing_key = "local-media-signing-key-for-tests";
    let db = TestDb::postgres().await;
    let server = TestServer::start_with(
        &db,
        &[
            ("APP__STORAGE__LOCAL_DIR", dir.path().to_str().unwrap()),
            ("APP__STORAGE__LOCAL_SIGNING_KEY", signing_key),
        ],
    )
    .await;
    // The same configuration, to presign here what the server would (the GraphQL flow is
    // tested against the server below).
    let store = server::storage::LocalDiskStore::from_settings(&StorageSettings {
        local_dir: dir.path().to_path_buf(),
        local_signing_key: Some(SecretString::from(signing_key)),
        ..StorageSettings::default()
    });
    let bytes = jpeg(40, 30);
    let key = "products/1/0193aa00-0000-7000-8000-000000000001/orig.jpg";
    let put = store
        .presign_put(
            key,
            "image/jpeg",
            bytes.len() as u64,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert!(put.url.starts_with("/media/products/1/"), "{}", put.url);
    let url = server.url(&put.url);

    // Tampered signature, another content type, another length, another key: 403, nothing
    // written.
    let tampered = flip_after(&url, "sig=");
    let as_png = vec![("content-type".to_string(), "image/png".to_string())];
    let other_key = url.replace("orig.jpg", "other.jpg");
    for (url, headers, body) in [
        (&tampered, &put.headers, bytes.clone()),
        (&url, &as_png, bytes.clone()),
        (&url, &put.headers, [bytes.clone(), vec![0u8; 5]].concat()),
        (&other_key, &put.headers, bytes.clone()),
    ] {
        let response = upload(url, headers, body).await;
        assert_eq!(response.status(), 403, "{url}");
    }
    let no_signature = reqwest::Client::new()
        .put(server.url(&format!("/media/{key}")))
        .header("content-type", "image/jpeg")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_signature.status(), 403);
    assert!(!dir.path().join(key).exists());

    // The signed request stores the file; GET returns it (public reads by default).
    let response = upload(&url, &put.headers, bytes.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(std::fs::read(dir.path().join(key)).unwrap(), bytes);
    let response = reqwest::get(server.url(&format!("/media/{key}")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(store.get(key).await.unwrap().unwrap(), bytes);

    // Missing objects and keys that could leave the directory are 404.
    for path in [
        "/media/products/1/nothing.jpg",
        "/media/products/..%2F..%2Fetc/passwd",
        "/media/products/%2e%2e/%2e%2e/Cargo.toml",
    ] {
        let status = reqwest::get(server.url(path)).await.unwrap().status();
        assert_eq!(status, 404, "{path}");
    }
}

const CREATE: &str = "mutation($p: ID!, $t: String!, $s: Int!) { createImageUpload(productId: $p, contentType: $t, size: $s) { uploadId method url headers { name value } expiresAt } }";
const ATTACH: &str = "mutation($u: ID!, $a: String) { attachProductImage(uploadId: $u, alt: $a) { id url altText position width height thumbnails { url width height } } }";
const SHOP_IMAGES: &str = "query($slug: String!) { product(slug: $slug) { images { url altText width height position thumbnails { width height url } } } }";

/// The `extensions` of the first error, or `Null`.
fn first_error(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]
}

/// `createImageUpload` then the PUT; returns the upload id (the PUT must succeed).
async fn upload_via_api(
    server: &TestServer,
    token: &str,
    product: i64,
    content_type: &str,
    bytes: Vec<u8>,
) -> String {
    let body = admin::admin_gql(
        server,
        Some(token),
        CREATE,
        json!({ "p": product.to_string(), "t": content_type, "s": bytes.len() }),
    )
    .await;
    let ticket = &body["data"]["createImageUpload"];
    assert_eq!(ticket["method"], "PUT", "{body}");
    let url = ticket["url"].as_str().unwrap();
    let url = if url.starts_with('/') {
        server.url(url)
    } else {
        url.to_string()
    };
    let headers: Vec<(String, String)> = ticket["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let response = upload(&url, &headers, bytes).await;
    assert!(
        response.status().is_success(),
        "PUT {url}: {}",
        response.status()
    );
    ticket["uploadId"].as_str().unwrap().to_string()
}

async fn attach_via_api(server: &TestServer, token: &str, upload_id: &str, alt: &str) -> Value {
    admin::admin_gql(
        server,
        Some(token),
        ATTACH,
        json!({ "u": upload_id, "a": alt }),
    )
    .await
}

/// GETs a URL the API handed out (relative ones are this server's).
async fn fetch(server: &TestServer, url: &str) -> reqwest::Response {
    let url = if url.starts_with('/') {
        server.url(url)
    } else {
        url.to_string()
    };
    reqwest::get(&url).await.expect("GET image")
}

async fn fetch_bytes(server: &TestServer, url: &str) -> Vec<u8> {
    let response = fetch(server, url).await;
    assert_eq!(response.status(), 200, "GET {url}");
    response.bytes().await.unwrap().to_vec()
}

/// The admin API and the shop against the real server with the S3 backend: upload through a
/// presigned PUT, attach, thumbnails, the shop's URLs (presigned GETs) serving the same bytes,
/// bad uploads refused, reorder, delete.
#[tokio::test]
async fn s3_images_through_the_admin_api_and_the_shop() {
    let s3 = S3Server::start().await;
    let db = TestDb::postgres().await;
    let env = s3.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("APP__STORAGE__MAX_UPLOAD_BYTES", "1048576"));
    let server = TestServer::start_with(&db, &env).await;
    let conn = db.connect().await;
    let product = seed::product(
        &conn,
        &ProductSpec {
            images: 0,
            ..ProductSpec::new(5001, "قوری")
        },
    )
    .await;
    let token = admin::staff_token(&server, &db, &["catalogue"]).await;

    // Upload and attach a 900×600 JPEG.
    let original = jpeg(900, 600);
    let upload_id = upload_via_api(&server, &token, product, "image/jpeg", original.clone()).await;
    let body = attach_via_api(&server, &token, &upload_id, "نمای روبه‌رو").await;
    let image = &body["data"]["attachProductImage"];
    assert_eq!(image["position"], 0, "{body}");
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(900), Some(600))
    );
    assert_eq!(image["altText"], "نمای روبه‌رو");
    // Presigned GET (no public base URL configured) straight from the bucket.
    assert!(
        image["url"].as_str().unwrap().starts_with(&s3.endpoint),
        "{image}"
    );
    assert!(
        image["url"].as_str().unwrap().contains("X-Amz-Signature="),
        "{image}"
    );
    // Attaching again: the same image.
    let again = attach_via_api(&server, &token, &upload_id, "x").await;
    assert_eq!(again["data"]["attachProductImage"]["id"], image["id"]);

    // Thumbnails exist in the store with the right dimensions (480 and 900 capped from 1200).
    let thumbs = image["thumbnails"].as_array().unwrap();
    let sizes: Vec<(i64, i64)> = thumbs
        .iter()
        .map(|t| (t["width"].as_i64().unwrap(), t["height"].as_i64().unwrap()))
        .collect();
    assert_eq!(sizes, [(160, 107), (480, 320), (900, 600)]);
    for thumb in thumbs {
        let bytes = fetch_bytes(&server, thumb["url"].as_str().unwrap()).await;
        let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).unwrap();
        assert_eq!(
            (decoded.width() as i64, decoded.height() as i64),
            (
                thumb["width"].as_i64().unwrap(),
                thumb["height"].as_i64().unwrap()
            )
        );
    }

    // The shop shows it; its URL serves the uploaded bytes.
    let shop = server.shop(SHOP_IMAGES, json!({ "slug": "p-5001" })).await;
    let images = shop["data"]["product"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{shop}");
    assert_eq!(images[0]["altText"], "نمای روبه‌رو");
    assert_eq!(images[0]["thumbnails"].as_array().unwrap().len(), 3);
    assert_eq!(
        fetch_bytes(&server, images[0]["url"].as_str().unwrap()).await,
        original
    );
    let w160 = fetch_bytes(&server, images[0]["thumbnails"][0]["url"].as_str().unwrap()).await;
    assert_eq!(image::load_from_memory(&w160).unwrap().width(), 160);
    // A tampered presigned URL is refused by the store.
    let tampered = flip_after(images[0]["url"].as_str().unwrap(), "X-Amz-Signature=");
    assert_eq!(fetch(&server, &tampered).await.status(), 403);

    // Refused at create: a wrong content type, an oversized file (limit 1 MiB here).
    for (content_type, size, field) in [
        ("image/gif", 1000, "contentType"),
        ("application/pdf", 1000, "contentType"),
        ("image/jpeg", 1_048_577, "size"),
    ] {
        let body = admin::admin_gql(
            &server,
            Some(&token),
            CREATE,
            json!({ "p": product.to_string(), "t": content_type, "s": size }),
        )
        .await;
        assert_eq!(first_error(&body)["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(first_error(&body)["field"], field, "{body}");
    }
    let body = admin::admin_gql(
        &server,
        Some(&token),
        CREATE,
        json!({ "p": "999999", "t": "image/jpeg", "s": 1000 }),
    )
    .await;
    assert_eq!(first_error(&body)["code"], "NOT_FOUND", "{body}");

    // Refused at attach, object deleted: text declared as PNG, a PNG declared as JPEG.
    for (declared, bytes, expected) in [
        (
            "image/png",
            b"plain text, not a picture".repeat(8),
            "not a valid PNG",
        ),
        ("image/jpeg", png(50, 50), "is a PNG image"),
    ] {
        let upload_id = upload_via_api(&server, &token, product, declared, bytes).await;
        let key = image_uploads::Entity::find_by_id(Uuid::parse_str(&upload_id).unwrap())
            .one(&conn)
            .await
            .unwrap()
            .unwrap()
            .object_key;
        assert!(s3.has_file(&key));
        let body = attach_via_api(&server, &token, &upload_id, "").await;
        assert_eq!(first_error(&body)["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(first_error(&body)["field"], "uploadId", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        assert!(!s3.has_file(&key), "rejected object {key} kept");
    }

    // A second image, then reorder and delete through the API.
    let upload_id = upload_via_api(&server, &token, product, "image/png", png(120, 90)).await;
    let second = attach_via_api(&server, &token, &upload_id, "side").await;
    let second = &second["data"]["attachProductImage"];
    assert_eq!(second["position"], 1, "{second}");
    let (first_id, second_id) = (image["id"].clone(), second["id"].clone());
    let body = admin::admin_gql(
        &server,
        Some(&token),
        "mutation($p: ID!, $ids: [ID!]!) { reorderProductImages(productId: $p, imageIds: $ids) { id position } }",
        json!({ "p": product.to_string(), "ids": [first_id] }),
    )
    .await;
    assert_eq!(first_error(&body)["field"], "imageIds", "{body}");
    let body = admin::admin_gql(
        &server,
        Some(&token),
        "mutation($p: ID!, $ids: [ID!]!) { reorderProductImages(productId: $p, imageIds: $ids) { id position } }",
        json!({ "p": product.to_string(), "ids": [second_id, first_id] }),
    )
    .await;
    assert_eq!(
        body["data"]["reorderProductImages"],
        json!([{ "id": second_id, "position": 0 }, { "id": first_id, "position": 1 }]),
        "{body}"
    );
    let shop = server.shop(SHOP_IMAGES, json!({ "slug": "p-5001" })).await;
    let alts: Vec<&str> = shop["data"]["product"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["altText"].as_str().unwrap())
        .collect();
    assert_eq!(alts, ["side", "نمای روبه‌رو"]);

    let first_keys: Vec<String> = {
        let row =
            product_images::Entity::find_by_id(first_id.as_str().unwrap().parse::<i64>().unwrap())
                .one(&conn)
                .await
                .unwrap()
                .unwrap();
        std::iter::once(row.object_key.clone())
            .chain(media::thumbnails(&row).into_iter().map(|t| t.key))
            .collect()
    };
    assert_eq!(first_keys.len(), 4);
    let body = admin::admin_gql(
        &server,
        Some(&token),
        "mutation($id: ID!) { deleteProductImage(id: $id) }",
        json!({ "id": first_id }),
    )
    .await;
    assert_eq!(body["data"]["deleteProductImage"], first_id, "{body}");
    for key in &first_keys {
        assert!(!s3.has_file(key), "{key} left behind");
    }
    let shop = server.shop(SHOP_IMAGES, json!({ "slug": "p-5001" })).await;
    assert_eq!(
        shop["data"]["product"]["images"].as_array().unwrap().len(),
        1
    );

    // Without the catalogue permission: refused, nothing recorded.
    let other = admin::staff_token(&server, &db, &["orders"]).await;
    let body = admin::admin_gql(
        &server,
        Some(&other),
        CREATE,
        json!({ "p": product.to_string(), "t": "image/jpeg", "s": 1000 }),
    )
    .await;
    assert_eq!(first_error(&body)["code"], "FORBIDDEN", "{body}");
    assert_eq!(
        image_uploads::Entity::find()
            .all(&conn)
            .await
            .unwrap()
            .len(),
        4
    );
}

/// The same flow on the embedded default's local-disk store: the upload URL points at this
/// server, the shop's URLs too.
#[tokio::test]
async fn local_disk_images_through_the_admin_api_and_the_shop() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::postgres().await;
    let server = TestServer::start_with(
        &db,
        &[("APP__STORAGE__LOCAL_DIR", dir.path().to_str().unwrap())],
    )
    .await;
    let conn = db.connect().await;
    let product = seed::product(
        &conn,
        &ProductSpec {
            images: 0,
            ..ProductSpec::new(5002, "سینی")
        },
    )
    .await;
    let token = admin::staff_token(&server, &db, &["catalogue"]).await;

    let original = jpeg(200, 100);
    let upload_id = upload_via_api(&server, &token, product, "image/jpeg", original.clone()).await;
    let body = attach_via_api(&server, &token, &upload_id, "tray").await;
    let image = &body["data"]["attachProductImage"];
    let url = image["url"].as_str().unwrap();
    assert!(url.starts_with("/media/products/"), "{body}");
    let key = url.trim_start_matches("/media/");
    assert_eq!(std::fs::read(dir.path().join(key)).unwrap(), original);

    let shop = server.shop(SHOP_IMAGES, json!({ "slug": "p-5002" })).await;
    let images = &shop["data"]["product"]["images"];
    assert_eq!(images[0]["url"], url, "{shop}");
    assert_eq!(fetch_bytes(&server, url).await, original);
    let sizes: Vec<i64> = images[0]["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["width"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, [160, 200]);
    for thumb in images[0]["thumbnails"].as_array().unwrap() {
        let bytes = fetch_bytes(&server, thumb["url"].as_str().unwrap()).await;
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(decoded.width() as i64, thumb["width"].as_i64().unwrap());
        assert_eq!(decoded.height() as i64, thumb["height"].as_i64().unwrap());
    }
}
