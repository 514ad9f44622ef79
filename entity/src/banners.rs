//! The `banners` table.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A promotional banner of the shop. Shown while `published` and within its optional window
/// `[starts_at, ends_at)`, in ascending `position`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq, Serialize, Deserialize)]
#[sea_orm(table_name = "banners")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: String,
    /// An object key in the store's object storage, or an absolute `http(s)` URL.
    #[sea_orm(column_type = "Text")]
    pub image: String,
    /// Where a tap on the banner leads: an absolute `http(s)` URL or a path of the shop.
    #[sea_orm(column_type = "Text")]
    pub link_url: Option<String>,
    pub position: i32,
    pub starts_at: Option<DateTimeUtc>,
    pub ends_at: Option<DateTimeUtc>,
    pub published: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
