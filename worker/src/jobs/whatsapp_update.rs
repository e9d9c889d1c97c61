//! `inbound.whatsapp`: one message or one status from a WhatsApp webhook,
//! handled in the job's transaction (see `messaging::whatsapp`).

use bazaar_core::{
    jobs::WhatsappUpdate,
    messaging::whatsapp::{self, Failure, StatusOutcome},
};
use bazaar_integrations::whatsapp::{read_delivery, Inbound};
use chrono::{TimeZone, Utc};
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct WhatsappUpdateHandler;

/// How long a status for an unknown message id is asked about again.
const STATUS_PATIENCE_SECS: i64 = 60;

impl DatabaseHandler for WhatsappUpdateHandler {
    type Job = WhatsappUpdate;

    async fn run(cx: Context<'_>, conn: &mut PgConnection, job: WhatsappUpdate) -> Outcome {
        let db = |e: bazaar_core::Error| JobError::retry(format!("{e:#}"));
        let row: Option<(serde_json::Value, chrono::DateTime<Utc>)> =
            sqlx::query_as("SELECT payload, received_at FROM inbound_updates WHERE id = $1")
                .bind(job.update)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| JobError::retry(e.to_string()))?;
        let Some((payload, received_at)) = row else {
            return Err(JobError::Permanent(format!(
                "update {} does not exist",
                job.update
            )));
        };
        let shop = &cx.deps.shop;
        match read_delivery(&payload) {
            None => Ok(()),
            Some(Inbound::Message {
                id,
                from,
                timestamp,
                text,
            }) => {
                // A future timestamp must not keep the window open for longer.
                let sent_at = Utc
                    .timestamp_opt(timestamp, 0)
                    .single()
                    .filter(|t| *t <= Utc::now())
                    .unwrap_or_else(Utc::now);
                whatsapp::handle_message(conn, shop, &id, &from, sent_at, text.as_deref())
                    .await
                    .map_err(db)
            }
            Some(Inbound::Status { id, status, error }) => {
                let failure = error.map(|(code, reason)| Failure { code, reason });
                let outcome = whatsapp::handle_status(conn, shop, &id, &status, failure)
                    .await
                    .map_err(db)?;
                // A status can overtake the write of its message's id: ask
                // again a few times (1, 2, 4, 8 s); past that it is not a
                // message of ours, and the job ends without failing.
                let job = cx.job;
                if outcome == StatusOutcome::Unknown
                    && job.attempts + 1 < job.max_attempts
                    && Utc::now() - received_at < chrono::Duration::seconds(STATUS_PATIENCE_SECS)
                {
                    return Err(JobError::Retry {
                        message: format!("no message {id} yet"),
                        after: Some(std::time::Duration::from_secs(
                            1 << job.attempts.clamp(0, 5),
                        )),
                    });
                }
                Ok(())
            }
        }
    }
}
