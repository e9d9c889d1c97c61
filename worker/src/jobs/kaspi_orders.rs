//! The Kaspi order pull. Kaspi lists orders by creation date only (at most
//! 14 days a call, pages of at most 100 from 0) and has no "changed since"
//! filter, so a run does two things:
//!
//! 1. reads every order created since the last run (less an overlap, so an
//!    order created at a window's edge is never missed), window by window,
//!    saving the cursor after each window: a run that fails part-way
//!    resumes where it stopped;
//! 2. re-reads the orders still open here that Kaspi has not shown for
//!    `KASPI_ORDERS_REREAD_SECS` (a batch per run, least recently seen
//!    first), so buyer cancellations and returns are seen.
//!
//! Each order is imported in its own transaction (`marketplace::import`):
//! new ones reserve their units and are accepted on Kaspi, or refused for
//! lack of stock. Re-running changes nothing.

use std::collections::{BTreeSet, HashSet};

use bazaar_core::{
    commerce::status::OrderSource,
    jobs::KaspiOrders,
    marketplace::{
        import::{self, ImportOutcome, Imported, ImportedLine, ImportedOrder},
        kaspi_orders::{self, Cursor},
        syncs::{self, SyncKind},
        Marketplace,
    },
};
use bazaar_integrations::kaspi::merchant::{KaspiOrder, MAX_PAGE_SIZE};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Context, ExternalHandler, JobError, Outcome};

pub struct KaspiOrdersHandler;

impl ExternalHandler for KaspiOrdersHandler {
    type Job = KaspiOrders;
    /// Minutes long with a big backlog.
    const SOLO: bool = true;

    async fn run(cx: Context<'_>, _job: KaspiOrders) -> Outcome {
        let pool = &cx.deps.pool;
        if let Some(why) = cx.deps.config.marketplaces.kaspi.disabled_reason() {
            return Err(JobError::Permanent(format!("Kaspi is disabled: {why}")));
        }
        syncs::started(pool, Marketplace::Kaspi, SyncKind::Orders)
            .await
            .map_err(db)?;
        match pull(cx).await {
            Ok(tally) => {
                syncs::succeeded(pool, Marketplace::Kaspi, SyncKind::Orders, tally.counts())
                    .await
                    .map_err(db)?;
                tracing::info!(counts = %tally.counts(), "Kaspi orders synced");
                Ok(())
            }
            Err(e) => {
                let _ =
                    syncs::failed(pool, Marketplace::Kaspi, SyncKind::Orders, &e.to_string()).await;
                Err(e)
            }
        }
    }
}

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

#[derive(Default)]
struct Tally {
    seen: u64,
    created: u64,
    refused: u64,
    held: u64,
    updated: u64,
    unchanged: u64,
    reread: u64,
    unmatched: BTreeSet<String>,
}

impl Tally {
    fn add(&mut self, o: &ImportOutcome) {
        self.seen += 1;
        match o.imported {
            Imported::Created => self.created += 1,
            Imported::Refused => self.refused += 1,
            Imported::Held => self.held += 1,
            Imported::Updated => self.updated += 1,
            Imported::Unchanged => self.unchanged += 1,
        }
        self.unmatched.extend(o.unmatched.iter().cloned());
    }

    fn counts(&self) -> serde_json::Value {
        json!({
            "seen": self.seen, "created": self.created, "refused": self.refused,
            "held": self.held, "updated": self.updated, "unchanged": self.unchanged,
            "reread": self.reread, "unmatched_skus": self.unmatched,
        })
    }
}

/// Kaspi's order in bazaar's terms.
pub fn imported(o: &KaspiOrder) -> ImportedOrder {
    ImportedOrder {
        source: OrderSource::Kaspi,
        external_id: o.id.clone(),
        external_code: o.code.clone(),
        external_status: o.status.clone(),
        stage: kaspi_orders::stage(&o.status, &o.state),
        needs_acceptance: true,
        lines: o
            .entries
            .iter()
            .filter(|e| e.quantity > 0)
            .map(|e| ImportedLine {
                sku: e.sku.clone(),
                name: e.name.clone(),
                quantity: e.quantity,
                unit_price: e.base_price,
            })
            .collect(),
        total: o.total,
        currency: "KZT".into(),
        customer: o.customer.clone(),
        phone: o.phone.clone(),
        created_at: DateTime::<Utc>::from_timestamp_millis(o.creation_ms).unwrap_or_else(Utc::now),
    }
}

/// Orders of a page imported at once: each is its own transaction, and
/// orders of one variant queue on its row as checkouts do.
const IMPORT_CONCURRENCY: usize = 4;

async fn import_page(
    cx: Context<'_>,
    orders: &[KaspiOrder],
    tally: &mut Tally,
) -> Result<(), JobError> {
    for chunk in orders.chunks(IMPORT_CONCURRENCY) {
        let imports: Vec<_> = chunk.iter().map(|o| import_order(cx, o)).collect();
        for outcome in futures::future::join_all(imports).await {
            tally.add(&outcome?);
        }
    }
    Ok(())
}

async fn import_order(cx: Context<'_>, o: &KaspiOrder) -> Result<ImportOutcome, JobError> {
    let deps = cx.deps;
    let outcome = import::import(
        &deps.pool,
        &deps.shop,
        deps.config.marketplaces.kaspi.out_of_stock,
        &imported(o),
    )
    .await
    .map_err(db)?;
    if !outcome.unmatched.is_empty() && outcome.imported != Imported::Unchanged {
        tracing::warn!(code = %o.code, skus = ?outcome.unmatched, "Kaspi order has SKUs no variant has");
    }
    Ok(outcome)
}

async fn pull(cx: Context<'_>) -> Result<Tally, JobError> {
    let deps = cx.deps;
    let k = &deps.config.marketplaces.kaspi;
    let pool = &deps.pool;
    let now_ms = Utc::now().timestamp_millis();
    let start = syncs::cursor::<Cursor>(pool, Marketplace::Kaspi, SyncKind::Orders)
        .await
        .map_err(db)?
        .map_or(now_ms - k.lookback.as_millis() as i64, |c| {
            c.read_until_ms - k.overlap.as_millis() as i64
        });
    let windows = kaspi_orders::windows(start, now_ms, k.window.as_millis() as i64);
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    for (i, (ge, le)) in windows.iter().copied().enumerate() {
        let mut page = 0;
        loop {
            let list = deps
                .marketplaces
                .kaspi("list_orders", |c| async move {
                    c.list_orders(ge, le, page, MAX_PAGE_SIZE).await
                })
                .await?;
            seen.extend(list.orders.iter().map(|o| o.id.clone()));
            import_page(cx, &list.orders, &mut tally).await?;
            tracing::info!(
                window = i + 1,
                windows = windows.len(),
                page = page + 1,
                pages = list.page_count,
                done = tally.seen,
                total = list.total,
                "Kaspi order pull"
            );
            page += 1;
            if page >= list.page_count || list.orders.is_empty() {
                break;
            }
        }
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| JobError::retry(e.to_string()))?;
        syncs::save_cursor(
            &mut conn,
            Marketplace::Kaspi,
            SyncKind::Orders,
            &Cursor { read_until_ms: le },
        )
        .await
        .map_err(db)?;
    }
    // Orders still open here, read again until they close.
    let open = import::open_orders(pool, OrderSource::Kaspi, k.reread_after, k.reread_batch)
        .await
        .map_err(db)?;
    let total = open.len();
    for (n, (_, id)) in open.into_iter().enumerate() {
        if seen.contains(&id) {
            continue;
        }
        let order = deps
            .marketplaces
            .kaspi("get_order", |c| async move { c.get_order(&id).await })
            .await?;
        if let Some(o) = order {
            tally.add(&import_order(cx, &o).await?);
            tally.reread += 1;
        }
        if (n + 1) % 100 == 0 {
            tracing::info!(done = n + 1, total, "Kaspi open orders re-read");
        }
    }
    Ok(tally)
}
