//! What the messenger handlers share: the clients, the cross-process rate
//! limits, and recording what became of a message.

use std::time::Duration;

use bazaar_core::{
    config::Config,
    messaging::{
        channel_state,
        messages::{Advance, Outgoing, Sending},
        Channel, MessageStatus,
    },
    provider::ProviderError,
    throttle::{TakeError, Throttle, Window},
};
use bazaar_integrations::{
    telegram::{flood_limits, FloodLimits, TelegramClient},
    whatsapp::WhatsappClient,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{jobs::JobError, message_store::MessageStore};

pub struct Messengers {
    pub store: MessageStore,
    pub telegram: Option<TelegramClient>,
    pub whatsapp: Option<WhatsappClient>,
    pub throttle: Throttle,
    prefix: String,
    telegram_limits: FloodLimits,
    telegram_margin: Duration,
    whatsapp_limits: (u32, u32),
}

/// How long a job waits for a free slot before it gives the slot back to
/// the queue (retried after the wait Redis named).
const PATIENCE: Duration = Duration::from_secs(10);

impl Messengers {
    pub fn new(config: &Config, pool: PgPool, throttle: Throttle) -> Self {
        let t = &config.telegram;
        Self {
            store: MessageStore::start(pool),
            telegram: bazaar_integrations::wire::telegram(config),
            whatsapp: bazaar_integrations::wire::whatsapp(config),
            throttle,
            prefix: config.redis_prefix.clone(),
            telegram_limits: flood_limits(t),
            telegram_margin: t.rate_margin,
            whatsapp_limits: config
                .whatsapp
                .as_ref()
                .map_or((80, 10), |w| (w.per_second, w.pair_per_minute)),
        }
    }

    /// A slot under Telegram's limits (teloxide's `Throttle` settings): a
    /// second per chat and overall, and for groups (negative ids) a minute
    /// per chat as well (the Bot FAQ's 20 a minute to one group); each
    /// window is widened by the margin.
    pub async fn telegram_slot(&self, chat: i64) -> Result<(), JobError> {
        let l = &self.telegram_limits;
        let margin = self.telegram_margin;
        let mut windows = vec![
            Window {
                key: format!("{}:throttle:telegram:chat:{chat}", self.prefix),
                limit: l.messages_per_sec_chat,
                window: Duration::from_secs(1) + margin,
            },
            Window {
                key: format!("{}:throttle:telegram:all", self.prefix),
                limit: l.messages_per_sec_overall,
                window: Duration::from_secs(1) + margin,
            },
        ];
        if chat < 0 {
            windows.push(Window {
                key: format!("{}:throttle:telegram:group-minute:{chat}", self.prefix),
                limit: l.messages_per_min_chat,
                window: Duration::from_secs(60) + margin,
            });
        }
        self.take(&windows).await
    }

    /// A slot under WhatsApp's: the number's throughput and the pair rate
    /// to one customer.
    pub async fn whatsapp_slot(&self, to: &str) -> Result<(), JobError> {
        let (per_second, pair_per_minute) = self.whatsapp_limits;
        self.take(&[
            Window {
                key: format!("{}:throttle:whatsapp:to:{to}", self.prefix),
                limit: pair_per_minute,
                window: Duration::from_secs(60),
            },
            Window {
                key: format!("{}:throttle:whatsapp:all", self.prefix),
                limit: per_second,
                window: Duration::from_millis(1100),
            },
        ])
        .await
    }

    async fn take(&self, windows: &[Window]) -> Result<(), JobError> {
        match self.throttle.take(windows, PATIENCE).await {
            Ok(()) => Ok(()),
            Err(TakeError::Busy(wait)) => Err(JobError::Retry {
                message: "rate limit reached".into(),
                after: Some(wait),
            }),
            Err(e @ TakeError::Redis(_)) => Err(JobError::retry(e.to_string())),
        }
    }
}

fn db(e: bazaar_core::Error) -> JobError {
    JobError::retry(format!("{e:#}"))
}

/// The message and what decides how it is sent.
pub async fn load(m: &Messengers, id: Uuid) -> Result<Sending, JobError> {
    m.store
        .load(id)
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| JobError::Permanent(format!("message {id} does not exist")))
}

/// Records an outcome on the message and counts it
/// (`bazaar_messages_total{channel,outcome}`).
pub async fn record(
    store: &MessageStore,
    m: &Outgoing,
    next: MessageStatus,
    provider_id: Option<&str>,
    error: Option<&str>,
) -> Result<(), JobError> {
    let change = Advance {
        id: m.id,
        next,
        provider_id: provider_id.map(str::to_owned),
        error: error.map(str::to_owned),
    };
    // After a send the effect has happened: a failed write here would
    // retry the job and send again, so it is tried harder than a read.
    let mut attempt = 0;
    loop {
        match store.advance(change.clone()).await {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, message = %m.id, attempt, "recording a message status failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(JobError::retry(e)),
        }
    }
    metrics::counter!("bazaar_messages_total", "channel" => m.channel.as_str(), "outcome" => next.as_str())
        .increment(1);
    Ok(())
}

/// Keeps the provider's last word on a message that will be retried.
pub async fn note_retry(pool: &PgPool, m: &Outgoing, e: &ProviderError) {
    let _ = sqlx::query("UPDATE messages SET error = $2, updated_at = now() WHERE id = $1")
        .bind(m.id)
        .bind(format!("will retry: {e}"))
        .execute(pool)
        .await;
    metrics::counter!("bazaar_messages_total", "channel" => m.channel.as_str(), "outcome" => "retried")
        .increment(1);
}

/// The provider's own words for a refusal (the body of a rejection).
pub fn reason(e: &ProviderError) -> String {
    match e {
        ProviderError::Rejected { body, .. } => body.clone(),
        other => other.to_string(),
    }
}

/// The provider said this customer cannot be reached on `channel`: the
/// message failed and the channel goes off (not retried).
pub async fn channel_gone(
    pool: &PgPool,
    store: &MessageStore,
    m: &Outgoing,
    channel: Channel,
    reason: &str,
) -> Result<(), JobError> {
    record(store, m, MessageStatus::Failed, None, Some(reason)).await?;
    if let Some(user) = m.user_id {
        channel_state::switch_off(pool, user, channel, reason)
            .await
            .map_err(db)?;
        tracing::info!(%user, channel = channel.as_str(), reason, "customer channel switched off");
    }
    Ok(())
}
