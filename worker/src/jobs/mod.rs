//! The job registry: every job kind, the queue it runs on, and its handler.

mod announce;
mod cleanup;
mod email;
mod expire;
mod payments;
mod probe;

use std::time::Duration;

use bazaar_core::{
    jobs::{
        Announce, CancelPayment, Cleanup, ExpireReservations, Job, NoOp, Probe,
        ProcessPaymentEvent, Queue, RefundPayment, SendEmail,
    },
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

/// How a job's effects relate to the database, which decides how it runs in
/// a batch (see `batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effects {
    /// Writes through the job's transaction: runs alone, in a savepoint.
    Database,
    /// Talks to the outside world (or nothing): runs concurrently with the
    /// rest of the batch and never touches the transaction.
    External,
    /// External but long (minutes): runs in a batch of its own, so it does
    /// not hold up the done-marks of quick jobs.
    Solo,
}

/// The kinds this worker runs, with their queues and effects.
const KINDS: &[(&str, Queue, Effects)] = &[
    (SendEmail::KIND, SendEmail::QUEUE, Effects::External),
    (Probe::KIND, Probe::QUEUE, Effects::Database),
    (NoOp::KIND, NoOp::QUEUE, Effects::External),
    (Cleanup::KIND, Cleanup::QUEUE, Effects::Solo),
    (Announce::KIND, Announce::QUEUE, Effects::External),
    (
        ProcessPaymentEvent::KIND,
        ProcessPaymentEvent::QUEUE,
        Effects::Database,
    ),
    // The refund is recorded in the job's transaction; the provider call
    // carries an idempotency key, so a redelivery cannot refund twice.
    (RefundPayment::KIND, RefundPayment::QUEUE, Effects::Database),
    (CancelPayment::KIND, CancelPayment::QUEUE, Effects::Database),
    // Each order is cancelled in its own transaction, and the catalogue is
    // told after the commits.
    (
        ExpireReservations::KIND,
        ExpireReservations::QUEUE,
        Effects::Solo,
    ),
];

pub fn queue_of(kind: &str) -> Option<Queue> {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, q, _)| *q)
}

pub fn effects_of(kind: &str) -> Effects {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map_or(Effects::External, |(_, _, e)| *e)
}

/// Queues that have at least one job kind; only these get workers.
pub fn queues() -> Vec<Queue> {
    Queue::ALL
        .into_iter()
        .filter(|q| KINDS.iter().any(|(_, kq, _)| kq == q))
        .collect()
}

fn payload<J: DeserializeOwned>(job: &LockedJob) -> Result<J, JobError> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload of {} does not parse: {e}", job.kind)))
}

/// Runs a job with `Effects::Database`; its writes go through `conn`, a
/// savepoint of the transaction that holds the job's lock.
pub async fn run_database(
    deps: &Deps,
    conn: &mut PgConnection,
    job: &LockedJob,
) -> Result<(), JobError> {
    match job.kind.as_str() {
        Probe::KIND => probe::run(conn, job, payload(job)?).await,
        ProcessPaymentEvent::KIND => payments::process(deps, conn, payload(job)?).await,
        RefundPayment::KIND => payments::refund(deps, conn, payload(job)?).await,
        CancelPayment::KIND => payments::cancel(deps, conn, payload(job)?).await,
        other => Err(JobError::Permanent(format!(
            "{other} has no database handler"
        ))),
    }
}

/// Runs a job with `Effects::External`.
pub async fn run_external(deps: &Deps, job: &LockedJob) -> Result<(), JobError> {
    match job.kind.as_str() {
        SendEmail::KIND => email::run(deps, payload(job)?).await,
        NoOp::KIND => Ok(()),
        Cleanup::KIND => cleanup::run(deps).await,
        Announce::KIND => announce::run(deps, payload(job)?).await,
        ExpireReservations::KIND => expire::run(deps).await,
        // During a rolling deploy an older worker may see a newer kind: retry,
        // so that a newer worker gets it, rather than fail it.
        other => Err(JobError::retry(format!(
            "no handler for job kind {other} in this worker version"
        ))),
    }
}
