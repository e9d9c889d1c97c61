//! The apalis handler shared by every queue: hands the task to its queue's
//! batch executor (see `batch`) and records metrics.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};

use crate::{
    batch::{Outcome, Timer},
    jobs, JobEnvelope, Runtime,
};

/// An `Err` means bazaar could not even record the outcome (database
/// unreachable); apalis then redelivers the task a few seconds later.
pub async fn handle(envelope: JobEnvelope, runtime: Data<Arc<Runtime>>) -> Result<(), BoxDynError> {
    let timer = Timer::start();
    let Some(queue) = jobs::lookup(&envelope.kind).map(|e| e.queue) else {
        // A kind from a newer version (rolling deploy): leave the row pending,
        // untouched, for the relay to deliver again later to a worker that
        // knows it. Spending its attempts here could fail it for good.
        tracing::warn!(job.id = %envelope.id, job.kind = %envelope.kind, "unknown job kind; deferred");
        metrics::counter!("bazaar_jobs_total", "queue" => "unknown", "outcome" => "deferred")
            .increment(1);
        return Ok(());
    };
    let (id, kind) = (envelope.id, envelope.kind.clone());
    let outcome = runtime.executor(queue).run(envelope).await.map_err(|e| {
        tracing::warn!(job.id = %id, job.kind = %kind, error = format!("{e:#}"), "job could not run; apalis will redeliver it");
        BoxDynError::from(format!("{e:#}"))
    })?;
    let queue = queue.as_str();
    metrics::counter!("bazaar_jobs_total", "queue" => queue, "outcome" => outcome.as_str())
        .increment(1);
    if outcome != Outcome::Duplicate {
        metrics::histogram!("bazaar_job_duration_seconds", "queue" => queue)
            .record(timer.seconds());
    }
    Ok(())
}
