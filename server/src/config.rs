//! The server's configuration root: the parts shared with the sync worker (see
//! `sync::settings`) plus the parts only the server reads.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sync::settings::{
    self, AmqpSettings, ConfigError, DatabaseSettings, LogSettings, MahakSettings,
};
use sync::worker::SyncSettings;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub mahak: MahakSettings,
    pub sync: SyncSettings,
    pub storage: StorageSettings,
    pub graphql: GraphqlSettings,
    pub payment: PaymentSettings,
    pub log: LogSettings,
    pub sms: crate::sms::SmsSettings,
    pub jwt: crate::auth::JwtSettings,
    pub otp: crate::auth::OtpSettings,
    pub checkout: crate::commerce::CheckoutSettings,
    pub staff: crate::staff::StaffSettings,
    pub outbox: crate::outbox::OutboxSettings,
    pub push: sync::push::PushSettings,
    pub reconcile: crate::reconcile::ReconcileSettings,
}

impl Settings {
    /// Defaults, then the optional file, then `APP__...` variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut settings: Settings = settings::load(file)?;
        settings.validate()?;
        // The embedded default has no secrets configured: make per-process ones.
        settings.jwt.ensure_key();
        settings.otp.ensure_pepper();
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        self.amqp.validate()?;
        self.mahak.validate()?;
        self.sync.validate()?;
        self.graphql.validate()?;
        self.sms.validate()?;
        self.jwt.validate()?;
        self.otp.validate()?;
        self.checkout.validate()?;
        self.staff.validate()?;
        self.outbox.validate()?;
        self.push.validate()?;
        self.reconcile.validate()?;
        self.payment.validate()?;
        self.storage.validate()?;
        // A signed image URL is valid for at least half its TTL after it was made; a cached
        // answer must leave clients a good part of that.
        if self.graphql.catalogue_cache_ttl_secs * 4 > self.storage.presign_ttl_secs {
            return Err(ConfigError::invalid(
                "graphql.catalogue_cache_ttl_secs",
                format!(
                    "must be at most a quarter of storage.presign_ttl_secs ({} s), so that the \
                     signed image URLs of a cached answer stay valid",
                    self.storage.presign_ttl_secs
                ),
            ));
        }
        Ok(())
    }
}

/// `http.*`: the listener and request limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub host: IpAddr,
    /// `0` picks a free port (the chosen address is logged as `listening`).
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Time allowed for one request, in seconds.
    pub request_timeout_secs: u64,
    /// Time allowed for in-flight requests to finish after SIGTERM, in seconds.
    pub shutdown_grace_secs: u64,
    /// Take the client's IP address (for per-IP limits) from `X-Forwarded-For`; set only behind
    /// a proxy that overwrites that header.
    pub trust_forwarded_for: bool,
    /// Origins (`https://shop.example`, no path) whose browser pages may call the GraphQL
    /// endpoints and the `/media` routes from another origin (CORS). Empty (the default): no
    /// CORS headers at all, so browsers allow only same-origin calls.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` on every response; set only when clients reach the
    /// server over HTTPS (behind a TLS-terminating proxy).
    pub hsts: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            trust_forwarded_for: false,
            cors_allowed_origins: Vec::new(),
            hsts: false,
        }
    }
}

impl HttpSettings {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::invalid(
                "http.body_limit_bytes",
                "must be at least 1024",
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "http.request_timeout_secs",
                "must be at least 1",
            ));
        }
        for origin in &self.cors_allowed_origins {
            if !valid_origin(origin) {
                return Err(ConfigError::invalid(
                    "http.cors_allowed_origins",
                    format!(
                        "{origin:?} is not an origin: write scheme://host[:port] (http or \
                         https), without a path, a trailing slash or a wildcard"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]`, as a browser sends it in `Origin`.
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, after)) => {
                if address.is_empty()
                    || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
                {
                    return false;
                }
                (address, after)
            }
            None => return false,
        },
        None => match rest.split_once(':') {
            Some((host, _)) => (host, &rest[host.len()..]),
            None => (rest, ""),
        },
    };
    let host_ok = rest.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    (scheme == "http" || scheme == "https") && host_ok && port_ok
}

/// `storage.*`: where product images are kept (an S3-compatible bucket, or the local disk
/// in the embedded default) and how clients reach them. See `crate::storage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (files under `local_dir`, served by this server under `/media`) or `s3`.
    pub backend: StorageBackend,
    /// Directory of the local-disk store.
    pub local_dir: std::path::PathBuf,
    /// URL at which clients reach this server's `/media` route (local backend): relative
    /// (`/media`, same origin as the API) or absolute (`https://shop.example/media`).
    pub local_base_url: String,
    /// Key signing the local store's upload (and private read) URLs; random per process when
    /// unset.
    pub local_signing_key: Option<SecretString>,
    /// S3 endpoint (`http://127.0.0.1:9000` for MinIO or Garage); unset: AWS's own endpoint
    /// for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO and Garage need.
    pub path_style: bool,
    /// Prefix joined with an object key to form the URL clients read it from. Unset: the local
    /// backend's `local_base_url` (public), or presigned GET URLs on S3. Empty: presigned
    /// (signed) URLs on both backends.
    pub public_base_url: Option<String>,
    /// Lifetime of presigned upload and read URLs, in seconds.
    pub presign_ttl_secs: u64,
    /// Largest image accepted for upload, in bytes.
    pub max_upload_bytes: u64,
    /// Content types accepted for upload (a subset of the decodable ones).
    pub allowed_content_types: Vec<String>,
    /// Seconds between passes fetching the pictures Mahak sends into the store (0: off).
    pub mahak_import_interval_secs: u64,
}

/// The image content types the server can decode and check.
pub const DECODABLE_IMAGE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            local_dir: "data/media".into(),
            local_base_url: "/media".into(),
            local_signing_key: None,
            endpoint: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            access_key_id: None,
            secret_access_key: None,
            path_style: true,
            public_base_url: None,
            presign_ttl_secs: 900,
            max_upload_bytes: 10 * 1024 * 1024,
            allowed_content_types: DECODABLE_IMAGE_TYPES
                .iter()
                .map(ToString::to_string)
                .collect(),
            mahak_import_interval_secs: 60,
        }
    }
}

impl StorageSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let is_url = |url: &str| {
            reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        };
        if !(self.local_base_url.starts_with('/') || is_url(&self.local_base_url)) {
            return Err(ConfigError::invalid(
                "storage.local_base_url",
                "must be a path starting with / or an http:// or https:// URL",
            ));
        }
        if let Some(base) = self.public_base_url.as_deref().filter(|b| !b.is_empty()) {
            let relative_ok = self.backend == StorageBackend::Local && base.starts_with('/');
            if !(relative_ok || is_url(base)) {
                return Err(ConfigError::invalid(
                    "storage.public_base_url",
                    "must be an http:// or https:// URL (or a path starting with / on the local backend), or empty for presigned URLs",
                ));
            }
        }
        if self.presign_ttl_secs < 60 || self.presign_ttl_secs > 7 * 24 * 3600 {
            return Err(ConfigError::invalid(
                "storage.presign_ttl_secs",
                "must be between 60 and 604800 (7 days, the most S3 allows)",
            ));
        }
        if self.max_upload_bytes < 1024 || self.max_upload_bytes > 100 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "storage.max_upload_bytes",
                "must be between 1024 and 104857600 (100 MiB)",
            ));
        }
        if self.mahak_import_interval_secs > 24 * 3600 {
            return Err(ConfigError::invalid(
                "storage.mahak_import_interval_secs",
                "must be between 0 (off) and 86400 (a day)",
            ));
        }
        if self.allowed_content_types.is_empty() {
            return Err(ConfigError::invalid(
                "storage.allowed_content_types",
                "must list at least one content type",
            ));
        }
        if let Some(bad) = self
            .allowed_content_types
            .iter()
            .find(|t| !DECODABLE_IMAGE_TYPES.contains(&t.as_str()))
        {
            return Err(ConfigError::invalid(
                "storage.allowed_content_types",
                format!("{bad:?} is not one of image/jpeg, image/png, image/webp"),
            ));
        }
        if self.backend == StorageBackend::S3 {
            if let Some(endpoint) = &self.endpoint {
                if !is_url(endpoint) {
                    return Err(ConfigError::invalid(
                        "storage.endpoint",
                        "must be an http:// or https:// URL",
                    ));
                }
            }
            if self.region.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "storage.region",
                    "is required when storage.backend is s3",
                ));
            }
            if self.bucket.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "storage.bucket",
                    "is required when storage.backend is s3",
                ));
            }
            if self.access_key_id.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::invalid(
                    "storage.access_key_id",
                    "is required when storage.backend is s3",
                ));
            }
            // The value itself is never echoed: it is a secret.
            if self
                .secret_access_key
                .as_ref()
                .is_none_or(|s| s.expose_secret().is_empty())
            {
                return Err(ConfigError::invalid(
                    "storage.secret_access_key",
                    "is required when storage.backend is s3",
                ));
            }
        }
        Ok(())
    }
}

/// `graphql.*`: limits applied to every operation on both schemas.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Most operations accepted in one batched request (a JSON array body).
    pub max_batch: usize,
    /// Serve GraphiQL to browsers on a GET of the endpoint.
    pub graphiql: bool,
    /// Answer introspection queries (clients and GraphiQL need it; some deployments hide it).
    pub introspection: bool,
    /// Seconds a WebSocket client has to send `connection_init` before it is closed (4408).
    pub ws_init_timeout_secs: u64,
    /// How often the admin's live sync views (`syncStatusChanged`, `deadLetterAdded`) read
    /// the sync's state from the database while someone is subscribed, in milliseconds.
    pub sync_status_poll_ms: u64,
    /// Queries the shop endpoint remembers for automatic persisted queries (Apollo APQ), per
    /// process; `0` turns APQ off. See `crate::http::persisted`.
    pub persisted_query_cache_entries: usize,
    /// A JSON file of the only operations the shop endpoint runs (Apollo's persisted query
    /// manifest, or `{"<sha256 of the query>": "<query>"}`); others answer
    /// `OPERATION_NOT_ALLOWED`. Unset: any operation.
    pub safelist_file: Option<std::path::PathBuf>,
    /// Longest time the shop keeps an anonymous catalogue answer, in seconds; `0` turns the
    /// cache off. Changes drop the cache at once (PostgreSQL notifications, see
    /// `crate::http::catalogue_cache`); this bounds what they cannot cover (a lagging read
    /// replica, signed image URLs). Only on PostgreSQL.
    pub catalogue_cache_ttl_secs: u64,
    /// Most bytes of answers the catalogue cache holds per process.
    pub catalogue_cache_max_bytes: u64,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 2000,
            max_aliases: 30,
            max_batch: 10,
            graphiql: true,
            introspection: true,
            ws_init_timeout_secs: 10,
            sync_status_poll_ms: 1000,
            persisted_query_cache_entries: 1000,
            safelist_file: None,
            catalogue_cache_ttl_secs: 30,
            catalogue_cache_max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl GraphqlSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_depth < 5 {
            return Err(ConfigError::invalid(
                "graphql.max_depth",
                "must be at least 5",
            ));
        }
        if self.max_batch == 0 {
            return Err(ConfigError::invalid(
                "graphql.max_batch",
                "must be at least 1",
            ));
        }
        if self.ws_init_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "graphql.ws_init_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.sync_status_poll_ms < 10 {
            return Err(ConfigError::invalid(
                "graphql.sync_status_poll_ms",
                "must be at least 10",
            ));
        }
        if self.catalogue_cache_ttl_secs > 0 && self.catalogue_cache_max_bytes < 1024 * 1024 {
            return Err(ConfigError::invalid(
                "graphql.catalogue_cache_max_bytes",
                "must be at least 1048576 (1 MiB) while the cache is on",
            ));
        }
        if let Some(path) = &self.safelist_file {
            crate::http::persisted::Safelist::load(path)
                .map_err(|reason| ConfigError::invalid("graphql.safelist_file", reason))?;
        }
        Ok(())
    }
}

/// `payment.*`: the gateway customers pay through (see `crate::payment`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentSettings {
    /// `sandbox` (embedded default: a fake gateway whose page this server serves) or
    /// `zarinpal`.
    pub provider: PaymentProvider,
    /// Zarinpal's 36-character merchant id; required when `provider` is `zarinpal`.
    pub merchant_id: Option<SecretString>,
    /// Zarinpal's host: `https://payment.zarinpal.com`, or `https://sandbox.zarinpal.com` for
    /// Zarinpal's own test environment.
    pub base_url: String,
    /// The unit amounts are sent to Zarinpal in. The store's amounts are always Rial; with
    /// `toman` they are divided by 10 at the edge, and an amount that does not divide is
    /// refused rather than rounded.
    pub currency_unit: CurrencyUnit,
    /// This server's public base URL as customers' browsers reach it: the gateway's callback
    /// and the sandbox page are addressed under it. Empty (the default): this server's own
    /// listening address (`http://<address>:<port>` as bound, loopback for a wildcard host;
    /// set by `app::serve`), which is right for the embedded default only.
    pub callback_base_url: String,
    /// Time allowed for one call to the gateway, in seconds.
    pub timeout_secs: u64,
    /// The shop front-end's payment result page. The callback redirects (303) the customer to
    /// it with `?order=<order id>&status=paid|failed|pending`; unset: the server answers a
    /// minimal page itself.
    pub result_url: Option<String>,
    /// How often the server verifies payments left `started` (lost callbacks), in seconds.
    pub reconcile_interval_secs: u64,
    /// Age, in seconds, after which a `started` payment is verified by that sweep.
    pub reconcile_after_secs: u64,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            provider: PaymentProvider::Sandbox,
            merchant_id: None,
            base_url: "https://payment.zarinpal.com".into(),
            currency_unit: CurrencyUnit::Rial,
            callback_base_url: String::new(),
            timeout_secs: 10,
            result_url: None,
            reconcile_interval_secs: 60,
            reconcile_after_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProvider {
    Sandbox,
    Zarinpal,
}

/// The unit of the amounts exchanged with Zarinpal (its `currency` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurrencyUnit {
    /// `IRR`.
    Rial,
    /// `IRT`: 1 Toman = 10 Rial.
    Toman,
}

impl PaymentSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, url) in [
            ("payment.base_url", &self.base_url),
            ("payment.callback_base_url", &self.callback_base_url),
        ] {
            // An empty callback base means "this server's own address" (see the field).
            if url.is_empty() && key == "payment.callback_base_url" {
                continue;
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    key,
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if self.timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "payment.timeout_secs",
                "must be at least 1",
            ));
        }
        if self.reconcile_interval_secs == 0 {
            return Err(ConfigError::invalid(
                "payment.reconcile_interval_secs",
                "must be at least 1",
            ));
        }
        if let Some(url) = &self.result_url {
            if reqwest::Url::parse(url).is_err() {
                return Err(ConfigError::invalid(
                    "payment.result_url",
                    "must be an absolute URL",
                ));
            }
        }
        if self.provider == PaymentProvider::Zarinpal {
            // The value itself is never echoed: it is a secret.
            match &self.merchant_id {
                None => {
                    return Err(ConfigError::invalid(
                        "payment.merchant_id",
                        "is required when payment.provider is zarinpal",
                    ))
                }
                Some(id) if id.expose_secret().chars().count() != 36 => {
                    return Err(ConfigError::invalid(
                        "payment.merchant_id",
                        "must be Zarinpal's 36-character merchant id",
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod storage_settings_tests {
    use super::*;

    fn s3() -> StorageSettings {
        StorageSettings {
            backend: StorageBackend::S3,
            endpoint: Some("http://127.0.0.1:9000".into()),
            bucket: "media".into(),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            ..StorageSettings::default()
        }
    }

    fn failing_key(settings: &StorageSettings) -> Option<String> {
        match settings.validate() {
            Ok(()) => None,
            Err(err) => Some(err.to_string()),
        }
    }

    #[test]
    fn defaults_and_a_complete_s3_setup_are_valid() {
        assert_eq!(failing_key(&StorageSettings::default()), None);
        assert_eq!(failing_key(&s3()), None);
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases: Vec<(&str, StorageSettings)> = vec![
            (
                "storage.bucket",
                StorageSettings {
                    bucket: String::new(),
                    ..s3()
                },
            ),
            (
                "storage.access_key_id",
                StorageSettings {
                    access_key_id: None,
                    ..s3()
                },
            ),
            (
                "storage.secret_access_key",
                StorageSettings {
                    secret_access_key: None,
                    ..s3()
                },
            ),
            (
                "storage.endpoint",
                StorageSettings {
                    endpoint: Some("minio:9000".into()),
                    ..s3()
                },
            ),
            // A relative public URL means nothing to S3 clients.
            (
                "storage.public_base_url",
                StorageSettings {
                    public_base_url: Some("/media".into()),
                    ..s3()
                },
            ),
            (
                "storage.local_base_url",
                StorageSettings {
                    local_base_url: "media".into(),
                    ..StorageSettings::default()
                },
            ),
            (
                "storage.presign_ttl_secs",
                StorageSettings {
                    presign_ttl_secs: 30,
                    ..StorageSettings::default()
                },
            ),
            (
                "storage.max_upload_bytes",
                StorageSettings {
                    max_upload_bytes: 0,
                    ..StorageSettings::default()
                },
            ),
            (
                "storage.allowed_content_types",
                StorageSettings {
                    allowed_content_types: vec!["image/gif".into()],
                    ..StorageSettings::default()
                },
            ),
            (
                "storage.allowed_content_types",
                StorageSettings {
                    allowed_content_types: vec![],
                    ..StorageSettings::default()
                },
            ),
        ];
        for (key, settings) in cases {
            let message = failing_key(&settings).unwrap_or_else(|| panic!("{key}: accepted"));
            assert!(message.contains(key), "{key}: {message}");
            assert!(!message.contains("secret\""), "{message}");
        }
    }
}

#[cfg(test)]
mod http_settings_tests {
    use super::*;

    #[test]
    fn cors_origins_must_be_bare_origins() {
        for good in [
            "https://shop.example",
            "http://localhost:3000",
            "https://admin.shop.example:8443",
            "http://[::1]:8080",
        ] {
            assert!(valid_origin(good), "{good}");
        }
        for bad in [
            "*",
            "shop.example",
            "https://shop.example/",
            "https://shop.example/app",
            "https://*.shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example:",
            "https://shop example",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
        let settings = HttpSettings {
            cors_allowed_origins: vec!["https://shop.example/".into()],
            ..HttpSettings::default()
        };
        assert!(settings.validate().is_err());
    }
}
