//! The `auth_attempts` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One counted sign-in attempt (an OTP request, a verification, a wrong code), keyed by what
/// the limit applies to (an IP address or a phone number). Rate limits count these rows in a
/// sliding window, so the limits hold across server replicas.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "auth_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
