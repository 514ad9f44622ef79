//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An amount of money in Iranian Rial: an integer, never a fraction. GraphQL's `Int` is
/// 32-bit and too small for Rial amounts, so this scalar carries a 64-bit integer as a JSON
/// number (always within ±2^53, exact in JavaScript). Toman = Rial / 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rial(pub i64);

/// Largest amount accepted, 2^53 - 1: beyond it JavaScript clients lose precision.
const MAX_SAFE: i64 = (1 << 53) - 1;

#[Scalar(name = "Rial")]
impl ScalarType for Rial {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_i64() {
                Some(v) if (-MAX_SAFE..=MAX_SAFE).contains(&v) => Ok(Rial(v)),
                _ => Err(InputValueError::custom(
                    "a Rial amount must be a whole number within ±2^53",
                )),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}
