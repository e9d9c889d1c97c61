//! Order totals in exact integer arithmetic. The rounding rule (documented in
//! the README): percentages and tax round half up to the minor unit; fixed
//! discounts never exceed what they apply to.

use serde::Serialize;

/// The highest price a variant may have, in minor units (10^12: ten
/// billion tenge). With at most 999 units a line and 100 lines a cart, no
/// subtotal, shipping or tax computed from bounded inputs comes near
/// `i64::MAX`, so a customer never meets a total that cannot be priced.
pub const MAX_PRICE: i64 = 1_000_000_000_000;

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    Percent(i64),
    Fixed(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxRule {
    /// Basis points: 1200 is 12 %.
    pub rate_bps: i64,
    /// Prices include the tax (the total is unchanged; `tax` is its share).
    pub inclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippingRate {
    pub price: i64,
    /// Free when what is paid for goods reaches this.
    pub free_above: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub unit_price: i64,
    pub quantity: i64,
    /// Whether the coupon applies to this line (its category).
    pub discountable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct Overflow;

/// `n / d` rounded half up, for non-negative `n` and positive `d`.
pub fn div_round_half_up(n: i128, d: i128) -> i128 {
    (2 * n + d) / (2 * d)
}

fn narrow(v: i128) -> Result<i64, Overflow> {
    i64::try_from(v).map_err(|_| Overflow)
}

pub fn line_total(unit_price: i64, quantity: i64) -> Result<i64, Overflow> {
    narrow(i128::from(unit_price) * i128::from(quantity))
}

pub fn totals(
    lines: &[Line],
    discount: Option<Discount>,
    shipping: Option<ShippingRate>,
    tax: TaxRule,
) -> Result<Totals, Overflow> {
    let mut subtotal: i128 = 0;
    let mut eligible: i128 = 0;
    for l in lines {
        let t = i128::from(l.unit_price) * i128::from(l.quantity);
        subtotal += t;
        if l.discountable {
            eligible += t;
        }
    }
    let discount: i128 = match discount {
        None => 0,
        Some(Discount::Percent(p)) => {
            div_round_half_up(eligible * i128::from(p.clamp(0, 100)), 100)
        }
        Some(Discount::Fixed(v)) => i128::from(v.max(0)).min(eligible),
    };
    let goods = subtotal - discount;
    let shipping: i128 = match shipping {
        None => 0,
        Some(s) if s.free_above.is_some_and(|f| goods >= i128::from(f)) => 0,
        Some(s) => i128::from(s.price),
    };
    let base = goods + shipping;
    let bps = i128::from(tax.rate_bps.max(0));
    let (tax, total) = if bps == 0 {
        (0, base)
    } else if tax.inclusive {
        (div_round_half_up(base * bps, 10_000 + bps), base)
    } else {
        let t = div_round_half_up(base * bps, 10_000);
        (t, base + t)
    };
    Ok(Totals {
        subtotal: narrow(subtotal)?,
        discount: narrow(discount)?,
        shipping: narrow(shipping)?,
        tax: narrow(tax)?,
        total: narrow(total)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TAX: TaxRule = TaxRule {
        rate_bps: 0,
        inclusive: true,
    };

    fn line(unit_price: i64, quantity: i64) -> Line {
        Line {
            unit_price,
            quantity,
            discountable: true,
        }
    }

    #[test]
    fn halves_round_up_and_the_rest_to_nearest() {
        assert_eq!(div_round_half_up(5, 10), 1);
        assert_eq!(div_round_half_up(4, 10), 0);
        assert_eq!(div_round_half_up(15, 10), 2);
        assert_eq!(div_round_half_up(14, 10), 1);
        assert_eq!(div_round_half_up(0, 7), 0);
    }

    #[test]
    fn percent_discount_rounds_half_up_on_eligible_lines_only() {
        let lines = [
            line(333, 1),
            Line {
                unit_price: 1000,
                quantity: 1,
                discountable: false,
            },
        ];
        // 15 % of 333 = 49.95 -> 50
        let t = totals(&lines, Some(Discount::Percent(15)), None, NO_TAX).unwrap();
        assert_eq!(t.subtotal, 1333);
        assert_eq!(t.discount, 50);
        assert_eq!(t.total, 1283);
    }

    #[test]
    fn fixed_discount_never_exceeds_what_it_applies_to() {
        let t = totals(&[line(500, 2)], Some(Discount::Fixed(5000)), None, NO_TAX).unwrap();
        assert_eq!(t.discount, 1000);
        assert_eq!(t.total, 0);
    }

    #[test]
    fn shipping_is_free_from_the_threshold_after_discount() {
        let rate = ShippingRate {
            price: 1500,
            free_above: Some(10_000),
        };
        let at = totals(&[line(10_000, 1)], None, Some(rate), NO_TAX).unwrap();
        assert_eq!(at.shipping, 0);
        let discounted = totals(
            &[line(10_000, 1)],
            Some(Discount::Fixed(1)),
            Some(rate),
            NO_TAX,
        )
        .unwrap();
        assert_eq!(discounted.shipping, 1500);
        assert_eq!(discounted.total, 10_000 - 1 + 1500);
    }

    #[test]
    fn exclusive_tax_is_added_and_inclusive_tax_is_contained() {
        let twelve_out = TaxRule {
            rate_bps: 1200,
            inclusive: false,
        };
        let t = totals(&[line(999, 1)], None, None, twelve_out).unwrap();
        // 119.88 -> 120
        assert_eq!((t.tax, t.total), (120, 1119));
        let twelve_in = TaxRule {
            rate_bps: 1200,
            inclusive: true,
        };
        let t = totals(&[line(1120, 1)], None, None, twelve_in).unwrap();
        assert_eq!((t.tax, t.total), (120, 1120));
        // 1000 * 12 / 112 = 107.14 -> 107
        let t = totals(&[line(1000, 1)], None, None, twelve_in).unwrap();
        assert_eq!((t.tax, t.total), (107, 1000));
    }

    #[test]
    fn totals_that_do_not_fit_are_an_error_not_a_wrap() {
        assert_eq!(
            totals(&[line(i64::MAX, 2)], None, None, NO_TAX),
            Err(Overflow)
        );
        assert_eq!(line_total(i64::MAX, 2), Err(Overflow));
    }
}
