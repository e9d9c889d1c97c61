//! Payment provider events: stored once by id when they arrive (verified by
//! the provider's `WebhookVerifier`), processed by a `payments.process` job
//! in the job's transaction. The provider's module in `bazaar-integrations`
//! reads the event into a `PaymentReport`; settling it here decides from the
//! reported object's state, never from arrival order, and checks amount and
//! currency against the order before marking it paid.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    gateway::VerifiedEvent,
    order_payment,
    orders::{self, OrderRow},
    status::{OrderStatus, PaymentMethod, PaymentStatus},
    workflow::{self, Move},
};
use crate::shop::Shop;
use crate::{
    group_commit::GroupCommit,
    jobs::{Job, ProcessPaymentEvent, RefundPayment, PAYMENT_EVENT_KEY},
    outbox, Result,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Provider {
    Stripe,
    Kaspi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Kaspi => "kaspi",
        }
    }

    /// The payment method whose payments this provider reports.
    pub fn method(self) -> PaymentMethod {
        match self {
            Provider::Stripe => PaymentMethod::Stripe,
            Provider::Kaspi => PaymentMethod::Kaspi,
        }
    }
}

/// Stores verified events and enqueues the processing of each, once per
/// (provider, event id), in one statement; returns, for each, whether it was
/// new (a repeated id within the batch counts once).
pub async fn record_events(
    pool: &PgPool,
    shop: &Shop,
    events: &[(Provider, VerifiedEvent)],
) -> Result<Vec<bool>> {
    let n = events.len();
    let (mut ids, mut job_ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut providers, mut event_ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut kinds, mut payloads) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (provider, e) in events {
        ids.push(Uuid::now_v7());
        job_ids.push(Uuid::now_v7());
        providers.push(provider.as_str());
        event_ids.push(e.id.as_str());
        kinds.push(e.kind.as_str());
        payloads.push(&e.payload);
    }
    let stored: Vec<Uuid> = sqlx::query_scalar(
        "WITH d AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
                 AS d(id, job_id, provider, event_id, kind, payload)
         ), e AS (
             INSERT INTO payment_events (id, provider, event_id, kind, payload)
             SELECT id, provider, event_id, kind, payload FROM d
             ON CONFLICT (provider, event_id) DO NOTHING
             RETURNING id
         ), o AS (
             INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
             SELECT d.job_id, $7, $8, jsonb_build_object('event', e.id), $9 || e.id, $10
             FROM e JOIN d ON d.id = e.id
             ON CONFLICT (idempotency_key) DO NOTHING
         )
         SELECT id FROM e",
    )
    .bind(&ids)
    .bind(&job_ids)
    .bind(&providers)
    .bind(&event_ids)
    .bind(&kinds)
    .bind(payloads)
    .bind(ProcessPaymentEvent::QUEUE.as_str())
    .bind(ProcessPaymentEvent::KIND.as_str())
    .bind(PAYMENT_EVENT_KEY)
    .bind(shop.pipeline.policy(ProcessPaymentEvent::QUEUE).max_attempts)
    .fetch_all(pool)
    .await?;
    let stored: std::collections::HashSet<Uuid> = stored.into_iter().collect();
    Ok(ids.iter().map(|id| stored.contains(id)).collect())
}

/// The group-commit writer of payment events (see `record_events`).
pub type PaymentIngest = GroupCommit<(Provider, VerifiedEvent)>;

/// Starts this process's writer of payment events.
pub fn payment_ingest(pool: PgPool, shop: Shop) -> PaymentIngest {
    GroupCommit::start("payment webhook backlog is full", move |events| {
        let (pool, shop) = (pool.clone(), shop.clone());
        async move { record_events(&pool, &shop, &events).await }
    })
}

/// What a provider says happened to a payment, read from its event by the
/// provider's module in `bazaar-integrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentReport {
    Succeeded {
        number: Option<String>,
        reference: Option<String>,
        /// Minor units; -1 when the event did not say.
        amount: i64,
        currency: String,
    },
    Failed {
        number: Option<String>,
        reference: Option<String>,
    },
    Refunded {
        number: Option<String>,
        reference: Option<String>,
    },
    Ignored,
}

/// A stored event that is not processed yet.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub provider: Provider,
    pub kind: String,
    pub payload: Value,
}

/// The event, locked until the caller's transaction ends; `Err` carries the
/// outcome recorded when it was processed before (or that it is gone).
pub async fn take_event(
    conn: &mut PgConnection,
    event: Uuid,
) -> Result<std::result::Result<StoredEvent, String>> {
    let row: Option<(Provider, String, Value, Option<String>)> = sqlx::query_as(
        "SELECT provider, kind, payload, outcome FROM payment_events WHERE id = $1 FOR UPDATE",
    )
    .bind(event)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        None => Err("event not found".into()),
        Some((_, _, _, Some(done))) => Err(done),
        Some((provider, kind, payload, None)) => Ok(StoredEvent {
            provider,
            kind,
            payload,
        }),
    })
}

async fn locate(
    conn: &mut PgConnection,
    number: &Option<String>,
    reference: &Option<String>,
) -> Result<Option<OrderRow>> {
    if let Some(n) = number {
        if let Some(o) = orders::find_by_number(conn, n, true).await? {
            return Ok(Some(o));
        }
    }
    if let Some(r) = reference {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM orders WHERE payment_reference = $1")
                .bind(r)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(id) = id {
            return orders::find_by_id(conn, id, true).await;
        }
    }
    Ok(None)
}

/// Acts on what the provider reported about event `event` (taken with
/// `take_event` in the same transaction) and records the outcome with it.
pub async fn settle(
    conn: &mut PgConnection,
    shop: &Shop,
    event: Uuid,
    provider: Provider,
    report: PaymentReport,
) -> Result<String> {
    let outcome = apply_report(conn, shop, provider, report).await?;
    sqlx::query("UPDATE payment_events SET processed_at = now(), outcome = $2 WHERE id = $1")
        .bind(event)
        .bind(&outcome)
        .execute(conn)
        .await?;
    Ok(outcome)
}

async fn apply_report(
    conn: &mut PgConnection,
    shop: &Shop,
    provider: Provider,
    report: PaymentReport,
) -> Result<String> {
    let expected = provider.method();
    let name = provider.as_str();
    match report {
        PaymentReport::Ignored => Ok("ignored".into()),
        PaymentReport::Succeeded {
            number,
            reference,
            amount,
            currency,
        } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.payment_method != expected {
                let why = format!(
                    "{name} reported a payment for an order paid by {}",
                    order.payment_method
                );
                order_payment::flag(conn, order.id, None, &why).await?;
                return Ok("flagged: payment method".into());
            }
            if amount != order.total || !currency.eq_ignore_ascii_case(&order.currency) {
                let why = format!(
                    "{name} reported {amount} {} but the order is {} {}",
                    currency.to_ascii_uppercase(),
                    order.total,
                    order.currency
                );
                order_payment::flag(conn, order.id, None, &why).await?;
                return Ok("flagged: amount mismatch".into());
            }
            if let Some(r) = &reference {
                order_payment::keep_reference(conn, order.id, r).await?;
            }
            match order.status {
                OrderStatus::Pending => {
                    workflow::apply(
                        conn,
                        shop,
                        &order,
                        Move::system(OrderStatus::Paid, name, None),
                    )
                    .await?;
                    Ok("paid".into())
                }
                OrderStatus::Cancelled
                    if !matches!(
                        order.payment_status,
                        PaymentStatus::Paid | PaymentStatus::Refunded
                    ) =>
                {
                    // Paid after the reservation expired or the customer
                    // cancelled: the money goes back.
                    if expected == PaymentMethod::Stripe {
                        let why = "paid after cancellation; refund issued";
                        order_payment::flag(conn, order.id, Some(PaymentStatus::Paid), why).await?;
                        outbox::enqueue(conn, &shop.pipeline, &RefundPayment { order: order.id })
                            .await?;
                    } else {
                        let why =
                            "paid after cancellation: refund it in the Kaspi merchant cabinet";
                        order_payment::flag(conn, order.id, Some(PaymentStatus::Paid), why).await?;
                    }
                    Ok("paid after cancellation: refund".into())
                }
                _ => Ok("already settled".into()),
            }
        }
        PaymentReport::Failed { number, reference } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.payment_method != expected {
                return Ok("ignored: the order is not paid that way".into());
            }
            // A failure reported after (or overtaken by) a success changes nothing.
            if order.status == OrderStatus::Pending
                && order.payment_status == PaymentStatus::Pending
            {
                order_payment::mark_failed(conn, order.id).await?;
                workflow::notify_order(conn, shop, &order, "payment_failed", None, None).await?;
                return Ok("payment failed".into());
            }
            Ok("ignored: order not awaiting payment".into())
        }
        PaymentReport::Refunded { number, reference } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.payment_method != expected || order.payment_status != PaymentStatus::Paid {
                return Ok("ignored: nothing to refund".into());
            }
            match order.status {
                OrderStatus::Paid | OrderStatus::Cancelled | OrderStatus::Delivered => {
                    workflow::apply(
                        conn,
                        shop,
                        &order,
                        Move::system(OrderStatus::Refunded, name, None),
                    )
                    .await?;
                    Ok("refunded".into())
                }
                // Refunded at the provider while the shop is fulfilling it:
                // stop and tell the shop rather than guess.
                other => {
                    let why = format!("refunded at {name} while {other}");
                    order_payment::flag(conn, order.id, Some(PaymentStatus::Refunded), &why)
                        .await?;
                    Ok("flagged: refunded during fulfilment".into())
                }
            }
        }
    }
}

/// The PaymentIntent to refund for `order`, unless it was refunded already.
pub async fn refund_target(
    conn: &mut PgConnection,
    order: Uuid,
) -> Result<Option<(String, String)>> {
    let row: Option<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT payment_reference, refund_id, number FROM orders
         WHERE id = $1 AND payment_status = $2 FOR UPDATE",
    )
    .bind(order)
    .bind(PaymentStatus::Paid)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((Some(reference), None, number)) => Some((reference, number)),
        _ => None,
    })
}

/// The PaymentIntent of a cancelled, unpaid order, to cancel at Stripe.
pub async fn intent_to_cancel(conn: &mut PgConnection, order: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT payment_reference FROM orders
         WHERE id = $1 AND status = $2 AND payment_status <> $3
           AND payment_method = $4 AND payment_reference IS NOT NULL",
    )
    .bind(order)
    .bind(OrderStatus::Cancelled)
    .bind(PaymentStatus::Paid)
    .bind(PaymentMethod::Stripe)
    .fetch_optional(conn)
    .await?)
}
