//! The in-process bus: publishing a batch applies it at once, so the checkpoint moves only
//! after the write. Transient database failures are retried a few times with backoff before
//! the fetch gives up (and the checkpoint stays where it was).

use std::time::Duration;

use async_trait::async_trait;

use super::Publisher;
use crate::pipeline::batch::Batch;
use crate::pipeline::consumer::{ConsumeError, Consumer};

pub struct InProcessBus {
    consumer: Consumer,
    attempts: u32,
}

impl InProcessBus {
    pub fn new(consumer: Consumer) -> Self {
        InProcessBus {
            consumer,
            attempts: 5,
        }
    }
}

#[async_trait]
impl Publisher for InProcessBus {
    async fn publish(&self, batch: &Batch) -> anyhow::Result<()> {
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=self.attempts {
            match self.consumer.handle(batch).await {
                Ok(_) => return Ok(()),
                Err(ConsumeError::Transient(err)) if attempt < self.attempts => {
                    tracing::warn!(batch_id = %batch.batch_id, attempt, error = %err, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(err) => return Err(err.into()),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}
