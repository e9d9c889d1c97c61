//! The job registry: one handler type per job kind, one file per handler,
//! and `entry`, the one list that maps each `JobKind` to its handler. The
//! match is exhaustive, so a kind without a handler does not compile; the
//! tests check that each handler runs the kind it is registered for.
//!
//! A handler says what it needs by the trait it implements:
//! `DatabaseHandler` (its effects are rows, written through the job's
//! transaction, exactly once with the job's done-mark) or `ExternalHandler`
//! (it talks to the outside world, concurrently with the rest of its batch,
//! never touching the transaction). See `batch` for how each runs.

mod announce;
mod cancel_payment;
mod cleanup;
mod email_notice;
mod expire_reservations;
mod kaspi_orders;
mod noop;
mod order_action;
mod ozon_orders;
mod ozon_posting_action;
mod ozon_sync;
mod probe;
mod process_payment_event;
mod refund_payment;
mod send_email;
mod telegram_message;
mod telegram_update;
mod whatsapp_message;
mod whatsapp_update;

use std::{future::Future, pin::Pin, time::Duration};

use bazaar_core::{
    commerce::gateway::PaymentGateway,
    jobs::{Job, JobKind, Queue},
    outbox::LockedJob,
    provider::ProviderError,
};
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

/// The one conversion from a provider's answer to the retry policy.
impl From<ProviderError> for JobError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::RateLimited { retry_after } => JobError::Retry {
                message: e.to_string(),
                after: retry_after,
            },
            ProviderError::Transport(_) => JobError::retry(e.to_string()),
            ProviderError::Rejected { .. } => JobError::Permanent(e.to_string()),
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

/// What every handler gets: the process's dependencies and the job's row.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub deps: &'a Deps,
    pub job: &'a LockedJob,
}

impl<'a> Context<'a> {
    /// The card gateway, or a retry (it may be configured by then) saying
    /// what could not be done without it.
    pub fn card(&self, to_do: &str) -> Result<&'a dyn PaymentGateway, JobError> {
        self.deps
            .payments
            .card
            .as_deref()
            .ok_or_else(|| JobError::retry(format!("STRIPE_SECRET_KEY is not set; cannot {to_do}")))
    }
}

pub type Outcome = Result<(), JobError>;
type BoxFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A job whose effects are rows: `conn` is a savepoint of the transaction
/// that holds the job's lock, so they commit with its done-mark.
pub trait DatabaseHandler {
    type Job: Job;
    fn run<'a>(
        cx: Context<'a>,
        conn: &'a mut PgConnection,
        job: Self::Job,
    ) -> impl Future<Output = Outcome> + Send + 'a;
}

/// A job whose effects are outside the database (or none).
pub trait ExternalHandler {
    type Job: Job;
    /// Minutes long: runs in a batch of its own.
    const SOLO: bool = false;
    fn run<'a>(cx: Context<'a>, job: Self::Job) -> impl Future<Output = Outcome> + Send + 'a;
}

#[derive(Clone, Copy)]
pub enum Run {
    Database(for<'a> fn(Context<'a>, &'a mut PgConnection) -> BoxFuture<'a>),
    External(for<'a> fn(Context<'a>) -> BoxFuture<'a>),
}

/// A registered handler: the kind it runs, its queue and effects, and how
/// to run it.
#[derive(Clone, Copy)]
pub struct Entry {
    pub kind: JobKind,
    pub queue: Queue,
    pub effects: Effects,
    pub run: Run,
}

impl Entry {
    fn database<H: DatabaseHandler>() -> Entry {
        Entry {
            kind: H::Job::KIND,
            queue: H::Job::QUEUE,
            effects: Effects::Database,
            run: Run::Database(|cx, conn| {
                Box::pin(async move { H::run(cx, conn, payload(cx.job)?).await })
            }),
        }
    }

    fn external<H: ExternalHandler>() -> Entry {
        Entry {
            kind: H::Job::KIND,
            queue: H::Job::QUEUE,
            effects: if H::SOLO {
                Effects::Solo
            } else {
                Effects::External
            },
            run: Run::External(|cx| Box::pin(async move { H::run(cx, payload(cx.job)?).await })),
        }
    }
}

/// The registry: the handler of every job kind.
pub fn entry(kind: JobKind) -> Entry {
    match kind {
        JobKind::SendEmail => Entry::external::<send_email::SendEmailHandler>(),
        JobKind::EmailNotice => Entry::external::<email_notice::EmailNoticeHandler>(),
        JobKind::TelegramMessage => Entry::external::<telegram_message::TelegramMessageHandler>(),
        JobKind::WhatsappMessage => Entry::external::<whatsapp_message::WhatsappMessageHandler>(),
        JobKind::TelegramUpdate => Entry::database::<telegram_update::TelegramUpdateHandler>(),
        JobKind::WhatsappUpdate => Entry::database::<whatsapp_update::WhatsappUpdateHandler>(),
        JobKind::Announce => Entry::external::<announce::AnnounceHandler>(),
        JobKind::ProcessPaymentEvent => {
            Entry::database::<process_payment_event::ProcessPaymentEventHandler>()
        }
        JobKind::RefundPayment => Entry::database::<refund_payment::RefundPaymentHandler>(),
        JobKind::CancelPayment => Entry::database::<cancel_payment::CancelPaymentHandler>(),
        JobKind::ExpireReservations => {
            Entry::external::<expire_reservations::ExpireReservationsHandler>()
        }
        JobKind::Probe => Entry::database::<probe::ProbeHandler>(),
        JobKind::NoOp => Entry::external::<noop::NoOpHandler>(),
        JobKind::Cleanup => Entry::external::<cleanup::CleanupHandler>(),
        JobKind::KaspiOrders => Entry::external::<kaspi_orders::KaspiOrdersHandler>(),
        JobKind::OrderAction => Entry::external::<order_action::OrderActionHandler>(),
        JobKind::OzonOrders => Entry::external::<ozon_orders::OzonOrdersHandler>(),
        JobKind::OzonSync => Entry::external::<ozon_sync::OzonSyncHandler>(),
    }
}

/// The entry for a stored kind name; `None` for a kind this version does
/// not know.
pub fn lookup(kind: &str) -> Option<Entry> {
    JobKind::parse(kind).map(entry)
}

pub fn effects_of(kind: &str) -> Effects {
    lookup(kind).map_or(Effects::External, |e| e.effects)
}

/// Queues that have at least one job kind; only these get workers.
pub fn queues() -> Vec<Queue> {
    Queue::ALL
        .into_iter()
        .filter(|q| JobKind::ALL.into_iter().any(|k| entry(k).queue == *q))
        .collect()
}

fn payload<J: Job>(job: &LockedJob) -> Result<J, JobError> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload of {} does not parse: {e}", job.kind)))
}

/// Runs `job` with its handler; `conn` (the job's savepoint) is used by
/// database handlers only.
pub async fn run(deps: &Deps, conn: Option<&mut PgConnection>, job: &LockedJob) -> Outcome {
    let Some(entry) = lookup(&job.kind) else {
        // During a rolling deploy an older worker may see a newer kind: retry,
        // so that a newer worker gets it, rather than fail it.
        return Err(JobError::retry(format!(
            "no handler for job kind {} in this worker version",
            job.kind
        )));
    };
    let cx = Context { deps, job };
    match (entry.run, conn) {
        (Run::Database(run), Some(conn)) => run(cx, conn).await,
        (Run::External(run), _) => run(cx).await,
        (Run::Database(_), None) => Err(JobError::Permanent(format!(
            "{} writes to the database but ran without a transaction",
            job.kind
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_kind_has_exactly_one_handler_running_that_kind() {
        let mut seen = std::collections::HashSet::new();
        for kind in JobKind::ALL {
            let e = entry(kind);
            assert_eq!(
                e.kind, kind,
                "{kind} is registered to another kind's handler"
            );
            assert!(seen.insert(e.kind), "{kind} is handled twice");
            assert_eq!(lookup(kind.as_str()).map(|e| e.kind), Some(kind));
        }
        assert!(lookup("marketplace.unknown").is_none());
    }

    #[test]
    fn effects_decide_how_jobs_run() {
        assert_eq!(effects_of("payments.process"), Effects::Database);
        assert_eq!(effects_of("email.send"), Effects::External);
        assert_eq!(effects_of("ops.cleanup"), Effects::Solo);
        assert_eq!(effects_of("ops.expire_reservations"), Effects::Solo);
        assert!(queues().contains(&Queue::Email));
        assert!(queues().contains(&Queue::Marketplace));
        assert_eq!(effects_of("marketplace.kaspi_orders"), Effects::Solo);
    }

    #[test]
    fn provider_errors_convert_to_the_retry_policy() {
        let after = Some(Duration::from_secs(3));
        assert!(matches!(
            JobError::from(ProviderError::RateLimited { retry_after: after }),
            JobError::Retry { after: a, .. } if a == after
        ));
        assert!(matches!(
            JobError::from(ProviderError::Transport("refused".into())),
            JobError::Retry { after: None, .. }
        ));
        assert!(matches!(
            JobError::from(ProviderError::Rejected {
                status: 400,
                body: "no".into()
            }),
            JobError::Permanent(_)
        ));
    }
}
