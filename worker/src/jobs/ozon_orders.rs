//! The Ozon posting pull: the FBS postings whose status changed since the
//! last pull (less `OZON_ORDERS_OVERLAP_SECS`), through the v4 list (cursor
//! paging, at most 100 a page; the v3 lists are switched off). Each posting
//! is imported in its own transaction (`marketplace::import`): a new one
//! reserves its units, or is cancelled on Ozon for lack of stock; a known
//! one follows its status. Re-running changes nothing.

use std::collections::BTreeSet;

use bazaar_core::{
    commerce::status::OrderSource,
    jobs::OzonOrders,
    marketplace::{
        import::{self, Imported, ImportedLine, ImportedOrder},
        ozon_orders::{self, Cursor},
        syncs::{self, SyncKind},
        Marketplace,
    },
    marketplace_config::OutOfStock,
};
use bazaar_integrations::ozon::{self, Posting, PostingQuery};
use chrono::{Duration as Span, Utc};
use serde_json::json;

use super::{Context, ExternalHandler, JobError, Outcome};

pub struct OzonOrdersHandler;

/// Ozon allows a year between `since` and `to`; a posting older than that
/// has long closed.
const SPAN_DAYS: i64 = 364;
/// The first pull reads the status changes of the last month.
const FIRST_LOOKBACK_DAYS: i64 = 30;

impl ExternalHandler for OzonOrdersHandler {
    type Job = OzonOrders;
    const SOLO: bool = true;

    async fn run(cx: Context<'_>, _job: OzonOrders) -> Outcome {
        let deps = cx.deps;
        if let Some(why) = deps.config.marketplaces.ozon.disabled_reason() {
            return Err(JobError::Permanent(format!("Ozon is disabled: {why}")));
        }
        let pool = &deps.pool;
        syncs::started(pool, Marketplace::Ozon, SyncKind::Orders)
            .await
            .map_err(db)?;
        match pull(cx).await {
            Ok(counts) => {
                syncs::succeeded(pool, Marketplace::Ozon, SyncKind::Orders, counts)
                    .await
                    .map_err(db)?;
                Ok(())
            }
            Err(e) => {
                let _ =
                    syncs::failed(pool, Marketplace::Ozon, SyncKind::Orders, &e.to_string()).await;
                Err(e)
            }
        }
    }
}

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

/// Ozon's posting in bazaar's terms.
pub fn imported(p: &Posting, currency: &str) -> ImportedOrder {
    let lines: Vec<ImportedLine> = p
        .products
        .iter()
        .filter(|l| l.quantity > 0)
        .map(|l| ImportedLine {
            sku: l.offer_id.clone(),
            name: l.name.clone(),
            quantity: l.quantity,
            unit_price: l.price,
        })
        .collect();
    ImportedOrder {
        source: OrderSource::Ozon,
        external_id: p.posting_number.clone(),
        external_code: p.posting_number.clone(),
        external_status: p.status.clone(),
        stage: ozon_orders::stage(&p.status),
        needs_acceptance: false,
        total: lines
            .iter()
            .map(|l| l.unit_price * i64::from(l.quantity))
            .sum(),
        lines,
        currency: p
            .products
            .first()
            .map(|l| l.currency.clone())
            .filter(|c| c.len() == 3)
            .unwrap_or_else(|| currency.to_owned()),
        customer: None,
        phone: None,
        created_at: p.in_process_at.unwrap_or_else(Utc::now),
    }
}

async fn pull(cx: Context<'_>) -> Result<serde_json::Value, JobError> {
    let deps = cx.deps;
    let o = &deps.config.marketplaces.ozon;
    let now = Utc::now();
    let changed_from = syncs::cursor::<Cursor>(&deps.pool, Marketplace::Ozon, SyncKind::Orders)
        .await
        .map_err(db)?
        .map_or(now - Span::days(FIRST_LOOKBACK_DAYS), |c| {
            c.changed_until - Span::from_std(o.orders_overlap).unwrap_or_default()
        });
    let query = PostingQuery {
        since: now - Span::days(SPAN_DAYS),
        to: now,
        changed_from,
        changed_to: now,
    };
    let (mut seen, mut created, mut refused, mut updated, mut unchanged) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut unmatched = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let page = {
            let (query, cursor) = (query.clone(), cursor.clone());
            deps.marketplaces
                .ozon(ozon::POSTINGS, |c| async move {
                    c.list_postings(&query, &cursor).await
                })
                .await?
        };
        // Each posting its own transaction, four at once (see kaspi_orders).
        // Ozon cancels with the out-of-stock reason: holding a posting only
        // delays Ozon's own cancellation and hurts the rating.
        let orders: Vec<ImportedOrder> = page
            .postings
            .iter()
            .map(|p| imported(p, &o.currency))
            .collect();
        let mut outcomes = Vec::with_capacity(orders.len());
        for chunk in orders.chunks(4) {
            let imports: Vec<_> = chunk
                .iter()
                .map(|order| import::import(&deps.pool, &deps.shop, OutOfStock::Cancel, order))
                .collect();
            outcomes.extend(futures::future::join_all(imports).await);
        }
        for outcome in outcomes {
            let outcome = outcome.map_err(db)?;
            seen += 1;
            match outcome.imported {
                Imported::Created | Imported::Held => created += 1,
                Imported::Refused => refused += 1,
                Imported::Updated => updated += 1,
                Imported::Unchanged => unchanged += 1,
            }
            unmatched.extend(outcome.unmatched);
        }
        tracing::info!(done = seen, "Ozon postings pulled");
        if !page.has_next || page.cursor.is_empty() || page.postings.is_empty() {
            break;
        }
        cursor = page.cursor;
    }
    let mut conn = deps
        .pool
        .acquire()
        .await
        .map_err(|e| JobError::retry(e.to_string()))?;
    syncs::save_cursor(
        &mut conn,
        Marketplace::Ozon,
        SyncKind::Orders,
        &Cursor { changed_until: now },
    )
    .await
    .map_err(db)?;
    Ok(json!({
        "seen": seen, "created": created, "refused": refused, "updated": updated,
        "unchanged": unchanged, "unmatched_skus": unmatched,
    }))
}
