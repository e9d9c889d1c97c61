//! The transactional outbox, which is also the durable record of every job.
//!
//! Life of a job: `enqueue` writes a row in the caller's transaction (status
//! `pending`, `due_at` now). The relay `claim_due`s rows whose `due_at` passed,
//! pushes them to Redis and moves `due_at` forward by the redelivery timeout, so
//! a job lost with Redis is pushed again. A worker locks the rows of a batch
//! (`lock_many`, skipping rows another worker holds), runs the effects inside
//! that transaction and marks each `done`, schedules a retry, or marks it
//! `failed`, before committing. The row lock makes
//! duplicate deliveries harmless; database effects in the same transaction
//! happen exactly once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    config::PipelineConfig,
    jobs::{Job, Queue},
};

/// Writes `job` to the outbox. Returns `None` when a job with the same
/// idempotency key exists already (the enqueue is then a no-op).
pub async fn enqueue<J: Job>(
    conn: &mut PgConnection,
    pipeline: &PipelineConfig,
    job: &J,
) -> sqlx::Result<Option<Uuid>> {
    enqueue_after(conn, pipeline, job, Duration::ZERO).await
}

/// Like `enqueue`, but the job becomes due only after `delay`.
pub async fn enqueue_after<J: Job>(
    conn: &mut PgConnection,
    pipeline: &PipelineConfig,
    job: &J,
    delay: Duration,
) -> sqlx::Result<Option<Uuid>> {
    insert(
        conn,
        J::QUEUE,
        J::KIND.as_str(),
        serde_json::to_value(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
        &job.idempotency_key(),
        pipeline.policy(J::QUEUE).max_attempts,
        delay,
    )
    .await
}

pub async fn enqueue_raw(
    conn: &mut PgConnection,
    queue: Queue,
    kind: &str,
    payload: serde_json::Value,
    idempotency_key: &str,
    max_attempts: i32,
) -> sqlx::Result<Option<Uuid>> {
    insert(
        conn,
        queue,
        kind,
        payload,
        idempotency_key,
        max_attempts,
        Duration::ZERO,
    )
    .await
}

async fn insert(
    conn: &mut PgConnection,
    queue: Queue,
    kind: &str,
    payload: serde_json::Value,
    idempotency_key: &str,
    max_attempts: i32,
    delay: Duration,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(queue.as_str())
    .bind(kind)
    .bind(payload)
    .bind(idempotency_key)
    .bind(max_attempts)
    .bind(delay.as_secs_f64())
    .fetch_optional(conn)
    .await
}

/// Writes `job` as one statement within a larger one (a hot path's single
/// round trip, see `commerce::checkout`): `INSERT INTO outbox ... ON
/// CONFLICT DO NOTHING`, due now; a duplicate key is skipped.
pub fn push_insert<J: Job>(
    q: &mut QueryBuilder<Postgres>,
    pipeline: &PipelineConfig,
    job: &J,
) -> sqlx::Result<()> {
    let payload = serde_json::to_value(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    q.push("INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts) VALUES (")
        .push_bind(Uuid::now_v7())
        .push(", ")
        .push_bind(J::QUEUE.as_str())
        .push(", ")
        .push_bind(J::KIND.as_str())
        .push(", ")
        .push_bind(payload)
        .push(", ")
        .push_bind(job.idempotency_key())
        .push(", ")
        .push_bind(pipeline.policy(J::QUEUE).max_attempts)
        .push(") ON CONFLICT (idempotency_key) DO NOTHING");
    Ok(())
}

/// Writes many jobs of one kind in one statement (bulk producers: imports,
/// benchmarks). Returns how many were new.
pub async fn enqueue_batch<J: Job>(
    conn: &mut PgConnection,
    pipeline: &PipelineConfig,
    jobs: &[J],
) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
    let keys: Vec<String> = jobs.iter().map(Job::idempotency_key).collect();
    let payloads = jobs
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let result = sqlx::query(
        "INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
         SELECT t.id, $4, $5, t.payload, t.key, $6
         FROM unnest($1::uuid[], $2::jsonb[], $3::text[]) AS t(id, payload, key)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&ids)
    .bind(&payloads)
    .bind(&keys)
    .bind(J::QUEUE.as_str())
    .bind(J::KIND.as_str())
    .bind(pipeline.policy(J::QUEUE).max_attempts)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// A row handed to the relay: what goes into Redis.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueJob {
    pub id: Uuid,
    pub kind: String,
}

/// Claims up to `limit` due rows of `queue` for relaying: `SKIP LOCKED` lets
/// several relays share the work, and the new `due_at` (now +
/// `redeliver_after`) keeps them from being pushed twice unless they are still
/// pending by then. The caller commits before pushing (see the relay).
pub async fn claim_due(
    conn: &mut PgConnection,
    queue: Queue,
    limit: i64,
    redeliver_after: Duration,
) -> sqlx::Result<Vec<DueJob>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM outbox
             WHERE status = 'pending' AND queue = $1 AND due_at <= now()
             ORDER BY due_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE outbox o
         SET due_at = now() + make_interval(secs => $3), relay_count = relay_count + 1
         FROM due WHERE o.id = due.id
         RETURNING o.id, o.kind",
    )
    .bind(queue.as_str())
    .bind(limit)
    .bind(redeliver_after.as_secs_f64())
    .fetch_all(conn)
    .await
}

/// Makes claimed rows due again at once (their push to Redis failed).
pub async fn make_due_now(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET due_at = now() WHERE id = ANY($1) AND status = 'pending'")
        .bind(ids)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A job locked by a worker for execution.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedJob {
    pub id: Uuid,
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Locks the pending jobs among `ids` for execution, in the caller's
/// transaction. Missing from the result: done or failed already, or running
/// in another worker right now (a duplicate delivery).
pub async fn lock_many(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<LockedJob>> {
    // `status || ''` keeps the planner on the primary key: with `status =
    // 'pending'` it may pick the partial index of pending rows (statistics
    // taken while the queue was empty say it is tiny) and scan all of it,
    // once per batch. Rows waiting for a retry are left alone: a redelivered
    // copy must not cut the backoff short.
    sqlx::query_as(
        "SELECT id, queue, kind, payload, idempotency_key, attempts, max_attempts, created_at
         FROM outbox
         WHERE id = ANY($1) AND status || '' = 'pending' AND (retry_at IS NULL OR retry_at <= now())
         FOR UPDATE SKIP LOCKED",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Marks jobs done. Their payload is dropped: it is never needed again and
/// may hold secrets (a password-reset link).
pub async fn mark_done(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'done', attempts = attempts + 1, finished_at = now(), last_error = NULL,
                payload = '{}'::jsonb
         WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Counts the failed attempt and makes the row due again after `delay`.
pub async fn schedule_retry(
    conn: &mut PgConnection,
    id: Uuid,
    delay: Duration,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, due_at = now() + make_interval(secs => $2),
                retry_at = now() + make_interval(secs => $2), last_error = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(delay.as_secs_f64())
    .bind(truncate(error))
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn mark_failed(conn: &mut PgConnection, id: Uuid, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, finished_at = now(), last_error = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(truncate(error))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Bounded, and without NUL (PostgreSQL text cannot hold it): recording a
/// failure must not fail.
fn truncate(error: &str) -> String {
    error.chars().filter(|c| *c != '\0').take(2000).collect()
}

/// Puts a failed job back in line with a fresh attempt budget.
/// Returns false when no failed job with that id exists in that queue.
pub async fn retry_failed(pool: &PgPool, queue: Queue, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE outbox SET status = 'pending', due_at = now(), finished_at = NULL,
                max_attempts = attempts + GREATEST(max_attempts - attempts, 1)
         WHERE id = $1 AND queue = $2 AND status = 'failed'",
    )
    .bind(id)
    .bind(queue.as_str())
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives up on a failed job: it stays in the outbox as `discarded`, with
/// who discarded it, until the failed-job retention purges it. Returns
/// false when no failed job with that id exists in that queue.
pub async fn discard_failed(pool: &PgPool, queue: Queue, id: Uuid, by: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE outbox SET status = 'discarded', discarded_by = $3, finished_at = now()
         WHERE id = $1 AND queue = $2 AND status = 'failed'",
    )
    .bind(id)
    .bind(queue.as_str())
    .bind(by)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxLag {
    /// Rows due for relaying that the relay has not pushed yet.
    pub pending: i64,
    /// How long the oldest of them has been waiting.
    pub lag_seconds: f64,
}

pub async fn lag(pool: &PgPool) -> sqlx::Result<OutboxLag> {
    let (pending, lag_seconds): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - min(due_at))::float8
         FROM outbox WHERE status = 'pending' AND due_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(OutboxLag {
        pending,
        lag_seconds: lag_seconds.unwrap_or(0.0).max(0.0),
    })
}

#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct QueueCounts {
    pub queue: String,
    /// Not yet run: waiting in the outbox or in Redis.
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
    /// Failed jobs an admin gave up on.
    pub discarded: i64,
    /// Jobs that needed more than one attempt (pending or finished).
    pub retried: i64,
    pub failed_last_hour: i64,
}

pub async fn queue_counts<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<Vec<QueueCounts>> {
    let rows: Vec<QueueCounts> = sqlx::query_as(
        "SELECT queue,
                count(*) FILTER (WHERE status = 'pending') AS pending,
                count(*) FILTER (WHERE status = 'done') AS done,
                count(*) FILTER (WHERE status = 'failed') AS failed,
                count(*) FILTER (WHERE status = 'discarded') AS discarded,
                count(*) FILTER (WHERE attempts > 1 OR (status = 'pending' AND attempts > 0)) AS retried,
                count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '1 hour') AS failed_last_hour
         FROM outbox GROUP BY queue",
    )
    .fetch_all(db)
    .await?;
    Ok(Queue::ALL
        .iter()
        .map(|q| {
            rows.iter()
                .find(|r| r.queue == q.as_str())
                .cloned()
                .unwrap_or_else(|| QueueCounts {
                    queue: q.as_str().to_owned(),
                    ..Default::default()
                })
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FailedJob {
    pub id: Uuid,
    pub queue: String,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn latest_failures<'e>(
    db: impl sqlx::PgExecutor<'e>,
    limit: i64,
) -> sqlx::Result<Vec<FailedJob>> {
    sqlx::query_as(
        "SELECT id, queue, kind, attempts, last_error, created_at, finished_at
         FROM outbox WHERE status = 'failed' ORDER BY finished_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Deletes finished rows past their retention. Returns how many went.
pub async fn purge_finished(pool: &PgPool, pipeline: &PipelineConfig) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM outbox WHERE status = 'done' AND finished_at < now() - make_interval(secs => $1)",
    )
    .bind(pipeline.done_retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    let failed = sqlx::query(
        "DELETE FROM outbox WHERE status IN ('failed', 'discarded') AND finished_at < now() - make_interval(secs => $1)",
    )
    .bind(pipeline.failed_retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done + failed)
}
