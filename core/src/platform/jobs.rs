//! Queues, job kinds and job payloads. A job is a serde struct with its
//! `JobKind`, the queue it runs on and an idempotency key; it is written to
//! the outbox in the transaction that causes it (see `outbox`). Handlers live
//! in the `worker` crate, whose registry matches on `JobKind` exhaustively:
//! a kind without a handler does not compile.

use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::mail::MailTemplate;

/// One queue per class of work, so a slow marketplace never delays a password
/// reset (apalis-redis has no priorities within a queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    Email,
    Messenger,
    Inbound,
    Payments,
    Marketplace,
    Social,
    Ops,
}

pub struct DefaultPolicy {
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Queue {
    pub const ALL: [Queue; 7] = [
        Queue::Email,
        Queue::Messenger,
        Queue::Inbound,
        Queue::Payments,
        Queue::Marketplace,
        Queue::Social,
        Queue::Ops,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Email => "email",
            Queue::Messenger => "messenger",
            Queue::Inbound => "inbound",
            Queue::Payments => "payments",
            Queue::Marketplace => "marketplace",
            Queue::Social => "social",
            Queue::Ops => "ops",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|q| q.as_str() == s)
    }

    pub fn default_policy(self) -> DefaultPolicy {
        let (concurrency, timeout_secs, max_attempts) = match self {
            Queue::Email => (8, 60, 8),
            // 128 in flight sends 2.4x faster (README, benchmarks), but two
            // workers at 128 on a starved 2-core box stalled a broadcast
            // test (not yet understood): 16 until it is.
            Queue::Messenger => (16, 30, 8),
            Queue::Inbound => (16, 30, 5),
            Queue::Payments => (8, 60, 12),
            Queue::Marketplace => (4, 300, 8),
            Queue::Social => (2, 60, 6),
            // Ops jobs are mostly cheap bookkeeping; with batched execution
            // (worker/src/batch.rs) concurrency is also the batch size.
            Queue::Ops => (64, 300, 5),
        };
        DefaultPolicy {
            concurrency,
            timeout: Duration::from_secs(timeout_secs),
            max_attempts,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every kind of job there is. Its name is stored with each job: renaming
/// one orphans the jobs queued under the old name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    SendEmail,
    EmailNotice,
    TelegramMessage,
    WhatsappMessage,
    TelegramUpdate,
    WhatsappUpdate,
    Announce,
    ProcessPaymentEvent,
    RefundPayment,
    CancelPayment,
    ExpireReservations,
    Probe,
    NoOp,
    Cleanup,
    KaspiOrders,
    OrderAction,
    OzonOrders,
    OzonSync,
}

impl JobKind {
    pub const ALL: [JobKind; 18] = [
        JobKind::SendEmail,
        JobKind::EmailNotice,
        JobKind::TelegramMessage,
        JobKind::WhatsappMessage,
        JobKind::TelegramUpdate,
        JobKind::WhatsappUpdate,
        JobKind::Announce,
        JobKind::ProcessPaymentEvent,
        JobKind::RefundPayment,
        JobKind::CancelPayment,
        JobKind::ExpireReservations,
        JobKind::Probe,
        JobKind::NoOp,
        JobKind::Cleanup,
        JobKind::KaspiOrders,
        JobKind::OrderAction,
        JobKind::OzonOrders,
        JobKind::OzonSync,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::SendEmail => "email.send",
            JobKind::EmailNotice => "email.notice",
            JobKind::TelegramMessage => "messenger.telegram",
            JobKind::WhatsappMessage => "messenger.whatsapp",
            JobKind::TelegramUpdate => "inbound.telegram",
            JobKind::WhatsappUpdate => "inbound.whatsapp",
            JobKind::Announce => "social.announce",
            JobKind::ProcessPaymentEvent => "payments.process",
            JobKind::RefundPayment => "payments.refund",
            JobKind::CancelPayment => "payments.cancel",
            JobKind::ExpireReservations => "ops.expire_reservations",
            JobKind::Probe => "ops.probe",
            JobKind::NoOp => "ops.noop",
            JobKind::Cleanup => "ops.cleanup",
            JobKind::KaspiOrders => "marketplace.kaspi_orders",
            JobKind::OrderAction => "marketplace.order_action",
            JobKind::OzonOrders => "marketplace.ozon_orders",
            JobKind::OzonSync => "marketplace.ozon_sync",
        }
    }

    /// `None` for a kind this version does not know (a newer one's, during
    /// a rolling deploy).
    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: JobKind;
    const QUEUE: Queue;
    /// Two jobs with the same key are the same job: the second enqueue is a no-op.
    fn idempotency_key(&self) -> String;
}

/// A transactional e-mail rendered from a template by the worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendEmail {
    pub key: String,
    pub to: String,
    pub template: MailTemplate,
}

impl Job for SendEmail {
    const KIND: JobKind = JobKind::SendEmail;
    const QUEUE: Queue = Queue::Email;
    fn idempotency_key(&self) -> String {
        self.key.clone()
    }
}

/// Sends one stored customer message (`messages` row) on its channel. The
/// key is the row's (event, channel): the same notice is one job however
/// often its event is reported.
macro_rules! message_job {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $queue:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        pub struct $name {
            pub message: uuid::Uuid,
            pub key: String,
        }

        impl Job for $name {
            const KIND: JobKind = $kind;
            const QUEUE: Queue = $queue;
            fn idempotency_key(&self) -> String {
                self.key.clone()
            }
        }
    };
}

message_job!(
    /// A notice by e-mail, rendered from its stored template.
    EmailNotice, JobKind::EmailNotice, Queue::Email
);
message_job!(
    /// A notice or a bot reply to a Telegram chat.
    TelegramMessage, JobKind::TelegramMessage, Queue::Messenger
);
message_job!(
    /// A notice (template, or text inside the 24-hour window) or a reply on WhatsApp.
    WhatsappMessage, JobKind::WhatsappMessage, Queue::Messenger
);

/// Handles one stored webhook delivery (`inbound_updates` row).
macro_rules! update_job {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        pub struct $name {
            pub update: uuid::Uuid,
        }

        impl Job for $name {
            const KIND: JobKind = $kind;
            const QUEUE: Queue = Queue::Inbound;
            fn idempotency_key(&self) -> String {
                format!(concat!($prefix, ":{}"), self.update)
            }
        }
    };
}

update_job!(
    /// A Telegram update: a bot command from a customer.
    TelegramUpdate, JobKind::TelegramUpdate, "inbound.telegram"
);
update_job!(
    /// A WhatsApp webhook: customer messages and message statuses.
    WhatsappUpdate, JobKind::WhatsappUpdate, "inbound.whatsapp"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announced {
    Store,
    Product,
}

/// A tweet announcing a new store or product (with the product's first
/// image, when it has one by the time the job runs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Announce {
    pub subject: Announced,
    pub id: uuid::Uuid,
}

impl Job for Announce {
    const KIND: JobKind = JobKind::Announce;
    const QUEUE: Queue = Queue::Social;
    fn idempotency_key(&self) -> String {
        format!("announce:{:?}:{}", self.subject, self.id)
    }
}

/// Processes a verified payment provider event stored in `payment_events`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessPaymentEvent {
    pub event: uuid::Uuid,
}

/// What `ProcessPaymentEvent`'s idempotency key starts with (SQL that
/// enqueues in bulk builds it too).
pub const PAYMENT_EVENT_KEY: &str = "payment-event:";

impl Job for ProcessPaymentEvent {
    const KIND: JobKind = JobKind::ProcessPaymentEvent;
    const QUEUE: Queue = Queue::Payments;
    fn idempotency_key(&self) -> String {
        format!("{PAYMENT_EVENT_KEY}{}", self.event)
    }
}

/// Gives a cancelled order's Stripe payment back (one refund per order: the
/// provider call carries an idempotency key derived from the order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundPayment {
    pub order: uuid::Uuid,
}

impl Job for RefundPayment {
    const KIND: JobKind = JobKind::RefundPayment;
    const QUEUE: Queue = Queue::Payments;
    fn idempotency_key(&self) -> String {
        format!("refund:{}", self.order)
    }
}

/// Cancels the Stripe PaymentIntent of an order cancelled before it was
/// paid, so the customer cannot pay a cancelled order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CancelPayment {
    pub order: uuid::Uuid,
}

impl Job for CancelPayment {
    const KIND: JobKind = JobKind::CancelPayment;
    const QUEUE: Queue = Queue::Payments;
    fn idempotency_key(&self) -> String {
        format!("cancel-payment:{}", self.order)
    }
}

/// Cancels unpaid orders whose reservation expired, releasing their stock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExpireReservations {
    pub tick: String,
}

impl Job for ExpireReservations {
    const KIND: JobKind = JobKind::ExpireReservations;
    const QUEUE: Queue = Queue::Ops;
    fn idempotency_key(&self) -> String {
        format!("ops.expire_reservations:{}", self.tick)
    }
}

/// A job whose only effect is a row in `job_probes`: measures the pipeline
/// (benchmarks) and proves exactly-once execution (chaos tests).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    pub key: String,
    #[serde(default)]
    pub work_ms: u64,
    #[serde(default)]
    pub fail_times: u32,
}

impl Job for Probe {
    const KIND: JobKind = JobKind::Probe;
    const QUEUE: Queue = Queue::Ops;
    fn idempotency_key(&self) -> String {
        self.key.clone()
    }
}

/// A job that does nothing: the pipeline's own cost, for benchmarks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoOp {
    pub key: String,
}

impl Job for NoOp {
    const KIND: JobKind = JobKind::NoOp;
    const QUEUE: Queue = Queue::Ops;
    fn idempotency_key(&self) -> String {
        self.key.clone()
    }
}

/// Scheduled clean-up of finished job records, expired tokens and the task
/// data apalis-redis never expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cleanup {
    pub tick: String,
}

impl Job for Cleanup {
    const KIND: JobKind = JobKind::Cleanup;
    const QUEUE: Queue = Queue::Ops;
    fn idempotency_key(&self) -> String {
        format!("ops.cleanup:{}", self.tick)
    }
}

/// Pulls Kaspi orders: new ones by creation date, open ones again until
/// they close. `tick` is the scheduler's tick, or `manual:<id>` for a sync
/// an admin asked for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KaspiOrders {
    pub tick: String,
}

impl Job for KaspiOrders {
    const KIND: JobKind = JobKind::KaspiOrders;
    const QUEUE: Queue = Queue::Marketplace;
    fn idempotency_key(&self) -> String {
        format!("marketplace.kaspi_orders:{}", self.tick)
    }
}

/// Pulls Ozon's FBS postings whose status changed since the last pull.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OzonOrders {
    pub tick: String,
}

impl Job for OzonOrders {
    const KIND: JobKind = JobKind::OzonOrders;
    const QUEUE: Queue = Queue::Marketplace;
    fn idempotency_key(&self) -> String {
        format!("marketplace.ozon_orders:{}", self.tick)
    }
}

/// Pushes to Ozon what changed: stock figures, prices, new cards (and
/// follows the card imports).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OzonSync {
    pub tick: String,
}

impl Job for OzonSync {
    const KIND: JobKind = JobKind::OzonSync;
    const QUEUE: Queue = Queue::Marketplace;
    fn idempotency_key(&self) -> String {
        format!("marketplace.ozon_sync:{}", self.tick)
    }
}

/// What the marketplace must be told about one of its orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketplaceAction {
    /// Kaspi: accept a new order whose units are reserved.
    Accept,
    /// Cancel an order stock cannot fill, with the out-of-stock reason.
    CancelOutOfStock,
    /// Cancel an order the shop cancelled (an admin).
    Cancel,
    /// Ozon: the shop shipped the posting (packed it).
    Ship,
}

impl MarketplaceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MarketplaceAction::Accept => "accept",
            MarketplaceAction::CancelOutOfStock => "cancel_out_of_stock",
            MarketplaceAction::Cancel => "cancel",
            MarketplaceAction::Ship => "ship",
        }
    }
}

/// Tells the order's marketplace what the shop did with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderAction {
    pub order: uuid::Uuid,
    pub action: MarketplaceAction,
}

impl Job for OrderAction {
    const KIND: JobKind = JobKind::OrderAction;
    const QUEUE: Queue = Queue::Marketplace;
    fn idempotency_key(&self) -> String {
        format!(
            "marketplace.order_action:{}:{}",
            self.order,
            self.action.as_str()
        )
    }
}

/// Exponential backoff with "equal jitter": half the delay is fixed, half is
/// random, so retries of many jobs failing together spread out. `jitter` is in
/// [0, 1) and comes from the caller, which keeps this function pure.
pub fn retry_delay(attempt: i32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempt.clamp(1, 30) - 1;
    let raw = base.saturating_mul(1u32 << exp.min(20));
    let capped = raw.min(max);
    let half = capped / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        assert_eq!(retry_delay(1, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(1, base, max, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(3, base, max, 1.0), Duration::from_secs(8));
        assert_eq!(retry_delay(30, base, max, 1.0), max);
        assert!(retry_delay(4, base, max, 0.5) >= Duration::from_secs(8));
    }

    #[test]
    fn kind_names_round_trip_and_are_unique() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        let mut names: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), JobKind::ALL.len());
        assert_eq!(JobKind::parse("email.sent"), None);
    }

    #[test]
    fn queue_names_round_trip() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(q));
        }
        assert_eq!(Queue::parse("nope"), None);
    }
}
