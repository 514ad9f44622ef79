//! From the store to Mahak: a paid order becomes a sales invoice with its lines and its
//! payment's receipt, a cancelled or refunded invoiced order becomes a sales return, each in
//! one `SaveAllData` call (see [`commit`]).
//!
//! The store writes a [`PushJob`] into its transactional outbox in the same transaction as the
//! state change that causes it; whoever carries the outbox (the server's dispatcher) calls
//! [`Pusher::push`] and retries with back-off on any error, then [`Pusher::give_up`] after its
//! limit. What makes the retries safe:
//! - ClientIds are drawn from the database ([`client_ids`]) and written on the rows *before*
//!   the first send, so a retry after a lost answer sends the same ClientIds and Mahak
//!   updates the rows it already has instead of adding new ones;
//! - the ids Mahak answers are stored on the rows, and a job whose rows are all stored is
//!   done, so a job handled twice pushes once.
//!
//! Push state on `orders.mahak_state` (and `mahak_return_state`, `customers.mahak_state`,
//! `payments.mahak_state`): see [`state`].

pub mod client_ids;
pub mod commit;
pub mod results;

use chrono::Utc;
use entity::{customers, mahak_people, order_lines, orders, payments, warehouses};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mahak::{CommitData, Entity, MahakClient, MahakError};
use crate::settings::ConfigError;
use commit::{Destination, Invoice};
use results::{Answer, RowOutcome};

/// Values of the `mahak_state` columns.
pub mod state {
    /// Nothing to push (an unpaid order, a customer who never ordered).
    pub const NOT_PUSHED: &str = "not_pushed";
    /// Queued for a push (or being retried after a transient failure).
    pub const PENDING: &str = "pending";
    /// Mahak has the row; its id is stored.
    pub const PUSHED: &str = "pushed";
    /// A customer matched to a person already in Mahak by mobile number.
    pub const LINKED: &str = "linked";
    /// Mahak rejected a row; the reason is in `mahak_error`. Retried (it may have been fixed
    /// in Mahak or in the configuration) until the limit.
    pub const FAILED: &str = "failed";
    /// Given up after the retry limit; staff can push it again.
    pub const DEAD: &str = "dead";
    /// (`mahak_return_state` only) the return was entered in Mahak and synced back: the store
    /// has nothing to push.
    pub const FROM_MAHAK: &str = "from_mahak";
}

/// `push.*`: where pushed rows go in Mahak.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Mahak `StoreId` (warehouse) the invoice lines are taken from. Unset: the first
    /// warehouse synced from Mahak.
    pub store_id: Option<i64>,
    /// Mahak `PersonGroupId` of customers the store creates in Mahak. Unset: Mahak's default.
    pub person_group_id: Option<i64>,
    /// The bank named on a receipt's bank-transfer cheque. Empty: the payment provider.
    pub bank_name: String,
}

impl PushSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("push.store_id", self.store_id),
            ("push.person_group_id", self.person_group_id),
        ] {
            if value.is_some_and(|v| v <= 0) {
                return Err(ConfigError::invalid(key, "must be a positive Mahak id"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PushKind {
    /// A paid order as a sales invoice (with the customer and the payment's receipt).
    Invoice,
    /// A cancelled or refunded invoiced order as a sales return.
    Return,
}

/// One push to do; the payload of the outbox rows of topics [`PushJob::topic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushJob {
    pub kind: PushKind,
    pub order_id: Uuid,
}

impl PushJob {
    pub const INVOICE_TOPIC: &'static str = "mahak.push.invoice";
    pub const RETURN_TOPIC: &'static str = "mahak.push.return";

    pub fn topic(&self) -> &'static str {
        match self.kind {
            PushKind::Invoice => Self::INVOICE_TOPIC,
            PushKind::Return => Self::RETURN_TOPIC,
        }
    }
}

/// Why a push did not go through this time. Both are worth retrying: a rejection may be
/// fixed in Mahak (a product detail or warehouse created) or in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Mahak refused one or more rows; its reasons, for staff.
    #[error("Mahak rejected the push: {0}")]
    Rejected(String),
    /// Mahak or the database could not be reached, or the push must wait (a return before
    /// its invoice).
    #[error("{0}")]
    Transient(String),
    /// The job refers to nothing that can be pushed (the order is gone or unpaid).
    #[error("{0}")]
    Invalid(String),
}

impl From<DbErr> for PushError {
    fn from(err: DbErr) -> Self {
        PushError::Transient(format!("database: {err}"))
    }
}

fn mahak_error(err: MahakError) -> PushError {
    match err {
        MahakError::Mahak { message, code, .. } => {
            PushError::Rejected(format!("{message} (code {})", code.unwrap_or_default()))
        }
        other => PushError::Transient(other.to_string()),
    }
}

pub struct Pusher {
    db: DatabaseConnection,
    mahak: MahakClient,
    settings: PushSettings,
}

impl Pusher {
    pub fn new(db: DatabaseConnection, mahak: MahakClient, settings: PushSettings) -> Self {
        Pusher {
            db,
            mahak,
            settings,
        }
    }

    /// Does `job`; `Ok` once Mahak has every row of it (also when it already had them).
    pub async fn push(&self, job: &PushJob) -> Result<(), PushError> {
        let started = std::time::Instant::now();
        let result = match job.kind {
            PushKind::Invoice => self.push_invoice(job.order_id).await,
            PushKind::Return => self.push_return(job.order_id).await,
        };
        let outcome = match &result {
            Ok(()) => "pushed",
            Err(PushError::Rejected(_)) => "rejected",
            Err(PushError::Transient(_)) => "transient",
            Err(PushError::Invalid(_)) => "invalid",
        };
        let kind = match job.kind {
            PushKind::Invoice => "invoice",
            PushKind::Return => "return",
        };
        metrics::counter!("mahak_push_total", "kind" => kind, "outcome" => outcome).increment(1);
        metrics::histogram!("mahak_push_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Records that `job` was given up after the retry limit: its state becomes `dead` with
    /// `reason`, for staff to see and push again.
    pub async fn give_up(&self, job: &PushJob, reason: &str) -> Result<(), DbErr> {
        let update = orders::Entity::update_many().filter(orders::Column::Id.eq(job.order_id));
        let update = match job.kind {
            PushKind::Invoice => update
                .col_expr(orders::Column::MahakState, Expr::value(state::DEAD))
                .col_expr(orders::Column::MahakError, Expr::value(reason)),
            PushKind::Return => update
                .col_expr(orders::Column::MahakReturnState, Expr::value(state::DEAD))
                .col_expr(orders::Column::MahakReturnError, Expr::value(reason)),
        };
        update.exec(&self.db).await?;
        Ok(())
    }

    async fn destination(&self) -> Result<Destination, PushError> {
        let session = self.mahak.session().await.map_err(mahak_error)?;
        let store_id = match self.settings.store_id {
            Some(id) => Some(id),
            None => warehouses::Entity::find()
                .filter(warehouses::Column::DeletedAt.is_null())
                .order_by_asc(warehouses::Column::MahakId)
                .one(&self.db)
                .await?
                .map(|w| w.mahak_id),
        };
        Ok(Destination {
            visitor_id: session.visitor_id,
            store_id,
            person_group_id: self.settings.person_group_id,
            bank_name: self.settings.bank_name.clone(),
        })
    }

    async fn order(&self, id: Uuid) -> Result<orders::Model, PushError> {
        orders::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| PushError::Invalid(format!("order {id} does not exist")))
    }

    async fn lines(&self, order_id: Uuid) -> Result<Vec<order_lines::Model>, DbErr> {
        order_lines::Entity::find()
            .filter(order_lines::Column::OrderId.eq(order_id))
            .order_by_asc(order_lines::Column::Id)
            .all(&self.db)
            .await
    }

    async fn customer(&self, id: Uuid) -> Result<customers::Model, PushError> {
        customers::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| PushError::Invalid(format!("customer {id} does not exist")))
    }

    /// The payment the order was paid with (the one a receipt is due for).
    async fn payment(&self, order_id: Uuid) -> Result<Option<payments::Model>, DbErr> {
        payments::Entity::find()
            .filter(payments::Column::OrderId.eq(order_id))
            .filter(payments::Column::Status.is_in(["paid", "refunded"]))
            .order_by_asc(payments::Column::VerifiedAt)
            .one(&self.db)
            .await
    }

    /// Links a customer Mahak does not know through the store to the live person with the
    /// same mobile number, if there is one, so the customer is not created twice.
    async fn link_by_mobile(&self, customer: &customers::Model) -> Result<(), DbErr> {
        if customer.mahak_person_id.is_some() {
            return Ok(());
        }
        let Some(person) = mahak_people::Entity::find()
            .filter(mahak_people::Column::MobileE164.eq(customer.phone.as_str()))
            .filter(mahak_people::Column::DeletedAt.is_null())
            .order_by_asc(mahak_people::Column::MahakId)
            .one(&self.db)
            .await?
        else {
            return Ok(());
        };
        customers::Entity::update_many()
            .col_expr(
                customers::Column::MahakPersonId,
                Expr::value(person.mahak_id),
            )
            .col_expr(customers::Column::MahakState, Expr::value(state::LINKED))
            .filter(customers::Column::Id.eq(customer.id))
            .filter(customers::Column::MahakPersonId.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Gives every row of the invoice that has none its ClientId, in one transaction and only
    /// where still missing, so concurrent or repeated pushes agree on the ids.
    async fn assign_invoice_ids(
        &self,
        order: &orders::Model,
        customer: &customers::Model,
        lines: &[order_lines::Model],
        payment: Option<&payments::Model>,
    ) -> Result<(), DbErr> {
        let person =
            customer.mahak_person_id.is_none() && customer.mahak_person_client_id.is_none();
        let order_id = order.mahak_order_client_id.is_none();
        let missing_lines: Vec<Uuid> = lines
            .iter()
            .filter(|l| l.mahak_detail_client_id.is_none())
            .map(|l| l.id)
            .collect();
        let receipt = payment.filter(|p| p.mahak_receipt_client_id.is_none());
        let wanted = usize::from(person)
            + usize::from(order_id)
            + missing_lines.len()
            + 2 * usize::from(receipt.is_some());
        if wanted == 0 {
            return Ok(());
        }
        let txn = self.db.begin().await?;
        let mut ids = client_ids::allocate(&txn, wanted).await?.into_iter();
        let mut next = || ids.next().expect("allocated as many as wanted");
        if person {
            customers::Entity::update_many()
                .col_expr(customers::Column::MahakPersonClientId, Expr::value(next()))
                .col_expr(customers::Column::MahakState, Expr::value(state::PENDING))
                .filter(customers::Column::Id.eq(customer.id))
                .filter(customers::Column::MahakPersonClientId.is_null())
                .exec(&txn)
                .await?;
        }
        if order_id {
            orders::Entity::update_many()
                .col_expr(orders::Column::MahakOrderClientId, Expr::value(next()))
                .filter(orders::Column::Id.eq(order.id))
                .filter(orders::Column::MahakOrderClientId.is_null())
                .exec(&txn)
                .await?;
        }
        for line in missing_lines {
            order_lines::Entity::update_many()
                .col_expr(
                    order_lines::Column::MahakDetailClientId,
                    Expr::value(next()),
                )
                .filter(order_lines::Column::Id.eq(line))
                .filter(order_lines::Column::MahakDetailClientId.is_null())
                .exec(&txn)
                .await?;
        }
        if let Some(payment) = receipt {
            payments::Entity::update_many()
                .col_expr(payments::Column::MahakReceiptClientId, Expr::value(next()))
                .col_expr(payments::Column::MahakChequeClientId, Expr::value(next()))
                .col_expr(payments::Column::MahakState, Expr::value(state::PENDING))
                .filter(payments::Column::Id.eq(payment.id))
                .filter(payments::Column::MahakReceiptClientId.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }

    async fn send(&self, body: &CommitData) -> Result<Answer, PushError> {
        let result = self.mahak.save_all_data(body).await.map_err(mahak_error)?;
        Answer::check(body, result).map_err(PushError::Transient)
    }

    async fn push_invoice(&self, order_id: Uuid) -> Result<(), PushError> {
        let order = self.order(order_id).await?;
        if order.paid_at.is_none() {
            return Err(PushError::Invalid(format!(
                "order {} is not paid; only paid orders are invoiced",
                order.number
            )));
        }
        if order.mahak_state == state::PUSHED {
            return Ok(());
        }
        self.link_by_mobile(&self.customer(order.customer_id).await?)
            .await?;
        // Read after linking: a linked customer needs no ClientId and no person pushed.
        let customer = self.customer(order.customer_id).await?;
        let lines = self.lines(order.id).await?;
        let payment = self.payment(order.id).await?;
        self.assign_invoice_ids(&order, &customer, &lines, payment.as_ref())
            .await?;
        // Read back: the rows now carry their ClientIds (ours or a concurrent push's).
        let order = self.order(order_id).await?;
        let customer = self.customer(order.customer_id).await?;
        let lines = self.lines(order.id).await?;
        let payment = self.payment(order.id).await?;
        let to = self.destination().await?;
        let invoice = Invoice {
            order: &order,
            customer: &customer,
            lines: &lines,
            payment: payment.as_ref(),
        };
        let body = commit::invoice(&invoice, &to)
            .map_err(|e| PushError::Invalid(format!("order {}: {e}", order.number)))?;
        let answer = match self.send(&body).await {
            Ok(answer) => answer,
            Err(err) => {
                self.record_send_error(order.id, PushKind::Invoice, &err)
                    .await?;
                return Err(err);
            }
        };
        self.record_invoice(&invoice, &body, &answer).await
    }

    /// Stores what Mahak saved (ids, RowVersions) and marks the order pushed, or failed with
    /// every rejection Mahak gave.
    async fn record_invoice(
        &self,
        invoice: &Invoice<'_>,
        body: &CommitData,
        answer: &Answer,
    ) -> Result<(), PushError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        if !body.people.is_empty() {
            let mut update = customers::Entity::update_many()
                .filter(customers::Column::Id.eq(invoice.customer.id));
            update = match answer.row(Entity::Person, 0) {
                RowOutcome::Saved { id, row_version } => update
                    .col_expr(customers::Column::MahakPersonId, Expr::value(id))
                    .col_expr(customers::Column::MahakRowVersion, Expr::value(row_version))
                    .col_expr(customers::Column::MahakState, Expr::value(state::PUSHED))
                    .col_expr(customers::Column::MahakError, Expr::value(None::<String>)),
                RowOutcome::Rejected(reason) => update
                    .col_expr(customers::Column::MahakState, Expr::value(state::FAILED))
                    .col_expr(customers::Column::MahakError, Expr::value(reason)),
            };
            update.exec(&txn).await?;
        }
        let order_row = answer.row(Entity::Order, 0);
        if let RowOutcome::Saved { id, row_version } = &order_row {
            orders::Entity::update_many()
                .col_expr(orders::Column::MahakOrderId, Expr::value(*id))
                .col_expr(orders::Column::MahakRowVersion, Expr::value(*row_version))
                .filter(orders::Column::Id.eq(invoice.order.id))
                .exec(&txn)
                .await?;
        }
        for (index, line) in invoice.lines.iter().enumerate() {
            if let Some(id) = answer.row(Entity::OrderDetail, index).id() {
                order_lines::Entity::update_many()
                    .col_expr(order_lines::Column::MahakDetailId, Expr::value(id))
                    .filter(order_lines::Column::Id.eq(line.id))
                    .exec(&txn)
                    .await?;
            }
        }
        if let Some(payment) = invoice.payment {
            let receipt = answer.row(Entity::Receipt, 0);
            let cheque = answer.row(Entity::Cheque, 0);
            let mut update =
                payments::Entity::update_many().filter(payments::Column::Id.eq(payment.id));
            if let RowOutcome::Saved { id, row_version } = &receipt {
                update = update
                    .col_expr(payments::Column::MahakReceiptId, Expr::value(*id))
                    .col_expr(payments::Column::MahakRowVersion, Expr::value(*row_version));
            }
            if let Some(id) = cheque.id() {
                update = update.col_expr(payments::Column::MahakChequeId, Expr::value(id));
            }
            update = match (&receipt, &cheque) {
                (RowOutcome::Rejected(reason), _) | (_, RowOutcome::Rejected(reason)) => update
                    .col_expr(payments::Column::MahakState, Expr::value(state::FAILED))
                    .col_expr(payments::Column::MahakError, Expr::value(reason.clone())),
                _ => update
                    .col_expr(payments::Column::MahakState, Expr::value(state::PUSHED))
                    .col_expr(payments::Column::MahakError, Expr::value(None::<String>)),
            };
            update.exec(&txn).await?;
        }
        let rejections = answer.rejections();
        let update = orders::Entity::update_many().filter(orders::Column::Id.eq(invoice.order.id));
        let update = if rejections.is_empty() {
            update
                .col_expr(orders::Column::MahakState, Expr::value(state::PUSHED))
                .col_expr(orders::Column::MahakError, Expr::value(None::<String>))
                .col_expr(orders::Column::MahakPushedAt, Expr::value(now))
        } else {
            update
                .col_expr(orders::Column::MahakState, Expr::value(state::FAILED))
                .col_expr(
                    orders::Column::MahakError,
                    Expr::value(rejections.join("; ")),
                )
        };
        update.exec(&txn).await?;
        txn.commit().await?;
        if rejections.is_empty() {
            tracing::info!(
                order = invoice.order.number,
                "order pushed to Mahak as a sales invoice"
            );
            Ok(())
        } else {
            Err(PushError::Rejected(rejections.join("; ")))
        }
    }

    /// Keeps the reason of a failed send on the order for staff; a rejection of the whole
    /// call marks the push failed, a transient failure leaves it pending.
    async fn record_send_error(
        &self,
        order_id: Uuid,
        kind: PushKind,
        err: &PushError,
    ) -> Result<(), DbErr> {
        let next_state = match err {
            PushError::Rejected(_) => state::FAILED,
            _ => state::PENDING,
        };
        let (state_column, error_column) = match kind {
            PushKind::Invoice => (orders::Column::MahakState, orders::Column::MahakError),
            PushKind::Return => (
                orders::Column::MahakReturnState,
                orders::Column::MahakReturnError,
            ),
        };
        orders::Entity::update_many()
            .col_expr(state_column, Expr::value(next_state))
            .col_expr(error_column, Expr::value(err.to_string()))
            .filter(orders::Column::Id.eq(order_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn push_return(&self, order_id: Uuid) -> Result<(), PushError> {
        let order = self.order(order_id).await?;
        if order.mahak_return_id.is_some() {
            // Pushed before, or entered in Mahak and synced back: nothing to do.
            return Ok(());
        }
        if order.mahak_order_id.is_none() {
            return Err(if order.mahak_state == state::DEAD {
                PushError::Rejected(
                    "the invoice was never accepted by Mahak; push the invoice again first".into(),
                )
            } else {
                PushError::Transient("waiting for the invoice to reach Mahak first".into())
            });
        }
        let lines = self.lines(order.id).await?;
        let missing: Vec<Uuid> = lines
            .iter()
            .filter(|l| l.mahak_return_detail_client_id.is_none())
            .map(|l| l.id)
            .collect();
        let wanted = missing.len() + usize::from(order.mahak_return_client_id.is_none());
        if wanted > 0 {
            let txn = self.db.begin().await?;
            let mut ids = client_ids::allocate(&txn, wanted).await?.into_iter();
            let mut next = || ids.next().expect("allocated as many as wanted");
            if order.mahak_return_client_id.is_none() {
                orders::Entity::update_many()
                    .col_expr(orders::Column::MahakReturnClientId, Expr::value(next()))
                    .filter(orders::Column::Id.eq(order.id))
                    .filter(orders::Column::MahakReturnClientId.is_null())
                    .exec(&txn)
                    .await?;
            }
            for line in missing {
                order_lines::Entity::update_many()
                    .col_expr(
                        order_lines::Column::MahakReturnDetailClientId,
                        Expr::value(next()),
                    )
                    .filter(order_lines::Column::Id.eq(line))
                    .filter(order_lines::Column::MahakReturnDetailClientId.is_null())
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
        }
        let order = self.order(order_id).await?;
        let lines = self.lines(order.id).await?;
        let customer = self.customer(order.customer_id).await?;
        let to = self.destination().await?;
        let body = commit::sales_return(&order, &customer, &lines, &order.status, &to)
            .map_err(|e| PushError::Invalid(format!("order {}: {e}", order.number)))?;
        let answer = match self.send(&body).await {
            Ok(answer) => answer,
            Err(err) => {
                self.record_send_error(order.id, PushKind::Return, &err)
                    .await?;
                return Err(err);
            }
        };
        let rejections = answer.rejections();
        let update = orders::Entity::update_many().filter(orders::Column::Id.eq(order.id));
        let update = match answer.row(Entity::Order, 0) {
            RowOutcome::Saved { id, .. } if rejections.is_empty() => update
                .col_expr(orders::Column::MahakReturnId, Expr::value(id))
                .col_expr(orders::Column::MahakReturnState, Expr::value(state::PUSHED))
                .col_expr(
                    orders::Column::MahakReturnError,
                    Expr::value(None::<String>),
                ),
            _ => update
                .col_expr(orders::Column::MahakReturnState, Expr::value(state::FAILED))
                .col_expr(
                    orders::Column::MahakReturnError,
                    Expr::value(rejections.join("; ")),
                ),
        };
        update.exec(&self.db).await?;
        if rejections.is_empty() {
            tracing::info!(
                order = order.number,
                "order pushed to Mahak as a sales return"
            );
            Ok(())
        } else {
            Err(PushError::Rejected(rejections.join("; ")))
        }
    }
}
