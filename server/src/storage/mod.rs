//! Object storage for product images: one small [`ObjectStore`] trait with exactly two
//! implementations, [`S3Store`] (any S3-compatible service: AWS, MinIO, Garage) and
//! [`LocalDiskStore`] (the embedded default: files on disk that this server serves itself under
//! `/media`, with the same presigned-upload flow so front ends need not care which one runs).

pub mod local;
pub mod s3;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use local::LocalDiskStore;
pub use s3::S3Store;

use crate::config::{StorageBackend, StorageSettings};

/// What a client needs to upload one object itself: an HTTP request to send, body = the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPut {
    pub method: &'static str,
    pub url: String,
    /// Headers the request must carry exactly as given (the signature covers them).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What a HEAD of an object tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

/// A bucket of objects addressed by key (`products/12/<uuid>/orig.jpg`). Keys are chosen by
/// the server: ASCII letters, digits, `-`, `_`, `.` and `/`.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// A URL a client can PUT exactly `content_length` bytes of `content_type` to, until
    /// `ttl` has passed.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedPut>;

    /// Size and content type of an object; `None` when it does not exist.
    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>>;

    /// The object's bytes; `None` when it does not exist.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()>;

    /// Deletes an object; deleting a missing one is not an error.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;

    /// The URL clients read the object from: the public base URL joined with the key, or a
    /// presigned GET URL valid for a while (see [`signing_window`]).
    async fn read_url(&self, key: &str) -> anyhow::Result<String>;
}

/// The store the configuration asks for, plus the local one when it is that (its routes are
/// mounted by `crate::http`).
#[derive(Clone)]
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    pub local: Option<Arc<LocalDiskStore>>,
}

impl Storage {
    pub fn from_settings(settings: &StorageSettings) -> anyhow::Result<Storage> {
        Ok(match settings.backend {
            StorageBackend::S3 => Storage {
                store: Arc::new(S3Store::from_settings(settings)?),
                local: None,
            },
            StorageBackend::Local => {
                let local = Arc::new(LocalDiskStore::from_settings(settings));
                Storage {
                    store: local.clone(),
                    local: Some(local),
                }
            }
        })
    }
}

/// Whether a key is one the server could have made: non-empty `/`-separated segments of ASCII
/// letters, digits, `-`, `_` and `.`, none of them `.` or `..`. Anything else never reaches a
/// store (the local one would otherwise be open to path traversal).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

pub(crate) fn check_key(key: &str) -> anyhow::Result<()> {
    anyhow::ensure!(valid_key(key), "invalid object key {key:?}");
    Ok(())
}

/// Start and lifetime of a presigned read URL. Reads are signed for a window aligned to half
/// the TTL, so the same image keeps the same URL for a while (browsers and CDNs can cache it)
/// and a URL handed out is always valid for at least half the TTL.
pub fn signing_window(now: SystemTime, ttl: Duration) -> (SystemTime, Duration) {
    let step = (ttl.as_secs() / 2).max(1);
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let start = UNIX_EPOCH + Duration::from_secs(secs - secs % step);
    (start, ttl)
}

/// Joins a base URL and a key with exactly one `/`.
pub(crate) fn join_url(base: &str, key: &str) -> String {
    format!("{}/{key}", base.trim_end_matches('/'))
}

/// The content type a key's extension stands for (the local store keeps no metadata: the
/// server names every object after its type).
pub fn content_type_for_key(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_server_makes_are_valid_and_traversal_is_not() {
        assert!(valid_key("products/12/0193-ab/orig.jpg"));
        assert!(valid_key("products/12/x/w160.webp"));
        for bad in [
            "", "/abs", "a//b", "a/../b", "..", "a/./b", "a/b/", "a\\b", "a b", "ä", "a/%2e%2e",
        ] {
            assert!(!valid_key(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn signing_window_is_stable_and_leaves_half_the_ttl() {
        let ttl = Duration::from_secs(900);
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        let (start, life) = signing_window(t, ttl);
        assert_eq!(life, ttl);
        assert!(start <= t);
        assert!(start + life >= t + ttl / 2);
        // Ten seconds later, the same window (so the same URL).
        let (later, _) = signing_window(t + Duration::from_secs(10), ttl);
        assert_eq!(start, later);
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type_for_key("a/orig.jpg"), "image/jpeg");
        assert_eq!(content_type_for_key("a/w160.webp"), "image/webp");
        assert_eq!(content_type_for_key("a/orig.png"), "image/png");
        assert_eq!(content_type_for_key("a/orig"), "application/octet-stream");
    }
}
