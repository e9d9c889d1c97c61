//! `ops.expire_reservations`: cancels unpaid orders whose reservation ran
//! out, releasing their stock, then tells the catalogue caches. Each order
//! is cancelled in its own transaction, so the job runs alone (`SOLO`).

use bazaar_core::{commerce::workflow, jobs::ExpireReservations};

use super::{Context, ExternalHandler, JobError, Outcome};

/// Orders handled per run; the next tick takes the rest.
const PER_RUN: i64 = 1_000;

pub struct ExpireReservationsHandler;

impl ExternalHandler for ExpireReservationsHandler {
    type Job = ExpireReservations;
    const SOLO: bool = true;

    async fn run(cx: Context<'_>, _: ExpireReservations) -> Outcome {
        let deps = cx.deps;
        let (expired, availability) =
            workflow::expire_reservations(&deps.pool, &deps.shop, PER_RUN)
                .await
                .map_err(|e| JobError::retry(format!("{e:#}")))?;
        if expired > 0 {
            tracing::info!(expired, "expired reservations released");
            let change = bazaar_core::catalog::Change::Availability(availability);
            if let Err(e) = bazaar_core::catalog::publish(&deps.config, &change).await {
                tracing::warn!(error = %e, "could not tell the catalogue caches");
            }
        }
        Ok(())
    }
}
