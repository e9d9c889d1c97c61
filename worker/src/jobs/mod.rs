//! The job registry: every job kind, the queue it runs on, and its handler.

mod cleanup;
mod email;
mod probe;

use std::time::Duration;

use bazaar_core::{
    jobs::{Cleanup, Job, Probe, Queue, SendEmail},
    outbox::LockedJob,
};
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use crate::Deps;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt, after `after` if the provider said so.
    #[error("{message}")]
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// Another attempt cannot succeed.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(message: impl Into<String>) -> Self {
        JobError::Retry {
            message: message.into(),
            after: None,
        }
    }
}

/// The kinds this worker runs, with their queues.
const KINDS: &[(&str, Queue)] = &[
    (SendEmail::KIND, SendEmail::QUEUE),
    (Probe::KIND, Probe::QUEUE),
    (Cleanup::KIND, Cleanup::QUEUE),
];

pub fn queue_of(kind: &str) -> Option<Queue> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, q)| *q)
}

/// Queues that have at least one job kind; only these get workers.
pub fn queues() -> Vec<Queue> {
    Queue::ALL
        .into_iter()
        .filter(|q| KINDS.iter().any(|(_, kq)| kq == q))
        .collect()
}

fn payload<J: DeserializeOwned>(job: &LockedJob) -> Result<J, JobError> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload of {} does not parse: {e}", job.kind)))
}

/// Runs `job`. Database effects go through `conn` (the transaction that holds
/// the job's lock) so they commit only on success.
pub async fn dispatch(
    deps: &Deps,
    conn: &mut PgConnection,
    job: &LockedJob,
) -> Result<(), JobError> {
    match job.kind.as_str() {
        SendEmail::KIND => email::run(deps, payload(job)?).await,
        Probe::KIND => probe::run(conn, job, payload(job)?).await,
        Cleanup::KIND => cleanup::run(deps).await,
        // During a rolling deploy an older worker may see a newer kind: retry,
        // so that a newer worker gets it, rather than fail it.
        other => Err(JobError::retry(format!(
            "no handler for job kind {other} in this worker version"
        ))),
    }
}
