//! Pushes to Ozon what changed, within Ozon's limits (ozon.md):
//!
//! 1. cards: listings without an Ozon product get one (`/v3/product/import`,
//!    at most 100 a call) and each import task is followed until every item
//!    is imported or failed; per-item errors are kept on the listing;
//! 2. stock: every pair whose figure changed and was not pushed for
//!    `OZON_STOCK_PAIR_INTERVAL_SECS`, 100 a call, the calls a minute shared
//!    by every worker; each item's answer inside the 200 is read;
//! 3. prices: every changed price with fewer than
//!    `OZON_PRICE_CHANGES_PER_HOUR` pushes in the last hour, 1,000 a call.
//!
//! The figure sent is what can be sold now (stock less reservations).
//! Re-running changes nothing: only what moved since Ozon took it is sent.

use std::collections::HashMap;

use bazaar_core::{
    jobs::OzonSync,
    marketplace::{
        ozon_push::{self, ItemOutcome},
        syncs::{self, SyncKind},
        Marketplace,
    },
};
use bazaar_integrations::ozon::{self, decimal, ItemResult, PriceItem, ProductCard, StockItem};
use serde_json::json;

use super::{Context, ExternalHandler, JobError, Outcome};

pub struct OzonSyncHandler;

/// Batches of one run, so a run stays short and the next tick goes on.
const STOCK_BATCHES: usize = 20;
const PRICE_BATCHES: usize = 5;

impl ExternalHandler for OzonSyncHandler {
    type Job = OzonSync;
    const SOLO: bool = true;

    async fn run(cx: Context<'_>, _job: OzonSync) -> Outcome {
        let deps = cx.deps;
        if let Some(why) = deps.config.marketplaces.ozon.disabled_reason() {
            return Err(JobError::Permanent(format!("Ozon is disabled: {why}")));
        }
        let pool = &deps.pool;
        for (kind, step) in [
            (SyncKind::Products, Step::Products),
            (SyncKind::Stock, Step::Stock),
            (SyncKind::Prices, Step::Prices),
        ] {
            syncs::started(pool, Marketplace::Ozon, kind)
                .await
                .map_err(db)?;
            let result = match step {
                Step::Products => cards(cx).await,
                Step::Stock => stock(cx).await,
                Step::Prices => prices(cx).await,
            };
            match result {
                Ok(counts) => syncs::succeeded(pool, Marketplace::Ozon, kind, counts)
                    .await
                    .map_err(db)?,
                Err(e) => {
                    let _ = syncs::failed(pool, Marketplace::Ozon, kind, &e.to_string()).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Step {
    Products,
    Stock,
    Prices,
}

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

/// One item's answer, as the sheet says to treat it.
fn outcome(r: Option<&ItemResult>, sent: i64) -> ItemOutcome {
    let Some(r) = r else {
        return ItemOutcome::Later("Ozon's answer did not mention the item".into());
    };
    if r.updated && r.errors.is_empty() {
        return ItemOutcome::Taken(sent);
    }
    let text = r
        .errors
        .iter()
        .map(|e| {
            format!("{}: {}", e.code, e.message)
                .trim_end_matches(": ")
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("; ");
    if r.errors.iter().any(|e| e.is_too_frequent()) || r.errors.is_empty() {
        ItemOutcome::Later(if text.is_empty() {
            "not updated".into()
        } else {
            text
        })
    } else {
        ItemOutcome::Refused(text)
    }
}

async fn stock(cx: Context<'_>) -> Result<serde_json::Value, JobError> {
    let deps = cx.deps;
    let o = &deps.config.marketplaces.ozon;
    let (mut taken, mut refused, mut later) = (0u64, 0u64, 0u64);
    for batch in 0..STOCK_BATCHES {
        let due = ozon_push::claim_stock(
            &deps.pool,
            o.warehouse_id.as_deref(),
            o.stock_pair_interval,
            ozon::MAX_STOCKS as i64,
        )
        .await
        .map_err(db)?;
        if due.is_empty() {
            break;
        }
        let mut results = Vec::with_capacity(due.len());
        let mut items = Vec::with_capacity(due.len());
        for d in &due {
            match d.warehouse_id.parse::<i64>() {
                Ok(warehouse_id) => items.push(StockItem {
                    offer_id: d.sku.clone(),
                    product_id: d.product_id,
                    stock: i64::from(d.available),
                    warehouse_id,
                }),
                Err(_) => results.push((
                    d.variant_id,
                    d.version,
                    ItemOutcome::Refused(format!(
                        "warehouse id {:?} is not a number",
                        d.warehouse_id
                    )),
                )),
            }
        }
        let answer = {
            let items = items.clone();
            deps.marketplaces
                .ozon(
                    ozon::STOCKS,
                    |c| async move { c.update_stocks(&items).await },
                )
                .await
        };
        let answers = match answer {
            Ok(a) => a,
            Err(e) => {
                let why = e.to_string();
                let failed: Vec<_> = due
                    .iter()
                    .map(|d| (d.variant_id, d.version, ItemOutcome::Later(why.clone())))
                    .collect();
                ozon_push::record_stock(&deps.pool, &failed)
                    .await
                    .map_err(db)?;
                return Err(e);
            }
        };
        let by_pair: HashMap<(&str, i64), &ItemResult> = answers
            .iter()
            .map(|r| ((r.offer_id.as_str(), r.warehouse_id), r))
            .collect();
        for (d, item) in due
            .iter()
            .filter(|d| d.warehouse_id.parse::<i64>().is_ok())
            .zip(&items)
        {
            let o = outcome(
                by_pair
                    .get(&(item.offer_id.as_str(), item.warehouse_id))
                    .copied(),
                item.stock,
            );
            match &o {
                ItemOutcome::Taken(_) => taken += 1,
                ItemOutcome::Later(_) => later += 1,
                ItemOutcome::Refused(e) => {
                    refused += 1;
                    tracing::warn!(sku = %d.sku, error = %e, "Ozon refused a stock figure");
                }
            }
            results.push((d.variant_id, d.version, o));
        }
        ozon_push::record_stock(&deps.pool, &results)
            .await
            .map_err(db)?;
        tracing::info!(
            batch = batch + 1,
            pairs = due.len(),
            taken,
            "Ozon stock pushed"
        );
    }
    Ok(json!({ "taken": taken, "refused": refused, "later": later }))
}

async fn prices(cx: Context<'_>) -> Result<serde_json::Value, JobError> {
    let deps = cx.deps;
    let o = &deps.config.marketplaces.ozon;
    let (mut taken, mut refused) = (0u64, 0u64);
    for _ in 0..PRICE_BATCHES {
        let due = ozon_push::claim_prices(
            &deps.pool,
            &o.currency,
            o.price_changes_per_hour,
            ozon::MAX_PRICES as i64,
        )
        .await
        .map_err(db)?;
        if due.is_empty() {
            break;
        }
        let items: Vec<PriceItem> = due
            .iter()
            .map(|d| PriceItem {
                offer_id: d.sku.clone(),
                price: decimal(d.price),
                old_price: "0".into(),
                currency_code: o.currency.clone(),
                vat: o.vat.clone(),
            })
            .collect();
        let answers = {
            let items = items.clone();
            deps.marketplaces
                .ozon(
                    ozon::PRICES,
                    |c| async move { c.update_prices(&items).await },
                )
                .await?
        };
        let by_offer: HashMap<&str, &ItemResult> =
            answers.iter().map(|r| (r.offer_id.as_str(), r)).collect();
        let results: Vec<_> = due
            .iter()
            .map(|d| {
                let o = outcome(by_offer.get(d.sku.as_str()).copied(), d.price);
                match o {
                    ItemOutcome::Taken(_) => taken += 1,
                    _ => refused += 1,
                }
                (d.variant_id, d.version, o)
            })
            .collect();
        ozon_push::record_prices(&deps.pool, &results)
            .await
            .map_err(db)?;
    }
    Ok(json!({ "taken": taken, "refused": refused }))
}

async fn cards(cx: Context<'_>) -> Result<serde_json::Value, JobError> {
    let deps = cx.deps;
    let o = &deps.config.marketplaces.ozon;
    let mut submitted = 0u64;
    let claimed = ozon_push::claim_imports(&deps.pool, &o.currency, ozon::MAX_IMPORT as i64)
        .await
        .map_err(db)?;
    if !claimed.is_empty() {
        let ids: Vec<_> = claimed.iter().map(|c| c.variant_id).collect();
        let cards: Vec<ProductCard> = claimed
            .iter()
            .map(|c| ProductCard {
                offer_id: c.sku.clone(),
                name: c.name.clone(),
                price: decimal(c.price),
                currency_code: o.currency.clone(),
                vat: o.vat.clone(),
            })
            .collect();
        let task = deps
            .marketplaces
            .ozon(
                ozon::IMPORT,
                |c| async move { c.import_products(&cards).await },
            )
            .await;
        match task {
            Ok(task) => {
                ozon_push::submitted(&deps.pool, &ids, Some(task))
                    .await
                    .map_err(db)?;
                submitted = ids.len() as u64;
            }
            Err(e) => {
                ozon_push::submitted(&deps.pool, &ids, None)
                    .await
                    .map_err(db)?;
                return Err(e);
            }
        }
    }
    let (mut created, mut failed) = (0u64, 0u64);
    for (task, items) in ozon_push::pending_imports(&deps.pool).await.map_err(db)? {
        let status = deps
            .marketplaces
            .ozon(
                ozon::IMPORT_INFO,
                |c| async move { c.import_info(task).await },
            )
            .await?;
        let done: Vec<_> = status
            .iter()
            .filter(|s| s.status == "imported" && s.product_id > 0)
            .collect();
        let offers: Vec<String> = done.iter().map(|s| s.offer_id.clone()).collect();
        let ids = if offers.is_empty() {
            Vec::new()
        } else {
            deps.marketplaces
                .ozon(
                    ozon::INFO_LIST,
                    |c| async move { c.product_ids(&offers).await },
                )
                .await?
        };
        for (variant, sku) in &items {
            let Some(s) = status.iter().find(|s| &s.offer_id == sku) else {
                continue;
            };
            let outcome = if s.status == "imported" && s.product_id > 0 {
                created += 1;
                ozon_push::Imported::Created {
                    product_id: s.product_id,
                    sku: ids
                        .iter()
                        .find(|i| &i.offer_id == sku)
                        .map(|i| i.sku)
                        .filter(|s| *s > 0),
                }
            } else if s.status == "failed" || !s.errors.is_empty() {
                failed += 1;
                ozon_push::Imported::Failed(serde_json::Value::Array(s.errors.clone()).to_string())
            } else {
                continue;
            };
            ozon_push::record_import(&deps.pool, *variant, &outcome)
                .await
                .map_err(db)?;
        }
    }
    Ok(json!({ "submitted": submitted, "created": created, "failed": failed }))
}
