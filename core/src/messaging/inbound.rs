//! Webhook deliveries from the messengers, stored once by the provider's
//! id (Telegram's `update_id`, WhatsApp's message id or message id and
//! status) with the `inbound.*` job that handles each, in one statement.
//! A redelivery stores nothing and queues nothing.
//!
//! Providers want a fast 200: `Ingest` groups the deliveries that arrive
//! while one statement runs into the next statement (group commit), so a
//! burst costs one round trip and one commit per batch, not per request.

use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    group_commit::GroupCommit,
    jobs::{JobKind, Queue},
    shop::Shop,
    Result,
};

use super::Channel;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub channel: Channel,
    /// The provider's id of this update, unique per channel.
    pub external_id: String,
    pub payload: serde_json::Value,
}

/// Stores `deliveries` (and their jobs) that were not stored before;
/// returns, for each, whether it was new. A repeated id within the batch
/// counts once.
pub async fn record(pool: &PgPool, shop: &Shop, deliveries: &[Delivery]) -> Result<Vec<bool>> {
    let n = deliveries.len();
    let mut ids = Vec::with_capacity(n);
    let mut job_ids = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut external = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    for d in deliveries {
        ids.push(Uuid::now_v7());
        job_ids.push(Uuid::now_v7());
        channels.push(d.channel.as_str());
        external.push(d.external_id.as_str());
        payloads.push(&d.payload);
    }
    let stored: Vec<Uuid> = sqlx::query_scalar(
        "WITH d AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[])
                 AS d(id, job_id, channel, external_id, payload)
         ), u AS (
             INSERT INTO inbound_updates (id, channel, external_id, payload)
             SELECT id, channel, external_id, payload FROM d
             ON CONFLICT (channel, external_id) DO NOTHING
             RETURNING id, channel
         ), o AS (
             INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
             SELECT d.job_id, $6, k.kind, jsonb_build_object('update', u.id), k.kind || ':' || u.id, $9
             FROM u JOIN d ON d.id = u.id
             CROSS JOIN LATERAL (SELECT CASE u.channel WHEN 'telegram' THEN $7 ELSE $8 END AS kind) k
         )
         SELECT id FROM u",
    )
    .bind(&ids)
    .bind(&job_ids)
    .bind(&channels)
    .bind(&external)
    .bind(payloads)
    .bind(Queue::Inbound.as_str())
    .bind(JobKind::TelegramUpdate.as_str())
    .bind(JobKind::WhatsappUpdate.as_str())
    .bind(shop.pipeline.policy(Queue::Inbound).max_attempts)
    .fetch_all(pool)
    .await?;
    let stored: std::collections::HashSet<Uuid> = stored.into_iter().collect();
    Ok(ids.iter().map(|id| stored.contains(id)).collect())
}

/// The group-commit writer of messenger deliveries (see `record`).
pub type Ingest = GroupCommit<Delivery>;

/// Starts this process's writer of messenger deliveries.
pub fn ingest(pool: PgPool, shop: Shop) -> Ingest {
    GroupCommit::start("inbound webhook backlog is full", move |deliveries| {
        let (pool, shop) = (pool.clone(), shop.clone());
        async move { record(&pool, &shop, &deliveries).await }
    })
}

/// Why a messenger webhook request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InboundRejection {
    /// Missing or wrong secret or signature: 401, nothing stored.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authentic but not something we can read: 400.
    #[error("{0}")]
    Malformed(String),
}

/// A messenger's webhook check, implemented next to its client in
/// `bazaar-integrations`: the header that authenticates a request, and the
/// deliveries an authentic body holds (each with the id it is stored by).
pub trait InboundWebhook: Send + Sync {
    fn channel(&self) -> Channel;
    fn auth_header(&self) -> &'static str;
    fn verify(
        &self,
        auth: Option<&str>,
        body: &[u8],
    ) -> std::result::Result<Vec<Delivery>, InboundRejection>;
}

/// The messenger webhooks this process has (`None`: not configured).
#[derive(Clone, Default)]
pub struct MessengerWebhooks {
    pub telegram: Option<std::sync::Arc<dyn InboundWebhook>>,
    pub whatsapp: Option<std::sync::Arc<dyn InboundWebhook>>,
    /// Meta's verification handshake token (`WHATSAPP_VERIFY_TOKEN`).
    pub whatsapp_verify_token: Option<secrecy::SecretString>,
}

/// Constant-time comparison of a presented secret with the expected one.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Hashing first makes the comparison independent of both lengths.
    let (a, b) = (Sha256::digest(presented), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
