//! Prices, discounts, tax and toll, in whole Rial.
//!
//! Rounding rule: every percentage is applied per line, on integers, rounding half up
//! (`round_half_up(amount * basis_points / 10_000)`); nothing is ever a float once it has
//! entered here. Percentages arrive from Mahak as decimals (`9.0` = 9%) and are converted
//! once to basis points (`900`) at the edge, by [`percent_to_bp`].
//!
//! A cart's coupon discount is computed on the subtotal, then spread over the lines in
//! proportion to their gross amount (largest-remainder method, see [`allocate`]), so that tax
//! and toll are charged on what the customer actually pays for each line.

use std::collections::HashMap;

use entity::{mahak_people, mahak_person_groups, mahak_settings, promotions, variants};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::CheckoutSettings;

/// Mahak setting codes: the default VAT and toll ("charge") percentages.
pub const SETTING_TAX: i32 = 14001;
pub const SETTING_TOLL: i32 = 14000;

/// `amount * bp / 10_000`, rounded half up. `amount` and `bp` are not negative.
pub fn apply_bp(amount: i64, bp: i64) -> i64 {
    let product = i128::from(amount) * i128::from(bp);
    ((product + 5_000) / 10_000) as i64
}

/// A percentage as Mahak sends it (`9.0`, `0.5`) in basis points, when it is a sane value
/// (0..=100% with at most two decimals' precision kept).
pub fn percent_to_bp(percent: f64) -> Option<i64> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return None;
    }
    Some((percent * 100.0).round() as i64)
}

/// What one line is priced from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub unit_price: i64,
    pub quantity: i64,
    pub tax_bp: i64,
    pub toll_bp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricedLine {
    pub unit_price: i64,
    pub quantity: i64,
    /// `unit_price * quantity`.
    pub gross: i64,
    pub discount: i64,
    pub tax: i64,
    pub toll: i64,
    /// `gross - discount + tax + toll`.
    pub total: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub toll: i64,
    pub shipping: i64,
    pub grand_total: i64,
}

/// Prices the lines with an order-level `discount` (already capped to the subtotal) and the
/// shipping rule of `settings`. An empty cart costs nothing, shipping included.
pub fn price_lines(
    lines: &[LineInput],
    discount: i64,
    settings: &CheckoutSettings,
) -> (Vec<PricedLine>, Totals) {
    let gross: Vec<i64> = lines.iter().map(|l| l.unit_price * l.quantity).collect();
    let subtotal: i64 = gross.iter().sum();
    let discount = discount.clamp(0, subtotal);
    let shares = allocate(discount, &gross);
    let mut priced = Vec::with_capacity(lines.len());
    let mut totals = Totals {
        subtotal,
        discount,
        ..Totals::default()
    };
    for ((line, gross), share) in lines.iter().zip(&gross).zip(&shares) {
        let taxable = gross - share;
        let tax = apply_bp(taxable, line.tax_bp);
        let toll = apply_bp(taxable, line.toll_bp);
        totals.tax += tax;
        totals.toll += toll;
        priced.push(PricedLine {
            unit_price: line.unit_price,
            quantity: line.quantity,
            gross: *gross,
            discount: *share,
            tax,
            toll,
            total: taxable + tax + toll,
        });
    }
    let after_discount = subtotal - discount;
    totals.shipping = if lines.is_empty()
        || settings
            .free_shipping_over_rial
            .is_some_and(|free| after_discount >= free)
    {
        0
    } else {
        settings.shipping_flat_rial
    };
    totals.grand_total = after_discount + totals.tax + totals.toll + totals.shipping;
    (priced, totals)
}

/// Spreads `amount` over `weights` proportionally by the largest-remainder method: each
/// share is rounded down, then the Rial left over go one each to the shares with the largest
/// fractions (ties: the earlier line). So no share exceeds its weight when `amount` is at most
/// the sum of the weights, and the shares always add up to `amount`.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i64 = weights.iter().sum();
    if total <= 0 || amount <= 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(i64, i128)> = weights
        .iter()
        .map(|w| {
            let scaled = i128::from(amount) * i128::from(*w);
            (
                (scaled / i128::from(total)) as i64,
                scaled % i128::from(total),
            )
        })
        .collect();
    let mut shares: Vec<i64> = exact.iter().map(|(share, _)| *share).collect();
    let rest = (amount - shares.iter().sum::<i64>()) as usize;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    for index in order.into_iter().take(rest) {
        shares[index] += 1;
    }
    shares
}

/// The discount a promotion gives on `subtotal`: percent (basis points, rounded half up) or
/// fixed Rial, capped by the promotion's maximum and by the subtotal.
pub fn promotion_discount(promotion: &promotions::Model, subtotal: i64) -> i64 {
    let raw = match promotion.kind.as_str() {
        "percent" => apply_bp(subtotal, promotion.value.clamp(0, 10_000)),
        "fixed" => promotion.value.max(0),
        _ => 0,
    };
    let capped = match promotion.max_discount {
        Some(max) => raw.min(max.max(0)),
        None => raw,
    };
    capped.min(subtotal).max(0)
}

/// The price level a customer buys at: their Mahak person's own level, else their person
/// group's, else none (each variant's default level applies).
pub async fn customer_price_level<C: ConnectionTrait>(
    db: &C,
    mahak_person_id: Option<i64>,
) -> Result<Option<i16>, DbErr> {
    let Some(person_id) = mahak_person_id else {
        return Ok(None);
    };
    let Some(person) = mahak_people::Entity::find()
        .filter(mahak_people::Column::MahakId.eq(person_id))
        .filter(mahak_people::Column::DeletedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if let Some(level) = valid_level(person.sell_price_level) {
        return Ok(Some(level));
    }
    let Some(group_id) = person.person_group_mahak_id else {
        return Ok(None);
    };
    let group = mahak_person_groups::Entity::find()
        .filter(mahak_person_groups::Column::MahakId.eq(group_id))
        .filter(mahak_person_groups::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    Ok(group.and_then(|g| valid_level(g.sell_price_level)))
}

fn valid_level(level: Option<i32>) -> Option<i16> {
    level.filter(|l| (1..=10).contains(l)).map(|l| l as i16)
}

/// The unit price of `variant` for a customer at `level`: the price at that level when the
/// variant has one, else the variant's default-level price. `None`: not for sale.
pub fn unit_price(variant: &variants::Model, level: Option<i16>) -> Option<i64> {
    level
        .and_then(|l| sync::mirror::price::price_at_level(variant, l))
        .or_else(|| sync::mirror::price::shop_price(variant))
}

/// Mahak's default tax and toll, in basis points (0 when unset or unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultRates {
    pub tax_bp: i64,
    pub toll_bp: i64,
}

pub async fn default_rates<C: ConnectionTrait>(db: &C) -> Result<DefaultRates, DbErr> {
    let rows = mahak_settings::Entity::find()
        .filter(mahak_settings::Column::SettingCode.is_in([SETTING_TAX, SETTING_TOLL]))
        .filter(mahak_settings::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    let by_code: HashMap<i32, i64> = rows
        .into_iter()
        .filter_map(|row| {
            let bp = row
                .value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(percent_to_bp)?;
            Some((row.setting_code, bp))
        })
        .collect();
    Ok(DefaultRates {
        tax_bp: by_code.get(&SETTING_TAX).copied().unwrap_or(0),
        toll_bp: by_code.get(&SETTING_TOLL).copied().unwrap_or(0),
    })
}

/// A product's rate in basis points when it sets one (> 0), else Mahak's default.
pub fn rate_or_default(product_percent: f64, default_bp: i64) -> i64 {
    match percent_to_bp(product_percent) {
        Some(bp) if bp > 0 => bp,
        _ => default_bp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit_price: i64, quantity: i64, tax_bp: i64, toll_bp: i64) -> LineInput {
        LineInput {
            unit_price,
            quantity,
            tax_bp,
            toll_bp,
        }
    }

    #[test]
    fn rounding_is_half_up_per_line() {
        assert_eq!(apply_bp(5, 1_000), 1); // 0.5 -> 1
        assert_eq!(apply_bp(4, 1_000), 0); // 0.4 -> 0
        assert_eq!(apply_bp(15, 1_000), 2); // 1.5 -> 2
        assert_eq!(apply_bp(123_457, 900), 11_111); // 11111.13
        assert_eq!(apply_bp(i64::MAX / 2, 10_000), i64::MAX / 2);
    }

    #[test]
    fn percent_conversion() {
        assert_eq!(percent_to_bp(9.0), Some(900));
        assert_eq!(percent_to_bp(0.5), Some(50));
        assert_eq!(percent_to_bp(-1.0), None);
        assert_eq!(percent_to_bp(f64::NAN), None);
        assert_eq!(rate_or_default(0.0, 1_000), 1_000);
        assert_eq!(rate_or_default(9.0, 1_000), 900);
    }

    #[test]
    fn totals_are_exact() {
        let settings = CheckoutSettings {
            shipping_flat_rial: 300_000,
            free_shipping_over_rial: Some(10_000_000),
            max_line_quantity: 10,
            ..CheckoutSettings::default()
        };
        // 2 x 123_455 at 9% tax, 1% toll; 1 x 99_999 at 10% tax, 0 toll.
        let lines = [line(123_455, 2, 900, 100), line(99_999, 1, 1_000, 0)];
        let (priced, totals) = price_lines(&lines, 0, &settings);
        assert_eq!(priced[0].gross, 246_910);
        assert_eq!(priced[0].tax, 22_222); // 22221.9
        assert_eq!(priced[0].toll, 2_469); // 2469.1
        assert_eq!(priced[1].tax, 10_000); // 9999.9
        assert_eq!(totals.subtotal, 346_909);
        assert_eq!(totals.tax, 32_222);
        assert_eq!(totals.toll, 2_469);
        assert_eq!(totals.shipping, 300_000);
        assert_eq!(totals.grand_total, 346_909 + 32_222 + 2_469 + 300_000);
    }

    #[test]
    fn discount_is_spread_and_tax_follows_it() {
        let settings = CheckoutSettings::default();
        let lines = [line(100, 1, 1_000, 0), line(200, 1, 1_000, 0)];
        let (priced, totals) = price_lines(&lines, 100, &settings);
        assert_eq!(priced[0].discount, 33);
        assert_eq!(priced[1].discount, 67); // 66 + the 1 Rial left over
        assert_eq!(priced[0].tax, 7); // 6.7
        assert_eq!(priced[1].tax, 13); // 13.3
        assert_eq!(totals.discount, 100);
        assert_eq!(
            totals.grand_total,
            300 - 100 + 20 + settings.shipping_flat_rial
        );
        // A discount larger than the subtotal is capped.
        let (_, totals) = price_lines(&lines, 1_000, &settings);
        assert_eq!(totals.discount, 300);
    }

    #[test]
    fn free_shipping_threshold_uses_the_discounted_subtotal() {
        let settings = CheckoutSettings {
            shipping_flat_rial: 50,
            free_shipping_over_rial: Some(1_000),
            max_line_quantity: 10,
            ..CheckoutSettings::default()
        };
        let lines = [line(1_000, 1, 0, 0)];
        assert_eq!(price_lines(&lines, 0, &settings).1.shipping, 0);
        assert_eq!(price_lines(&lines, 1, &settings).1.shipping, 50);
        assert_eq!(price_lines(&[], 0, &settings).1.grand_total, 0);
    }

    #[test]
    fn allocation_sums_to_the_amount() {
        for (amount, weights) in [
            (2, vec![1, 1, 1]),
            (7, vec![3, 3, 1]),
            (300, vec![3, 333, 7, 1]),
            (0, vec![5, 5]),
        ] {
            let shares = allocate(amount, &weights);
            assert_eq!(shares.iter().sum::<i64>(), amount);
            for (share, weight) in shares.iter().zip(&weights) {
                assert!(share <= weight);
            }
        }
    }

    fn promotion(kind: &str, value: i64, max: Option<i64>) -> promotions::Model {
        let now = chrono::Utc::now();
        promotions::Model {
            id: uuid::Uuid::nil(),
            code: "X".into(),
            description: String::new(),
            kind: kind.into(),
            value,
            min_subtotal: 0,
            max_discount: max,
            usage_limit: None,
            per_customer_limit: None,
            used_count: 0,
            starts_at: None,
            ends_at: None,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn promotion_discounts() {
        assert_eq!(
            promotion_discount(&promotion("percent", 1_000, None), 12_345),
            1_235
        );
        assert_eq!(
            promotion_discount(&promotion("percent", 5_000, Some(100)), 12_345),
            100
        );
        assert_eq!(
            promotion_discount(&promotion("fixed", 50_000, None), 12_345),
            12_345
        );
        assert_eq!(
            promotion_discount(&promotion("fixed", 500, None), 12_345),
            500
        );
    }

    mod props {
        //! The money arithmetic under random carts (the project's fuzzing of pricing; failures
        //! are kept in `pricing.proptest-regressions` beside this file).
        use super::*;
        use proptest::prelude::*;

        fn lines() -> impl Strategy<Value = Vec<LineInput>> {
            prop::collection::vec(
                (
                    1i64..=10_000_000_000,
                    1i64..=1_000,
                    0i64..=10_000,
                    0i64..=10_000,
                )
                    .prop_map(|(p, q, t, c)| line(p, q, t, c)),
                0..12,
            )
        }

        proptest! {
            #[test]
            fn allocation_adds_up_and_never_exceeds_a_weight(
                weights in prop::collection::vec(0i64..=1_000_000_000_000, 0..16),
                fraction in 0.0f64..=1.0,
            ) {
                let total: i64 = weights.iter().sum();
                let amount = (total as f64 * fraction) as i64;
                let shares = allocate(amount, &weights);
                prop_assert_eq!(shares.len(), weights.len());
                if total > 0 {
                    prop_assert_eq!(shares.iter().sum::<i64>(), amount.max(0));
                }
                for (share, weight) in shares.iter().zip(&weights) {
                    prop_assert!(*share >= 0 && share <= weight, "{} of {}", share, weight);
                }
            }

            #[test]
            fn a_priced_cart_adds_up_to_its_grand_total(
                lines in lines(),
                discount in -1_000i64..=100_000_000_000,
                flat in 0i64..=2_000_000,
            ) {
                let settings = CheckoutSettings {
                    shipping_flat_rial: flat,
                    free_shipping_over_rial: Some(50_000_000),
                    ..CheckoutSettings::default()
                };
                let (priced, totals) = price_lines(&lines, discount, &settings);
                prop_assert_eq!(priced.len(), lines.len());
                prop_assert!(totals.discount >= 0 && totals.discount <= totals.subtotal);
                let line_totals: i64 = priced.iter().map(|l| l.total).sum();
                prop_assert_eq!(line_totals + totals.shipping, totals.grand_total);
                prop_assert_eq!(priced.iter().map(|l| l.discount).sum::<i64>(), totals.discount);
                prop_assert_eq!(priced.iter().map(|l| l.tax).sum::<i64>(), totals.tax);
                for (l, input) in priced.iter().zip(&lines) {
                    prop_assert!(l.discount <= l.gross);
                    prop_assert_eq!(l.tax, apply_bp(l.gross - l.discount, input.tax_bp));
                    prop_assert!(l.total >= 0);
                }
            }
        }
    }
}
