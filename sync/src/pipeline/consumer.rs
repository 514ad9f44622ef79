//! Applying a batch to the mirror, exactly once in effect.
//!
//! Everything a batch does happens in one transaction: the inbox record (a redelivered batch
//! is recognised and skipped), the upsert of the rows that fit, the dead letters of those
//! that do not, and the run's counters. Rows that fail validation are split out at once; if
//! the database still refuses a group of rows for a reason that is not transient, the group
//! is halved (each half under a savepoint) until the offending rows stand alone and are
//! dead-lettered, so the good rows of a poisoned batch still land. Transient failures
//! (connection lost, deadlock) roll everything back and are reported to the bus, which
//! retries the batch later.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait, Value,
};

use super::batch::Batch;
use super::dead_letters::{self, DeadLetter};
use super::events::{Events, SyncEvent};
use super::sql::{is_transient, statement};
use crate::mirror::upsert::{self, ApplyCounts, ApplyOptions};
use crate::mirror::{spec_for, MirrorRow};

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// Worth retrying later (database unavailable, deadlock, ...).
    #[error("transient failure applying a batch: {0}")]
    Transient(#[source] DbErr),
}

/// What applying one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub counts: ApplyCounts,
    pub dead_lettered: u64,
    /// The batch had been applied before (a redelivery); nothing was done.
    pub duplicate: bool,
}

#[derive(Clone)]
pub struct Consumer {
    db: DatabaseConnection,
    options: ApplyOptions,
    events: Events,
}

impl Consumer {
    pub fn new(db: DatabaseConnection, options: ApplyOptions, events: Events) -> Self {
        Consumer {
            db,
            options,
            events,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn handle(&self, batch: &Batch) -> Result<BatchOutcome, ConsumeError> {
        let started = std::time::Instant::now();
        let outcome = self
            .apply_once(batch)
            .await
            .map_err(ConsumeError::Transient)?;
        let entity = batch.entity.name();
        metrics::histogram!("sync_batch_apply_seconds", "entity" => entity)
            .record(started.elapsed().as_secs_f64());
        if !outcome.duplicate {
            for (outcome_label, n) in [
                ("written", outcome.counts.written),
                ("unchanged", outcome.counts.unchanged),
                ("deleted", outcome.counts.deleted),
                ("dead_lettered", outcome.dead_lettered),
            ] {
                metrics::counter!("sync_rows_total", "entity" => entity, "outcome" => outcome_label).increment(n);
            }
            self.events.emit(SyncEvent::BatchApplied {
                entity: batch.entity,
                written: outcome.counts.written,
                unchanged: outcome.counts.unchanged,
                deleted: outcome.counts.deleted,
                dead_lettered: outcome.dead_lettered,
            });
        }
        tracing::debug!(entity, batch_id = %batch.batch_id, ?outcome, "batch applied");
        Ok(outcome)
    }

    async fn apply_once(&self, batch: &Batch) -> Result<BatchOutcome, DbErr> {
        let tx = self.db.begin().await?;
        let backend = tx.get_database_backend();
        let inserted = tx
            .execute(statement(
                backend,
                "INSERT INTO sync_inbox (batch_id, entity, run_id) VALUES ($1, $2, $3) ON CONFLICT (batch_id) DO NOTHING",
                [
                    Value::from(batch.batch_id.to_string()),
                    Value::from(batch.entity.name()),
                    Value::from(batch.run_id),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(BatchOutcome {
                duplicate: true,
                ..Default::default()
            });
        }

        let spec = spec_for(batch.entity);
        // Only a batch holding rows that do not fit is copied to split them out: the rows of
        // every batch in hand stay in memory until it commits (up to `sync.prefetch` per
        // consumer loop), and a copy of each doubled that.
        let (good, mut letters): (Cow<'_, [MirrorRow]>, Vec<DeadLetter>) =
            if upsert::all_fit(spec, &batch.rows) {
                (Cow::Borrowed(&batch.rows), Vec::new())
            } else {
                let (good, bad) = upsert::validate(spec, batch.rows.clone());
                let letters = bad
                    .into_iter()
                    .map(|rejected| letter(batch, &rejected.row, rejected.reason))
                    .collect();
                (Cow::Owned(good), letters)
            };
        let written_ids: Vec<i64> = good.iter().map(|r| r.mahak_id).collect();
        let counts = self
            .apply_splitting(&tx, batch, &good, &mut letters)
            .await?;
        dead_letters::record(&tx, &letters).await?;
        dead_letters::resolve_superseded(&tx, batch.entity, spec.table, &written_ids).await?;

        let outcome = BatchOutcome {
            counts,
            dead_lettered: letters.len() as u64,
            duplicate: false,
        };
        if let Some(run_id) = batch.run_id {
            tx.execute(statement(
                backend,
                "UPDATE sync_runs SET upserted = upserted + $1, unchanged = unchanged + $2, \
                 deleted = deleted + $3, dead_lettered = dead_lettered + $4 WHERE id = $5",
                [
                    Value::from(counts.written as i64),
                    Value::from(counts.unchanged as i64),
                    Value::from(counts.deleted as i64),
                    Value::from(outcome.dead_lettered as i64),
                    Value::from(run_id),
                ],
            ))
            .await?;
        }
        crate::failpoint::pause("before_commit").await;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Applies `rows` under a savepoint; on a non-transient failure, halves the group and
    /// tries each half, dead-lettering rows that fail alone.
    fn apply_splitting<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        batch: &'a Batch,
        rows: &'a [MirrorRow],
        letters: &'a mut Vec<DeadLetter>,
    ) -> Pin<Box<dyn Future<Output = Result<ApplyCounts, DbErr>> + Send + 'a>> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(ApplyCounts::default());
            }
            let savepoint = tx.begin().await?;
            match upsert::apply(&savepoint, batch.entity, rows, self.options).await {
                Ok(counts) => {
                    savepoint.commit().await?;
                    Ok(counts)
                }
                Err(err) if is_transient(&err) => Err(err),
                Err(err) => {
                    savepoint.rollback().await?;
                    if rows.len() == 1 {
                        letters.push(letter(
                            batch,
                            &rows[0],
                            format!("database refused the row: {err}"),
                        ));
                        return Ok(ApplyCounts::default());
                    }
                    let (left, right) = rows.split_at(rows.len() / 2);
                    let a = self.apply_splitting(tx, batch, left, letters).await?;
                    let b = self.apply_splitting(tx, batch, right, letters).await?;
                    Ok(ApplyCounts {
                        written: a.written + b.written,
                        unchanged: a.unchanged + b.unchanged,
                        deleted: a.deleted + b.deleted,
                    })
                }
            }
        })
    }
}

fn letter(batch: &Batch, row: &MirrorRow, error: String) -> DeadLetter {
    DeadLetter {
        entity: batch.entity,
        mahak_id: Some(row.mahak_id),
        client_id: row.client_id,
        row_version: Some(row.row_version),
        batch_id: Some(batch.batch_id.to_string()),
        payload: row.payload.clone(),
        error,
        attempts: 1,
    }
}
