//! `payments.process`: a verified provider event, read by its provider's
//! module and settled in the job's transaction, so the order's change
//! commits with the job's done-mark, exactly once.

use bazaar_core::{
    commerce::payments::{self, PaymentReport, Provider},
    jobs::ProcessPaymentEvent,
};
use bazaar_integrations::{kaspi, stripe};
use serde_json::Value;
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct ProcessPaymentEventHandler;

/// What the provider's event says happened.
fn report(provider: Provider, kind: &str, payload: &Value) -> PaymentReport {
    match provider {
        Provider::Stripe => stripe::report(kind, payload),
        Provider::Kaspi => kaspi::report(kind, payload),
    }
}

impl DatabaseHandler for ProcessPaymentEventHandler {
    type Job = ProcessPaymentEvent;

    async fn run(cx: Context<'_>, conn: &mut PgConnection, job: ProcessPaymentEvent) -> Outcome {
        let db = |e: bazaar_core::Error| JobError::retry(format!("{e:#}"));
        let outcome = match payments::take_event(conn, job.event).await.map_err(db)? {
            Err(done) => done,
            Ok(event) => {
                let report = report(event.provider, &event.kind, &event.payload);
                payments::settle(conn, &cx.deps.shop, job.event, event.provider, report)
                    .await
                    .map_err(db)?
            }
        };
        tracing::info!(event = %job.event, outcome, "payment event processed");
        Ok(())
    }
}
