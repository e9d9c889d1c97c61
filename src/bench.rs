//! `bazaar bench jobs`: measures the job pipeline of a running system
//! (outbox -> relay -> Redis -> worker) with no-op jobs. Times come from the
//! outbox: `created_at` (enqueued) and `finished_at` (the done mark, committed
//! right after the job ran; for a no-op, its start plus bookkeeping).

use std::time::Duration;

use anyhow::Context;
use bazaar_core::{config::Config, db, jobs::NoOp, outbox};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub async fn jobs(config: &Config, count: usize, rate: u32, seconds: u64) -> anyhow::Result<()> {
    let pool = db::prepare(&config.database_url, 4).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    println!(
        "bench jobs: run {run} against {}",
        bazaar_core::config::mask_url(&config.database_url)
    );

    // Phase 1: a burst, for throughput.
    let prefix = format!("bench:{run}:burst:");
    let jobs: Vec<NoOp> = (0..count)
        .map(|i| NoOp {
            key: format!("{prefix}{i}"),
        })
        .collect();
    let mut tx = pool.begin().await?;
    for chunk in jobs.chunks(5_000) {
        outbox::enqueue_batch(&mut tx, &config.pipeline, chunk).await?;
    }
    tx.commit().await?;
    let committed: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&pool)
        .await?;
    let last = wait_for(&pool, &prefix, count, Duration::from_secs(600)).await?;
    let elapsed = (last - committed).num_milliseconds().max(1) as f64 / 1000.0;
    println!(
        "burst: {count} jobs in {elapsed:.2} s = {:.0} jobs/s (commit of the enqueue to the last job finished)",
        count as f64 / elapsed
    );

    // Phase 2: a steady rate, for enqueue-to-start latency.
    let prefix = format!("bench:{run}:steady:");
    let total = (u64::from(rate) * seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    for i in 0..total {
        ticker.tick().await;
        let mut conn = pool.acquire().await?;
        outbox::enqueue(
            &mut conn,
            &config.pipeline,
            &NoOp {
                key: format!("{prefix}{i}"),
            },
        )
        .await?;
    }
    wait_for(&pool, &prefix, total, Duration::from_secs(120)).await?;
    let (p50, p90, p99, max): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.9) WITHIN GROUP (ORDER BY d),
                percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d)
         FROM (SELECT (EXTRACT(EPOCH FROM finished_at - created_at) * 1000)::float8 AS d
               FROM outbox WHERE kind = 'ops.noop' AND starts_with(idempotency_key, $1)) s",
    )
    .bind(&prefix)
    .fetch_one(&pool)
    .await?;
    println!("steady: {total} jobs at {rate}/s: enqueue-to-done p50 {p50:.1} ms, p90 {p90:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");

    sqlx::query("DELETE FROM outbox WHERE kind = 'ops.noop' AND starts_with(idempotency_key, $1)")
        .bind(format!("bench:{run}:"))
        .execute(&pool)
        .await?;
    Ok(())
}

/// Waits until the `count` jobs with `prefix` are done; returns when the last
/// finished.
async fn wait_for(
    pool: &PgPool,
    prefix: &str,
    count: usize,
    limit: Duration,
) -> anyhow::Result<DateTime<Utc>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        // Pending rows are few and indexed: a cheap poll that does not load
        // the database being measured.
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND kind = 'ops.noop'",
        )
        .fetch_one(pool)
        .await?;
        if pending == 0 {
            let (done, last): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT count(*), max(finished_at) FROM outbox
                 WHERE kind = 'ops.noop' AND status = 'done' AND starts_with(idempotency_key, $1)",
            )
            .bind(prefix)
            .fetch_one(pool)
            .await?;
            anyhow::ensure!(
                done as usize == count,
                "{done} of {count} jobs done, none pending: some failed"
            );
            return last.context("no job finished");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{pending} of {count} jobs still pending after {} s: is a worker running against this database?",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
