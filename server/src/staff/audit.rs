//! The audit trail: who did what to which object, with the state before and after.
//!
//! Every staff mutation calls [`record`] with the same connection (transaction) as its change,
//! so an entry exists exactly when the change was committed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use entity::audit_entries::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Writes one audit entry. `action` is `<area>.<verb>` (`staff.disable`, `role.update`,
/// `product.update`, ...), `target_type` the kind of object (`staff_user`, `role`, ...) and
/// `target_id` its id; `before`/`after` its state (never secrets such as password hashes).
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    staff_id: Uuid,
    action: &str,
    target_type: &str,
    target_id: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    record_by(
        conn,
        Some(staff_id),
        action,
        target_type,
        target_id,
        before,
        after,
    )
    .await
}

/// [`record`] for changes no staff member made (the `create-admin` command).
pub async fn record_by<C: ConnectionTrait>(
    conn: &C,
    staff_id: Option<Uuid>,
    action: &str,
    target_type: &str,
    target_id: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    audit_entries::ActiveModel {
        staff_user_id: Set(staff_id),
        action: Set(action.to_string()),
        target_type: Set(target_type.to_string()),
        target_id: Set(target_id.to_string()),
        before: Set(before),
        after: Set(after),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub staff_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
}

/// One page of entries, newest first.
pub struct AuditPage {
    pub entries: Vec<audit_entries::Model>,
    pub has_next_page: bool,
}

/// Largest page.
pub const MAX_PAGE: u64 = 100;

/// An entry's opaque cursor.
pub fn cursor(entry: &audit_entries::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("audit:{}", entry.id))
}

fn parse_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("audit:")?
        .parse()
        .ok()
}

/// Lists entries newest first, `first` (1-100) after the entry `after` points at.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    first: u64,
    after: Option<&str>,
) -> ApiResult<AuditPage> {
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("first must be between 1 and {MAX_PAGE}"),
        ));
    }
    let mut query = Entity::find();
    if let Some(after) = after {
        let id = parse_cursor(after)
            .ok_or_else(|| ApiError::bad_input("after", "the cursor is not one this API issued"))?;
        query = query.filter(Column::Id.lt(id));
    }
    if let Some(staff_id) = filter.staff_id {
        query = query.filter(Column::StaffUserId.eq(staff_id));
    }
    if let Some(target_type) = &filter.target_type {
        query = query.filter(Column::TargetType.eq(target_type.as_str()));
    }
    if let Some(target_id) = &filter.target_id {
        query = query.filter(Column::TargetId.eq(target_id.as_str()));
    }
    let mut entries = query
        .order_by_desc(Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = entries.len() as u64 > first;
    entries.truncate(first as usize);
    Ok(AuditPage {
        entries,
        has_next_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_others() {
        let entry = audit_entries::Model {
            id: 42,
            staff_user_id: None,
            action: "a".into(),
            target_type: "t".into(),
            target_id: "1".into(),
            before: None,
            after: None,
            created_at: Utc::now(),
        };
        assert_eq!(parse_cursor(&cursor(&entry)), Some(42));
        assert_eq!(parse_cursor("bm9wZQ"), None);
        assert_eq!(parse_cursor("%%%"), None);
    }
}
