//! Runs delivered jobs in batches. apalis hands tasks to the handler one by
//! one, but fetches them 50 at a time; the handlers pass them here, and the
//! jobs with external effects that arrive together share one transaction:
//!
//! ```text
//! BEGIN
//! SELECT ... WHERE id = ANY($1) AND status = 'pending' FOR UPDATE SKIP LOCKED
//!   run the jobs concurrently
//! UPDATE ... SET status = 'done' WHERE id = ANY($2)   (+ one UPDATE per retry or failure)
//! COMMIT
//! ```
//!
//! A job with database effects writes through the transaction, so it gets one
//! of its own (a batch of one, its writes in a savepoint) and runs
//! concurrently with the others rather than after them.
//!
//! The row locks make duplicate deliveries skip (a locked or finished row is
//! not returned); database effects commit with their `done` mark, exactly
//! once. Bookkeeping costs four statements per batch instead of per job.
//! Under light load a batch is a single job, so latency does not wait for
//! company.

use std::{collections::HashMap, panic::AssertUnwindSafe, sync::Arc, time::Instant};

use bazaar_core::{
    jobs::{retry_delay, Queue},
    outbox::{self, LockedJob},
};
use futures::FutureExt;
use rand::Rng;
use sqlx::{Acquire, PgConnection};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::{
    jobs::{self, Effects, JobError},
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
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// What the handler gets back: the outcome, or an error meaning the batch's
/// transaction failed (database unreachable) and apalis should redeliver.
pub type Reply = Result<Outcome, Arc<anyhow::Error>>;

struct Request {
    envelope: JobEnvelope,
    reply: oneshot::Sender<Reply>,
}

/// What all executors of a process share: connection permits and the
/// batches in flight (awaited on shutdown).
#[derive(Clone)]
pub struct Shared {
    /// One per pool connection batches may use; the rest of the pool stays
    /// free for the relay and for jobs that query on their own. A batch waits
    /// for a permit instead of failing on the pool's acquire timeout.
    permits: Arc<Semaphore>,
    batches: TaskTracker,
}

impl Shared {
    pub fn new(connections: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(connections.max(1))),
            batches: TaskTracker::new(),
        }
    }

    /// Waits for the batches in flight (after the workers stopped fetching).
    pub async fn drain(&self) {
        self.batches.close();
        self.batches.wait().await;
    }
}

#[derive(Clone)]
pub struct Executor {
    requests: mpsc::UnboundedSender<Request>,
}

impl Executor {
    /// Starts the collector. At most `max_batch` jobs share a transaction.
    pub fn start(deps: Arc<Deps>, shared: Shared, max_batch: usize) -> Self {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match incoming.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let (alone, together): (Vec<Request>, Vec<Request>) = batch
                    .into_iter()
                    .partition(|r| jobs::effects_of(&r.envelope.kind) != Effects::External);
                if !together.is_empty() {
                    shared
                        .batches
                        .spawn(run_batch(deps.clone(), shared.clone(), together));
                }
                for request in alone {
                    shared
                        .batches
                        .spawn(run_batch(deps.clone(), shared.clone(), vec![request]));
                }
            }
        });
        Self { requests }
    }

    pub async fn run(&self, envelope: JobEnvelope) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { envelope, reply })
            .map_err(|_| Arc::new(anyhow::anyhow!("job executor stopped")))?;
        answer
            .await
            .map_err(|_| Arc::new(anyhow::anyhow!("job executor dropped the job")))?
    }
}

async fn run_batch(deps: Arc<Deps>, shared: Shared, batch: Vec<Request>) {
    let ids: Vec<Uuid> = batch.iter().map(|r| r.envelope.id).collect();
    // A batch never outlives its slowest job by much: a hung statement or
    // commit must not hold the jobs' apalis slots forever.
    let deadline = deps.config.pipeline.longest_timeout() + std::time::Duration::from_secs(30);
    let outcome = match shared.permits.acquire().await {
        Ok(_permit) => tokio::time::timeout(deadline, execute(&deps, &ids))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("batch exceeded {} s", deadline.as_secs()))),
        Err(_) => Err(anyhow::anyhow!("job executor closed")),
    };
    match outcome {
        Ok(outcomes) => {
            for r in batch {
                let outcome = outcomes
                    .get(&r.envelope.id)
                    .copied()
                    .unwrap_or(Outcome::Duplicate);
                let _ = r.reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for r in batch {
                let _ = r.reply.send(Err(e.clone()));
            }
        }
    }
}

async fn execute(deps: &Deps, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Outcome>> {
    let mut tx = deps.pool.begin().await?;
    let locked = outbox::lock_many(&mut tx, ids).await?;
    if let Some(job) = locked
        .iter()
        .find(|j| jobs::effects_of(&j.kind) == Effects::Database)
    {
        // Dropping a timed-out future does not stop its statement on the
        // server: bound statements and lock waits there too.
        let ms = policy(deps, job).timeout.as_millis().to_string();
        sqlx::query("SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)")
            .bind(ms)
            .execute(&mut *tx)
            .await?;
    }
    let (database, external): (Vec<&LockedJob>, Vec<&LockedJob>) = locked
        .iter()
        .partition(|j| jobs::effects_of(&j.kind) == Effects::Database);

    let external_runs = futures::future::join_all(external.iter().map(|job| async move {
        let result = run_timed(deps, job, jobs::run(deps, None, job)).await;
        (*job, result)
    }));
    let database_runs = async {
        let mut results = Vec::with_capacity(database.len());
        for job in &database {
            results.push((*job, run_in_savepoint(deps, &mut tx, job).await));
        }
        results
    };
    let (external_results, database_results) = tokio::join!(external_runs, database_runs);

    let mut outcomes = HashMap::with_capacity(locked.len());
    let mut done = Vec::new();
    for (job, result) in external_results.into_iter().chain(database_results) {
        let outcome = match result? {
            Ok(()) => {
                done.push(job.id);
                Outcome::Succeeded
            }
            Err(e) => record_failure(deps, &mut tx, job, e).await?,
        };
        outcomes.insert(job.id, outcome);
    }
    if !done.is_empty() {
        outbox::mark_done(&mut tx, &done).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn policy(deps: &Deps, job: &LockedJob) -> bazaar_core::config::QueuePolicy {
    deps.config
        .pipeline
        .policy(Queue::parse(&job.queue).unwrap_or(Queue::Ops))
        .clone()
}

/// The job's result within its queue's timeout. The outer `Result` is an
/// infrastructure failure that aborts the whole batch.
async fn run_timed(
    deps: &Deps,
    job: &LockedJob,
    run: impl std::future::Future<Output = Result<(), JobError>>,
) -> anyhow::Result<Result<(), JobError>> {
    let timeout = policy(deps, job).timeout;
    let span =
        tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.queue = %job.queue);
    // A panicking job fails for good rather than taking its batch down with
    // it again and again.
    let guarded = AssertUnwindSafe(run).catch_unwind().map(|r| {
        r.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(JobError::Permanent(format!("the job panicked: {message}")))
        })
    });
    Ok(
        tokio::time::timeout(timeout, tracing::Instrument::instrument(guarded, span))
            .await
            .unwrap_or_else(|_| {
                Err(JobError::retry(format!(
                    "timed out after {} s",
                    timeout.as_secs()
                )))
            }),
    )
}

async fn run_in_savepoint(
    deps: &Deps,
    tx: &mut PgConnection,
    job: &LockedJob,
) -> anyhow::Result<Result<(), JobError>> {
    let mut savepoint = tx.begin().await?;
    let result = run_timed(deps, job, jobs::run(deps, Some(&mut savepoint), job)).await?;
    match result {
        Ok(()) => savepoint.commit().await?,
        Err(_) => savepoint.rollback().await?,
    }
    Ok(result)
}

/// bazaar's retry policy (apalis-redis's is fixed at `now + attempt` seconds,
/// 25 times): exponential backoff with jitter until the queue's attempts run
/// out, then `failed`, visible in the admin API and retryable from there.
async fn record_failure(
    deps: &Deps,
    tx: &mut PgConnection,
    job: &LockedJob,
    error: JobError,
) -> anyhow::Result<Outcome> {
    let attempt = job.attempts + 1;
    match error {
        JobError::Retry { message, after } if attempt < job.max_attempts => {
            let p = policy(deps, job);
            let jitter: f64 = rand::rng().random();
            let delay = after
                .map(|a| a.min(p.backoff_max))
                .unwrap_or_else(|| retry_delay(attempt, p.backoff_base, p.backoff_max, jitter));
            tracing::warn!(job.id = %job.id, job.kind = %job.kind, attempt, retry_in_ms = delay.as_millis() as u64, error = %message, "job failed; will retry");
            outbox::schedule_retry(tx, job.id, delay, &message).await?;
            Ok(Outcome::Retried)
        }
        e => {
            tracing::error!(job.id = %job.id, job.kind = %job.kind, attempt, error = %e, "job failed for good");
            outbox::mark_failed(tx, job.id, &e.to_string()).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// How long a job took, for the duration histogram.
pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }

    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}
