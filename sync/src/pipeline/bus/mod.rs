//! Where batches go once fetched. [`Publisher::publish`] returns only when the batch is safe:
//! confirmed by RabbitMQ (durable queue, persistent message, routed) or, on the in-process
//! bus of the embedded default, written to the database.

pub mod amqp;
mod in_process;

use async_trait::async_trait;

pub use in_process::InProcessBus;

use super::batch::Batch;

#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, batch: &Batch) -> anyhow::Result<()>;
}
