//! The Mahak API adapter: the only code that knows Mahak's wire format.
//!
//! - [`entity`]: the entities and their wire names.
//! - [`lenient`]: tolerant reading of Mahak's JSON (either casing, numbers as strings).
//! - [`models`]: request, answer and entity models as they travel.
//! - [`convert`]: the edge conversions (Rial to `i64`, Tehran time to UTC, JSON text).
//! - [`records`]: the clean rows the sync pipeline consumes, and parsing raw rows into them
//!   (a bad row is a [`RejectedRow`], never a failed page).
//! - [`client`]: the HTTP client (token, retries, breaker, rate limit, metrics), with
//!   [`resilience`] holding the retry policy, circuit breaker and token bucket.
//! - [`paging`]: a stream of pages of one entity over the inclusive RowVersion cursor.

pub mod client;
pub mod convert;
pub mod entity;
pub mod error;
pub mod lenient;
pub mod models;
pub mod paging;
pub mod records;
pub mod resilience;

pub use client::{ClientStats, MahakClient, MahakClientConfig, Session};
pub use entity::Entity;
pub use error::{Fault, MahakError};
pub use models::{AllData, CommitData, EntityUpdateResult, RequestAllData, SaveAllDataResult};
pub use paging::{pages, CursorWalk, Page, PagingError, PagingOptions};
pub use records::{parse_row, parse_rows, MahakRow, ParsedRows, Record, RejectedRow, RowIdentity};
pub use resilience::{BreakerConfig, BreakerState, RateLimit, RetryPolicy};
