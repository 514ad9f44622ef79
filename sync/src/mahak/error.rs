//! The adapter's errors: what a caller of the Mahak client can be told, and what it can do
//! about it.

use std::time::Duration;

/// A transient fault of one attempt: worth retrying.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    #[error("timed out")]
    Timeout,
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("broken or unreadable answer: {0}")]
    Body(String),
}

impl Fault {
    /// The `kind` label of `mahak_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Timeout => "timeout",
            Fault::Connect(_) => "connect",
            Fault::Connection(_) => "connection",
            Fault::Status { status: 429, .. } => "rate_limited",
            Fault::Status { .. } => "http_5xx",
            Fault::Body(_) => "body",
        }
    }

    /// The delay the server asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Fault::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Why a call to Mahak failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MahakError {
    /// Mahak answered `Result: false`: a business error, with Mahak's own message.
    #[error("Mahak {endpoint} refused: {message} (code {code:?})")]
    Mahak {
        endpoint: &'static str,
        code: Option<i32>,
        message: String,
    },
    /// `Login` refused the credentials.
    #[error("Mahak login failed: {message}")]
    Login { message: String },
    /// Still unauthorized after logging in again once.
    #[error("Mahak {endpoint}: unauthorized even after logging in again")]
    Unauthorized { endpoint: &'static str },
    /// The circuit breaker is open: Mahak failed repeatedly, calls fail fast for a while.
    #[error("Mahak {endpoint}: circuit breaker open, next try in {retry_in:?}")]
    CircuitOpen {
        endpoint: &'static str,
        retry_in: Duration,
    },
    /// Transient faults persisted beyond the retry budget.
    #[error("Mahak {endpoint}: gave up after {attempts} attempts in {elapsed:?}; last: {last}")]
    Exhausted {
        endpoint: &'static str,
        attempts: u32,
        elapsed: Duration,
        last: Fault,
    },
    /// An HTTP error that retrying will not fix (4xx other than 401, 408 and 429).
    #[error("Mahak {endpoint}: HTTP {status}: {body}")]
    Http {
        endpoint: &'static str,
        status: u16,
        body: String,
    },
    /// The answer is JSON but not in Mahak's shape.
    #[error("Mahak {endpoint}: unexpected answer: {reason}")]
    Protocol {
        endpoint: &'static str,
        reason: String,
    },
    /// The client is misconfigured (a bad base URL, ...).
    #[error("Mahak client configuration: {0}")]
    Config(String),
}

impl MahakError {
    /// The `outcome` / `kind` label used in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            MahakError::Mahak { .. } => "mahak",
            MahakError::Login { .. } => "login",
            MahakError::Unauthorized { .. } => "unauthorized",
            MahakError::CircuitOpen { .. } => "circuit_open",
            MahakError::Exhausted { .. } => "exhausted",
            MahakError::Http { .. } => "http_4xx",
            MahakError::Protocol { .. } => "protocol",
            MahakError::Config(_) => "config",
        }
    }

    /// Whether trying the same call later may succeed (the sync worker then keeps its
    /// checkpoint and tries again on its next run).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MahakError::CircuitOpen { .. } | MahakError::Exhausted { .. }
        )
    }
}
