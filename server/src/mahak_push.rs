//! Carries the outbox's Mahak jobs (`mahak.push.invoice`, `mahak.push.return`) to
//! [`sync::push::Pusher`]: the outbox gives them retries with back-off and a limit, the
//! pusher talks to Mahak and records the outcome on the order.

use std::sync::Arc;

use entity::outbox;
use sync::push::{PushError, PushJob, Pusher};

use crate::outbox::{Handler, HandlerError};

pub struct MahakPushHandler {
    pub pusher: Arc<Pusher>,
    pub topic: &'static str,
}

impl MahakPushHandler {
    /// One handler per push topic, sharing the pusher.
    pub fn for_every_topic(pusher: Arc<Pusher>) -> Vec<Arc<dyn Handler>> {
        [PushJob::INVOICE_TOPIC, PushJob::RETURN_TOPIC]
            .into_iter()
            .map(|topic| {
                Arc::new(MahakPushHandler {
                    pusher: pusher.clone(),
                    topic,
                }) as Arc<dyn Handler>
            })
            .collect()
    }
}

fn job_of(row: &outbox::Model) -> Result<PushJob, HandlerError> {
    serde_json::from_value(row.payload.clone())
        .map_err(|e| HandlerError::Permanent(format!("not a push job: {e}")))
}

#[async_trait::async_trait]
impl Handler for MahakPushHandler {
    fn topic(&self) -> &'static str {
        self.topic
    }

    async fn handle(&self, row: &outbox::Model) -> Result<(), HandlerError> {
        let job = job_of(row)?;
        match self.pusher.push(&job).await {
            Ok(()) => Ok(()),
            // A rejection is retried too: the missing product detail or warehouse may be
            // created in Mahak, or the configuration fixed, before the limit.
            Err(err @ (PushError::Rejected(_) | PushError::Transient(_))) => {
                Err(HandlerError::Retry(err.to_string()))
            }
            Err(err @ PushError::Invalid(_)) => Err(HandlerError::Permanent(err.to_string())),
        }
    }

    async fn gave_up(&self, row: &outbox::Model, error: &str) {
        let Ok(job) = job_of(row) else { return };
        if let Err(err) = self.pusher.give_up(&job, error).await {
            tracing::error!(order_id = %job.order_id, error = %err, "could not mark the Mahak push as given up");
        }
    }
}
