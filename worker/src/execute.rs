//! Running one delivered job. The outbox row is locked for the whole run
//! (`FOR UPDATE SKIP LOCKED`), so a duplicate delivery of the same job skips it
//! instead of running it twice; database effects are written in the same
//! transaction and commit together with the `done` mark. A failure rolls the
//! transaction back and is recorded in a new one (guarded by `status =
//! 'pending'`); a duplicate delivery landing in that instant may run the job
//! again, which at-least-once delivery allows.
//!
//! Failures follow bazaar's own retry policy, not apalis-redis's (which retries
//! at `now + attempt` seconds, 25 times, ignoring `max_attempts`): a retryable
//! failure makes the row due again after an exponential backoff with jitter,
//! and the relay delivers it again; when attempts run out the row is `failed`,
//! visible in the admin API and retryable from there.

use std::{sync::Arc, time::Instant};

use apalis::prelude::{BoxDynError, Data};
use bazaar_core::{jobs::retry_delay, jobs::Queue, outbox};
use rand::Rng;

use crate::{
    jobs::{self, JobError},
    Deps, JobEnvelope,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Retried,
    Failed,
    /// Done already, or running in another worker: a duplicate delivery.
    Duplicate,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// The apalis handler shared by every queue. An `Err` here means bazaar could
/// not even record the outcome (database unreachable); apalis then redelivers
/// the task a few seconds later.
pub async fn handle(envelope: JobEnvelope, deps: Data<Arc<Deps>>) -> Result<(), BoxDynError> {
    let started = Instant::now();
    let (queue, outcome) = run(&deps, &envelope).await.map_err(|e| {
        tracing::warn!(job.id = %envelope.id, job.kind = %envelope.kind, error = format!("{e:#}"), "job could not run; apalis will redeliver it");
        BoxDynError::from(e)
    })?;
    let queue = queue.map(Queue::as_str).unwrap_or("unknown");
    metrics::counter!("bazaar_jobs_total", "queue" => queue, "outcome" => outcome.as_str())
        .increment(1);
    if outcome != Outcome::Duplicate {
        metrics::histogram!("bazaar_job_duration_seconds", "queue" => queue)
            .record(started.elapsed().as_secs_f64());
    }
    Ok(())
}

#[tracing::instrument(name = "job", skip_all, fields(job.id = %envelope.id, job.kind = %envelope.kind, job.queue))]
async fn run(deps: &Deps, envelope: &JobEnvelope) -> anyhow::Result<(Option<Queue>, Outcome)> {
    let mut tx = deps.pool.begin().await?;
    let Some(job) = outbox::lock(&mut tx, envelope.id).await? else {
        tracing::debug!("duplicate delivery skipped");
        return Ok((jobs::queue_of(&envelope.kind), Outcome::Duplicate));
    };
    let queue = Queue::parse(&job.queue);
    tracing::Span::current().record("job.queue", job.queue.as_str());
    let policy = deps
        .config
        .pipeline
        .policy(queue.unwrap_or(Queue::Ops))
        .clone();

    // The job's database effects share the transaction that holds the lock and
    // commit with the `done` mark; on failure the whole transaction is rolled
    // back and the failure recorded in a new one (no savepoint round trips on
    // the success path).
    let result = tokio::time::timeout(policy.timeout, jobs::dispatch(deps, &mut tx, &job))
        .await
        .unwrap_or_else(|_| {
            Err(JobError::retry(format!(
                "timed out after {} s",
                policy.timeout.as_secs()
            )))
        });
    let Err(error) = result else {
        outbox::mark_done(&mut tx, job.id).await?;
        tx.commit().await?;
        return Ok((queue, Outcome::Succeeded));
    };
    tx.rollback().await?;
    let mut conn = deps.pool.acquire().await?;

    let outcome = match error {
        JobError::Retry { message, after } if job.attempts + 1 < job.max_attempts => {
            let jitter: f64 = rand::rng().random();
            let delay = after.unwrap_or_else(|| {
                retry_delay(
                    job.attempts + 1,
                    policy.backoff_base,
                    policy.backoff_max,
                    jitter,
                )
            });
            tracing::warn!(attempt = job.attempts + 1, retry_in_ms = delay.as_millis() as u64, error = %message, "job failed; will retry");
            outbox::schedule_retry(&mut conn, job.id, delay, &message).await?;
            Outcome::Retried
        }
        e => {
            tracing::error!(attempt = job.attempts + 1, error = %e, "job failed for good");
            outbox::mark_failed(&mut conn, job.id, &e.to_string()).await?;
            Outcome::Failed
        }
    };
    Ok((queue, outcome))
}
