//! Trims what would otherwise grow forever: finished outbox rows past their
//! retention, dead tokens, old health runs, old webhook deliveries, and the
//! task data, `done` and `dead` sets that apalis-redis never expires.

use std::time::Duration;

use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use bazaar_core::{health, outbox, queue_keys, redis_conn};

use bazaar_core::jobs::Cleanup;

use super::{Context, ExternalHandler, JobError, Outcome};
use crate::JobEnvelope;

pub struct CleanupHandler;

impl ExternalHandler for CleanupHandler {
    type Job = Cleanup;
    const SOLO: bool = true;

    async fn run(cx: Context<'_>, _: Cleanup) -> Outcome {
        run(cx).await
    }
}

async fn run(cx: Context<'_>) -> Outcome {
    let deps = cx.deps;
    let db = |e: sqlx::Error| JobError::retry(format!("clean-up query failed: {e}"));
    let pool = &deps.pool;
    let jobs = outbox::purge_finished(pool, &deps.config.pipeline)
        .await
        .map_err(db)?;
    let tokens = sqlx::query(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'
            OR revoked_at < now() - interval '1 day'",
    )
    .execute(pool)
    .await
    .map_err(db)?
    .rows_affected();
    let resets = sqlx::query(
        "DELETE FROM password_reset_tokens WHERE expires_at < now() - interval '1 day'",
    )
    .execute(pool)
    .await
    .map_err(db)?
    .rows_affected();
    let runs = health::purge_runs(pool, Duration::from_secs(30 * 24 * 3600))
        .await
        .map_err(db)?;
    let carts =
        bazaar_core::commerce::cart::purge_guests(pool, deps.config.commerce.cart_guest_ttl)
            .await
            .map_err(|e| JobError::retry(format!("purging guest carts: {e:#}")))?;
    let probes = sqlx::query("DELETE FROM job_probes WHERE finished_at < now() - interval '1 day'")
        .execute(pool)
        .await
        .map_err(db)?
        .rows_affected();
    // Messenger bookkeeping: used or expired link tokens; webhook deliveries
    // long past any redelivery (Meta retries for days, Telegram for less),
    // whose jobs finished; contacts whose 24-hour window closed long ago.
    // The `messages` rows stay: they are the shop's record of what was sent.
    let inbound = sqlx::query(
        "WITH t AS (DELETE FROM telegram_link_tokens WHERE expires_at < now() - interval '1 day'),
              c AS (DELETE FROM whatsapp_contacts WHERE last_inbound_at < now() - interval '7 days')
         DELETE FROM inbound_updates WHERE received_at < now() - interval '30 days'",
    )
    .execute(pool)
    .await
    .map_err(db)?
    .rows_affected();

    let config = &deps.config;
    let conn = redis_conn::connect(&config.redis_url, config.redis_response_timeout)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let mut redis_tasks = 0;
    for queue in super::queues() {
        let name = queue_keys::queue_name(&config.redis_prefix, queue.as_str());
        let mut storage = RedisStorage::<JobEnvelope>::new(conn.clone())
            .with_config(crate::storage_config::base(&config.redis_prefix, &name));
        redis_tasks += storage
            .vacuum()
            .await
            .map_err(|e| JobError::retry(format!("vacuuming {name}: {e}")))?;
        let mut c = conn.clone();
        let cutoff = chrono::Utc::now().timestamp() - 3600;
        redis_tasks += queue_keys::forget_stale_workers(&mut c, &name, cutoff)
            .await
            .map_err(|e| JobError::retry(format!("forgetting stale workers of {name}: {e}")))?
            as usize;
        redis::pipe()
            .del(queue_keys::done_set(&name))
            .del(queue_keys::dead_set(&name))
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| JobError::retry(format!("trimming {name}: {e}")))?;
    }
    tracing::info!(
        jobs,
        tokens,
        resets,
        runs,
        probes,
        inbound,
        carts,
        redis_tasks,
        "clean-up done"
    );
    Ok(())
}
