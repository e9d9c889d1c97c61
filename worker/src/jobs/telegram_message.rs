//! `messenger.telegram`: a notice or a bot reply to a chat, under the
//! shared per-chat and overall limits. A chat that cannot be messaged any
//! more (blocked, deactivated, not found) switches the customer's Telegram
//! off and is not retried; a 429 is retried after Telegram's `retry_after`.

use bazaar_core::{
    jobs::TelegramMessage,
    messaging::{
        messages::{MessageBody, Sending},
        text, Channel, MessageStatus,
    },
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
        let store = &deps.messengers.store;
        let Sending {
            message: m,
            enabled,
            ..
        } = load(&deps.messengers, job.message).await?;
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
            // Unlinked or switched off since the event: not any more.
            MessageBody::Notice { .. } if enabled != Some(true) => {
                let why = "Telegram was unlinked or switched off";
                return record(store, &m, MessageStatus::Skipped, None, Some(why)).await;
            }
            MessageBody::Notice { template, .. } => text::render(template, m.language),
        };
        deps.messengers.telegram_slot(chat).await?;
        match client.send_message(chat, &text).await {
            Ok(id) => record(store, &m, MessageStatus::Sent, Some(&id.to_string()), None).await,
            Err(e) if chat_is_gone(&e) => {
                channel_gone(&deps.pool, store, &m, Channel::Telegram, &reason(&e)).await
            }
            Err(e @ ProviderError::Rejected { .. }) => {
                record(store, &m, MessageStatus::Failed, None, Some(&reason(&e))).await?;
                Err(e.into())
            }
            Err(e) => {
                note_retry(&deps.pool, &m, &e).await;
                Err(e.into())
            }
        }
    }
}
