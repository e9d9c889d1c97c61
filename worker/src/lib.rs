//! The `worker` role: the outbox relay plus one supervised apalis worker per
//! queue that has jobs. See `relay` for how rows reach Redis, `supervisor` for
//! how workers survive Redis failures, `execute` for the exactly-once rules.

mod batch;
mod deps;
mod envelope;
mod execute;
pub mod jobs;
mod marketplaces;
mod message_store;
mod messengers;
mod polling;
mod relay;
mod storage_config;
mod supervisor;
mod telegram_updates;

use std::sync::Arc;

use anyhow::Context;
use bazaar_core::{config::Config, jobs::Queue};
use bazaar_integrations::smtp::Mailer;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use deps::Deps;

/// The worker's own pool: [`pool_size`] connections, and sessions that sit in
/// a transaction longer than any job may run are ended by PostgreSQL.
pub async fn connect_pool(config: &Config) -> anyhow::Result<PgPool> {
    let longest = config.pipeline.longest_timeout();
    bazaar_core::db::connect_with(
        &config.database_url,
        pool_size(config),
        Some(longest + std::time::Duration::from_secs(60)),
        config
            .database_acquire_timeout
            .max(std::time::Duration::from_secs(5)),
    )
    .await
}

/// Connections the worker role needs: at most one per batch running at once
/// (each running job in the worst case), plus the relay's (claim and LISTEN)
/// and a spare, capped at `DATABASE_MAX_CONNECTIONS`: batches share
/// transactions, so under load far fewer are needed, and a batch that finds
/// the pool busy waits for a connection.
pub fn pool_size(config: &Config) -> u32 {
    let jobs: usize = jobs::queues()
        .into_iter()
        .map(|q| config.pipeline.policy(q).concurrency)
        .sum();
    (jobs as u32 + 3).min(config.database_max_connections.max(4))
}

/// What every handler of this process shares: one batch executor per queue.
pub struct Runtime {
    executors: std::collections::HashMap<Queue, batch::Executor>,
    /// For tasks whose kind this version does not know (they are retried).
    fallback: batch::Executor,
}

impl Runtime {
    fn executor(&self, queue: Queue) -> &batch::Executor {
        self.executors.get(&queue).unwrap_or(&self.fallback)
    }
}
pub use envelope::JobEnvelope;

/// Runs the relay and the workers until `shutdown` fires, then lets in-flight
/// jobs finish. An error means the role cannot go on (Redis gone for longer
/// than the supervisor tolerates, or the database listener failed for good).
pub async fn run(
    config: Arc<Config>,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    bazaar_core::telemetry::prometheus();
    let smtp_url = config
        .smtp_url
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret);
    let mailer = Mailer::new(smtp_url, &config.mail_from, &config.mail_outbox_dir)
        .context("configuring e-mail")?;
    tracing::info!(transport = mailer.describe(), "e-mail configured");
    let storage = bazaar_core::storage::Storage::from_url(&config.storage_url)?;
    let redis = bazaar_core::redis_conn::connect(&config.redis_url, config.redis_response_timeout)
        .await
        .context("connecting to Redis for rate limits")?;
    let shop = bazaar_core::shop::Shop::new(&config);
    for line in shop.channels.describe() {
        tracing::warn!("{line}");
    }
    let deps = Arc::new(Deps {
        messengers: messengers::Messengers::new(
            &config,
            pool.clone(),
            bazaar_core::throttle::Throttle::new(redis.clone()),
        ),
        marketplaces: marketplaces::Marketplaces::new(&config, redis.clone()),
        pool: pool.clone(),
        mailer,
        twitter: deps::twitter(&config),
        payments: bazaar_integrations::wire::payment_providers(&config),
        shop,
        storage,
        config: config.clone(),
    });

    // Batches may use the pool but for the relay's two connections and one
    // for jobs that query on their own (the clean-up).
    let shared = batch::Shared::new(pool_size(&config).saturating_sub(3) as usize);
    let runtime = Arc::new(Runtime {
        executors: jobs::queues()
            .into_iter()
            .map(|q| {
                let executor = batch::Executor::start(
                    deps.clone(),
                    shared.clone(),
                    config.pipeline.policy(q).concurrency,
                );
                (q, executor)
            })
            .collect(),
        fallback: batch::Executor::start(deps.clone(), shared.clone(), 1),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(relay::run(deps.clone(), shutdown.clone()));
    tasks.spawn(telegram_updates::run(deps.clone(), redis, shutdown.clone()));
    for queue in jobs::queues() {
        tasks.spawn(supervisor::run(
            deps.clone(),
            runtime.clone(),
            queue,
            shutdown.clone(),
        ));
    }
    tracing::info!(queues = ?jobs::queues(), "worker started");

    let mut result = Ok(());
    let drain = shared.clone();
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("worker task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(
                error = format!("{e:#}"),
                "worker component stopped; shutting down"
            );
            shutdown.cancel();
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    // The workers stopped fetching; let the batches they handed over finish
    // and commit before the pool closes.
    drain.drain().await;
    result
}
