//! How the client survives an unreliable Mahak: retry budget with exponential backoff and full
//! jitter, a circuit breaker, and a client-side rate limit.
//!
//! Mahak documents no rate limits and its own clients simply retry with long timeouts. A sync
//! worker that hammers a struggling service makes it worse, so: transient faults are retried
//! with randomized, growing delays (full jitter spreads retries of many workers apart); after
//! enough consecutive failures the breaker opens and calls fail fast for a cool-down, then a
//! single probe decides whether to close it; and a token bucket caps the request rate.
//!
//! Time is `tokio::time::Instant`, so tests may pause and advance the clock.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::time::Instant;

/// When to give up retrying a transient fault. Both limits apply; whichever is hit first.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Total time across attempts and delays after which no further attempt starts.
    pub max_elapsed: Duration,
    /// The first retry waits up to this long; each further retry doubles the cap.
    pub base_delay: Duration,
    /// Upper bound of one backoff delay.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(5 * 60),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The cap of the delay before retry number `retry` (1-based): `base * 2^(retry-1)`,
    /// bounded by `max_delay`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Full jitter: a uniformly random delay in `[0, backoff_cap(retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.backoff_cap(retry);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=cap_ms))
    }
}

/// Reads an HTTP `Retry-After` value: delay-seconds or an HTTP date (relative to `now`).
/// A date in the past is a zero delay.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, as the `mahak_breaker_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker over attempts: opens after `failure_threshold` consecutive failures,
/// fails fast while open, then lets exactly one probe through and closes when it succeeds.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

/// Permission for one attempt. Report how it went with [`Permit::success`],
/// [`Permit::failure`] or [`Permit::neutral`]; a permit dropped unreported (the call was
/// cancelled) frees the probe slot without judging the server.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// The server answered properly.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.on_success(self.probe);
    }

    /// A transient fault (timeout, connection, 5xx, 429, broken body).
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.on_failure(self.probe);
    }

    /// The server answered, but the answer says nothing about its health (a 401, a business
    /// error): counts as a success for the breaker, which is about availability.
    pub fn neutral(self) {
        self.success();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { probing } = &mut *state {
                *probing = false;
            }
        }
    }
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        set_gauge(BreakerState::Closed);
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is always valid, even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state (an open breaker whose cool-down has passed reads as half-open).
    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() >= *until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make an attempt. `Err(wait)` while open (`wait` = time left of the cool-down)
    /// or while the half-open probe is out.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Duration> {
        let mut state = self.lock();
        let probe = match &mut *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < *until {
                    return Err(*until - now);
                }
                *state = State::HalfOpen { probing: true };
                set_gauge(BreakerState::HalfOpen);
                true
            }
            State::HalfOpen { probing } => {
                if *probing {
                    return Err(self.config.cool_down);
                }
                *probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    fn on_success(&self, probe: bool) {
        let mut state = self.lock();
        match &mut *state {
            State::Closed { failures } => *failures = 0,
            State::HalfOpen { .. } if probe => {
                *state = State::Closed { failures: 0 };
                set_gauge(BreakerState::Closed);
                tracing::info!(target: "mahak", "circuit breaker closed: probe succeeded");
            }
            // A call admitted before the breaker opened: it says little about now.
            _ => {}
        }
    }

    fn on_failure(&self, probe: bool) {
        let mut state = self.lock();
        let open = match &mut *state {
            State::Closed { failures } => {
                *failures += 1;
                *failures >= self.config.failure_threshold.max(1)
            }
            State::HalfOpen { .. } => probe,
            State::Open { .. } => false,
        };
        if open {
            *state = State::Open {
                until: Instant::now() + self.config.cool_down,
            };
            set_gauge(BreakerState::Open);
            tracing::warn!(target: "mahak", cool_down = ?self.config.cool_down,
                "circuit breaker opened");
        }
    }
}

fn set_gauge(state: BreakerState) {
    metrics::gauge!("mahak_breaker_state").set(f64::from(state as u8));
}

/// Client-side rate limit: at most `per_second` requests per second on average, with bursts
/// of up to `burst`.
///
/// The default is the default of the `mahak.requests_per_sec` / `mahak.request_burst`
/// settings: 20/s sustained stays polite to a service that documents no limit, and a burst of
/// 40 lets an idle sync run (one `GetAllData` per entity, 18 entities) go without waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 40,
        }
    }
}

impl RateLimit {
    /// The limit the `mahak.*` settings ask for: `None` when `requests_per_sec` is `0` (no
    /// client-side limit).
    pub fn from_settings(requests_per_sec: f64, burst: u32) -> Option<Self> {
        (requests_per_sec > 0.0).then_some(Self {
            per_second: requests_per_sec,
            burst: burst.max(1),
        })
    }
}

/// A token bucket. A caller takes a token, going into debt when none is left, and sleeps
/// until its token would have been refilled: callers are served in arrival order and no one
/// spins.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(limit: &RateLimit) -> Self {
        let burst = f64::from(limit.burst.max(1));
        Self {
            per_second: if limit.per_second > 0.0 {
                limit.per_second
            } else {
                f64::MAX
            },
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// How long the caller must wait for its token (zero when one was available).
    fn reserve(&self) -> Duration {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, last) = &mut *bucket;
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        *tokens -= 1.0;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.per_second)
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(4), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(5), Duration::from_secs(1));
        assert_eq!(p.backoff_cap(100), Duration::from_secs(1));
        for retry in 1..10 {
            assert!(p.backoff(retry) <= p.backoff_cap(retry));
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .expect("literal")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Sat, 01 Mar 2025 10:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sat, 01 Mar 2025 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_fails_fast_and_probes_once() {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        });
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
        }
        b.try_acquire().expect("closed").success();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_err(), "fails fast while open");

        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = b.try_acquire().expect("one probe");
        assert!(b.try_acquire().is_err(), "only one probe at a time");
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open, "a failed probe reopens");

        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = b.try_acquire().expect("probe");
        drop(probe);
        let probe = b.try_acquire().expect("a cancelled probe frees the slot");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_paces_requests() {
        let l = RateLimiter::new(&RateLimit {
            per_second: 10.0,
            burst: 2,
        });
        let start = Instant::now();
        for _ in 0..12 {
            l.acquire().await;
        }
        // Two from the burst, ten more at 100 ms each.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(1100), "{elapsed:?}");
    }
}
