//! `payments.cancel`: cancels the card payment of an order cancelled before
//! it was paid, so the customer cannot pay a cancelled order.

use bazaar_core::{commerce::payments, jobs::CancelPayment};
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct CancelPaymentHandler;

impl DatabaseHandler for CancelPaymentHandler {
    type Job = CancelPayment;

    /// A rejection means the intent is past cancelling (paid meanwhile:
    /// that payment arrives as an event and is refunded; or cancelled
    /// already): nothing to do.
    async fn run(cx: Context<'_>, conn: &mut PgConnection, job: CancelPayment) -> Outcome {
        let Some(intent) = payments::intent_to_cancel(conn, job.order)
            .await
            .map_err(|e| JobError::retry(format!("{e:#}")))?
        else {
            return Ok(());
        };
        let card = cx.card("cancel")?;
        match card
            .cancel_intent(&intent, &format!("cancel-{}", job.order))
            .await
        {
            Ok(()) => tracing::info!(order.id = %job.order, intent, "payment intent cancelled"),
            Err(e) if !e.is_retryable() => {
                tracing::info!(order.id = %job.order, intent, reason = %e, "payment intent not cancellable")
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
