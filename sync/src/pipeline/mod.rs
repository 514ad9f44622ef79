//! The inbound sync pipeline: Mahak pages → transform → batch → bus → idempotent upsert.
//!
//! - [`checkpoint`]: the RowVersion checkpoint per entity, moved only after a page's batch is
//!   durably queued (publisher confirm) or, on the in-process bus, written.
//! - [`lock`]: one fetcher per entity across all replicas (a PostgreSQL advisory lock).
//! - [`fetcher`]: pages of one entity from a [`PageSource`], published as batches.
//! - [`bus`]: where batches go: RabbitMQ, or the in-process bus of the embedded default.
//! - [`consumer`]: applies a batch in one transaction, once (inbox), splitting out bad rows.
//! - [`dead_letters`]: what could not be applied, with the reason, for replay or discard.
//! - [`runner`]: a run over all entities, recorded in `sync_runs`; the daemon loop.
//! - [`requests`]: requests to run a sync now (the admin console), claimed by a daemon.

pub mod batch;
pub mod bus;
pub mod checkpoint;
pub mod consumer;
pub mod dead_letters;
pub mod events;
pub mod fetcher;
pub mod lock;
pub mod requests;
pub mod runner;
pub mod source;
pub mod sql;
pub mod transform;

pub use batch::Batch;
pub use fetcher::{PageSource, SourcePage};
