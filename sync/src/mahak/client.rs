//! The HTTP client of Mahak's sync API: `Login`, `GetAllData`, `SaveAllData`.
//!
//! One [`MahakClient`] is shared (it is cheap to clone) by every task talking to one Mahak
//! account: the login token, the circuit breaker and the rate limit are per account, not per
//! task. Every call goes through the same path:
//!
//! 1. a token (logged in on first use, cached, shared);
//! 2. the retry loop: circuit breaker admission → rate limit → one HTTP attempt with its own
//!    timeout → classification (answer, transient fault, unauthorized, permanent error);
//!    transient faults are retried with full-jitter backoff (or the server's `Retry-After`)
//!    within the retry budget;
//! 3. on HTTP 401 or an envelope `Code: 401` (both are how an expired token shows), one
//!    re-login and one more run of the retry loop;
//! 4. the envelope: `Result: false` is a [`MahakError::Mahak`] carrying Mahak's message.
//!
//! Retrying `SaveAllData` is safe because pushed rows carry a ClientId the caller persisted
//! before sending; Mahak (and the simulator) key a pushed row on it.
//!
//! Metrics (`metrics` crate): `mahak_calls_total{endpoint,outcome}` and
//! `mahak_call_duration_seconds{endpoint}` per call as the caller sees it (retries
//! included); `mahak_errors_total{endpoint,kind}` per failed attempt or failed call;
//! `mahak_retries_total{endpoint}` per retry; `mahak_breaker_state` (0 closed, 1 open,
//! 2 half-open).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::error::{Fault, MahakError};
use super::models::{
    password_md5, AllData, CommitData, Envelope, LoginAnswer, LoginRequest, RequestAllData,
    SaveAllDataResult,
};
use super::resilience::{
    parse_retry_after, BreakerConfig, BreakerState, CircuitBreaker, RateLimit, RateLimiter,
    RetryPolicy,
};
use crate::settings::MahakSettings;

/// Everything the client needs; [`MahakClientConfig::new`] fills in sane defaults.
#[derive(Clone)]
pub struct MahakClientConfig {
    /// e.g. `https://mahakacc.mahaksoft.com/API/v3/Sync/` (a missing trailing `/` is added).
    pub base_url: String,
    pub username: String,
    /// The plain password; it is sent as its lower-case hex MD5, as Mahak's clients do.
    pub password: SecretString,
    pub database_id: i32,
    /// Sent in `Login` when set (`appId`, `clientVersion`, `packageNo`).
    pub app_id: Option<String>,
    pub client_version: Option<String>,
    pub package_no: Option<String>,
    /// One HTTP attempt, connection to last byte of the answer. Mahak's own clients wait
    /// 2 to 5 minutes; a full `GetAllData` page of a large catalogue can be slow.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    /// `None`: no client-side limit.
    pub rate_limit: Option<RateLimit>,
}

impl fmt::Debug for MahakClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MahakClientConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("database_id", &self.database_id)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl MahakClientConfig {
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
        database_id: i32,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            password,
            database_id,
            app_id: None,
            client_version: Some(concat!("store-sync/", env!("CARGO_PKG_VERSION")).to_string()),
            package_no: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            rate_limit: Some(RateLimit::default()),
        }
    }

    /// From the `mahak.*` settings; `base_url` is the configured one or, when that is unset,
    /// the in-process simulator's.
    /// `mahak.requests_per_sec` and `mahak.request_burst` set the rate limit (`0` requests
    /// per second: none).
    pub fn from_settings(settings: &MahakSettings, base_url: impl Into<String>) -> Self {
        let mut config = Self::new(
            settings.base_url.clone().unwrap_or_else(|| base_url.into()),
            settings.username.clone(),
            settings.password.clone(),
            settings.database_id,
        );
        config.rate_limit =
            RateLimit::from_settings(settings.requests_per_sec, settings.request_burst);
        config
    }
}

/// The logged-in session: the token and what `Login` said about the account.
#[derive(Debug, Clone)]
pub struct Session {
    token: SecretString,
    /// The visitor every pushed order and receipt must carry.
    pub visitor_id: Option<i64>,
    pub database_id: Option<i64>,
    pub sync_id: Option<i64>,
    /// Mahak's clock (Tehran local time, as sent).
    pub server_time: Option<String>,
    pub user_title: Option<String>,
    /// Distinguishes sessions, so that tasks seeing the same expired token log in only once.
    generation: u64,
}

/// Counters of what the client did since it was made (shared by its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Calls made by callers (`login`, `get_all_data`, `save_all_data`, and implicit logins).
    pub calls: u64,
    /// HTTP attempts sent.
    pub attempts: u64,
    /// Attempts that were retries of a transient fault.
    pub retries: u64,
    /// Transient faults seen.
    pub faults: u64,
    /// Successful logins.
    pub logins: u64,
    /// Calls refused by the open circuit breaker.
    pub breaker_rejections: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    faults: AtomicU64,
    logins: AtomicU64,
    breaker_rejections: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Login,
    GetAllData,
    SaveAllData,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "Login",
            Endpoint::GetAllData => "GetAllData",
            Endpoint::SaveAllData => "SaveAllData",
        }
    }
}

/// The result of one attempt, classified.
enum AttemptError {
    Transient(Fault),
    Unauthorized,
    Fatal(MahakError),
}

/// The result of the retry loop, when it has no answer.
enum Retried {
    /// The token was refused: log in again and repeat.
    Unauthorized,
    Failed(MahakError),
}

/// A client of one Mahak account. Clones share the token, breaker, rate limit and counters.
#[derive(Clone)]
pub struct MahakClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for MahakClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MahakClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: MahakClientConfig,
    http: reqwest::Client,
    base: Url,
    session: RwLock<Option<Arc<Session>>>,
    /// Serializes logins so that concurrent tasks seeing an expired token log in once.
    login_lock: Mutex<u64>,
    breaker: CircuitBreaker,
    limiter: Option<RateLimiter>,
    counters: Counters,
}

impl MahakClient {
    pub fn new(config: MahakClientConfig) -> Result<Self, MahakError> {
        let mut base = config.base_url.trim().to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let base =
            Url::parse(&base).map_err(|e| MahakError::Config(format!("base URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(MahakError::Config(format!(
                "base URL {base} must be http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| MahakError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                breaker: CircuitBreaker::new(config.breaker.clone()),
                limiter: config.rate_limit.as_ref().map(RateLimiter::new),
                config,
                http,
                base,
                session: RwLock::new(None),
                login_lock: Mutex::new(0),
                counters: Counters::default(),
            }),
        })
    }

    pub fn config(&self) -> &MahakClientConfig {
        &self.inner.config
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            calls: c.calls.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            logins: c.logins.load(Ordering::Relaxed),
            breaker_rejections: c.breaker_rejections.load(Ordering::Relaxed),
        }
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// Logs in now (replacing any cached token) and returns the session.
    pub async fn login(&self) -> Result<Arc<Session>, MahakError> {
        let mut generation = self.inner.login_lock.lock().await;
        self.login_locked(&mut generation).await
    }

    /// The cached session, logging in first when there is none. The pipeline reads
    /// `visitor_id` from it for pushes.
    pub async fn session(&self) -> Result<Arc<Session>, MahakError> {
        if let Some(s) = self.inner.session.read().await.clone() {
            return Ok(s);
        }
        let mut generation = self.inner.login_lock.lock().await;
        if let Some(s) = self.inner.session.read().await.clone() {
            return Ok(s);
        }
        self.login_locked(&mut generation).await
    }

    /// Forgets the cached token: the next call logs in.
    pub async fn logout(&self) {
        *self.inner.session.write().await = None;
    }

    /// Logs in again unless another task already replaced the stale session.
    async fn relogin(&self, stale: &Session) -> Result<Arc<Session>, MahakError> {
        let mut generation = self.inner.login_lock.lock().await;
        if let Some(s) = self.inner.session.read().await.clone() {
            if s.generation != stale.generation {
                return Ok(s);
            }
        }
        self.login_locked(&mut generation).await
    }

    async fn login_locked(&self, generation: &mut u64) -> Result<Arc<Session>, MahakError> {
        let config = &self.inner.config;
        let body = LoginRequest {
            user_name: config.username.clone(),
            password: password_md5(config.password.expose_secret()),
            database_id: config.database_id,
            package_no: config.package_no.clone(),
            language: None,
            app_id: config.app_id.clone(),
            description: None,
            client_version: config.client_version.clone(),
        };
        let started = Instant::now();
        let result = self.login_call(&body).await;
        self.record_call(Endpoint::Login, started, result.as_ref().err());
        let answer = result?;
        let token =
            answer
                .user_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| MahakError::Protocol {
                    endpoint: Endpoint::Login.name(),
                    reason: "no UserToken in the answer".into(),
                })?;
        *generation += 1;
        let session = Arc::new(Session {
            token: SecretString::from(token),
            visitor_id: answer.visitor_id,
            database_id: answer.database_id,
            sync_id: answer.sync_id,
            server_time: answer.server_time,
            user_title: answer.user_title,
            generation: *generation,
        });
        *self.inner.session.write().await = Some(session.clone());
        Counters::bump(&self.inner.counters.logins);
        tracing::info!(target: "mahak", visitor_id = ?session.visitor_id, "logged in to Mahak");
        Ok(session)
    }

    async fn login_call(&self, body: &LoginRequest) -> Result<LoginAnswer, MahakError> {
        let envelope = match self.with_retries(Endpoint::Login, body, None).await {
            Ok(envelope) => envelope,
            Err(Retried::Unauthorized) => {
                return Err(MahakError::Login {
                    message: "HTTP 401 from Login".into(),
                })
            }
            Err(Retried::Failed(e)) => return Err(e),
        };
        if !envelope.result {
            return Err(MahakError::Login {
                message: envelope
                    .message
                    .unwrap_or_else(|| format!("Result false, code {:?}", envelope.code)),
            });
        }
        let answer = serde_json::from_value::<LoginAnswer>(envelope.data).map_err(|e| {
            MahakError::Protocol {
                endpoint: Endpoint::Login.name(),
                reason: e.to_string(),
            }
        })?;
        Ok(answer)
    }

    /// `GetAllData`: the rows changed since each requested cursor, raw per entity.
    pub async fn get_all_data(&self, request: &RequestAllData) -> Result<AllData, MahakError> {
        let envelope = self.authed_call(Endpoint::GetAllData, request).await?;
        if !envelope.result {
            return Err(business_error(Endpoint::GetAllData, envelope));
        }
        AllData::from_data(envelope.data).map_err(|e| MahakError::Protocol {
            endpoint: Endpoint::GetAllData.name(),
            reason: e.to_string(),
        })
    }

    /// `SaveAllData`: pushes rows and returns Mahak's verdict per row. A `Result: false`
    /// answer that carries per-row results is returned as `Ok` (some rows may have been
    /// saved: the caller must look at each); without any it is a [`MahakError::Mahak`].
    pub async fn save_all_data(&self, data: &CommitData) -> Result<SaveAllDataResult, MahakError> {
        let envelope = self.authed_call(Endpoint::SaveAllData, data).await?;
        let ok = envelope.result;
        let result = SaveAllDataResult::from_envelope(envelope.clone()).map_err(|e| {
            MahakError::Protocol {
                endpoint: Endpoint::SaveAllData.name(),
                reason: e.to_string(),
            }
        })?;
        if !ok && result.entities.values().all(Vec::is_empty) {
            return Err(business_error(Endpoint::SaveAllData, envelope));
        }
        Ok(result)
    }

    /// A call that needs a token: one re-login and repeat on 401.
    async fn authed_call<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<Envelope, MahakError> {
        let started = Instant::now();
        let result = self.authed_call_inner(endpoint, body).await;
        self.record_call(endpoint, started, result.as_ref().err());
        result
    }

    async fn authed_call_inner<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<Envelope, MahakError> {
        let session = self.session().await?;
        match self.with_retries(endpoint, body, Some(&session)).await {
            Ok(envelope) => return Ok(envelope),
            Err(Retried::Failed(e)) => return Err(e),
            Err(Retried::Unauthorized) => {
                tracing::info!(target: "mahak", endpoint = endpoint.name(),
                    "token rejected; logging in again");
            }
        }
        let session = self.relogin(&session).await?;
        match self.with_retries(endpoint, body, Some(&session)).await {
            Ok(envelope) => Ok(envelope),
            Err(Retried::Failed(e)) => Err(e),
            Err(Retried::Unauthorized) => Err(MahakError::Unauthorized {
                endpoint: endpoint.name(),
            }),
        }
    }

    fn exhausted(endpoint: Endpoint, attempts: u32, started: Instant, last: Fault) -> Retried {
        Retried::Failed(MahakError::Exhausted {
            endpoint: endpoint.name(),
            attempts,
            elapsed: started.elapsed(),
            last,
        })
    }

    /// Runs attempts until an answer, a non-transient error, or the end of the retry budget
    /// (then [`MahakError::Exhausted`]). `Unauthorized` is left to the caller to re-login.
    async fn with_retries<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
        session: Option<&Session>,
    ) -> Result<Envelope, Retried> {
        let policy = &self.inner.config.retry;
        let body = serde_json::to_vec(body).map_err(|e| {
            Retried::Failed(MahakError::Config(format!("cannot encode the body: {e}")))
        })?;
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let fault = match self.attempt(endpoint, &body, session).await {
                Ok(envelope) => return Ok(envelope),
                Err(AttemptError::Transient(fault)) => fault,
                Err(AttemptError::Unauthorized) => return Err(Retried::Unauthorized),
                Err(AttemptError::Fatal(e)) => return Err(Retried::Failed(e)),
            };
            Counters::bump(&self.inner.counters.faults);
            metrics::counter!("mahak_errors_total", "endpoint" => endpoint.name(), "kind" => fault.kind())
                .increment(1);
            let delay = match fault.retry_after() {
                Some(wait) if wait > policy.max_retry_after => {
                    tracing::warn!(target: "mahak", endpoint = endpoint.name(), ?wait,
                        "Mahak asked to wait longer than allowed; giving up");
                    return Err(Self::exhausted(endpoint, attempts, started, fault));
                }
                Some(wait) => wait,
                None => policy.backoff(attempts),
            };
            if attempts >= policy.max_attempts.max(1)
                || started.elapsed() + delay > policy.max_elapsed
            {
                tracing::warn!(target: "mahak", endpoint = endpoint.name(), attempts,
                    error = %fault, "Mahak call failed; retry budget spent");
                return Err(Self::exhausted(endpoint, attempts, started, fault));
            }
            tracing::debug!(target: "mahak", endpoint = endpoint.name(), attempt = attempts,
                error = %fault, ?delay, "transient fault; retrying");
            Counters::bump(&self.inner.counters.retries);
            metrics::counter!("mahak_retries_total", "endpoint" => endpoint.name()).increment(1);
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP attempt, admitted by the breaker and paced by the rate limit.
    async fn attempt(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        session: Option<&Session>,
    ) -> Result<Envelope, AttemptError> {
        let permit = match self.inner.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(retry_in) => {
                Counters::bump(&self.inner.counters.breaker_rejections);
                return Err(AttemptError::Fatal(MahakError::CircuitOpen {
                    endpoint: endpoint.name(),
                    retry_in,
                }));
            }
        };
        if let Some(limiter) = &self.inner.limiter {
            limiter.acquire().await;
        }
        Counters::bump(&self.inner.counters.attempts);
        let result = self.exchange(endpoint, body, session).await;
        match &result {
            Ok(_) | Err(AttemptError::Unauthorized) | Err(AttemptError::Fatal(_)) => {
                permit.neutral();
            }
            Err(AttemptError::Transient(_)) => permit.failure(),
        }
        result
    }

    /// Sends the request and classifies the answer.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        session: Option<&Session>,
    ) -> Result<Envelope, AttemptError> {
        let url = self
            .inner
            .base
            .join(endpoint.name())
            .map_err(|e| AttemptError::Fatal(MahakError::Config(e.to_string())))?;
        let mut request = self
            .inner
            .http
            .post(url)
            .timeout(self.inner.config.timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(session) = session {
            request = request.bearer_auth(session.token.expose_secret());
        }
        let response = request.send().await.map_err(|e| classify_reqwest(&e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await;
        if status == StatusCode::UNAUTHORIZED {
            return Err(AttemptError::Unauthorized);
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            return Err(AttemptError::Transient(Fault::Status {
                status: status.as_u16(),
                retry_after,
            }));
        }
        let bytes = bytes.map_err(|e| classify_reqwest(&e))?;
        if !status.is_success() {
            // Mahak answers a bad request with its envelope: its message is the useful part.
            let envelope = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| Envelope::from_value(v).ok())
                .filter(|e| !e.result && e.message.is_some());
            return Err(AttemptError::Fatal(match envelope {
                Some(envelope) => business_error(endpoint, envelope),
                None => MahakError::Http {
                    endpoint: endpoint.name(),
                    status: status.as_u16(),
                    body: snippet(&bytes),
                },
            }));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| AttemptError::Transient(Fault::Body(e.to_string())))?;
        let envelope = Envelope::from_value(value).map_err(|e| {
            AttemptError::Fatal(MahakError::Protocol {
                endpoint: endpoint.name(),
                reason: e.to_string(),
            })
        })?;
        if !envelope.result && envelope.code == Some(401) && endpoint != Endpoint::Login {
            return Err(AttemptError::Unauthorized);
        }
        Ok(envelope)
    }

    fn record_call(&self, endpoint: Endpoint, started: Instant, error: Option<&MahakError>) {
        Counters::bump(&self.inner.counters.calls);
        let outcome = error.map_or("ok", MahakError::kind);
        metrics::counter!("mahak_calls_total", "endpoint" => endpoint.name(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("mahak_call_duration_seconds", "endpoint" => endpoint.name())
            .record(started.elapsed().as_secs_f64());
        if let Some(error) = error {
            if !matches!(error, MahakError::Exhausted { .. }) {
                // Exhaustion was already counted per attempt.
                metrics::counter!("mahak_errors_total", "endpoint" => endpoint.name(), "kind" => error.kind())
                    .increment(1);
            }
        }
    }
}

fn business_error(endpoint: Endpoint, envelope: Envelope) -> MahakError {
    MahakError::Mahak {
        endpoint: endpoint.name(),
        code: envelope.code,
        message: envelope
            .message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "Result false without a message".into()),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
}

fn classify_reqwest(e: &reqwest::Error) -> AttemptError {
    let text = e.to_string();
    if e.is_timeout() {
        AttemptError::Transient(Fault::Timeout)
    } else if e.is_connect() {
        AttemptError::Transient(Fault::Connect(source_chain(e, text)))
    } else if e.is_body() || e.is_decode() {
        AttemptError::Transient(Fault::Body(source_chain(e, text)))
    } else if e.is_builder() {
        AttemptError::Fatal(MahakError::Config(text))
    } else {
        AttemptError::Transient(Fault::Connection(source_chain(e, text)))
    }
}

/// The error with its causes, which carry the useful part (`connection reset`).
fn source_chain(e: &dyn std::error::Error, mut text: String) -> String {
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > MAX {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_comes_from_the_settings() {
        let settings = MahakSettings::default();
        let config = MahakClientConfig::from_settings(&settings, "http://127.0.0.1:1/");
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                per_second: 20.0,
                burst: 40
            })
        );
        assert_eq!(config.rate_limit, Some(RateLimit::default()));
        let config = MahakClientConfig::from_settings(
            &MahakSettings {
                requests_per_sec: 2.5,
                request_burst: 3,
                ..MahakSettings::default()
            },
            "http://127.0.0.1:1/",
        );
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                per_second: 2.5,
                burst: 3
            })
        );
        let config = MahakClientConfig::from_settings(
            &MahakSettings {
                requests_per_sec: 0.0,
                ..MahakSettings::default()
            },
            "http://127.0.0.1:1/",
        );
        assert_eq!(config.rate_limit, None, "0 = no client-side limit");
    }
}
