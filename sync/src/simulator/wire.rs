//! Mahak's wire conventions on the server side: the answer envelope, and request bodies read
//! the way the live service's ASP.NET binder reads them (keys in any casing, numbers that may
//! arrive as strings). Bad input becomes an envelope error, never a panic.

use std::collections::HashMap;

use axum::body::Body as HttpBody;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// `Code` of a successful answer.
pub(crate) const CODE_OK: i32 = 200;
/// `Code` of an answer to a request that could not be read.
pub(crate) const CODE_BAD_REQUEST: i32 = 400;
/// `Code` of an answer to a request without a valid token, or with wrong credentials.
pub(crate) const CODE_UNAUTHORIZED: i32 = 401;

/// `{"Result", "Code", "Message", "Data"}`, PascalCase as the live service answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Envelope<T> {
    pub(crate) result: bool,
    pub(crate) code: i32,
    pub(crate) message: String,
    pub(crate) data: Option<T>,
}

impl Envelope<()> {
    pub(crate) fn error(code: i32, message: impl Into<String>) -> Self {
        Envelope {
            result: false,
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A JSON answer with the given HTTP status.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(HttpBody::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An envelope error answered with HTTP 200, as Mahak answers business errors.
pub(crate) fn business_error(code: i32, message: impl Into<String>) -> Response {
    json_response(StatusCode::OK, &Envelope::error(code, message))
}

/// A request body: a JSON object whose keys are looked up ignoring case.
#[derive(Debug, Default)]
pub(crate) struct Body {
    fields: HashMap<String, Value>,
}

impl Body {
    /// Parses a body; an empty body reads as `{}`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Body, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body {
                fields: map
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
            }),
            Ok(_) => Err("the request body must be a JSON object".into()),
            Err(error) => Err(format!("the request body is not valid JSON: {error}")),
        }
    }

    /// The value of `key` (any casing); `null` reads as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .get(&key.to_ascii_lowercase())
            .filter(|v| !v.is_null())
    }

    /// An integer field, which may arrive as a number or a numeric string.
    pub(crate) fn i64(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => lenient_i64(value)
                .map(Some)
                .ok_or_else(|| format!("`{key}` must be an integer, got {value}")),
        }
    }

    /// A text field; numbers are accepted and read as their decimal text.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(lenient_text)
    }
}

/// An integer from a JSON number (integral) or a string holding one.
pub(crate) fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| is_integral_i64(*f)).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| is_integral_i64(*f))
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

fn is_integral_i64(f: f64) -> bool {
    f.is_finite() && f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64
}

/// A finite number from a JSON number or a string holding one.
pub(crate) fn lenient_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A boolean from `true`/`false`, `"true"`/`"false"` (any case) or `0`/`1`.
pub(crate) fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// Text from a JSON string, or a number or boolean read as text.
pub(crate) fn lenient_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_ignore_case_and_numbers_may_be_strings() {
        let body = Body::parse(br#"{"UserName":"demo","fromProductVersion":"12","pageSize":50.0}"#)
            .unwrap();
        assert_eq!(body.text("userName").as_deref(), Some("demo"));
        assert_eq!(body.i64("FROMPRODUCTVERSION"), Ok(Some(12)));
        assert_eq!(body.i64("pagesize"), Ok(Some(50)));
        assert_eq!(body.i64("fromPersonVersion"), Ok(None));
        assert!(Body::parse(br#"{"pageSize":"ten"}"#)
            .unwrap()
            .i64("pageSize")
            .is_err());
        assert!(Body::parse(b"[1]").is_err());
        assert!(Body::parse(b"{").is_err());
        assert!(Body::parse(b"  ").is_ok());
    }

    #[test]
    fn lenient_values() {
        assert_eq!(lenient_i64(&json!(1.5)), None);
        assert_eq!(lenient_i64(&json!(" 7 ")), Some(7));
        assert_eq!(lenient_f64(&json!("125000")), Some(125000.0));
        assert_eq!(lenient_f64(&json!("abc")), None);
        assert_eq!(lenient_bool(&json!("True")), Some(true));
        assert_eq!(lenient_bool(&json!(2)), None);
    }
}
