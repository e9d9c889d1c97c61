//! Selling the shop's stock on marketplaces (Kaspi.kz, Ozon): which
//! variants are listed where (`listings`), the Kaspi price-list feed
//! (`kaspi_feed`), orders imported from a marketplace as ordinary orders that
//! reserve stock in the transaction that imports them (`import`), and where
//! each sync stands (`syncs`). The provider clients are in
//! `bazaar_integrations`; the jobs that connect the two are the worker's.

pub mod completion;
pub mod import;
pub mod kaspi_feed;
pub mod kaspi_orders;
pub mod listings;
pub mod overview;
pub mod ozon_orders;
pub mod ozon_push;
pub mod syncs;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Marketplace {
    Kaspi,
    Ozon,
}

names!(Marketplace {
    Kaspi => "kaspi",
    Ozon => "ozon",
});

impl Marketplace {
    /// The currency the marketplace sells in: every price sent to it.
    pub fn currency(self, config: &crate::config::Config) -> String {
        match self {
            Marketplace::Kaspi => "KZT".into(),
            Marketplace::Ozon => config.marketplaces.ozon.currency.clone(),
        }
    }
}

/// Kaspi's two-step completion, behind a port so that the API (which asks
/// it while the admin waits for the answer) needs no provider client of its
/// own; `bazaar_integrations::wire::kaspi_completion` builds it.
#[async_trait::async_trait]
pub trait KaspiCompletion: Send + Sync {
    /// Step one: Kaspi sends the buyer a code.
    async fn send_code(
        &self,
        id: &str,
        code: &str,
    ) -> std::result::Result<(), crate::provider::ProviderError>;
    /// Step two: the code the buyer read out; Kaspi's new status.
    async fn complete(
        &self,
        id: &str,
        code: &str,
        security_code: &str,
    ) -> std::result::Result<String, crate::provider::ProviderError>;
    /// Kaspi's answer to a wrong code.
    fn is_wrong_code(&self, e: &crate::provider::ProviderError) -> bool;
}

/// The Redis key of a marketplace account's shared rate limiter (a GCRA
/// meter, see `throttle`): its value is when the next slot frees, in
/// milliseconds on Redis's clock.
pub fn limiter_key(redis_prefix: &str, m: Marketplace) -> String {
    format!("{redis_prefix}:throttle:marketplace:{m}")
}
