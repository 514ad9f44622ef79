//! The back office's view of customers: a searchable list, a customer's standing in Mahak
//! (balance and credit of the linked Mahak person), and blocking. A blocked customer cannot
//! sign in, and the tokens they hold stop working at once (`crate::auth::current_customer`
//! checks the status on every request).

use entity::{customers, mahak_people};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::BLOCKED;
use crate::error::{ApiError, ApiResult};

const ACTIVE: &str = "active";

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Part of the phone number (any digits the staff type: `0912...`, `912...`, Persian
    /// digits) or of the first or last name.
    pub search: Option<String>,
    /// Only blocked (true) or only not blocked (false) customers.
    pub blocked: Option<bool>,
}

/// One page of customers matching `filter`, newest first; the cursor is the id of the last
/// customer of the previous page (ids are UUIDv7, so they order by creation).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &CustomerFilter,
    first: u64,
    after: Option<Uuid>,
) -> ApiResult<(Vec<customers::Model>, bool)> {
    let mut query = customers::Entity::find();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let digits: String = sync::persian::fold_for_search(search)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let mut any = Condition::any()
            .add(customers::Column::FirstName.contains(search))
            .add(customers::Column::LastName.contains(search));
        // Stored phones are E.164 (`+989...`): match the national part without its 0.
        let national = digits.trim_start_matches('0').trim_start_matches("98");
        if national.len() >= 3 {
            any = any.add(customers::Column::Phone.contains(national));
        }
        query = query.filter(any);
    }
    match filter.blocked {
        Some(true) => query = query.filter(customers::Column::Status.eq(BLOCKED)),
        Some(false) => query = query.filter(customers::Column::Status.ne(BLOCKED)),
        None => {}
    }
    if let Some(after) = after {
        query = query.filter(customers::Column::Id.lt(after));
    }
    let mut rows = query
        .order_by_desc(customers::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> ApiResult<customers::Model> {
    customers::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::not_found("customer"))
}

/// The Mahak person the customer is linked to (balance, credit), if any and not deleted.
pub async fn mahak_person<C: ConnectionTrait>(
    db: &C,
    customer: &customers::Model,
) -> ApiResult<Option<mahak_people::Model>> {
    let Some(person) = customer.mahak_person_id else {
        return Ok(None);
    };
    Ok(mahak_people::Entity::find()
        .filter(mahak_people::Column::MahakId.eq(person))
        .filter(mahak_people::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Blocks or unblocks a customer, with an audit entry; returns the customer afterwards.
/// Setting the status it already has changes nothing (and records nothing).
pub async fn set_blocked(
    db: &DatabaseConnection,
    staff_id: Uuid,
    id: Uuid,
    blocked: bool,
    reason: &str,
) -> ApiResult<customers::Model> {
    let reason = reason.trim();
    if blocked && (reason.is_empty() || reason.chars().count() > 500) {
        return Err(ApiError::bad_input(
            "reason",
            "say why, in 1 to 500 characters",
        ));
    }
    let txn = db.begin().await?;
    let before = find(&txn, id).await?;
    let status = if blocked { BLOCKED } else { ACTIVE };
    if before.status == status {
        return Ok(before);
    }
    customers::Entity::update_many()
        .col_expr(customers::Column::Status, Expr::value(status))
        .col_expr(
            customers::Column::UpdatedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(customers::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    crate::staff::audit::record(
        &txn,
        staff_id,
        if blocked {
            "customer.block"
        } else {
            "customer.unblock"
        },
        "customer",
        &id.to_string(),
        Some(json!({ "status": before.status })),
        Some(json!({ "status": status, "reason": reason })),
    )
    .await?;
    let after = find(&txn, id).await?;
    txn.commit().await?;
    Ok(after)
}
