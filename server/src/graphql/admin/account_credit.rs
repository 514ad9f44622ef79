//! A customer's standing in Mahak's books as the back office sees it
//! (`AdminCustomer.accountStanding`): the same figures the customer sees, from
//! `crate::account_credit`, plus the Mahak person and when it was last synced.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::account_credit::{self as rules, AccountStanding, AccountStatus as Status};
use crate::error::ApiResult;
use crate::graphql::scalars::Rial;
use crate::graphql::Services;

/// Whether a customer's Mahak account can take orders on account.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "AdminAccountStatus")]
pub enum AccountStatus {
    /// Linked, usable, within its credit.
    Active,
    /// The Mahak person is deleted, or it has visitor links and all are deleted (Mahak's
    /// Person has no "active" flag; this is how the store reads "inactive").
    Inactive,
    /// Balance plus pending charges exceed the credit.
    OverLimit,
    /// No Mahak person, or the person is not in the mirror yet.
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

/// A customer's account in Mahak's books. Owned by Mahak; read-only here.
pub struct AdminAccountStanding(pub AccountStanding);

#[Object]
impl AdminAccountStanding {
    /// Whether the customer is linked to a Mahak person that the mirror holds.
    async fn linked(&self) -> bool {
        self.0.linked()
    }
    /// The Mahak person (`PersonId`) the figures come from.
    async fn person_mahak_id(&self) -> Option<i64> {
        self.0.person_mahak_id
    }
    /// Rial; positive: the customer owes the store. Null when not linked.
    async fn balance(&self) -> Option<Rial> {
        self.0.linked().then_some(Rial(self.0.balance))
    }
    /// The credit Mahak allows (Rial). Null when not linked.
    async fn credit(&self) -> Option<Rial> {
        self.0.linked().then_some(Rial(self.0.credit))
    }
    /// Orders charged on account (`payOnAccount`) that Mahak's balance does not show yet.
    async fn pending_charges(&self) -> Rial {
        Rial(self.0.pending_charges)
    }
    /// credit − balance − pending charges, at least 0 (0 unless `ACTIVE`).
    async fn available(&self) -> Rial {
        Rial(self.0.available)
    }
    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }
    /// The reason the customer is given when the account cannot be charged.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// When the sync last changed the person's row.
    async fn synced_at(&self) -> Option<DateTime<Utc>> {
        self.0.synced_at
    }
    /// The person's ledger in Mahak, newest first.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many lines, 1 to 100.")] first: i32,
    ) -> ApiResult<Vec<AdminAccountTransaction>> {
        let db = &ctx.data_unchecked::<Services>().db;
        Ok(rules::ledger(db, self.0.person_mahak_id, first)
            .await?
            .into_iter()
            .map(|t| AdminAccountTransaction {
                mahak_id: t.mahak_id,
                date: t.transaction_date,
                debit: Rial(t.debt_amount),
                credit: Rial(t.credit_amount),
                balance: Rial(t.balance),
                description: t.description,
            })
            .collect())
    }
}

/// One line of Mahak's ledger (`Transaction`) for a customer.
#[derive(SimpleObject)]
pub struct AdminAccountTransaction {
    /// Mahak's `TransactionId`.
    pub mahak_id: i64,
    pub date: Option<DateTime<Utc>>,
    /// Mahak's `debtAmount` (Rial).
    pub debit: Rial,
    /// Mahak's `creditAmount` (Rial).
    pub credit: Rial,
    /// The running balance after this line (Rial).
    pub balance: Rial,
    pub description: Option<String>,
}
