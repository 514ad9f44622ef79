//! A customer's standing in Mahak's books (balance, credit, whether the account is usable) and
//! ordering on account: paying an order by charging it to the customer's Mahak account instead
//! of the payment gateway.
//!
//! The figures are Mahak's, read from the mirror the sync keeps (`mahak_people`,
//! `mahak_transactions`, `mahak_visitor_people`); the store never changes them. A customer is
//! tied to a Mahak person by `customers.mahak_person_id` (set by the push, see `sync::push`).
//!
//! - **Balance** (Rial): positive means the customer owes the store (Mahak's ledger runs
//!   `balance += debt - credit`). **Credit** (Rial): how much Mahak lets the customer owe.
//! - **Pending charges**: orders charged on account whose effect Mahak's books do not show
//!   yet. Mahak's balance only moves once the pushed invoice has been posted there and the
//!   person synced back; until then the store counts the order itself, so two orders placed
//!   one after the other cannot both use the same credit. An order stops counting once it is
//!   cancelled or refunded, or once the person's row in the mirror changed after the invoice
//!   was pushed (`mahak_people.synced_at > orders.mahak_pushed_at`: the balance Mahak sent
//!   then includes it).
//! - **Available** = credit − balance − pending charges, never below 0.
//! - **Status**: `NotLinked` (no Mahak person, or the person is not in the mirror yet),
//!   `Inactive`, `OverLimit` (balance + pending charges > credit), else `Active`. Mahak's
//!   `Person` has no "active" flag: a person is taken as **inactive** when its row is deleted
//!   in Mahak, or when it has visitor links (`VisitorPeople`) and all of them are deleted,
//!   i.e. the person was taken off the store's visitor. A person with no visitor link at all
//!   (matched by mobile number, not yet tied to the visitor) is not inactive.
//!
//! [`pay_on_account`] moves a `pending_payment` order to `paid` when the standing is `Active`
//! and the order fits in the available credit; otherwise it refuses with `CREDIT_REFUSED` and
//! the reason, and writes nothing to the order. No `payments` row is written (no money was
//! received): the invoice is pushed to Mahak without a receipt.

use chrono::{DateTime, Utc};
use entity::orders;
use entity::{customers, mahak_people, mahak_transactions, mahak_visitor_people, order_events};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::auth::limiter::{self, Kind};
use crate::commerce::orders::{self as order_rules, OrderStatus};
use crate::error::{ApiError, ApiResult};
use crate::events::{OrderEvent, OrderEvents};

/// `order_events.kind` of the note that an order was charged to the customer's account.
pub const CHARGED_ON_ACCOUNT: &str = "charged_on_account";

/// What `order_events` says when the order becomes paid on account.
pub const PAID_ON_ACCOUNT_MESSAGE: &str = "charged to the customer's Mahak account";

/// `payOnAccount` calls a customer may make per [`RATE_WINDOW`].
pub const RATE_LIMIT: u32 = 20;
pub const RATE_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// Most ledger lines one request may ask for.
pub const MAX_TRANSACTIONS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Linked, usable, within its credit.
    Active,
    /// The Mahak person is deleted, or taken off the store's visitor.
    Inactive,
    /// The customer owes more than the credit Mahak allows.
    OverLimit,
    /// Mahak does not know this customer (yet).
    NotLinked,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Inactive => "inactive",
            AccountStatus::OverLimit => "over_limit",
            AccountStatus::NotLinked => "not_linked",
        }
    }
}

/// A customer's standing in Mahak's books (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStanding {
    /// The Mahak person's id, when the customer is linked and the person is in the mirror.
    pub person_mahak_id: Option<i64>,
    /// Rial; positive: the customer owes the store. 0 when not linked.
    pub balance: i64,
    /// Rial. 0 when not linked.
    pub credit: i64,
    /// Rial charged on account that Mahak's balance does not show yet.
    pub pending_charges: i64,
    /// credit − balance − pending charges, at least 0 (0 unless `Active`).
    pub available: i64,
    pub status: AccountStatus,
    /// Why the account cannot be used, for the customer; `None` when `Active`.
    pub reason: Option<String>,
    /// When the sync last wrote the person's row.
    pub synced_at: Option<DateTime<Utc>>,
}

impl AccountStanding {
    pub fn linked(&self) -> bool {
        self.person_mahak_id.is_some()
    }

    fn not_linked() -> AccountStanding {
        AccountStanding {
            person_mahak_id: None,
            balance: 0,
            credit: 0,
            pending_charges: 0,
            available: 0,
            status: AccountStatus::NotLinked,
            reason: Some(
                "your account is not in the store's books yet; pay for the order online".into(),
            ),
            synced_at: None,
        }
    }

    /// Whether an order of `amount` Rial may be charged to the account: `Err(reason)` when not.
    pub fn allows(&self, amount: i64) -> Result<(), String> {
        if self.status != AccountStatus::Active {
            return Err(self
                .reason
                .clone()
                .unwrap_or_else(|| "your account cannot be charged".into()));
        }
        let owed = self
            .balance
            .saturating_add(self.pending_charges)
            .saturating_add(amount);
        if owed > self.credit {
            return Err(format!(
                "the order total ({amount} Rial) is more than the credit available on your account ({} Rial)",
                self.available
            ));
        }
        Ok(())
    }
}

/// The standing from the person's figures, its liveness and the pending charges.
pub fn assess(
    person: &mahak_people::Model,
    inactive: bool,
    pending_charges: i64,
) -> AccountStanding {
    let owed = person.balance.saturating_add(pending_charges);
    let (status, reason) = if inactive {
        (
            AccountStatus::Inactive,
            Some("your account in the store's books is inactive; contact the store".to_string()),
        )
    } else if owed > person.credit {
        (
            AccountStatus::OverLimit,
            Some(format!(
                "your account owes {owed} Rial, more than its credit limit of {} Rial",
                person.credit
            )),
        )
    } else {
        (AccountStatus::Active, None)
    };
    let available = if status == AccountStatus::Active {
        person.credit.saturating_sub(owed).max(0)
    } else {
        0
    };
    AccountStanding {
        person_mahak_id: Some(person.mahak_id),
        balance: person.balance,
        credit: person.credit,
        pending_charges,
        available,
        status,
        reason,
        synced_at: Some(person.synced_at),
    }
}

/// The customer's standing in Mahak's books.
pub async fn standing<C: ConnectionTrait>(
    db: &C,
    customer: &customers::Model,
) -> ApiResult<AccountStanding> {
    let Some(person_id) = customer.mahak_person_id else {
        return Ok(AccountStanding::not_linked());
    };
    let Some(person) = mahak_people::Entity::find()
        .filter(mahak_people::Column::MahakId.eq(person_id))
        .one(db)
        .await?
    else {
        return Ok(AccountStanding::not_linked());
    };
    let links: Vec<Option<DateTime<Utc>>> = mahak_visitor_people::Entity::find()
        .filter(mahak_visitor_people::Column::PersonMahakId.eq(person_id))
        .select_only()
        .column(mahak_visitor_people::Column::DeletedAt)
        .into_tuple()
        .all(db)
        .await?;
    let unlinked = !links.is_empty() && links.iter().all(Option::is_some);
    let inactive = person.deleted_at.is_some() || unlinked;
    let pending = pending_charges(db, customer.id, &person).await?;
    Ok(assess(&person, inactive, pending))
}

/// Rial of the customer's orders charged on account that `person`'s balance does not show yet.
async fn pending_charges<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    person: &mahak_people::Model,
) -> ApiResult<i64> {
    let charged = Query::select()
        .column(order_events::Column::OrderId)
        .from(order_events::Entity)
        .and_where(Expr::col(order_events::Column::Kind).eq(CHARGED_ON_ACCOUNT))
        .to_owned();
    let live = [
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ]
    .map(OrderStatus::as_str);
    let rows: Vec<(i64, Option<DateTime<Utc>>)> = orders::Entity::find()
        .filter(orders::Column::CustomerId.eq(customer_id))
        .filter(orders::Column::Status.is_in(live))
        .filter(Expr::col(orders::Column::Id).in_subquery(charged))
        .select_only()
        .column(orders::Column::GrandTotal)
        .column(orders::Column::MahakPushedAt)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, pushed)| pushed.is_none_or(|pushed| person.synced_at <= pushed))
        .map(|(total, _)| total)
        .fold(0i64, i64::saturating_add))
}

/// The person's ledger lines in Mahak, newest first (by date, then Mahak id), deleted ones
/// left out; at most `first` (1 to [`MAX_TRANSACTIONS`]).
pub async fn transactions<C: ConnectionTrait>(
    db: &C,
    person_mahak_id: i64,
    first: u64,
) -> ApiResult<Vec<mahak_transactions::Model>> {
    Ok(mahak_transactions::Entity::find()
        .filter(mahak_transactions::Column::PersonMahakId.eq(person_mahak_id))
        .filter(mahak_transactions::Column::DeletedAt.is_null())
        .order_by_desc(Expr::cust("transaction_date IS NOT NULL"))
        .order_by_desc(mahak_transactions::Column::TransactionDate)
        .order_by_desc(mahak_transactions::Column::MahakId)
        .limit(first.clamp(1, MAX_TRANSACTIONS))
        .all(db)
        .await?)
}

/// What a `transactions` field answers, in the shop and the admin schema alike: `first`
/// checked, nothing for a customer with no Mahak person, else [`transactions`].
pub async fn ledger<C: ConnectionTrait>(
    db: &C,
    person_mahak_id: Option<i64>,
    first: i32,
) -> ApiResult<Vec<mahak_transactions::Model>> {
    let first = page_size(first)?;
    match person_mahak_id {
        Some(person) => transactions(db, person, first).await,
        None => Ok(Vec::new()),
    }
}

/// `first` as given to a `transactions` field: 1 to [`MAX_TRANSACTIONS`].
pub fn page_size(first: i32) -> ApiResult<u64> {
    match u64::try_from(first) {
        Ok(n) if (1..=MAX_TRANSACTIONS).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_input(
            "first",
            format!("`first` must be between 1 and {MAX_TRANSACTIONS}"),
        )),
    }
}

/// Charges one of the customer's orders awaiting payment to their Mahak account: `NOT_FOUND`
/// for anyone else's order, `CONFLICT` when it is not `pending_payment` (or changed meanwhile),
/// `CREDIT_REFUSED` with the reason when the standing does not allow it (nothing written),
/// `RATE_LIMITED` beyond [`RATE_LIMIT`] calls per [`RATE_WINDOW`]. On success the order is
/// `paid` (which queues the Mahak invoice and the SMS), a `charged_on_account` history note is
/// added, and the change is published on `events` after the commit.
///
/// The customer's row is locked for the transaction, so two charges of one customer (the same
/// order twice, or two orders) are decided one after the other, each seeing the other's
/// pending charge.
pub async fn pay_on_account(
    db: &DatabaseConnection,
    events: &OrderEvents,
    customer_id: Uuid,
    number: &str,
) -> ApiResult<orders::Model> {
    limiter::hit(
        db,
        Kind::PayOnAccountCustomer,
        &customer_id.to_string(),
        RATE_LIMIT,
        RATE_WINDOW,
    )
    .await?;
    let txn = db.begin().await?;
    let customer = customers::Entity::find_by_id(customer_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let order = order_rules::find_by_number_for_customer(&txn, customer_id, number).await?;
    if order.status != OrderStatus::PendingPayment.as_str() {
        return Err(ApiError::Conflict {
            message: format!("the order is {}, not awaiting payment", order.status),
        });
    }
    let standing = standing(&txn, &customer).await?;
    standing
        .allows(order.grand_total)
        .map_err(|reason| ApiError::CreditRefused { reason })?;
    let paid = order_rules::transition(
        &txn,
        &order,
        OrderStatus::Paid,
        "customer",
        PAID_ON_ACCOUNT_MESSAGE,
    )
    .await?;
    order_rules::record_event(
        &txn,
        order.id,
        CHARGED_ON_ACCOUNT,
        None,
        None,
        "customer",
        &format!(
            "{} Rial charged to Mahak person {}; balance {} Rial, pending {} Rial, credit {} Rial",
            order.grand_total,
            standing.person_mahak_id.unwrap_or_default(),
            standing.balance,
            standing.pending_charges,
            standing.credit
        ),
    )
    .await?;
    txn.commit().await?;
    if let Some(event) = OrderEvent::between(&order, &paid) {
        events.publish(event);
    }
    Ok(paid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person(balance: i64, credit: i64) -> mahak_people::Model {
        mahak_people::Model {
            id: 1,
            mahak_id: 42,
            mahak_client_id: None,
            mahak_code: None,
            row_version: 1,
            deleted_at: None,
            payload: json!({}),
            synced_at: Utc::now(),
            person_group_mahak_id: None,
            first_name: None,
            last_name: None,
            organization: None,
            mobile: None,
            mobile_e164: None,
            email: None,
            national_code: None,
            sell_price_level: None,
            credit,
            balance,
        }
    }

    #[test]
    fn within_the_limit_is_active_and_the_order_must_fit() {
        let s = assess(&person(300, 1_000), false, 200);
        assert_eq!(s.status, AccountStatus::Active);
        assert_eq!(s.available, 500);
        assert_eq!(s.reason, None);
        assert!(s.allows(500).is_ok());
        let refused = s.allows(501).unwrap_err();
        assert!(refused.contains("501 Rial"), "{refused}");
        assert!(refused.contains("500 Rial"), "{refused}");
    }

    #[test]
    fn a_negative_balance_adds_to_the_credit() {
        // The store owes the customer 400: they may order 1,400 on account.
        let s = assess(&person(-400, 1_000), false, 0);
        assert_eq!(s.available, 1_400);
        assert!(s.allows(1_400).is_ok());
        assert!(s.allows(1_401).is_err());
    }

    #[test]
    fn over_the_limit_and_inactive_are_refused_with_their_reason() {
        let over = assess(&person(900, 1_000), false, 200);
        assert_eq!(over.status, AccountStatus::OverLimit);
        assert_eq!(over.available, 0);
        let reason = over.allows(1).unwrap_err();
        assert!(reason.contains("credit limit of 1000 Rial"), "{reason}");
        assert_eq!(Some(reason), over.reason);

        let inactive = assess(&person(0, 1_000), true, 0);
        assert_eq!(inactive.status, AccountStatus::Inactive);
        assert_eq!(inactive.available, 0);
        assert!(inactive.allows(1).unwrap_err().contains("inactive"));
    }

    #[test]
    fn not_linked_cannot_be_charged() {
        let s = AccountStanding::not_linked();
        assert!(!s.linked());
        assert!(s.allows(0).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(20).unwrap(), 20);
        assert!(page_size(0).is_err());
        assert!(page_size(101).is_err());
    }
}
