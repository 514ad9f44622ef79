//! The customer's account in Mahak's books on the shop schema (`me { accountBalance }`) and
//! ordering on account (`payOnAccount`). The rules are in `crate::account_credit`.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::orders::Order;
use crate::account_credit::{self as rules, AccountStanding, AccountStatus as Status};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

/// Whether the customer's Mahak account can take orders on account.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccountStatus {
    /// Usable, within its credit.
    Active,
    /// The store's accounting marked the account inactive (the Mahak person was deleted or
    /// taken off the store).
    Inactive,
    /// The customer owes more than their credit limit.
    OverLimit,
    /// The store's accounting does not know this customer yet.
    NotLinked,
}

impl From<Status> for AccountStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => AccountStatus::Active,
            Status::Inactive => AccountStatus::Inactive,
            Status::OverLimit => AccountStatus::OverLimit,
            Status::NotLinked => AccountStatus::NotLinked,
        }
    }
}

/// The signed-in customer's account in the store's books (Mahak), read-only.
pub struct AccountBalance(pub(super) AccountStanding);

#[Object]
impl AccountBalance {
    /// What the customer owes the store (Rial; negative: the store owes the customer). Null
    /// when not linked.
    async fn balance(&self) -> Option<Rial> {
        self.0.linked().then_some(Rial(self.0.balance))
    }
    /// How much the store lets the customer owe (Rial). Null when not linked.
    async fn credit(&self) -> Option<Rial> {
        self.0.linked().then_some(Rial(self.0.credit))
    }
    /// Orders charged on account that the balance does not show yet (Rial).
    async fn pending_charges(&self) -> Rial {
        Rial(self.0.pending_charges)
    }
    /// What an order on account may cost now: credit − balance − pending charges, at least 0
    /// (0 unless `ACTIVE`).
    async fn available(&self) -> Rial {
        Rial(self.0.available)
    }
    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }
    /// Why the account cannot take orders on account; null when `ACTIVE`.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The account's ledger, newest first (empty when not linked).
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many lines, 1 to 100.")] first: i32,
    ) -> ApiResult<Vec<AccountTransaction>> {
        let db = &ctx.data_unchecked::<Services>().db;
        Ok(rules::ledger(db, self.0.person_mahak_id, first)
            .await?
            .into_iter()
            .map(|t| AccountTransaction {
                date: t.transaction_date,
                debit: Rial(t.debt_amount),
                credit: Rial(t.credit_amount),
                balance: Rial(t.balance),
                description: t.description,
            })
            .collect())
    }
}

/// One line of the customer's ledger in the store's books.
#[derive(SimpleObject)]
pub struct AccountTransaction {
    pub date: Option<DateTime<Utc>>,
    /// What the line added to the customer's debt (an invoice), Rial.
    pub debit: Rial,
    /// What the line took off it (a payment, a return), Rial.
    pub credit: Rial,
    /// The balance after this line, Rial.
    pub balance: Rial,
    pub description: Option<String>,
}

#[derive(Default)]
pub struct CreditMutation;

#[Object]
impl CreditMutation {
    /// Pays one of the signed-in customer's orders awaiting payment by charging it to their
    /// account in the store's books (no gateway). Allowed when `me.accountBalance.status` is
    /// `ACTIVE` and the grand total fits in `available`. Errors: `CREDIT_REFUSED` (the message
    /// says why; nothing changed), `NOT_FOUND` (not the caller's order), `CONFLICT` (not
    /// `PENDING_PAYMENT`, or paid meanwhile), `RATE_LIMITED`.
    async fn pay_on_account(&self, ctx: &Context<'_>, order_number: String) -> ApiResult<Order> {
        let customer_id = ctx
            .data_opt::<Caller>()
            .unwrap_or(&Caller::Anonymous)
            .customer_id()?;
        let services = ctx.data_unchecked::<Services>();
        let paid = rules::pay_on_account(
            &services.db,
            &services.order_events,
            customer_id,
            &order_number,
        )
        .await?;
        Ok(Order(paid))
    }
}
