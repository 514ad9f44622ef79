//! Fault injection and the counters that show what the simulator did.
//!
//! The real service is far away and sometimes slow or down; the sync worker's retry, backoff,
//! re-login and idempotency paths are only trustworthy if tests can provoke each failure on
//! demand. Random faults draw from an RNG seeded from the simulator's seed, so a run with the
//! same seed, faults and sequence of calls fails the same calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Faults to inject. `Default` injects none. They apply to `GetAllData` and `SaveAllData`;
/// `Login` suffers only `latency_ms` and `error_rate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability (0..1) that a call is answered HTTP 500.
    pub error_rate: f64,
    /// The next N calls are answered HTTP 503.
    pub burst_5xx: u32,
    /// Delay added before every answer.
    pub latency_ms: u64,
    /// Probability (0..1) that a call hangs for ten minutes (or until shutdown), longer than
    /// any sane client timeout, and is then answered HTTP 504.
    pub timeout_rate: f64,
    /// The next N calls are answered HTTP 429 with `Retry-After`.
    pub rate_limit: Option<RateLimitFault>,
    /// Probability (0..1) that a call is carried out but its answer is cut mid-body (the
    /// client sees an I/O error after the effects happened: the lost-answer case).
    pub drop_connection_rate: f64,
    /// Answer an unknown or expired token with HTTP 200 and an envelope `Code: 401` instead
    /// of HTTP 401.
    pub token_expiry_as_envelope: bool,
}

/// Answer the next `calls` calls with HTTP 429 and `Retry-After: retry_after_secs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitFault {
    pub calls: u32,
    pub retry_after_secs: u64,
}

/// How long a "timeout" fault hangs when nothing shuts the simulator down first.
pub(crate) const HANG: Duration = Duration::from_secs(600);

/// The Mahak endpoints, for fault decisions and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Login,
    GetAllData,
    SaveAllData,
}

/// What to do with one call, besides the delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    None,
    ServerError,
    Unavailable,
    RateLimited {
        retry_after_secs: u64,
    },
    Hang,
    /// Carry out the call, then cut the answer.
    DropConnection,
}

/// The configured faults, the counters they consume, and their random stream.
pub(crate) struct FaultState {
    faults: Faults,
    rng: StdRng,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> FaultState {
        FaultState {
            faults: Faults::default(),
            rng: StdRng::seed_from_u64(seed ^ 0xFA17_FA17_FA17_FA17),
        }
    }

    pub(crate) fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// The faults as they stand, with the burst and rate-limit counters already consumed.
    pub(crate) fn current(&self) -> Faults {
        self.faults.clone()
    }

    /// Decides the fate of one call.
    pub(crate) fn decide(&mut self, endpoint: Endpoint) -> (Duration, Injected) {
        let latency = Duration::from_millis(self.faults.latency_ms);
        if endpoint == Endpoint::Login {
            let injected = if self.chance(self.faults.error_rate) {
                Injected::ServerError
            } else {
                Injected::None
            };
            return (latency, injected);
        }
        if let Some(limit) = &mut self.faults.rate_limit {
            if limit.calls > 0 {
                limit.calls -= 1;
                return (
                    latency,
                    Injected::RateLimited {
                        retry_after_secs: limit.retry_after_secs,
                    },
                );
            }
        }
        if self.faults.burst_5xx > 0 {
            self.faults.burst_5xx -= 1;
            return (latency, Injected::Unavailable);
        }
        let injected = if self.chance(self.faults.error_rate) {
            Injected::ServerError
        } else if self.chance(self.faults.timeout_rate) {
            Injected::Hang
        } else if self.chance(self.faults.drop_connection_rate) {
            Injected::DropConnection
        } else {
            Injected::None
        };
        (latency, injected)
    }

    pub(crate) fn token_expiry_as_envelope(&self) -> bool {
        self.faults.token_expiry_as_envelope
    }

    fn chance(&mut self, p: f64) -> bool {
        // Only draw when the fault is on, so turning one fault on does not shift the others.
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }
}

/// What the simulator has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatorStats {
    /// Calls received per endpoint (including those answered with an injected fault).
    pub login_requests: u64,
    pub get_all_data_requests: u64,
    pub save_all_data_requests: u64,
    /// Successful logins.
    pub logins: u64,
    /// Logins refused for wrong credentials or database id.
    pub failed_logins: u64,
    /// Calls refused for a missing, unknown or expired token.
    pub unauthorized: u64,
    /// Rows sent in `GetAllData` answers.
    pub rows_served: u64,
    /// `SaveAllData` rows accepted and rejected.
    pub rows_saved: u64,
    pub rows_rejected: u64,
    pub faults: FaultStats,
}

/// Injected faults by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub server_errors: u64,
    pub unavailable: u64,
    pub rate_limited: u64,
    pub timeouts: u64,
    pub dropped_connections: u64,
    /// Calls delayed by `latency_ms`.
    pub delayed: u64,
}

/// Lock-free counters behind [`SimulatorStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) login_requests: AtomicU64,
    pub(crate) get_all_data_requests: AtomicU64,
    pub(crate) save_all_data_requests: AtomicU64,
    pub(crate) logins: AtomicU64,
    pub(crate) failed_logins: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) rows_served: AtomicU64,
    pub(crate) rows_saved: AtomicU64,
    pub(crate) rows_rejected: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) dropped_connections: AtomicU64,
    pub(crate) delayed: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn request(&self, endpoint: Endpoint) {
        bump(match endpoint {
            Endpoint::Login => &self.login_requests,
            Endpoint::GetAllData => &self.get_all_data_requests,
            Endpoint::SaveAllData => &self.save_all_data_requests,
        });
    }

    pub(crate) fn injected(&self, injected: Injected) {
        match injected {
            Injected::None => {}
            Injected::ServerError => bump(&self.server_errors),
            Injected::Unavailable => bump(&self.unavailable),
            Injected::RateLimited { .. } => bump(&self.rate_limited),
            Injected::Hang => bump(&self.timeouts),
            Injected::DropConnection => bump(&self.dropped_connections),
        }
    }

    pub(crate) fn snapshot(&self) -> SimulatorStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimulatorStats {
            login_requests: get(&self.login_requests),
            get_all_data_requests: get(&self.get_all_data_requests),
            save_all_data_requests: get(&self.save_all_data_requests),
            logins: get(&self.logins),
            failed_logins: get(&self.failed_logins),
            unauthorized: get(&self.unauthorized),
            rows_served: get(&self.rows_served),
            rows_saved: get(&self.rows_saved),
            rows_rejected: get(&self.rows_rejected),
            faults: FaultStats {
                server_errors: get(&self.server_errors),
                unavailable: get(&self.unavailable),
                rate_limited: get(&self.rate_limited),
                timeouts: get(&self.timeouts),
                dropped_connections: get(&self.dropped_connections),
                delayed: get(&self.delayed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out_and_login_is_spared() {
        let mut state = FaultState::new(1);
        state.set(Faults {
            burst_5xx: 1,
            rate_limit: Some(RateLimitFault {
                calls: 1,
                retry_after_secs: 7,
            }),
            ..Faults::default()
        });
        assert_eq!(state.decide(Endpoint::Login).1, Injected::None);
        assert_eq!(
            state.decide(Endpoint::GetAllData).1,
            Injected::RateLimited {
                retry_after_secs: 7
            }
        );
        assert_eq!(state.decide(Endpoint::SaveAllData).1, Injected::Unavailable);
        assert_eq!(state.decide(Endpoint::GetAllData).1, Injected::None);
    }

    #[test]
    fn rates_are_seeded() {
        let run = |seed| {
            let mut state = FaultState::new(seed);
            state.set(Faults {
                error_rate: 0.5,
                ..Faults::default()
            });
            (0..64)
                .map(|_| state.decide(Endpoint::GetAllData).1 == Injected::ServerError)
                .collect::<Vec<_>>()
        };
        let a = run(5);
        assert_eq!(a, run(5));
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }
}
