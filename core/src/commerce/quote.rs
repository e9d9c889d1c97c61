//! The price of a basket: line totals, the coupon when it applies (and why
//! it does not), shipping and tax. The cart shows it; checkout charges it.

use chrono::Utc;
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    coupons::{self, Coupon},
    pricing::{self, Line, Totals},
    shipping::ShippingMethod,
};
use crate::shop::Shop;
use crate::{money::Money, Error, Result};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoneyTotals {
    pub subtotal: Money,
    pub discount: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

impl MoneyTotals {
    pub fn new(t: &Totals, currency: &str) -> Self {
        let m = |a| Money::new(a, currency);
        Self {
            subtotal: m(t.subtotal),
            discount: m(t.discount),
            shipping: m(t.shipping),
            tax: m(t.tax),
            total: m(t.total),
        }
    }
}

/// A cart line priced for a quote.
#[derive(Debug, Clone)]
pub struct QuoteLine {
    pub unit_price: i64,
    pub quantity: i32,
    pub category_id: Uuid,
}

/// Why `coupon` gives nothing to `user` for goods worth `subtotal`.
pub async fn coupon_problem(
    conn: &mut PgConnection,
    coupon: &Coupon,
    user: Option<Uuid>,
    subtotal: i64,
) -> Result<Option<String>> {
    if let Some(p) = coupon.unusable_now(Utc::now()) {
        return Ok(Some(p.to_owned()));
    }
    if let (Some(limit), Some(user)) = (coupon.per_customer_limit, user) {
        if coupons::uses_by(conn, coupon.id, user).await? >= i64::from(limit) {
            return Ok(Some("you have already used this coupon".into()));
        }
    }
    if subtotal < coupon.min_order.amount {
        return Ok(Some(format!(
            "needs an order of at least {}",
            coupon.min_order.display()
        )));
    }
    Ok(None)
}

/// Totals for `lines` with the coupon when it applies; also returns why it
/// does not.
pub async fn quote(
    conn: &mut PgConnection,
    shop: &Shop,
    lines: &[QuoteLine],
    coupon: Option<&Coupon>,
    user: Option<Uuid>,
    shipping: Option<&ShippingMethod>,
) -> Result<(Totals, Option<String>)> {
    let subtotal: i64 = lines
        .iter()
        .map(|l| pricing::line_total(l.unit_price, i64::from(l.quantity)).unwrap_or(i64::MAX))
        .fold(0i64, |a, b| a.saturating_add(b));
    let mut problem = None;
    let mut discount = None;
    let mut eligible = None;
    if let Some(c) = coupon {
        problem = coupon_problem(conn, c, user, subtotal).await?;
        if problem.is_none() {
            discount = Some(c.discount());
            eligible = coupons::eligible_categories(conn, c).await?;
        }
    }
    let priced: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            unit_price: l.unit_price,
            quantity: i64::from(l.quantity),
            discountable: eligible
                .as_ref()
                .is_none_or(|set| set.contains(&l.category_id)),
        })
        .collect();
    let totals = pricing::totals(
        &priced,
        discount,
        shipping.map(ShippingMethod::rate),
        shop.tax,
    )
    .map_err(|_| Error::invalid("items", "the order total is too large"))?;
    Ok((totals, problem))
}
