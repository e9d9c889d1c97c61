//! `payments.process` (a verified provider event) and `payments.refund`.
//! Both run in the job's transaction: the order's change commits with the
//! job's done-mark, exactly once.

use bazaar_core::{
    commerce::payments,
    jobs::{CancelPayment, ProcessPaymentEvent, RefundPayment},
};
use bazaar_integrations::stripe::StripeError;
use sqlx::PgConnection;

use super::JobError;
use crate::Deps;

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

pub async fn process(
    deps: &Deps,
    conn: &mut PgConnection,
    job: ProcessPaymentEvent,
) -> Result<(), JobError> {
    let outcome = payments::process(conn, &deps.rules, job.event)
        .await
        .map_err(db)?;
    tracing::info!(event = %job.event, outcome, "payment event processed");
    Ok(())
}

pub async fn refund(
    deps: &Deps,
    conn: &mut PgConnection,
    job: RefundPayment,
) -> Result<(), JobError> {
    let Some((intent, number)) = payments::refund_target(conn, job.order).await.map_err(db)? else {
        tracing::info!(order.id = %job.order, "nothing to refund (refunded already or never paid by card)");
        return Ok(());
    };
    let stripe = deps
        .stripe
        .as_ref()
        .ok_or_else(|| JobError::retry("STRIPE_SECRET_KEY is not set; cannot refund"))?;
    let refund = stripe
        .create_refund(&intent, &format!("refund-{}", job.order))
        .await
        .map_err(|e| match e {
            StripeError::Retryable {
                message,
                retry_after,
            } => JobError::Retry {
                message,
                after: retry_after,
            },
            StripeError::Permanent(m) => JobError::Permanent(m),
        })?;
    payments::record_refund(conn, job.order, &refund.id)
        .await
        .map_err(db)?;
    tracing::info!(order.number = %number, refund = %refund.id, "refund issued");
    Ok(())
}

/// A 4xx means the intent is past cancelling (paid meanwhile: that payment
/// arrives as an event and is refunded; or cancelled already): nothing to do.
pub async fn cancel(
    deps: &Deps,
    conn: &mut PgConnection,
    job: CancelPayment,
) -> Result<(), JobError> {
    let Some(intent) = payments::intent_to_cancel(conn, job.order)
        .await
        .map_err(db)?
    else {
        return Ok(());
    };
    let stripe = deps
        .stripe
        .as_ref()
        .ok_or_else(|| JobError::retry("STRIPE_SECRET_KEY is not set; cannot cancel"))?;
    match stripe
        .cancel_payment_intent(&intent, &format!("cancel-{}", job.order))
        .await
    {
        Ok(_) => tracing::info!(order.id = %job.order, intent, "payment intent cancelled"),
        Err(StripeError::Permanent(m)) => {
            tracing::info!(order.id = %job.order, intent, reason = m, "payment intent not cancellable")
        }
        Err(StripeError::Retryable {
            message,
            retry_after,
        }) => {
            return Err(JobError::Retry {
                message,
                after: retry_after,
            })
        }
    }
    Ok(())
}
