//! What the marketplace handlers share: the clients, and one rate limiter
//! per marketplace account shared by every worker process (Redis, see
//! `bazaar_core::throttle`).

use std::time::Duration;

use bazaar_core::{
    config::Config,
    provider::ProviderError,
    throttle::{TakeError, Throttle, Window},
};
use bazaar_core::marketplace::{limiter_key, Marketplace};
use bazaar_integrations::kaspi::merchant::KaspiClient;

use crate::jobs::JobError;

pub struct Marketplaces {
    pub kaspi: Option<KaspiClient>,
    throttle: Throttle,
    prefix: String,
    kaspi_per_second: u32,
}

/// How long a call waits for a slot before its job gives way (retried
/// after the wait Redis named).
const PATIENCE: Duration = Duration::from_secs(30);

impl Marketplaces {
    pub fn new(config: &Config, throttle: Throttle) -> Self {
        Self {
            kaspi: bazaar_integrations::wire::kaspi(config),
            throttle,
            prefix: config.redis_prefix.clone(),
            kaspi_per_second: config.marketplaces.kaspi.per_second,
        }
    }

    /// One Kaspi call: waits for a slot of the account's limit, then counts
    /// the call by outcome (`bazaar_marketplace_calls_total`).
    pub async fn kaspi<T, F, Fut>(&self, call: &'static str, f: F) -> Result<T, JobError>
    where
        F: FnOnce(KaspiClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let client = self.kaspi.clone().ok_or_else(|| {
            JobError::Permanent("Kaspi is disabled: set KASPI_TOKEN and KASPI_MERCHANT_ID".into())
        })?;
        self.kaspi_slot().await?;
        let result = f(client).await;
        count("kaspi", call, &result);
        result.map_err(JobError::from)
    }

    /// Waits for a slot of Kaspi's account-wide limit.
    async fn kaspi_slot(&self) -> Result<(), JobError> {
        let windows = [Window {
            key: limiter_key(&self.prefix, Marketplace::Kaspi),
            limit: self.kaspi_per_second,
            window: Duration::from_secs(1),
        }];
        match self.throttle.take(&windows, PATIENCE).await {
            Ok(()) => Ok(()),
            Err(TakeError::Busy(wait)) => Err(JobError::Retry {
                message: "Kaspi rate limit reached".into(),
                after: Some(wait),
            }),
            Err(e @ TakeError::Redis(_)) => Err(JobError::retry(e.to_string())),
        }
    }
}

/// `bazaar_marketplace_calls_total{marketplace, call, outcome}`.
pub fn count<T>(marketplace: &'static str, call: &'static str, result: &Result<T, ProviderError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(ProviderError::RateLimited { .. }) => "rate_limited",
        Err(ProviderError::Transport(_)) => "unavailable",
        Err(ProviderError::Rejected { .. }) => "rejected",
    };
    metrics::counter!("bazaar_marketplace_calls_total", "marketplace" => marketplace, "call" => call, "outcome" => outcome)
        .increment(1);
}
