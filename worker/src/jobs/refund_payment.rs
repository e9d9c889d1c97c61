//! `payments.refund`: gives a cancelled or refunded order's card payment
//! back. The refund is recorded in the job's transaction; the provider call
//! carries an idempotency key derived from the order, so a redelivery
//! cannot refund twice.

use bazaar_core::{
    commerce::{order_payment, payments},
    jobs::RefundPayment,
};
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct RefundPaymentHandler;

impl DatabaseHandler for RefundPaymentHandler {
    type Job = RefundPayment;

    async fn run(cx: Context<'_>, conn: &mut PgConnection, job: RefundPayment) -> Outcome {
        let db = |e: bazaar_core::Error| JobError::retry(format!("{e:#}"));
        let Some((intent, number)) = payments::refund_target(conn, job.order).await.map_err(db)?
        else {
            tracing::info!(order.id = %job.order, "nothing to refund (refunded already or never paid by card)");
            return Ok(());
        };
        let card = cx.card("refund")?;
        let refund = card
            .refund(&intent, &format!("refund-{}", job.order))
            .await?;
        order_payment::record_refund(conn, job.order, &refund)
            .await
            .map_err(db)?;
        tracing::info!(order.number = %number, refund = %refund, "refund issued");
        Ok(())
    }
}
