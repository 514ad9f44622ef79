//! Conversions at the edge: the few places where Mahak's wire values become the store's types.
//!
//! Mahak sends money as JSON doubles in Rial, times as Tehran wall-clock time without an
//! offset, structured values (`properties`, `shippingAddress`) as JSON *strings*, and Persian
//! text that may use Arabic letter forms. The store keeps money as `i64` Rial, times in UTC,
//! structured values as JSON, and display text normalized. Every conversion happens here,
//! once, and a value that cannot be converted exactly is an error naming the field, so that
//! the row is dead-lettered instead of silently rounded.

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeZone,
    Utc,
};
use chrono_tz::Asia::Tehran;
use serde_json::Value;

/// Largest magnitude of a Rial amount accepted from a double: 2^53. Beyond it a double no
/// longer represents every integer, so the value Mahak meant cannot be known.
pub const MAX_SAFE_RIAL: i64 = 1 << 53;

/// Why a field of a Mahak row could not be converted. `field` is the wire name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("`{field}`: {value} is not a whole number of Rial")]
    NotIntegral { field: &'static str, value: f64 },
    #[error("`{field}`: {value} is not a finite number")]
    NotFinite { field: &'static str, value: f64 },
    #[error("`{field}`: {value} is outside ±2^53 Rial")]
    OutOfRange { field: &'static str, value: f64 },
    #[error("`{field}`: {value:?} is not a date-time (expected e.g. 2025-03-01T14:30:00)")]
    BadTime { field: &'static str, value: String },
    #[error("`{field}`: not valid JSON text: {reason}")]
    BadJsonText { field: &'static str, reason: String },
    #[error("`{field}` is missing")]
    Missing { field: &'static str },
    #[error("`{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Converts a Rial amount sent as a double to `i64`. Exact or an error: a fractional value
/// (1.5), NaN, an infinity or a value beyond ±2^53 is rejected; `-0.0` is `0`.
pub fn rial(field: &'static str, value: f64) -> Result<i64, ConvertError> {
    if !value.is_finite() {
        return Err(ConvertError::NotFinite { field, value });
    }
    if value.fract() != 0.0 {
        return Err(ConvertError::NotIntegral { field, value });
    }
    // Exact: every integer of magnitude <= 2^53 is a double, and the bound is one.
    if value.abs() > MAX_SAFE_RIAL as f64 {
        return Err(ConvertError::OutOfRange { field, value });
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(value as i64)
}

/// [`rial`] for an optional field: absent stays absent.
pub fn rial_opt(field: &'static str, value: Option<f64>) -> Result<Option<i64>, ConvertError> {
    value.map(|v| rial(field, v)).transpose()
}

/// The inverse of [`rial`] for pushes: every `i64` within ±2^53 is exactly a double.
pub fn rial_to_wire(field: &'static str, amount: i64) -> Result<f64, ConvertError> {
    if amount.unsigned_abs() > MAX_SAFE_RIAL as u64 {
        #[allow(clippy::cast_precision_loss)]
        return Err(ConvertError::OutOfRange {
            field,
            value: amount as f64,
        });
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(amount as f64)
}

/// Formats accepted for a Tehran local time, most common first. Mahak writes
/// `2025-03-01T14:30:00`, sometimes with fractional seconds; a space instead of `T` and a
/// bare date are tolerated.
const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];

/// Parses a Mahak time (Tehran wall-clock time, no offset) to UTC.
///
/// - Empty text and .NET's `default(DateTime)` (`0001-01-01T00:00:00`, what a .NET service
///   sends for "no date") are `None`.
/// - A value that does carry an offset (`...+03:30`, `...Z`) is taken at its word.
/// - Iran observed daylight saving time until 2022; `chrono-tz` knows the history. Around a
///   transition the local time may not name exactly one instant, and is resolved
///   deterministically:
///   - **ambiguous** (autumn, the hour 23:00–24:00 happened twice): the *earlier* instant,
///     i.e. the reading under daylight time (+04:30);
///   - **nonexistent** (spring, the clock jumped from 00:00 to 01:00): read with the offset
///     in force just before the jump (+03:30), as if the clock had not been moved yet; the
///     instant lands one hour later on the new wall clock (00:30 reads as 01:30 +04:30).
pub fn tehran_to_utc(
    field: &'static str,
    text: &str,
) -> Result<Option<DateTime<Utc>>, ConvertError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || ConvertError::BadTime {
        field,
        value: text.to_string(),
    };
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(with_offset.with_timezone(&Utc)));
    }
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(bad)?;
    if is_dotnet_min_value(naive) {
        return Ok(None);
    }
    Ok(Some(tehran_local_to_utc(naive)))
}

/// Tehran wall-clock time to UTC, resolving ambiguous and nonexistent times as documented on
/// [`tehran_to_utc`].
pub fn tehran_local_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    match Tehran.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _later) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: take the offset in force before it. Iran's gaps are one hour, so two
            // hours back is safely before the jump; its offset is what the clock still read.
            let before = local - Duration::hours(2);
            let offset = match Tehran.from_local_datetime(&before) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    t.offset().fix().local_minus_utc()
                }
                // Not reachable for Asia/Tehran; fall back to standard time.
                LocalResult::None => 3 * 3600 + 1800,
            };
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(offset))))
        }
    }
}

/// UTC to Tehran wall-clock time, for pushes.
pub fn utc_to_tehran_local(instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&Tehran).naive_local()
}

/// UTC to the text Mahak expects (`2025-03-01T14:30:00`, fractional seconds only when set).
pub fn utc_to_tehran_text(instant: DateTime<Utc>) -> String {
    utc_to_tehran_local(instant)
        .format("%Y-%m-%dT%H:%M:%S%.f")
        .to_string()
}

/// `0001-01-01T00:00:00`: .NET's `DateTime.MinValue`, what a .NET service sends for an unset
/// date.
fn is_dotnet_min_value(t: NaiveDateTime) -> bool {
    NaiveDate::from_ymd_opt(1, 1, 1).is_some_and(|d| t.date() == d) && t.time() == NaiveTime::MIN
}

/// Parses a field that Mahak sends as JSON *text* (`properties`, `shippingAddress`).
/// Empty or absent text is `None`. Text that is not JSON is an error: the caller decides
/// whether that rejects the row or is kept as a plain string (see [`json_text_or_string`]).
pub fn json_text(field: &'static str, text: Option<&str>) -> Result<Option<Value>, ConvertError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => serde_json::from_str(t)
            .map(Some)
            .map_err(|e| ConvertError::BadJsonText {
                field,
                reason: e.to_string(),
            }),
    }
}

/// Like [`json_text`], but text that is not JSON is kept as a JSON string. Used for
/// free-form fields (`shippingAddress`) that some clients fill with plain text: losing the
/// row for that would be worse than keeping the text.
pub fn json_text_or_string(text: Option<&str>) -> Option<Value> {
    match text.map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string()))),
    }
}

/// Display text (names, titles): Persian letter forms normalized, trimmed; empty is `None`.
/// The raw value stays in the row's raw JSON.
pub fn display(text: Option<&str>) -> Option<String> {
    text.map(crate::persian::normalize_display)
        .filter(|s| !s.is_empty())
}

/// Plain text (codes, phone numbers, barcodes): trimmed; empty is `None`.
pub fn plain(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("test literal")
    }

    #[test]
    fn money_is_exact_or_rejected() {
        assert_eq!(rial("price1", 125_000.0), Ok(125_000));
        assert_eq!(rial("price1", -0.0), Ok(0));
        assert_eq!(rial("price1", -42.0), Ok(-42));
        assert_eq!(rial("price1", 9_007_199_254_740_992.0), Ok(MAX_SAFE_RIAL));
        assert!(matches!(
            rial("price1", 1.5),
            Err(ConvertError::NotIntegral {
                field: "price1",
                ..
            })
        ));
        assert!(matches!(
            rial("price1", f64::NAN),
            Err(ConvertError::NotFinite { .. })
        ));
        assert!(matches!(
            rial("price1", f64::INFINITY),
            Err(ConvertError::NotFinite { .. })
        ));
        assert!(matches!(
            rial("price1", 18_014_398_509_481_984.0),
            Err(ConvertError::OutOfRange { .. })
        ));
        assert!(rial_to_wire("amount", MAX_SAFE_RIAL + 1).is_err());
        assert_eq!(rial_to_wire("amount", -7), Ok(-7.0));
    }

    #[test]
    fn tehran_times_become_utc() {
        // Standard time, +03:30 (no DST since 2022).
        assert_eq!(
            tehran_to_utc("orderDate", "2025-03-01T14:30:00"),
            Ok(Some(utc("2025-03-01T11:00:00Z")))
        );
        assert_eq!(
            tehran_to_utc("orderDate", "2025-03-01T14:30:00.250"),
            Ok(Some(utc("2025-03-01T11:00:00.250Z")))
        );
        assert_eq!(
            tehran_to_utc("orderDate", "2025-03-01 14:30:00"),
            Ok(Some(utc("2025-03-01T11:00:00Z")))
        );
        // Summer 2020: daylight time, +04:30.
        assert_eq!(
            tehran_to_utc("orderDate", "2020-07-01T12:00:00"),
            Ok(Some(utc("2020-07-01T07:30:00Z")))
        );
        assert_eq!(
            tehran_to_utc("orderDate", "2025-03-01T14:30:00+03:30"),
            Ok(Some(utc("2025-03-01T11:00:00Z")))
        );
        assert_eq!(tehran_to_utc("orderDate", ""), Ok(None));
        assert_eq!(tehran_to_utc("orderDate", "0001-01-01T00:00:00"), Ok(None));
        assert!(matches!(
            tehran_to_utc("orderDate", "1403/12/11"),
            Err(ConvertError::BadTime {
                field: "orderDate",
                ..
            })
        ));
    }

    #[test]
    fn dst_edges_resolve_deterministically() {
        // 2021-09-21 24:00 +04:30 the clock went back to 23:00: 23:30 happened twice.
        // The earlier instant (daylight time) is taken.
        assert_eq!(
            tehran_to_utc("date", "2021-09-21T23:30:00"),
            Ok(Some(utc("2021-09-21T19:00:00Z")))
        );
        // 2021-03-22 00:00 +03:30 the clock jumped to 01:00: 00:30 never happened. Read with
        // the offset before the jump (+03:30).
        assert_eq!(
            tehran_to_utc("date", "2021-03-22T00:30:00"),
            Ok(Some(utc("2021-03-21T21:00:00Z")))
        );
        assert_eq!(
            utc_to_tehran_text(utc("2021-03-21T21:00:00Z")),
            "2021-03-22T01:30:00"
        );
    }

    #[test]
    fn utc_goes_back_to_tehran_text() {
        assert_eq!(
            utc_to_tehran_text(utc("2025-03-01T11:00:00Z")),
            "2025-03-01T14:30:00"
        );
        assert_eq!(
            utc_to_tehran_text(utc("2025-03-01T11:00:00.5Z")),
            "2025-03-01T14:30:00.500"
        );
    }

    #[test]
    fn json_text_fields() {
        assert_eq!(
            json_text("properties", Some(r#"[{"C":12,"V":"Red"}]"#)),
            Ok(Some(serde_json::json!([{"C":12,"V":"Red"}])))
        );
        assert_eq!(json_text("properties", Some("  ")), Ok(None));
        assert!(json_text("properties", Some("[{")).is_err());
        assert_eq!(
            json_text_or_string(Some("Tehran, Azadi St.")),
            Some(Value::String("Tehran, Azadi St.".into()))
        );
    }

    #[test]
    fn display_text_is_normalized() {
        assert_eq!(display(Some(" كيف ")), Some("کیف".to_string()));
        assert_eq!(display(Some("  ")), None);
        assert_eq!(plain(Some(" 0912 ")), Some("0912".to_string()));
    }
}
