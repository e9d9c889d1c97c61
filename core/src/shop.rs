//! The shop's settings that every domain reads, derived once from the
//! configuration: the currency, the public URL, the tax rule, how long stock
//! is held for an unpaid order, which online payments are on, and the job
//! pipeline's policies (for enqueueing).

use std::time::Duration;

use crate::{
    commerce::pricing::TaxRule,
    config::{Config, PipelineConfig},
    messaging::Channels,
};

#[derive(Debug, Clone)]
pub struct Shop {
    /// Every price is in this currency (`CURRENCY`).
    pub currency: String,
    /// `BAZAAR_PUBLIC_URL`, for links and image URLs.
    pub public_url: String,
    pub tax: TaxRule,
    pub reservation_ttl: Duration,
    pub pipeline: PipelineConfig,
    pub stripe_enabled: bool,
    pub kaspi_enabled: bool,
    /// The customer message channels that are configured.
    pub channels: Channels,
}

impl Shop {
    pub fn new(config: &Config) -> Self {
        Self {
            currency: config.currency.clone(),
            public_url: config.public_url.clone(),
            tax: TaxRule {
                rate_bps: config.commerce.tax_rate_bps,
                inclusive: config.commerce.tax_inclusive,
            },
            reservation_ttl: config.commerce.reservation_ttl,
            pipeline: config.pipeline.clone(),
            // Without the webhook secret no payment could ever be confirmed.
            stripe_enabled: config
                .commerce
                .stripe
                .as_ref()
                .is_some_and(|s| s.webhook_secret.is_some()),
            kaspi_enabled: config.commerce.kaspi_webhook_secret.is_some(),
            channels: Channels::new(config),
        }
    }

    pub fn media_url(&self, key: &str) -> String {
        format!("{}/media/{key}", self.public_url)
    }
}
