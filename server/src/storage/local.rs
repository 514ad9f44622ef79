//! [`ObjectStore`] on the local disk, for the embedded default. Objects are files under
//! `storage.local_dir`; this server serves them under `/media/{key}` and accepts uploads there
//! with a presigned-style PUT (`?expires=<unix>&sig=<hex>`, HMAC-SHA256 over the method, key,
//! content type, exact length and expiry), so a front end uploads exactly as it does to S3.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use super::{
    check_key, content_type_for_key, join_url, signing_window, valid_key, ObjectInfo, ObjectStore,
    PresignedPut,
};
use crate::config::StorageSettings;

pub struct LocalDiskStore {
    root: PathBuf,
    /// Where clients reach the `/media` route.
    base_url: String,
    /// Public reads: the URL clients read from (no signature needed); `None`: signed reads.
    public_base_url: Option<String>,
    signing_key: Vec<u8>,
    read_ttl: Duration,
}

impl LocalDiskStore {
    pub fn from_settings(settings: &StorageSettings) -> LocalDiskStore {
        let signing_key = match &settings.local_signing_key {
            Some(key) => key.expose_secret().as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                key
            }
        };
        let public_base_url = match settings.public_base_url.as_deref() {
            None => Some(settings.local_base_url.clone()),
            Some("") => None,
            Some(base) => Some(base.to_string()),
        };
        LocalDiskStore {
            root: settings.local_dir.clone(),
            base_url: settings.local_base_url.clone(),
            public_base_url,
            signing_key,
            read_ttl: Duration::from_secs(settings.presign_ttl_secs),
        }
    }

    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// HMAC-SHA256 over the request's method, key, content type, length and expiry.
    fn mac(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: Option<u64>,
        expires: u64,
    ) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        let length = length.map(|n| n.to_string()).unwrap_or_default();
        for part in [method, key, content_type, &length, &expires.to_string()] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    fn signature(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: Option<u64>,
        expires: u64,
    ) -> String {
        hex::encode(
            self.mac(method, key, content_type, length, expires)
                .finalize()
                .into_bytes(),
        )
    }

    /// Checks a signature in constant time, and that it has not expired.
    fn verify(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: Option<u64>,
        query: &Signed,
    ) -> bool {
        let (Some(expires), Some(sig)) = (query.expires, query.sig.as_deref()) else {
            return false;
        };
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        unix_now() <= expires
            && self
                .mac(method, key, content_type, length, expires)
                .verify_slice(&sig)
                .is_ok()
    }

    fn signed_url(&self, key: &str, expires: u64, sig: &str) -> String {
        format!(
            "{}?expires={expires}&sig={sig}",
            join_url(&self.base_url, key)
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Writes through a temporary file and a rename, so a reader never sees half an object.
async fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("object path has no parent")?;
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".upload-{}", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, bytes)
        .await
        .with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(err) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(anyhow::Error::new(err).context(format!("renaming to {}", path.display())));
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalDiskStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedPut> {
        check_key(key)?;
        let expires = unix_now() + ttl.as_secs();
        let sig = self.signature("PUT", key, content_type, Some(content_length), expires);
        Ok(PresignedPut {
            method: "PUT",
            url: self.signed_url(key, expires, &sig),
            headers: vec![
                ("content-type".into(), content_type.to_string()),
                ("content-length".into(), content_length.to_string()),
            ],
            expires_at: Utc::now() + ttl,
        })
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                size: meta.len(),
                content_type: Some(content_type_for_key(key).to_string()),
            })),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context(format!("stat {}", path.display()))),
        }
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context(format!("reading {}", path.display()))),
        }
    }

    async fn put(&self, key: &str, _content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let path = self.path(key)?;
        write_atomically(&path, &bytes).await
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => {
                Err(anyhow::Error::new(err).context(format!("deleting {}", path.display())))
            }
        }
    }

    async fn read_url(&self, key: &str) -> anyhow::Result<String> {
        check_key(key)?;
        if let Some(base) = &self.public_base_url {
            return Ok(join_url(base, key));
        }
        let (start, ttl) = signing_window(SystemTime::now(), self.read_ttl);
        let expires = start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + ttl.as_secs();
        let sig = self.signature("GET", key, "", None, expires);
        Ok(self.signed_url(key, expires, &sig))
    }
}

/// `?expires=<unix seconds>&sig=<hex>`.
#[derive(Debug, Default, Deserialize)]
struct Signed {
    expires: Option<u64>,
    sig: Option<String>,
}

/// `GET /media/{*key}` (reads) and `PUT /media/{*key}?expires=..&sig=..` (uploads).
pub fn router(store: Arc<LocalDiskStore>) -> Router {
    Router::new()
        .route("/media/{*key}", get(read_object).put(upload_object))
        .with_state(store)
}

fn status(code: StatusCode, message: &'static str) -> Response {
    (code, message).into_response()
}

async fn read_object(
    State(store): State<Arc<LocalDiskStore>>,
    UrlPath(key): UrlPath<String>,
    Query(query): Query<Signed>,
) -> Response {
    if !valid_key(&key) {
        return status(StatusCode::NOT_FOUND, "not found");
    }
    let public = store.public_base_url.is_some();
    if !public && !store.verify("GET", &key, "", None, &query) {
        return status(StatusCode::FORBIDDEN, "invalid or expired signature");
    }
    match store.get(&key).await {
        Ok(Some(bytes)) => {
            // Keys are never reused for other content (each upload gets a fresh id).
            let cache = if public {
                "public, max-age=31536000, immutable"
            } else {
                "private, max-age=300"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type_for_key(&key)),
                    (header::CACHE_CONTROL, cache),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => status(StatusCode::NOT_FOUND, "not found"),
        Err(err) => {
            tracing::error!(error = ?err, key, "reading a media object failed");
            status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn upload_object(
    State(store): State<Arc<LocalDiskStore>>,
    UrlPath(key): UrlPath<String>,
    Query(query): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !valid_key(&key) {
        return status(StatusCode::BAD_REQUEST, "invalid key");
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return status(StatusCode::LENGTH_REQUIRED, "Content-Length required");
    };
    if !store.verify("PUT", &key, content_type, Some(length), &query) {
        return status(
            StatusCode::FORBIDDEN,
            "invalid or expired signature (content type and length must be the signed ones)",
        );
    }
    let Ok(limit) = usize::try_from(length) else {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "too large");
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) if bytes.len() as u64 == length => bytes,
        _ => {
            return status(
                StatusCode::BAD_REQUEST,
                "body does not match Content-Length",
            )
        }
    };
    match store.put(&key, content_type, bytes.to_vec()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => {
            tracing::error!(error = ?err, key, "storing an upload failed");
            status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(public_base_url: Option<&str>) -> LocalDiskStore {
        LocalDiskStore::from_settings(&StorageSettings {
            local_signing_key: Some("k".repeat(32).into()),
            public_base_url: public_base_url.map(str::to_string),
            ..StorageSettings::default()
        })
    }

    fn query(expires: u64, sig: String) -> Signed {
        Signed {
            expires: Some(expires),
            sig: Some(sig),
        }
    }

    #[test]
    fn signatures_cover_every_part_and_expire() {
        let store = store(None);
        let key = "products/1/x/orig.png";
        let expires = unix_now() + 60;
        let sig = store.signature("PUT", key, "image/png", Some(10), expires);
        assert!(store.verify(
            "PUT",
            key,
            "image/png",
            Some(10),
            &query(expires, sig.clone())
        ));
        assert!(!store.verify(
            "GET",
            key,
            "image/png",
            Some(10),
            &query(expires, sig.clone())
        ));
        assert!(!store.verify(
            "PUT",
            "products/1/y/orig.png",
            "image/png",
            Some(10),
            &query(expires, sig.clone())
        ));
        assert!(!store.verify(
            "PUT",
            key,
            "image/jpeg",
            Some(10),
            &query(expires, sig.clone())
        ));
        assert!(!store.verify(
            "PUT",
            key,
            "image/png",
            Some(11),
            &query(expires, sig.clone())
        ));
        assert!(!store.verify("PUT", key, "image/png", Some(10), &query(expires + 1, sig)));
        // A correctly signed URL whose time is up.
        let past = unix_now() - 1;
        let sig = store.signature("PUT", key, "image/png", Some(10), past);
        assert!(!store.verify("PUT", key, "image/png", Some(10), &query(past, sig)));
        // Another process's key.
        let other = LocalDiskStore::from_settings(&StorageSettings::default());
        let sig = other.signature("PUT", key, "image/png", Some(10), expires);
        assert!(!store.verify("PUT", key, "image/png", Some(10), &query(expires, sig)));
        assert!(!store.verify("PUT", key, "image/png", Some(10), &Signed::default()));
    }

    #[tokio::test]
    async fn read_urls_are_public_by_default_and_signed_when_asked() {
        let key = "products/1/x/w160.jpg";
        assert_eq!(
            store(None).read_url(key).await.unwrap(),
            format!("/media/{key}")
        );
        assert_eq!(
            store(Some("https://cdn.example/m/"))
                .read_url(key)
                .await
                .unwrap(),
            format!("https://cdn.example/m/{key}")
        );
        let signed = store(Some("")).read_url(key).await.unwrap();
        let (path, q) = signed.split_once('?').unwrap();
        assert_eq!(path, format!("/media/{key}"));
        let params: Signed = parse_query(q);
        assert!(store(Some("")).verify("GET", key, "", None, &params));
    }

    fn parse_query(q: &str) -> Signed {
        let mut out = Signed::default();
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => out.expires = v.parse().ok(),
                Some(("sig", v)) => out.sig = Some(v.to_string()),
                _ => {}
            }
        }
        out
    }
}
