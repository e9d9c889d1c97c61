//! Keeps one apalis worker per queue alive.
//!
//! apalis-redis ends a worker on any Redis error (restart, timeout, broken
//! pipe), and `Monitor::run_with_signal` then returns `Ok(())`: the process
//! would idle, processing nothing. So each worker runs under this loop, which
//! rebuilds the connection and the worker with backoff; it gives up (and the
//! process exits non-zero) only when workers keep failing for
//! `WORKER_GIVE_UP_SECS`. Every start uses a fresh worker name, because
//! apalis-redis refuses a name seen within the heartbeat threshold.

use std::{sync::Arc, time::Duration};

use apalis::prelude::{BackendExt, WorkerBuilder, WorkerBuilderExt};
use apalis_redis::RedisStorage;
use bazaar_core::{jobs::Queue, queue_keys, redis_conn};
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{execute, polling::Tick, Deps, JobEnvelope, Runtime};

/// A run that lasted this long counts as healthy and resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(
    deps: Arc<Deps>,
    runtime: Arc<Runtime>,
    queue: Queue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = deps.config.clone();
    let pipeline = &config.pipeline;
    let policy = pipeline.policy(queue).clone();
    let give_up = config.worker_give_up;
    let name = queue_keys::queue_name(&config.redis_prefix, queue.as_str());
    let mut backoff = Duration::from_millis(100);
    let mut failing_since: Option<Instant> = None;

    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let started = Instant::now();
        let failure = match redis_conn::connect(&config.redis_url, config.redis_response_timeout)
            .await
        {
            Err(e) => format!("{e:#}"),
            Ok(conn) => {
                let worker_name = unique_worker_name(queue);
                let storage = RedisStorage::<JobEnvelope>::new(conn).with_config(
                    crate::storage_config::base(&config.redis_prefix, &name)
                        .heartbeat_interval(pipeline.worker_heartbeat)
                        .missed_heartbeats(pipeline.worker_missed_heartbeats)
                        .batch_size(pipeline.worker_batch_size)
                        // persist_results also switches acknowledgements on:
                        // without it finished tasks stay in the inflight set.
                        .persist_results(true)
                        // Leases run an LREM over the whole active list per
                        // task (O(backlog)); the outbox row lock already
                        // guarantees one runner, and orphans are recovered
                        // from the inflight set either way.
                        .lock_tasks(false)
                        .emit_events(false),
                );
                let worker = WorkerBuilder::new(worker_name.as_str())
                    .backend(storage.poll_with_strategy(Tick::every(pipeline.worker_poll_interval)))
                    .concurrency(policy.concurrency)
                    .data(runtime.clone())
                    .build(execute::handle);
                tracing::info!(queue = %queue, worker = %worker_name, concurrency = policy.concurrency, "apalis worker starting");
                let stop = shutdown.clone();
                let result = worker
                    .run_until(async move {
                        stop.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    })
                    .await;
                if shutdown.is_cancelled() {
                    tracing::info!(queue = %queue, worker = %worker_name, "apalis worker stopped");
                    return Ok(());
                }
                match result {
                    Ok(()) => format!("worker {worker_name} stopped on its own"),
                    Err(e) => format!("worker {worker_name} failed: {e}"),
                }
            }
        };

        if started.elapsed() >= HEALTHY_RUN {
            backoff = Duration::from_millis(100);
            failing_since = None;
        }
        let since = *failing_since.get_or_insert(started);
        metrics::counter!("bazaar_worker_restarts_total", "queue" => queue.as_str()).increment(1);
        if since.elapsed() >= give_up {
            anyhow::bail!(
                "queue {queue}: workers kept failing for {} s, last: {failure}",
                give_up.as_secs()
            );
        }
        tracing::warn!(queue = %queue, error = %failure, retry_in_ms = backoff.as_millis() as u64, "restarting apalis worker");
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn unique_worker_name(queue: Queue) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let suffix: u32 = rand::rng().random();
    format!("{queue}-{host}-{}-{suffix:08x}", std::process::id())
}
