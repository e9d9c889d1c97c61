//! How the customer bot hears from Telegram. With an https
//! `BAZAAR_PUBLIC_URL` and `TELEGRAM_WEBHOOK_SECRET`, the webhook is
//! registered at start and updates arrive at `/webhooks/telegram`.
//! Otherwise (development) one worker replica long-polls: a Redis lock
//! makes sure only one does (Telegram answers a second `getUpdates` with
//! 409), `deleteWebhook` goes first (polling fails while one is set), and
//! updates are stored exactly as webhooks store them.

use std::{sync::Arc, time::Duration};

use bazaar_core::messaging::{
    inbound::{self, Delivery},
    Channel,
};
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::Deps;

/// The lock is renewed after every poll; a dead poller's lock lapses after this.
const LOCK_TTL: Duration = Duration::from_secs(60);
const POLL_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(
    deps: Arc<Deps>,
    redis: ConnectionManager,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = &deps.config;
    let (Some(client), true) = (&deps.messengers.telegram, deps.shop.channels.telegram) else {
        return Ok(());
    };
    let secret = config.telegram.webhook_secret.as_ref();
    if let (true, Some(secret)) = (config.public_url.starts_with("https://"), secret) {
        let url = format!("{}/webhooks/telegram", config.public_url);
        for attempt in 1..=5u32 {
            match client.set_webhook(&url, secret.expose_secret()).await {
                Ok(()) => {
                    tracing::info!(%url, "Telegram webhook registered");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "could not register the Telegram webhook");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))) => {}
                    }
                }
            }
        }
        tracing::error!("the Telegram webhook is not registered: the bot hears nothing");
        return Ok(());
    }
    let lock = Lock {
        redis,
        key: format!("{}:telegram:poller", config.redis_prefix),
        owner: uuid::Uuid::now_v7().to_string(),
    };
    loop {
        match lock.take().await {
            Ok(true) => {
                tracing::info!("this worker long-polls Telegram for bot updates");
                poll(&deps, client, &lock, &shutdown).await;
                let _ = lock.release().await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "Redis unavailable for the Telegram poller lock"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Polls while this worker holds the lock.
async fn poll(
    deps: &Deps,
    client: &bazaar_integrations::telegram::TelegramClient,
    lock: &Lock,
    shutdown: &CancellationToken,
) {
    if let Err(e) = client.delete_webhook().await {
        tracing::warn!(error = %e, "deleteWebhook failed; polling anyway");
    }
    let mut offset = 0i64;
    loop {
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = client.get_updates(offset, POLL_TIMEOUT) => r,
        };
        match updates {
            Ok(updates) if !updates.is_empty() => {
                let next = updates.iter().map(|(id, _)| id + 1).max().unwrap_or(offset);
                let deliveries: Vec<Delivery> = updates
                    .into_iter()
                    .map(|(id, payload)| Delivery {
                        channel: Channel::Telegram,
                        external_id: id.to_string(),
                        payload,
                    })
                    .collect();
                // Confirmed to Telegram (by the next offset) only once stored.
                match inbound::record(&deps.pool, &deps.shop, &deliveries).await {
                    Ok(_) => offset = next,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not store Telegram updates; polling them again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "getUpdates failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
        match lock.renew().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("lost the Telegram poller lock; another worker polls now");
                return;
            }
            Err(e) => {
                // Without Redis we cannot know we still hold it: stop, so
                // two pollers never run at once.
                tracing::warn!(error = %e, "cannot renew the Telegram poller lock; stopping polling");
                return;
            }
        }
    }
}

struct Lock {
    redis: ConnectionManager,
    key: String,
    owner: String,
}

impl Lock {
    async fn take(&self) -> redis::RedisResult<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.owner)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Extends the lock if it is still ours.
    async fn renew(&self) -> redis::RedisResult<bool> {
        let renewed: i64 = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
        )
        .key(&self.key)
        .arg(&self.owner)
        .arg(LOCK_TTL.as_millis() as u64)
        .invoke_async(&mut self.redis.clone())
        .await?;
        Ok(renewed == 1)
    }

    async fn release(&self) -> redis::RedisResult<()> {
        let _: i64 = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        )
        .key(&self.key)
        .arg(&self.owner)
        .invoke_async(&mut self.redis.clone())
        .await?;
        Ok(())
    }
}
