//! Cart, pricing, checkout and orders: the store's business rules as plain functions over the
//! database, callable without HTTP. The GraphQL resolvers in `graphql::shop::{cart, orders}`
//! only parse input, find the caller and call these.
//!
//! Money is always an `i64` number of Rial.

pub mod cart;
pub mod checkout;
pub mod fulfilment;
pub mod order_search;
pub mod orders;
pub mod payments;
pub mod pricing;

use serde::Deserialize;
use sync::settings::ConfigError;

/// `checkout.*`: shipping charges and cart limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckoutSettings {
    /// Flat shipping charge per order, in Rial.
    pub shipping_flat_rial: i64,
    /// Orders whose subtotal after discount reaches this many Rial ship free; unset: never.
    pub free_shipping_over_rial: Option<i64>,
    /// Most units of one variant in one cart line.
    pub max_line_quantity: i32,
    /// An order not paid this many seconds after checkout is cancelled and its stock
    /// released.
    pub payment_timeout_secs: u64,
    /// How often the server looks for such orders, in seconds.
    pub expiry_sweep_secs: u64,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        CheckoutSettings {
            shipping_flat_rial: 500_000,
            free_shipping_over_rial: Some(50_000_000),
            max_line_quantity: 100,
            payment_timeout_secs: 1800,
            expiry_sweep_secs: 60,
        }
    }
}

impl CheckoutSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shipping_flat_rial < 0 {
            return Err(ConfigError::invalid(
                "checkout.shipping_flat_rial",
                "must not be negative",
            ));
        }
        if self.free_shipping_over_rial.is_some_and(|v| v < 0) {
            return Err(ConfigError::invalid(
                "checkout.free_shipping_over_rial",
                "must not be negative",
            ));
        }
        for (key, value) in [
            ("checkout.payment_timeout_secs", self.payment_timeout_secs),
            ("checkout.expiry_sweep_secs", self.expiry_sweep_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.max_line_quantity < 1 {
            return Err(ConfigError::invalid(
                "checkout.max_line_quantity",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
