//! What `/admin/integrations` shows of a marketplace: whether it is on (and
//! why not), each sync's last run, listings and orders counted, the SKUs of
//! imported lines no variant has, and the orders waiting for a person.

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::{
    syncs::{self, SyncView},
    Marketplace,
};
use crate::{config::Config, Result};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct UnmatchedSku {
    pub sku: String,
    /// Open orders with a line of it.
    pub orders: i64,
    pub units: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Attention {
    pub number: String,
    pub external_code: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MarketplaceOverview {
    pub enabled: bool,
    /// What to set to turn it on.
    pub disabled_reason: Option<String>,
    pub syncs: Vec<SyncView>,
    pub listings: i64,
    /// Imported orders, and those not yet delivered, cancelled or refunded.
    pub orders: i64,
    pub open_orders: i64,
    pub unmatched_skus: Vec<UnmatchedSku>,
    /// Orders a person must decide on, newest first (at most 50).
    pub attention: Vec<Attention>,
    /// Ozon's latest per-item errors (stock, price, card import), newest
    /// first (at most 50).
    pub item_errors: Vec<super::ozon_push::ItemError>,
}

pub async fn overview(
    pool: &PgPool,
    config: &Config,
    m: Marketplace,
) -> Result<MarketplaceOverview> {
    let disabled_reason = match m {
        Marketplace::Kaspi => config.marketplaces.kaspi.disabled_reason(),
        Marketplace::Ozon => config.marketplaces.ozon.disabled_reason(),
    };
    let (listings, orders, open_orders): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM listings WHERE marketplace = $1),
                (SELECT count(*) FROM orders WHERE source = $1),
                (SELECT count(*) FROM orders WHERE source = $1
                    AND status NOT IN ('delivered', 'cancelled', 'refunded'))",
    )
    .bind(m.as_str())
    .fetch_one(pool)
    .await?;
    let unmatched_skus = sqlx::query_as(
        "SELECT u.sku, count(DISTINCT u.order_id) AS orders, sum(u.quantity)::bigint AS units
           FROM marketplace_unmatched u JOIN orders o ON o.id = u.order_id
          WHERE o.source = $1 GROUP BY u.sku ORDER BY count(*) DESC, u.sku LIMIT 100",
    )
    .bind(m.as_str())
    .fetch_all(pool)
    .await?;
    let attention = sqlx::query_as(
        "SELECT number, external_code, attention AS reason FROM orders
          WHERE source = $1 AND attention IS NOT NULL ORDER BY created_at DESC LIMIT 50",
    )
    .bind(m.as_str())
    .fetch_all(pool)
    .await?;
    Ok(MarketplaceOverview {
        enabled: disabled_reason.is_none(),
        disabled_reason: disabled_reason.map(str::to_owned),
        syncs: syncs::list(pool, m).await?,
        listings,
        orders,
        open_orders,
        unmatched_skus,
        attention,
        item_errors: match m {
            Marketplace::Ozon => super::ozon_push::item_errors(pool, 50).await?,
            Marketplace::Kaspi => Vec::new(),
        },
    })
}
