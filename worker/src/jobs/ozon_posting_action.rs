//! What the shop did with an Ozon posting, told to Ozon:
//!
//! - shipped: packed in one package of the posting's own products, by
//!   Ozon **SKU** (not the catalogue's product id), then read back, because
//!   a 200 from ship does not mean shipped (`ship_failed`: ship again);
//! - cancelled: with a reason Ozon allows for that posting (asked first):
//!   out of stock (352) for lack of stock, "other" (402, with a message)
//!   for the shop's own cancellation.

use bazaar_core::{
    jobs::MarketplaceAction,
    marketplace::{
        import::{self, External, Stage},
        ozon_orders,
    },
};
use bazaar_integrations::ozon::{self, Posting};

use super::{ozon_orders::imported, Context, JobError, Outcome};

const OUT_OF_STOCK: i64 = 352;
const OTHER: i64 = 402;

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

async fn read(cx: Context<'_>, posting_number: &str) -> Result<Option<Posting>, JobError> {
    let pn = posting_number.to_owned();
    cx.deps
        .marketplaces
        .ozon(ozon::POSTING, |c| async move { c.get_posting(&pn).await })
        .await
}

/// Re-imports the posting as Ozon has it now (our order follows it).
async fn follow(cx: Context<'_>, posting: &Posting) -> Result<Stage, JobError> {
    let deps = cx.deps;
    let currency = &deps.config.marketplaces.ozon.currency;
    import::import(
        &deps.pool,
        &deps.shop,
        bazaar_core::marketplace_config::OutOfStock::Cancel,
        &imported(posting, currency),
    )
    .await
    .map_err(db)?;
    Ok(ozon_orders::stage(&posting.status))
}

pub async fn run(
    cx: Context<'_>,
    order: &External,
    posting_number: &str,
    action: MarketplaceAction,
) -> Outcome {
    let deps = cx.deps;
    let Some(posting) = read(cx, posting_number).await? else {
        import::needs_attention(&deps.pool, order.id, "Ozon does not know this posting")
            .await
            .map_err(db)?;
        return Ok(());
    };
    match action {
        MarketplaceAction::Accept => Ok(()),
        MarketplaceAction::Ship => ship(cx, order, posting).await,
        MarketplaceAction::Cancel | MarketplaceAction::CancelOutOfStock => {
            cancel(cx, order, posting, action).await
        }
    }
}

async fn ship(cx: Context<'_>, order: &External, posting: Posting) -> Outcome {
    let deps = cx.deps;
    if posting.status != "awaiting_packaging" {
        // Shipped before (a retry after a lost answer), or moved on.
        follow(cx, &posting).await?;
        return Ok(());
    }
    let products: Vec<(i64, i32)> = posting
        .products
        .iter()
        .map(|p| (p.sku, p.quantity))
        .collect();
    let pn = posting.posting_number.clone();
    let shipped = deps
        .marketplaces
        .ozon(ozon::SHIP, |c| async move { c.ship(&pn, &products).await })
        .await;
    if let Err(JobError::Permanent(reason)) = &shipped {
        import::needs_attention(
            &deps.pool,
            order.id,
            &format!("Ozon refused to ship: {reason}"),
        )
        .await
        .map_err(db)?;
        return Ok(());
    }
    shipped?;
    let after = read(cx, &posting.posting_number)
        .await?
        .ok_or_else(|| JobError::retry("the shipped posting cannot be read back"))?;
    if after.substatus == "ship_failed" || after.status == "awaiting_packaging" {
        return Err(JobError::retry(format!(
            "Ozon took the shipment of {} but did not ship it ({}): shipping again",
            posting.posting_number, after.substatus
        )));
    }
    follow(cx, &after).await?;
    tracing::info!(order = %order.number, status = %after.status, "Ozon posting shipped");
    Ok(())
}

async fn cancel(
    cx: Context<'_>,
    order: &External,
    posting: Posting,
    action: MarketplaceAction,
) -> Outcome {
    let deps = cx.deps;
    if matches!(ozon_orders::stage(&posting.status), Stage::Cancelled) {
        follow(cx, &posting).await?;
        return Ok(());
    }
    let pn = posting.posting_number.clone();
    let reasons = deps
        .marketplaces
        .ozon(ozon::CANCEL_REASONS, |c| async move {
            c.cancel_reasons(&pn).await
        })
        .await?;
    let offered = |id: i64| reasons.iter().any(|(r, _)| *r == id);
    let (reason, message) = match action {
        MarketplaceAction::CancelOutOfStock if offered(OUT_OF_STOCK) => (OUT_OF_STOCK, ""),
        _ if offered(OTHER) => (OTHER, "Cancelled by the shop"),
        _ if offered(OUT_OF_STOCK) => (OUT_OF_STOCK, ""),
        _ => {
            follow(cx, &posting).await?;
            import::needs_attention(
                &deps.pool,
                order.id,
                &format!(
                    "Ozon allows no cancellation of this posting now ({})",
                    posting.status
                ),
            )
            .await
            .map_err(db)?;
            return Ok(());
        }
    };
    let pn = posting.posting_number.clone();
    let result = deps
        .marketplaces
        .ozon(ozon::CANCEL, |c| async move {
            c.cancel(&pn, reason, message).await
        })
        .await;
    match result {
        Ok(()) => {
            import::acknowledge(
                &deps.pool,
                &deps.shop,
                order.id,
                "cancelled",
                Stage::Cancelled,
            )
            .await
            .map_err(db)?;
            tracing::info!(order = %order.number, reason, "Ozon posting cancelled");
            Ok(())
        }
        Err(JobError::Permanent(why)) => {
            import::needs_attention(
                &deps.pool,
                order.id,
                &format!("Ozon refused to cancel: {why}"),
            )
            .await
            .map_err(db)?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}
