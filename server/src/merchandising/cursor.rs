//! Opaque keyset cursors for the admin product list: the sort key of the last row seen and its
//! id, base64url-encoded JSON, like the shop's (`crate::catalogue::Cursor`) but covering the
//! admin's sorts, unpriced products (a price sort puts them last) and a separate sort tag so a
//! shop cursor is never taken for an admin one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{product_listings, products};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::ColumnTrait;
use serde::{Deserialize, Serialize};

use super::ProductSort;
use crate::catalogue::ListedProduct;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort order the cursor belongs to.
    s: String,
    /// Name (`NAME_ASC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// Lowest variant price (price sorts); absent for an unpriced product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<i64>,
    /// Listing's last change (`UPDATED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<DateTime<Utc>>,
    /// The product's id, which breaks ties.
    id: i64,
}

fn sort_name(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::Newest => "admin-new",
        ProductSort::Updated => "admin-updated",
        ProductSort::NameAsc => "admin-name",
        ProductSort::PriceAsc => "admin-price-asc",
        ProductSort::PriceDesc => "admin-price-desc",
    }
}

impl Cursor {
    pub fn of(sort: ProductSort, row: &ListedProduct) -> Self {
        let mut cursor = Cursor {
            s: sort_name(sort).into(),
            n: None,
            p: None,
            t: None,
            id: row.product.id,
        };
        match sort {
            ProductSort::Newest => {}
            ProductSort::Updated => cursor.t = Some(row.listing.updated_at),
            ProductSort::NameAsc => cursor.n = Some(row.product.name.clone()),
            ProductSort::PriceAsc | ProductSort::PriceDesc => cursor.p = row.product.min_price,
        }
        cursor
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cursor in `text`, or why it cannot be used with `sort`.
    pub fn decode(text: &str, sort: ProductSort) -> Result<Self, &'static str> {
        const MALFORMED: &str = "the cursor is not one this API issued";
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| MALFORMED)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| MALFORMED)?;
        if cursor.s != sort_name(sort) {
            return Err("the cursor belongs to another sort order");
        }
        let fits = match sort {
            ProductSort::Updated => cursor.t.is_some(),
            ProductSort::NameAsc => cursor.n.is_some(),
            ProductSort::Newest | ProductSort::PriceAsc | ProductSort::PriceDesc => true,
        };
        if fits {
            Ok(cursor)
        } else {
            Err(MALFORMED)
        }
    }

    /// Rows strictly after this cursor in `sort` order (see [`order`] for the order itself).
    pub fn after(&self, sort: ProductSort) -> SimpleExpr {
        let id = products::Column::Id;
        let price = products::Column::MinPrice;
        match sort {
            ProductSort::Newest => id.lt(self.id),
            ProductSort::Updated => {
                let t = self.t.unwrap_or_default();
                let col = product_listings::Column::UpdatedAt;
                col.lt(t).or(col.eq(t).and(id.lt(self.id)))
            }
            ProductSort::NameAsc => {
                let name = self.n.clone().unwrap_or_default();
                let col = products::Column::Name;
                col.gt(name.clone()).or(col.eq(name).and(id.gt(self.id)))
            }
            ProductSort::PriceAsc => match self.p {
                Some(p) => price
                    .gt(p)
                    .or(price.eq(p).and(id.gt(self.id)))
                    .or(price.is_null()),
                None => price.is_null().and(id.gt(self.id)),
            },
            ProductSort::PriceDesc => match self.p {
                Some(p) => price
                    .lt(p)
                    .or(price.eq(p).and(id.lt(self.id)))
                    .or(price.is_null()),
                None => price.is_null().and(id.lt(self.id)),
            },
        }
    }
}

/// The ORDER BY keys of `sort`, most significant first; every order ends with the id. Price
/// sorts put unpriced products last in both directions (`min_price IS NULL` first), the same
/// on PostgreSQL and SQLite.
pub fn order(sort: ProductSort) -> Vec<(SimpleExpr, sea_orm::Order)> {
    use sea_orm::Order::{Asc, Desc};
    let id = || Expr::col((products::Entity, products::Column::Id)).into();
    let price = || Expr::col((products::Entity, products::Column::MinPrice));
    match sort {
        ProductSort::Newest => vec![(id(), Desc)],
        ProductSort::Updated => vec![
            (
                Expr::col((
                    product_listings::Entity,
                    product_listings::Column::UpdatedAt,
                ))
                .into(),
                Desc,
            ),
            (id(), Desc),
        ],
        ProductSort::NameAsc => vec![
            (
                Expr::col((products::Entity, products::Column::Name)).into(),
                Asc,
            ),
            (id(), Asc),
        ],
        ProductSort::PriceAsc => vec![(price().is_null(), Asc), (price().into(), Asc), (id(), Asc)],
        ProductSort::PriceDesc => vec![
            (price().is_null(), Asc),
            (price().into(), Desc),
            (id(), Desc),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_other_sorts_and_shop_cursors() {
        let cursor = Cursor {
            s: "admin-name".into(),
            n: Some("چای".into()),
            p: None,
            t: None,
            id: 7,
        };
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, ProductSort::NameAsc), Ok(cursor));
        assert!(Cursor::decode(&text, ProductSort::PriceAsc).is_err());
        assert!(Cursor::decode("not-a-cursor", ProductSort::NameAsc).is_err());
        // A shop cursor (sort tag "name") is not an admin cursor.
        let shop = URL_SAFE_NO_PAD.encode(br#"{"s":"name","k":"x","id":1}"#);
        assert!(Cursor::decode(&shop, ProductSort::NameAsc).is_err());
        // An UPDATED cursor without its time is refused.
        let bare = URL_SAFE_NO_PAD.encode(br#"{"s":"admin-updated","id":1}"#);
        assert!(Cursor::decode(&bare, ProductSort::Updated).is_err());
    }
}
