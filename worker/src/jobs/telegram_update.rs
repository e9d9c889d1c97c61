//! `inbound.telegram`: an update received by webhook or long polling,
//! answered by the bot in the job's transaction (the reply is a message
//! queued with the done-mark, so a redelivered update answers once).

use bazaar_core::{jobs::TelegramUpdate, messaging::bot};
use bazaar_integrations::telegram::incoming;
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct TelegramUpdateHandler;

impl DatabaseHandler for TelegramUpdateHandler {
    type Job = TelegramUpdate;

    async fn run(cx: Context<'_>, conn: &mut PgConnection, job: TelegramUpdate) -> Outcome {
        let db = |e: bazaar_core::Error| JobError::retry(format!("{e:#}"));
        let payload: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT payload FROM inbound_updates WHERE id = $1")
                .bind(job.update)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| JobError::retry(e.to_string()))?;
        let Some(payload) = payload else {
            return Err(JobError::Permanent(format!(
                "update {} does not exist",
                job.update
            )));
        };
        // Edited messages, callbacks, group chatter: nothing to answer.
        let Some(message) = incoming(&payload) else {
            return Ok(());
        };
        bot::handle(conn, &cx.deps.shop, &message).await.map_err(db)
    }
}
