//! Opaque keyset cursors for product listings: the sort key of the last row seen and its id,
//! base64url-encoded JSON. A cursor made under one sort order is rejected under another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::products;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::ColumnTrait;
use serde::{Deserialize, Serialize};

use super::ProductSort;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort order the cursor belongs to.
    s: String,
    /// Sort key of the row (name or price), absent for `Newest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Key>,
    /// The row's id, which breaks ties.
    id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Key {
    Int(i64),
    Text(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("the cursor is not one this API issued")]
    Malformed,
    #[error("the cursor belongs to another sort order")]
    WrongSort,
}

fn sort_name(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::Newest => "new",
        ProductSort::NameAsc => "name",
        ProductSort::PriceAsc => "price_asc",
        ProductSort::PriceDesc => "price_desc",
    }
}

impl Cursor {
    pub fn of(sort: ProductSort, product: &products::Model) -> Self {
        let k = match sort {
            ProductSort::Newest => None,
            ProductSort::NameAsc => Some(Key::Text(product.name.clone())),
            ProductSort::PriceAsc | ProductSort::PriceDesc => product.min_price.map(Key::Int),
        };
        Cursor {
            s: sort_name(sort).into(),
            k,
            id: product.id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str, sort: ProductSort) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.s != sort_name(sort) {
            return Err(CursorError::WrongSort);
        }
        let key_fits = matches!(
            (sort, &cursor.k),
            (ProductSort::Newest, None)
                | (ProductSort::NameAsc, Some(Key::Text(_)))
                | (
                    ProductSort::PriceAsc | ProductSort::PriceDesc,
                    Some(Key::Int(_))
                )
        );
        if !key_fits {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }
}

/// Rows strictly after `cursor` in `sort` order: `(key, id) > (k, id)` (or `<` descending).
pub(super) fn after_condition(sort: ProductSort, cursor: &Cursor) -> SimpleExpr {
    let id = products::Column::Id;
    match (sort, &cursor.k) {
        (ProductSort::NameAsc, Some(Key::Text(name))) => {
            let name_col = products::Column::Name;
            name_col
                .gt(name.clone())
                .or(name_col.eq(name.clone()).and(id.gt(cursor.id)))
        }
        (ProductSort::PriceAsc, Some(Key::Int(price))) => {
            let col = products::Column::MinPrice;
            col.gt(*price).or(col.eq(*price).and(id.gt(cursor.id)))
        }
        (ProductSort::PriceDesc, Some(Key::Int(price))) => {
            let col = products::Column::MinPrice;
            col.lt(*price).or(col.eq(*price).and(id.lt(cursor.id)))
        }
        _ => id.lt(cursor.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_other_sorts() {
        let cursor = Cursor {
            s: "name".into(),
            k: Some(Key::Text("چای".into())),
            id: 7,
        };
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, ProductSort::NameAsc), Ok(cursor));
        assert_eq!(
            Cursor::decode(&text, ProductSort::PriceAsc),
            Err(CursorError::WrongSort)
        );
        assert_eq!(
            Cursor::decode("not-a-cursor", ProductSort::NameAsc),
            Err(CursorError::Malformed)
        );
    }
}
