//! The `scheduler` role: a cron table whose entries either run the health check
//! in this process (it must not depend on the Redis queues it watches) or
//! enqueue a job through the outbox. Several replicas may run; each tick is
//! executed once (health runs are unique per tick, enqueued jobs carry the tick
//! in their idempotency key).

mod alerts;
mod monitor;
pub mod table;

use std::sync::Arc;

use bazaar_core::{
    config::Config,
    jobs::{Cleanup, ExpireReservations, Job, KaspiOrders, OzonOrders, OzonSync},
    outbox,
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use table::{Entry, ScheduledJob};

/// Runs the cron table `entries` (see `table::load`) until `shutdown`.
pub async fn run(
    config: Arc<Config>,
    pool: PgPool,
    entries: Vec<Entry>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    bazaar_core::telemetry::prometheus();
    let monitor = Arc::new(monitor::HealthMonitor::new(config.clone(), pool.clone())?);
    let mut tasks = tokio::task::JoinSet::new();
    for entry in entries {
        tracing::info!(job = entry.job.name(), schedule = %entry.expression, "scheduled");
        let (monitor, pool, config, shutdown) = (
            monitor.clone(),
            pool.clone(),
            config.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let fire = move |tick: DateTime<Utc>| {
                let (monitor, pool, config) = (monitor.clone(), pool.clone(), config.clone());
                async move {
                    match entry.job {
                        ScheduledJob::HealthCheck => monitor.run_tick(tick).await,
                        ScheduledJob::Cleanup => {
                            let job = Cleanup {
                                tick: tick.to_rfc3339(),
                            };
                            enqueue(&pool, &config, tick, "clean-up", &job).await
                        }
                        ScheduledJob::ExpireReservations => {
                            let job = ExpireReservations {
                                tick: tick.to_rfc3339(),
                            };
                            enqueue(&pool, &config, tick, "reservation expiry", &job).await
                        }
                        // Off without credentials: nothing to pull with.
                        ScheduledJob::KaspiOrders if !config.marketplaces.kaspi.enabled() => {}
                        ScheduledJob::KaspiOrders => {
                            let job = KaspiOrders {
                                tick: tick.to_rfc3339(),
                            };
                            enqueue(&pool, &config, tick, "Kaspi order pull", &job).await
                        }
                        ScheduledJob::OzonOrders | ScheduledJob::MarketplaceSync
                            if !config.marketplaces.ozon.enabled() => {}
                        ScheduledJob::OzonOrders => {
                            let job = OzonOrders {
                                tick: tick.to_rfc3339(),
                            };
                            enqueue(&pool, &config, tick, "Ozon posting pull", &job).await
                        }
                        ScheduledJob::MarketplaceSync => {
                            let job = OzonSync {
                                tick: tick.to_rfc3339(),
                            };
                            enqueue(&pool, &config, tick, "Ozon stock and price push", &job).await
                        }
                    }
                }
            };
            table::drive(&entry.schedule, fire, shutdown).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn enqueue<J: Job>(pool: &PgPool, config: &Config, tick: DateTime<Utc>, what: &str, job: &J) {
    let result = async {
        let mut conn = pool.acquire().await?;
        outbox::enqueue(&mut conn, &config.pipeline, job).await
    }
    .await;
    match result {
        Ok(Some(_)) => tracing::info!(%tick, what, "scheduled job enqueued"),
        Ok(None) => tracing::debug!(%tick, what, "already enqueued by another scheduler"),
        Err(e) => tracing::error!(%tick, what, error = %e, "could not enqueue a scheduled job"),
    }
}
