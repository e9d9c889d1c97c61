//! The apalis handler shared by every queue: hands the task to its queue's
//! batch executor (see `batch`) and records metrics.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use bazaar_core::jobs::Queue;

use crate::{
    batch::{Outcome, Timer},
    jobs, JobEnvelope, Runtime,
};

/// An `Err` means bazaar could not even record the outcome (database
/// unreachable); apalis then redelivers the task a few seconds later.
pub async fn handle(envelope: JobEnvelope, runtime: Data<Arc<Runtime>>) -> Result<(), BoxDynError> {
    let timer = Timer::start();
    let queue = jobs::queue_of(&envelope.kind);
    let (id, kind) = (envelope.id, envelope.kind.clone());
    let outcome = runtime.executor(queue.unwrap_or(Queue::Ops)).run(envelope).await.map_err(|e| {
        tracing::warn!(job.id = %id, job.kind = %kind, error = format!("{e:#}"), "job could not run; apalis will redeliver it");
        BoxDynError::from(format!("{e:#}"))
    })?;
    let queue = queue.map(Queue::as_str).unwrap_or("unknown");
    metrics::counter!("bazaar_jobs_total", "queue" => queue, "outcome" => outcome.as_str())
        .increment(1);
    if outcome != Outcome::Duplicate {
        metrics::histogram!("bazaar_job_duration_seconds", "queue" => queue)
            .record(timer.seconds());
    }
    Ok(())
}
