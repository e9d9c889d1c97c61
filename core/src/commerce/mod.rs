//! Commerce: addresses, shipping methods, coupons, carts, checkout, the order
//! workflow and payments. Stock moves only through conditional updates here
//! (`inventory`), never read-modify-write.

// SQL over `variants v`, `products p` and `stores s`, shared by the stock and
// cart queries (macros, so queries stay `concat!`ed literals).
/// Whether the variant can be sold now.
macro_rules! sellable {
    () => {
        "v.active AND v.price > 0 AND p.active AND p.deleted_at IS NULL \
         AND s.active AND s.deleted_at IS NULL"
    };
}
/// The name a cart or order line shows: the product's and the variant's values.
macro_rules! line_name {
    () => {
        "p.name || CASE WHEN v.attributes = '{}'::jsonb THEN '' \
         ELSE ' ' || (SELECT string_agg(value, ' ') FROM jsonb_each_text(v.attributes)) END"
    };
}

pub mod addresses;
pub mod cart;
pub mod checkout;
pub mod coupons;
pub mod gateway;
pub mod inventory;
pub mod order_payment;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod quote;
pub mod shipping;
pub mod status;
pub mod transitions;
pub mod workflow;

use std::time::Duration;

use crate::config::{Config, PipelineConfig};
use pricing::TaxRule;

/// The shop's commerce rules, from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub currency: String,
    pub tax: TaxRule,
    pub reservation_ttl: Duration,
    pub pipeline: PipelineConfig,
    pub public_url: String,
    pub stripe_enabled: bool,
    pub kaspi_enabled: bool,
}

impl Rules {
    pub fn new(config: &Config) -> Self {
        Self {
            currency: config.currency.clone(),
            tax: TaxRule {
                rate_bps: config.commerce.tax_rate_bps,
                inclusive: config.commerce.tax_inclusive,
            },
            reservation_ttl: config.commerce.reservation_ttl,
            pipeline: config.pipeline.clone(),
            public_url: config.public_url.clone(),
            // Without the webhook secret no payment could ever be confirmed.
            stripe_enabled: config
                .commerce
                .stripe
                .as_ref()
                .is_some_and(|s| s.webhook_secret.is_some()),
            kaspi_enabled: config.commerce.kaspi_webhook_secret.is_some(),
        }
    }
}

/// Trimmed text, `None` when blank.
pub(crate) fn optional_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`). Use with `#[serde(default, with = "nullable")]`.
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}
