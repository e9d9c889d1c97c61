//! `messenger.telegram`: a notice or a bot reply to a chat, under the
//! shared per-chat and overall limits. A chat that cannot be messaged any
//! more (blocked, deactivated, not found) switches the customer's Telegram
//! off and is not retried; a 429 is retried after Telegram's `retry_after`.

use bazaar_core::{
    jobs::TelegramMessage,
    messaging::{messages::MessageBody, text, Channel, MessageStatus},
    provider::ProviderError,
};
use bazaar_integrations::telegram::chat_is_gone;

use super::{Context, ExternalHandler, JobError, Outcome};
use crate::messengers::{channel_gone, load, note_retry, reason, record};

pub struct TelegramMessageHandler;

impl ExternalHandler for TelegramMessageHandler {
    type Job = TelegramMessage;

    async fn run(cx: Context<'_>, job: TelegramMessage) -> Outcome {
        let deps = cx.deps;
        let pool = &deps.pool;
        let m = load(pool, job.message).await?;
        if m.status != MessageStatus::Queued {
            return Ok(());
        }
        let Some(client) = &deps.messengers.telegram else {
            return Err(JobError::retry("TELEGRAM_BOT_TOKEN is not set"));
        };
        let chat: i64 = m
            .recipient
            .parse()
            .map_err(|_| JobError::Permanent(format!("{:?} is not a chat id", m.recipient)))?;
        let text = match &m.body {
            MessageBody::Reply { text } => text.clone(),
            MessageBody::Notice { template, .. } => {
                // Unlinked or switched off since the event: not any more.
                let still: Option<bool> = sqlx::query_scalar(
                    "SELECT notify_telegram AND telegram_chat_id = $2 FROM users WHERE id = $1",
                )
                .bind(m.user_id)
                .bind(chat)
                .fetch_optional(pool)
                .await
                .map_err(|e| JobError::retry(e.to_string()))?
                .flatten();
                if still != Some(true) {
                    return record(
                        pool,
                        &m,
                        MessageStatus::Skipped,
                        None,
                        Some("Telegram was unlinked or switched off"),
                    )
                    .await;
                }
                text::render(template, m.language)
            }
        };
        deps.messengers.telegram_slot(chat).await?;
        match client.send_message(chat, &text).await {
            Ok(id) => record(pool, &m, MessageStatus::Sent, Some(&id.to_string()), None).await,
            Err(e) if chat_is_gone(&e) => {
                channel_gone(pool, &m, Channel::Telegram, &reason(&e)).await
            }
            Err(e @ ProviderError::Rejected { .. }) => {
                record(pool, &m, MessageStatus::Failed, None, Some(&reason(&e))).await?;
                Err(e.into())
            }
            Err(e) => {
                note_retry(pool, &m, &e).await;
                Err(e.into())
            }
        }
    }
}
