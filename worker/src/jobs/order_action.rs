//! Tells a marketplace what the shop did with one of its orders (Ozon's
//! postings: `ozon_posting_action`): accept a
//! Kaspi order whose units are reserved, cancel one stock cannot fill (or
//! one an admin cancelled). On success our order follows (accepted:
//! confirmed, its units deducted). When the marketplace refuses (the buyer
//! cancelled meanwhile), the order is read again and follows the
//! marketplace instead, and is flagged for a person if that does not settle
//! it.

use bazaar_core::{
    commerce::status::{OrderSource, OrderStatus},
    jobs::{MarketplaceAction, OrderAction},
    marketplace::import::{self, Stage},
};
use bazaar_integrations::kaspi::merchant::StatusChange;

use super::{kaspi_orders, Context, ExternalHandler, JobError, Outcome};

/// Kaspi's reasons (kaspi.md).
const OUT_OF_STOCK: &str = "MERCHANT_OUT_OF_STOCK";
/// An admin's cancellation: the buyer asked the shop to cancel.
const BY_MERCHANT: &str = "BUYER_CANCELLATION_BY_MERCHANT";

pub struct OrderActionHandler;

impl ExternalHandler for OrderActionHandler {
    type Job = OrderAction;

    async fn run(cx: Context<'_>, job: OrderAction) -> Outcome {
        let deps = cx.deps;
        let Some(order) = import::external(&deps.pool, job.order).await.map_err(db)? else {
            return Ok(());
        };
        let (Some(id), Some(code)) = (order.external_id.clone(), order.external_code.clone())
        else {
            return Err(JobError::Permanent(format!(
                "order {} has no marketplace id",
                order.number
            )));
        };
        match order.source {
            OrderSource::Kaspi => {}
            OrderSource::Ozon => {
                return super::ozon_posting_action::run(cx, &order, &id, job.action).await
            }
            OrderSource::Web => {
                return Err(JobError::Permanent(format!(
                    "order {} is not a marketplace's",
                    order.number
                )))
            }
        }
        let change = match job.action {
            // Accepted only while still ours to accept (not cancelled since).
            MarketplaceAction::Accept if order.status != OrderStatus::Paid => return Ok(()),
            MarketplaceAction::Accept => StatusChange::Accept,
            MarketplaceAction::CancelOutOfStock => StatusChange::Cancel {
                reason: OUT_OF_STOCK,
            },
            MarketplaceAction::Cancel => StatusChange::Cancel {
                reason: BY_MERCHANT,
            },
            // Kaspi's couriers (or the buyer) collect; nothing to tell.
            MarketplaceAction::Ship => return Ok(()),
        };
        let call = match change {
            StatusChange::Accept => "accept",
            StatusChange::Cancel { .. } => "cancel",
        };
        let answer = {
            let (id, code) = (id.clone(), code.clone());
            deps.marketplaces
                .kaspi(call, |c| async move {
                    c.change_status(&id, &code, change).await
                })
                .await
        };
        match answer {
            Ok(status) => {
                let stage = bazaar_core::marketplace::kaspi_orders::stage(&status, "");
                import::acknowledge(&deps.pool, &deps.shop, order.id, &status, stage)
                    .await
                    .map_err(db)?;
                tracing::info!(order = %order.number, action = job.action.as_str(), %status, "Kaspi order updated");
                Ok(())
            }
            Err(JobError::Permanent(reason)) => {
                // Kaspi said no: see where the order stands there now.
                tracing::warn!(order = %order.number, action = job.action.as_str(), %reason, "Kaspi refused");
                let fresh = deps
                    .marketplaces
                    .kaspi("get_order", |c| async move { c.get_order(&id).await })
                    .await?;
                if let Some(fresh) = &fresh {
                    import::import(
                        &deps.pool,
                        &deps.shop,
                        deps.config.marketplaces.kaspi.out_of_stock,
                        &kaspi_orders::imported(fresh),
                    )
                    .await
                    .map_err(db)?;
                }
                let settled = fresh.as_ref().is_some_and(|f| {
                    matches!(
                        bazaar_core::marketplace::kaspi_orders::stage(&f.status, &f.state),
                        Stage::Cancelled | Stage::Completed | Stage::Returned
                    )
                });
                if !settled {
                    import::needs_attention(
                        &deps.pool,
                        order.id,
                        &format!("Kaspi refused to {}: {reason}", job.action.as_str()),
                    )
                    .await
                    .map_err(db)?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}
