//! The configuration scheme shared by the `server` and `sync` binaries.
//!
//! Keys are nested by part (`database.url`, `amqp.url`, `mahak.base_url`, ...). Values come,
//! lowest precedence first, from the defaults in code, an optional TOML file, and environment
//! variables `APP__PART__KEY` (e.g. `APP__DATABASE__URL`). Each binary defines its own root
//! struct from the parts it uses; the parts the sync worker needs are defined here.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Prefix of the environment variables; `__` separates the levels of a key.
pub const ENV_PREFIX: &str = "APP__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value could not be read or has the wrong type.
    #[error("configuration: {}", describe(.0))]
    Load(Box<figment::Error>),
    /// A value was read but is not acceptable.
    #[error("configuration: invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// One line per problem, naming the key as the documentation spells it (`http.port`, not
/// the environment variable's `HTTP.PORT`) and where the value came from.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let kind = redacted(&e.kind);
            match (key.is_empty(), source.is_empty()) {
                (true, _) => kind,
                (false, true) => format!("invalid `{key}`: {kind}"),
                (false, false) => format!("invalid `{key}` (from {source}): {kind}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The problem without the offending value: figment quotes it (`found string "..."`), and
/// the value may be a secret (a malformed `APP__JWT__KEYS` holds the key). Only its type is
/// named.
fn redacted(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let what = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean".to_string(),
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number".into(),
        Actual::Char(_) => "a character".into(),
        Actual::Str(_) | Actual::Other(_) => "a string".into(),
        Actual::Bytes(_) => "bytes".into(),
        other => other.to_string(),
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: found {}, expected {expected}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {}, expected {expected}", what(actual))
        }
        Kind::Unsupported(actual) => format!("unsupported type {}", what(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!("unsupported key type {}, expected {expected}", what(actual))
        }
        other => other.to_string(),
    }
}

impl ConfigError {
    pub fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key,
            reason: reason.into(),
        }
    }
}

/// Loads a configuration root `T` from its defaults, the optional file and the environment.
/// Unknown keys are rejected by the parts (`deny_unknown_fields`) so a typo is reported
/// instead of silently ignored.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(file) = file {
        if !file.exists() {
            return Err(ConfigError::invalid(
                "--config",
                format!("{} does not exist", file.display()),
            ));
        }
        figment = figment.merge(Toml::file(file));
    }
    figment
        .merge(Env::prefixed(ENV_PREFIX).split("__"))
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))
}

/// `database.*`: where the store's data lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://user:pass@host/db`.
    pub url: SecretString,
    pub max_connections: u32,
    pub min_connections: u32,
    /// Time allowed to open a new connection, in seconds.
    pub connect_timeout_secs: u64,
    /// Time a query may wait for a free connection of the pool, in seconds; past it the
    /// query fails (`pool timed out`) instead of queueing without end.
    pub acquire_timeout_secs: u64,
    /// PostgreSQL's `statement_timeout` for every connection of the pools, in milliseconds:
    /// a statement running longer is cancelled by the server (SQLSTATE 57014). `0` sets
    /// nothing (the database server's or role's default applies, normally none). Migrations
    /// run without it. Ignored on SQLite.
    pub statement_timeout_ms: u64,
    /// A PostgreSQL read replica (`postgres://...`) for the shop's anonymous catalogue reads
    /// (product listing and search, product by id or slug, categories). Unset: they go to
    /// `url`. Everything else, and every write, goes to `url`. The replica may lag.
    pub read_url: Option<SecretString>,
    /// Run pending migrations when a binary starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://data/store.db?mode=rwc"),
            max_connections: 16,
            min_connections: 1,
            connect_timeout_secs: 10,
            acquire_timeout_secs: 10,
            statement_timeout_ms: 30_000,
            read_url: None,
            migrate_on_start: true,
        }
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.url.expose_secret();
        if !(url.starts_with("sqlite:") || is_postgres_url(url)) {
            return Err(ConfigError::invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.min_connections > self.max_connections {
            return Err(ConfigError::invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.acquire_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "database.acquire_timeout_secs",
                "must be at least 1",
            ));
        }
        if let Some(read_url) = &self.read_url {
            // A replica of a SQLite file is not a thing; and a replica must be the same kind
            // of database as the primary, whose migrations it follows.
            if !is_postgres_url(read_url.expose_secret()) || self.is_sqlite() {
                return Err(ConfigError::invalid(
                    "database.read_url",
                    "must be a postgres:// or postgresql:// URL, with database.url on PostgreSQL too",
                ));
            }
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.expose_secret().starts_with("sqlite:")
    }
}

/// `amqp.*`: the RabbitMQ broker. Unset `url` means the in-process bus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSettings {
    /// One `amqp://` / `amqps://` URL, or a comma-separated list of a cluster's nodes (each
    /// connection tries them in turn; see `pipeline::bus::amqp::connect`).
    pub url: Option<SecretString>,
}

impl AmqpSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        use crate::pipeline::bus::amqp::redact;
        let Some(url) = &self.url else {
            return Ok(());
        };
        let entries: Vec<&str> = url.expose_secret().split(',').map(str::trim).collect();
        for (n, entry) in entries.iter().enumerate() {
            let n = n + 1;
            if entry.is_empty() {
                return Err(ConfigError::invalid(
                    "amqp.url",
                    format!("entry {n} of the comma-separated list is empty"),
                ));
            }
            // The parse error is not shown: it quotes the URL, password included.
            let valid = (entry.starts_with("amqp://") || entry.starts_with("amqps://"))
                && entry.parse::<lapin::uri::AMQPUri>().is_ok();
            if !valid {
                let which = if entries.len() == 1 {
                    String::new()
                } else {
                    format!("entry {n} (`{}`) ", redact(entry))
                };
                return Err(ConfigError::invalid(
                    "amqp.url",
                    format!("{which}must be an amqp:// or amqps:// URL"),
                ));
            }
        }
        Ok(())
    }
}

/// `mahak.*`: the Mahak service. Unset `base_url` means the in-process simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MahakSettings {
    /// e.g. `https://mahakacc.mahaksoft.com/API/v3/Sync/`.
    pub base_url: Option<String>,
    pub username: String,
    pub password: SecretString,
    pub database_id: i32,
    /// Client-side limit of requests per second to Mahak, averaged (a token bucket); `0`
    /// means no client-side limit. Mahak documents no rate limit; the default stays polite.
    pub requests_per_sec: f64,
    /// Requests that may go at once before `requests_per_sec` paces them. The default lets an
    /// idle sync run (about one call per entity) through without waiting.
    pub request_burst: u32,
}

impl Default for MahakSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            username: "demo".into(),
            password: SecretString::from("demo"),
            database_id: 1,
            requests_per_sec: 20.0,
            request_burst: 40,
        }
    }
}

impl MahakSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    "mahak.base_url",
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if !(self.requests_per_sec.is_finite() && self.requests_per_sec >= 0.0) {
            return Err(ConfigError::invalid(
                "mahak.requests_per_sec",
                "must be a finite number of requests per second, at least 0 (0 = no limit)",
            ));
        }
        if self.request_burst == 0 {
            return Err(ConfigError::invalid(
                "mahak.request_burst",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// `log.*`: how both binaries log.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `info,server=debug`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Root {
        mahak: MahakSettings,
    }

    fn mahak(toml: &str) -> Result<MahakSettings, ConfigError> {
        let root: Root = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        root.mahak.validate()?;
        Ok(root.mahak)
    }

    #[test]
    fn mahak_request_rate_defaults_and_parses() {
        let m = mahak("[mahak]\nusername = \"u\"").unwrap();
        assert!((m.requests_per_sec - 20.0).abs() < f64::EPSILON);
        assert_eq!(m.request_burst, 40);
        let m = mahak("[mahak]\nrequests_per_sec = 2.5\nrequest_burst = 3").unwrap();
        assert!((m.requests_per_sec - 2.5).abs() < f64::EPSILON);
        assert_eq!(m.request_burst, 3);
        // An integer is a rate too; 0 turns the client-side limit off.
        let m = mahak("[mahak]\nrequests_per_sec = 0").unwrap();
        assert!(m.requests_per_sec.abs() < f64::EPSILON);
    }

    #[test]
    fn an_invalid_mahak_request_rate_is_refused_naming_the_key() {
        for value in ["-1", "-0.5", "nan", "inf", "\"fast\""] {
            let err = mahak(&format!("[mahak]\nrequests_per_sec = {value}"))
                .expect_err(value)
                .to_string();
            assert!(err.contains("mahak.requests_per_sec"), "{value}: {err}");
        }
        for value in ["0", "-1"] {
            let err = mahak(&format!("[mahak]\nrequest_burst = {value}"))
                .expect_err(value)
                .to_string();
            assert!(err.contains("mahak.request_burst"), "{value}: {err}");
        }
    }
}
