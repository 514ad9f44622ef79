//! The transactional outbox: effects of a state change (an SMS to the customer, later the push
//! of a paid order to Mahak) are written as `outbox` rows in the same transaction as the change
//! itself, and carried out afterwards by the [`Dispatcher`]. So an effect happens if and only if
//! its cause committed, and a slow or failing SMS provider never slows down or fails the
//! request that caused it.
//!
//! Delivery is at least once. The dispatcher *claims* due rows by pushing their `available_at`
//! a lease into the future (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several replicas
//! never claim the same row), runs the topic's [`Handler`], then marks the row processed, or
//! schedules a retry with exponential back-off, or gives up after `outbox.max_attempts` and
//! sets `failed_at`. A dispatcher that dies mid-effect leaves its rows claimed only until the
//! lease runs out. Handlers must therefore be idempotent (the SMS handler passes the row id to
//! the provider as its de-duplication key).
//!
//! Rows of a topic nobody handles stay pending until a handler for it runs.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::outbox;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set,
};
use serde::Deserialize;
use sync::pipeline::sql::statement;

use sync::settings::ConfigError;

/// Topics written today. The pushes to Mahak have theirs beside their payload
/// (`sync::push::PushJob::topic`).
pub mod topics {
    /// An SMS to deliver: `{notificationId}` (see `crate::notifications`).
    pub const SMS: &str = "notification.sms";
    /// A paid payment to give back: `{paymentId, reason}` (see `crate::commerce::fulfilment`).
    pub const PAYMENT_REFUND: &str = "payment.refund";
}

/// `outbox.*`: how the dispatcher polls and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often the dispatcher looks for due rows, in milliseconds.
    pub poll_interval_ms: u64,
    /// Rows claimed per poll.
    pub batch_size: u32,
    /// Attempts before a row is given up (`failed_at` set).
    pub max_attempts: i32,
    /// First retry delay in seconds; doubles with each attempt.
    pub retry_base_secs: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
    /// How long a claimed row is hidden from other dispatchers, in seconds; a row whose
    /// dispatcher died becomes due again after it.
    pub lease_secs: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            poll_interval_ms: 1000,
            batch_size: 20,
            max_attempts: 8,
            retry_base_secs: 5,
            retry_max_secs: 3600,
            lease_secs: 60,
        }
    }
}

impl OutboxSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("outbox.poll_interval_ms", self.poll_interval_ms),
            ("outbox.batch_size", u64::from(self.batch_size)),
            ("outbox.retry_base_secs", self.retry_base_secs),
            ("outbox.lease_secs", self.lease_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.max_attempts < 1 {
            return Err(ConfigError::invalid(
                "outbox.max_attempts",
                "must be at least 1",
            ));
        }
        if self.retry_max_secs < self.retry_base_secs {
            return Err(ConfigError::invalid(
                "outbox.retry_max_secs",
                "must not be below outbox.retry_base_secs",
            ));
        }
        Ok(())
    }

    /// Delay before attempt `attempts + 1`: base × 2^(attempts − 1), capped.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let secs = self
            .retry_base_secs
            .saturating_mul(1u64 << doublings)
            .min(self.retry_max_secs);
        Duration::from_secs(secs)
    }
}

/// Writes one effect; call it inside the transaction of its cause.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    topic: &str,
    aggregate_id: &str,
    payload: serde_json::Value,
) -> Result<i64, DbErr> {
    let now = Utc::now();
    let row = outbox::ActiveModel {
        id: sea_orm::NotSet,
        topic: Set(topic.to_string()),
        aggregate_id: Set(aggregate_id.to_string()),
        payload: Set(payload),
        attempts: Set(0),
        last_error: Set(None),
        available_at: Set(now),
        processed_at: Set(None),
        failed_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// Why an effect did not happen this time.
#[derive(Debug)]
pub enum HandlerError {
    /// Worth another attempt later (provider down, timeout, database hiccup).
    Retry(String),
    /// Will never work (the row it refers to is gone): give up now.
    Permanent(String),
}

/// Carries out the effects of one topic.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    fn topic(&self) -> &'static str;
    /// Does the effect of `row` (its `attempts` already counts this attempt). Must be
    /// idempotent: a row may be handled again after a crash.
    async fn handle(&self, row: &outbox::Model) -> Result<(), HandlerError>;
    /// Told once when the dispatcher gives `row` up, to record it where people look.
    async fn gave_up(&self, _row: &outbox::Model, _error: &str) {}
}

/// Claims due rows and runs their handlers (see the module documentation).
pub struct Dispatcher {
    db: DatabaseConnection,
    settings: OutboxSettings,
    handlers: Vec<Arc<dyn Handler>>,
}

impl Dispatcher {
    pub fn new(
        db: DatabaseConnection,
        settings: OutboxSettings,
        handlers: Vec<Arc<dyn Handler>>,
    ) -> Self {
        Dispatcher {
            db,
            settings,
            handlers,
        }
    }

    /// Polls until `stopped` turns true; a failing poll is logged and retried next tick.
    pub async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut ticks =
            tokio::time::interval(Duration::from_millis(self.settings.poll_interval_ms));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            // Drain: keep going while full batches come back.
            loop {
                match self.run_once().await {
                    Ok(n) if n == self.settings.batch_size as usize => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "outbox poll failed");
                        break;
                    }
                }
            }
        }
    }

    /// Claims and handles one batch of due rows; returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, DbErr> {
        let claimed = self.claim().await?;
        for row in &claimed {
            self.handle(row).await?;
        }
        Ok(claimed.len())
    }

    async fn claim(&self) -> Result<Vec<outbox::Model>, DbErr> {
        if self.handlers.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let now = Utc::now();
        let lease = now + Duration::from_secs(self.settings.lease_secs);
        let topics: Vec<String> = (0..self.handlers.len())
            .map(|i| format!("${}", i + 4))
            .collect();
        let skip_locked = match backend {
            sea_orm::DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let sql = format!(
            "UPDATE outbox SET available_at = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
                          WHERE processed_at IS NULL AND failed_at IS NULL \
                            AND available_at <= $2 AND topic IN ({}) \
                          ORDER BY id LIMIT $3 {skip_locked}) \
             RETURNING id",
            topics.join(", ")
        );
        let mut values: Vec<sea_orm::Value> = vec![
            lease.into(),
            now.into(),
            i64::from(self.settings.batch_size).into(),
        ];
        values.extend(self.handlers.iter().map(|h| h.topic().into()));
        let ids: Vec<i64> = self
            .db
            .query_all(statement(backend, &sql, values))
            .await?
            .iter()
            .map(|row| row.try_get("", "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn handle(&self, row: &outbox::Model) -> Result<(), DbErr> {
        let Some(handler) = self.handlers.iter().find(|h| h.topic() == row.topic) else {
            return Ok(());
        };
        let outcome = handler.handle(row).await;
        let now = Utc::now();
        let mut update = outbox::Entity::update_many().filter(outbox::Column::Id.eq(row.id));
        let label = match &outcome {
            Ok(()) => {
                update = update
                    .col_expr(outbox::Column::ProcessedAt, Expr::value(now))
                    .col_expr(outbox::Column::LastError, Expr::value(None::<String>));
                "done"
            }
            Err(HandlerError::Retry(error)) if row.attempts < self.settings.max_attempts => {
                let next = now + self.settings.backoff(row.attempts);
                tracing::warn!(id = row.id, topic = %row.topic, attempts = row.attempts, %error, retry_at = %next, "outbox effect failed; will retry");
                update = update
                    .col_expr(outbox::Column::AvailableAt, Expr::value(next))
                    .col_expr(outbox::Column::LastError, Expr::value(error.clone()));
                "retry"
            }
            Err(HandlerError::Retry(error) | HandlerError::Permanent(error)) => {
                tracing::error!(id = row.id, topic = %row.topic, attempts = row.attempts, %error, "outbox effect given up");
                handler.gave_up(row, error).await;
                update = update
                    .col_expr(outbox::Column::FailedAt, Expr::value(now))
                    .col_expr(outbox::Column::LastError, Expr::value(error.clone()));
                "failed"
            }
        };
        update.exec(&self.db).await?;
        metrics::counter!("outbox_effects_total", "topic" => row.topic.clone(), "outcome" => label)
            .increment(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let settings = OutboxSettings {
            retry_base_secs: 5,
            retry_max_secs: 60,
            ..OutboxSettings::default()
        };
        let delays: Vec<u64> = (1..=6).map(|a| settings.backoff(a).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(settings.backoff(1_000).as_secs(), 60);
    }
}
