//! Money: integer minor units and an ISO 4217 code, never floats.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (tiyn, cents).
    pub amount: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
        }
    }

    /// "4 990.00 KZT": for e-mails and announcements.
    pub fn display(&self) -> String {
        let whole = self.amount / 100;
        let cents = (self.amount % 100).abs();
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('\u{a0}');
            }
            grouped.push(c);
        }
        let sign = if self.amount < 0 { "-" } else { "" };
        format!("{sign}{grouped}.{cents:02} {}", self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_display_with_grouped_thousands() {
        assert_eq!(Money::new(499_000, "KZT").display(), "4\u{a0}990.00 KZT");
        assert_eq!(Money::new(5, "USD").display(), "0.05 USD");
    }
}
