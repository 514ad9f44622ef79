//! Property tests (the project's fuzzing) of what reads outside input: Mahak rows of any
//! shape, phone numbers as people type them, Persian text for display and search. A bounded
//! run (proptest's default 256 cases per property) is part of `cargo test`; failures found
//! are kept as the regression corpus in `input_props.proptest-regressions` beside this file.

use proptest::prelude::*;
use serde_json::{Map, Value};
use sync::mahak::{parse_row, Entity};
use sync::persian::{fold_for_search, normalize_display};
use sync::phone::iran_mobile_e164;

// ---------------------------------------------------------------------------------------------
// Mahak rows

/// Field names Mahak really sends (in both casings), so that generated rows reach the
/// conversions instead of stopping at "no id".
const FIELDS: &[&str] = &[
    "ProductId",
    "productId",
    "ProductDetailId",
    "ProductCategoryId",
    "PersonId",
    "OrderId",
    "OrderDetailId",
    "ReceiptId",
    "ChequeId",
    "TransactionId",
    "StoreId",
    "PictureId",
    "SettingId",
    "RowVersion",
    "rowVersion",
    "Deleted",
    "Name",
    "Price1",
    "Price2",
    "Count1",
    "Balance",
    "Credit",
    "Mobile",
    "OrderDate",
    "Date",
    "Properties",
    "ShippingAddress",
    "TaxPercent",
    "ChargePercent",
    "Barcode",
    "Value",
    "SettingCode",
    "OrderType",
    "Amount",
    "CashAmount",
    "Url",
    "ItemCode",
    "EntityType",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
        (-1_000_000i64..1_000_000).prop_map(|n| Value::String(n.to_string())),
        Just(Value::String("2025-03-21T00:30:00".into())),
        Just(Value::String("[{\"C\":12,\"V\":\"قرمز\"}]".into())),
        Just(Value::String("1e400".into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn row() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..12).prop_map(|pairs| {
        let mut row = Map::new();
        for (key, value) in pairs {
            row.insert(key.to_string(), value);
        }
        Value::Object(row)
    })
}

proptest! {
    /// Any JSON Mahak might send for any entity is either a record or a rejected row with a
    /// reason: never a panic, never a silent drop.
    #[test]
    fn any_row_is_read_or_rejected_with_a_reason(
        entity in prop::sample::select(Entity::ALL.to_vec()),
        raw in prop_oneof![row(), json_value()],
    ) {
        match parse_row(entity, raw) {
            Ok(record) => prop_assert_eq!(record.entity(), entity),
            Err(rejected) => prop_assert!(!rejected.reason.is_empty()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

fn persian_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32('۰' as u32 + d).unwrap(),
            None => c,
        })
        .collect()
}

proptest! {
    /// Every way people write one mobile number gives the same E.164 number.
    #[test]
    fn every_written_form_of_a_mobile_normalizes_alike(national in "9[0-9]{9}") {
        let e164 = format!("+98{national}");
        let spaced = format!("0{} {} {}", &national[..3], &national[3..6], &national[6..]);
        for form in [
            format!("0{national}"),
            national.clone(),
            e164.clone(),
            format!("0098{national}"),
            format!("98{national}"),
            persian_digits(&format!("0{national}")),
            spaced,
            format!("+98 ({}) {}-{}", &national[..3], &national[3..6], &national[6..]),
        ] {
            prop_assert_eq!(iran_mobile_e164(&form), Some(e164.clone()), "{}", form);
        }
    }

    /// Whatever the text, the answer is an Iranian mobile in E.164 or nothing, and it is a
    /// fixed point.
    #[test]
    fn any_text_gives_a_valid_mobile_or_none(text in ".{0,24}|[0-9+ ()۰-۹٠-٩-]{0,20}") {
        if let Some(e164) = iran_mobile_e164(&text) {
            prop_assert!(e164.len() == 13 && e164.starts_with("+989"), "{}", e164);
            prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(iran_mobile_e164(&e164), Some(e164.clone()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Persian text

/// Text mixing the letters and marks the normalizers care about with anything else.
fn persian_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                'ي', 'ى', 'ی', 'ك', 'ک', 'ة', 'أ', 'إ', 'ٱ', 'ؤ', '\u{200C}', '\u{200D}',
                '\u{0640}', '\u{064B}', '\u{0670}', '۵', '٥', '5', ' ', '\t', '\n', 'A', 'a', 'İ',
                'ß', 'چ', 'ا',
            ]),
            any::<char>(),
        ],
        0..32,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    /// Folding for search is idempotent and leaves none of what it folds away, so a stored
    /// text and a query folded the same way compare as intended.
    #[test]
    fn search_folding_is_idempotent_and_complete(text in persian_text()) {
        let folded = fold_for_search(&text);
        prop_assert_eq!(fold_for_search(&folded), folded.clone());
        for gone in ['ي', 'ى', 'ك', '\u{200C}', '\u{200D}', '\u{0640}', '۵', '٥', 'ة'] {
            prop_assert!(!folded.contains(gone), "{:?} in {:?}", gone, folded);
        }
        prop_assert!(!folded.contains("  ") && folded.trim() == folded);
    }

    /// Display normalization is idempotent and changes only letter forms and the ends.
    #[test]
    fn display_normalization_is_idempotent(text in persian_text()) {
        let shown = normalize_display(&text);
        prop_assert_eq!(normalize_display(&shown), shown.clone());
        prop_assert!(!shown.contains(['ي', 'ى', 'ك']));
        prop_assert!(shown.chars().count() <= text.chars().count());
    }
}
