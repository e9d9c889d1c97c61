//! What the marketplace handlers share: the clients, and the limits of each
//! marketplace account, shared by every worker process through Redis (see
//! `bazaar_core::throttle`): Kaspi's polite rate; Ozon's calls a second per
//! Client-Id and stock calls a minute; and Ozon's "Circle is open", which
//! leaves the method alone for `OZON_CIRCLE_BACKOFF_SECS` in every process.

use std::time::Duration;

use bazaar_core::{
    config::Config,
    marketplace::{limiter_key, Marketplace},
    provider::ProviderError,
    throttle::{TakeError, Throttle, Window},
};
use bazaar_integrations::{
    kaspi::merchant::KaspiClient,
    ozon::{self, OzonClient, OzonError},
};
use redis::aio::ConnectionManager;

use crate::jobs::JobError;

pub struct Marketplaces {
    pub kaspi: Option<KaspiClient>,
    pub ozon: Option<OzonClient>,
    throttle: Throttle,
    redis: ConnectionManager,
    prefix: String,
    kaspi_per_second: u32,
    ozon_per_second: u32,
    ozon_stock_per_minute: u32,
    circle_backoff: Duration,
}

/// How long a call waits for a slot before its job gives way (retried
/// after the wait Redis named).
const PATIENCE: Duration = Duration::from_secs(30);

impl Marketplaces {
    pub fn new(config: &Config, redis: ConnectionManager) -> Self {
        let o = &config.marketplaces.ozon;
        Self {
            kaspi: bazaar_integrations::wire::kaspi(config),
            ozon: bazaar_integrations::wire::ozon(config),
            throttle: Throttle::new(redis.clone()),
            redis,
            prefix: config.redis_prefix.clone(),
            kaspi_per_second: config.marketplaces.kaspi.per_second,
            ozon_per_second: o.per_second,
            ozon_stock_per_minute: o.stock_calls_per_minute,
            circle_backoff: o.circle_backoff,
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
        self.slot(&[Window {
            key: limiter_key(&self.prefix, Marketplace::Kaspi),
            limit: self.kaspi_per_second,
            window: Duration::from_secs(1),
        }])
        .await?;
        let result = f(client).await;
        count("kaspi", call, &result);
        result.map_err(JobError::from)
    }

    fn circle_key(&self, path: &str) -> String {
        format!("{}:circuit:ozon:{path}", self.prefix)
    }

    /// One Ozon call to `path`: refused while the method's circle is open,
    /// then a slot of the account's limits (and the stock limit for stock
    /// updates), then counted by outcome.
    pub async fn ozon<T, F, Fut>(&self, path: &'static str, f: F) -> Result<T, JobError>
    where
        F: FnOnce(OzonClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, OzonError>>,
    {
        let client = self.ozon.clone().ok_or_else(|| {
            JobError::Permanent("Ozon is disabled: set OZON_CLIENT_ID and OZON_API_KEY".into())
        })?;
        let open_ms: i64 = redis::cmd("PTTL")
            .arg(self.circle_key(path))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(|e| JobError::retry(format!("reading Ozon's circuit state: {e}")))?;
        if open_ms > 0 {
            return Err(JobError::Retry {
                message: format!("Ozon's {path} is resting (Circle is open)"),
                after: Some(Duration::from_millis(open_ms as u64)),
            });
        }
        let mut windows = vec![Window {
            key: limiter_key(&self.prefix, Marketplace::Ozon),
            limit: self.ozon_per_second,
            window: Duration::from_secs(1),
        }];
        if path == ozon::STOCKS {
            windows.push(Window {
                key: format!("{}:stocks", limiter_key(&self.prefix, Marketplace::Ozon)),
                limit: self.ozon_stock_per_minute,
                window: Duration::from_secs(60),
            });
        }
        self.slot(&windows).await?;
        let result = f(client).await;
        match result {
            Ok(v) => {
                count::<()>("ozon", path, &Ok(()));
                Ok(v)
            }
            Err(OzonError::CircleOpen(_)) => {
                metrics::counter!("bazaar_marketplace_calls_total", "marketplace" => "ozon", "call" => path, "outcome" => "circle_open")
                    .increment(1);
                let _: Result<(), _> = redis::cmd("SET")
                    .arg(self.circle_key(path))
                    .arg(1)
                    .arg("PX")
                    .arg(self.circle_backoff.as_millis() as u64)
                    .query_async(&mut self.redis.clone())
                    .await;
                tracing::warn!(path, backoff = ?self.circle_backoff, "Ozon: Circle is open; resting the method");
                Err(JobError::Retry {
                    message: format!("Ozon's {path} answered \"Circle is open\""),
                    after: Some(self.circle_backoff),
                })
            }
            Err(OzonError::Provider(e)) => {
                count::<()>("ozon", path, &Err(e.clone()));
                Err(JobError::from(e))
            }
        }
    }

    async fn slot(&self, windows: &[Window]) -> Result<(), JobError> {
        match self.throttle.take(windows, PATIENCE).await {
            Ok(()) => Ok(()),
            Err(TakeError::Busy(wait)) => Err(JobError::Retry {
                message: "marketplace rate limit reached".into(),
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
