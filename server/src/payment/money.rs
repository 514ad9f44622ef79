//! Amounts at a gateway's edge. The store counts Rial (`i64`); Zarinpal can be told to count
//! Toman (`IRT`, 1 Toman = 10 Rial). Converting is exact or refused: a Rial amount that is not
//! a whole number of Toman would otherwise be rounded, and the customer charged a different
//! amount than the order says.

use super::PaymentError;
pub use crate::config::CurrencyUnit;

impl CurrencyUnit {
    /// The value of Zarinpal's `currency` field. Always sent, never left to Zarinpal's
    /// default, so that the unit cannot change under the store.
    pub fn zarinpal_code(self) -> &'static str {
        match self {
            CurrencyUnit::Rial => "IRR",
            CurrencyUnit::Toman => "IRT",
        }
    }

    /// A Rial amount expressed in this unit.
    pub fn from_rial(self, rial: i64) -> Result<i64, PaymentError> {
        match self {
            CurrencyUnit::Rial => Ok(rial),
            CurrencyUnit::Toman if rial % 10 == 0 => Ok(rial / 10),
            CurrencyUnit::Toman => Err(PaymentError::InvalidRequest(format!(
                "{rial} Rial is not a whole number of Toman"
            ))),
        }
    }

    /// An amount in this unit, in Rial. Used for what the gateway reports (its fee).
    pub fn to_rial(self, amount: i64) -> Result<i64, PaymentError> {
        match self {
            CurrencyUnit::Rial => Ok(amount),
            CurrencyUnit::Toman => amount
                .checked_mul(10)
                .ok_or_else(|| PaymentError::Protocol(format!("{amount} Toman is out of range"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toman_conversion_is_exact_or_refused() {
        assert_eq!(CurrencyUnit::Toman.from_rial(1_250_000).unwrap(), 125_000);
        assert!(matches!(
            CurrencyUnit::Toman.from_rial(1_250_005),
            Err(PaymentError::InvalidRequest(_))
        ));
        assert_eq!(CurrencyUnit::Rial.from_rial(1_250_005).unwrap(), 1_250_005);
        assert_eq!(CurrencyUnit::Toman.to_rial(125).unwrap(), 1_250);
        assert!(CurrencyUnit::Toman.to_rial(i64::MAX / 5).is_err());
        assert_eq!(CurrencyUnit::Toman.zarinpal_code(), "IRT");
        assert_eq!(CurrencyUnit::Rial.zarinpal_code(), "IRR");
    }
}
