//! Tolerant reading of Mahak's JSON.
//!
//! The live service answers in PascalCase while its Swagger (and some proxies) say camelCase;
//! .NET binds names case-insensitively, so both appear in the wild. Numbers arrive as JSON
//! numbers or as strings (`"125000"`, `"12.5"`), booleans as `true`, `"True"`, `1` or `"0"`.
//! This module reads one field of one JSON object under those rules and says precisely what
//! was wrong when it cannot, so a bad row can be reported with a reason instead of failing the
//! whole page. Unknown fields are simply never asked for.

use serde_json::{Map, Value};

/// A field whose value could not be read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct FieldError {
    /// The field's camelCase wire name.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// One JSON object, read with case-insensitive field names.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map }
    }

    /// Reads `value` as an object, or says what it is instead.
    pub fn of(value: &'a Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self { map }),
            other => Err(format!("expected a JSON object, got {}", kind(other))),
        }
    }

    /// The raw value of a field, matching the name without regard to ASCII case. The exact
    /// spelling is tried first (cheap); then the keys are scanned.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// Reads a field as `T`. Absent, `null` and (for non-text types) `""` are `None`.
    pub fn get<T: FromWire>(&self, name: &str) -> Result<Option<T>, FieldError> {
        match self.raw(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::from_wire(v).map_err(|reason| FieldError::new(name, reason)),
        }
    }

    /// Like [`Fields::get`] but never fails: for reading what can be read from a bad row.
    pub fn peek<T: FromWire>(&self, name: &str) -> Option<T> {
        self.get(name).ok().flatten()
    }
}

/// A JSON type's name, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value that can be read leniently from Mahak's JSON. `Ok(None)` means "no value"
/// (an empty string where a number was expected).
pub trait FromWire: Sized {
    fn from_wire(v: &Value) -> Result<Option<Self>, String>;
}

fn quoted(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        format!("{:?}…", s.chars().take(MAX).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

impl FromWire for f64 {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => return Err(format!("expected a number, got {}", kind(other))),
        };
        match n {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(format!("{} is not a finite number", shown(v))),
        }
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        other => other.to_string(),
    }
}

/// Integers: JSON integers, integral doubles (`12.0`) and their string forms.
fn integer(v: &Value) -> Result<Option<i64>, String> {
    let not_integer = || format!("{} is not an integer", shown(v));
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => integral(n.as_f64()).ok_or_else(not_integer).map(Some),
        },
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => Ok(Some(i)),
                Err(_) => integral(t.parse::<f64>().ok())
                    .ok_or_else(not_integer)
                    .map(Some),
            }
        }
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

fn integral(f: Option<f64>) -> Option<i64> {
    // 2^63 is exactly representable; anything at or beyond it does not fit an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    #[allow(clippy::cast_possible_truncation)]
    f.filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < LIMIT)
        .map(|f| f as i64)
}

impl FromWire for i64 {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        integer(v)
    }
}

impl FromWire for i32 {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        integer(v)?
            .map(|i| i32::try_from(i).map_err(|_| format!("{i} does not fit a 32-bit integer")))
            .transpose()
    }
}

impl FromWire for bool {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        let bad = || format!("{} is not a boolean", shown(v));
        match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.abs() < f64::EPSILON => Ok(Some(false)),
                Some(f) if (f - 1.0).abs() < f64::EPSILON => Ok(Some(true)),
                _ => Err(bad()),
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(bad()),
            },
            other => Err(format!("expected a boolean, got {}", kind(other))),
        }
    }
}

impl FromWire for String {
    /// Text; a number or boolean is taken as its JSON text (a barcode sent as a number), and
    /// an array or object as its JSON text (a JSON-text field sent already parsed).
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        Ok(Some(match v {
            Value::String(s) => s.clone(),
            Value::Null => return Ok(None),
            other => other.to_string(),
        }))
    }
}

impl FromWire for Value {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        Ok(Some(v.clone()))
    }
}

/// A wire model read from a JSON object with these rules. Implemented by `wire_model!`.
pub trait WireModel: Sized {
    /// The camelCase wire names of the fields the model reads.
    const FIELDS: &'static [&'static str];

    fn from_fields(fields: &Fields<'_>) -> Result<Self, FieldError>;

    /// Reads the model from a JSON value, which must be an object.
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        let fields = Fields::of(value).map_err(|reason| FieldError::new("(row)", reason))?;
        Self::from_fields(&fields)
    }
}

impl<T: WireModel> FromWire for Vec<T> {
    fn from_wire(v: &Value) -> Result<Option<Self>, String> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_value(item).map_err(|e| format!("[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => Err(format!("expected an array, got {}", kind(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read<T: FromWire>(v: Value) -> Result<Option<T>, String> {
        T::from_wire(&v)
    }

    #[test]
    fn numbers_as_numbers_or_strings() {
        assert_eq!(read::<f64>(json!(12.5)), Ok(Some(12.5)));
        assert_eq!(read::<f64>(json!("12.5")), Ok(Some(12.5)));
        assert_eq!(read::<f64>(json!(" 125000 ")), Ok(Some(125_000.0)));
        assert_eq!(read::<f64>(json!("")), Ok(None));
        assert!(read::<f64>(json!("abc")).is_err());
        assert!(read::<f64>(json!("NaN")).is_err());
        assert!(read::<f64>(json!(true)).is_err());
        assert_eq!(read::<i64>(json!("42")), Ok(Some(42)));
        assert_eq!(read::<i64>(json!(42.0)), Ok(Some(42)));
        assert_eq!(read::<i64>(json!("42.0")), Ok(Some(42)));
        assert!(read::<i64>(json!(42.5)).is_err());
        assert!(read::<i32>(json!(5_000_000_000_i64)).is_err());
    }

    #[test]
    fn booleans_in_all_their_forms() {
        for (v, b) in [
            (json!(true), true),
            (json!("True"), true),
            (json!(1), true),
            (json!("1"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!(0), false),
            (json!("0"), false),
        ] {
            assert_eq!(read::<bool>(v), Ok(Some(b)));
        }
        assert!(read::<bool>(json!(2)).is_err());
        assert!(read::<bool>(json!("yes please")).is_err());
    }

    #[test]
    fn field_names_ignore_case() {
        let v = json!({"RowVersion": 7, "productId": "3", "NAME": "x"});
        let f = Fields::of(&v).expect("object");
        assert_eq!(f.get::<i64>("rowVersion"), Ok(Some(7)));
        assert_eq!(f.get::<i64>("productId"), Ok(Some(3)));
        assert_eq!(f.get::<String>("name"), Ok(Some("x".into())));
        assert_eq!(f.get::<String>("missing"), Ok(None));
        let e = f.get::<bool>("name").expect_err("not a bool");
        assert_eq!(e.field, "name");
    }
}
