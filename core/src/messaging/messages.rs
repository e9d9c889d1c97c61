//! The `messages` table: what each message says, where it is, and the
//! admin's view of it. Workers read a row to send it and record what the
//! provider answered; status changes only ever move forward.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    jobs::{JobKind, Queue},
    mail::MailTemplate,
    shop::Shop,
    Result,
};

use super::{Channel, Language, MessageStatus};

/// What a message says, stored with it and rendered by the worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageBody {
    /// An order event or a price drop, with the same facts as the e-mail.
    Notice {
        template: MailTemplate,
        /// WhatsApp: send the approved template even inside the 24-hour
        /// window (the free-text attempt failed with 131047).
        #[serde(default)]
        template_only: bool,
    },
    /// A bot's answer to the customer's message.
    Reply { text: String },
}

/// A message as a worker sends it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Outgoing {
    pub id: Uuid,
    pub channel: Channel,
    pub event: String,
    pub user_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub recipient: String,
    pub language: Language,
    #[sqlx(json)]
    pub body: MessageBody,
    pub status: MessageStatus,
}

/// A message about to be sent, with what decides how: whether its
/// customer still has the channel on and linked (`None` without an
/// account), and for WhatsApp whether the 24-hour window is open.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sending {
    #[sqlx(flatten)]
    pub message: Outgoing,
    pub enabled: Option<bool>,
    pub window_open: bool,
}

/// Many messages in one query (the worker loads a batch's messages together).
pub async fn load_sending(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Sending>> {
    Ok(sqlx::query_as(
        "SELECT m.id, m.channel, m.event, m.user_id, m.order_id, m.recipient, m.language, m.body, m.status,
                CASE m.channel
                    WHEN 'telegram' THEN u.notify_telegram AND u.telegram_chat_id::text = m.recipient
                    WHEN 'whatsapp' THEN u.notify_whatsapp AND u.whatsapp_off_reason IS NULL
                    ELSE u.notify_email
                END AS enabled,
                COALESCE(c.last_inbound_at > now() - interval '24 hours', false) AS window_open
         FROM messages m
         LEFT JOIN users u ON u.id = m.user_id
         LEFT JOIN whatsapp_contacts c ON m.channel = 'whatsapp' AND c.wa_id = ltrim(m.recipient, '+')
         WHERE m.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// One status change for `advance_many`.
#[derive(Debug, Clone)]
pub struct Advance {
    pub id: Uuid,
    pub next: MessageStatus,
    pub provider_id: Option<String>,
    pub error: Option<String>,
}

/// Many status changes in one statement, each only if forward.
pub async fn advance_many(pool: &PgPool, changes: &[Advance]) -> Result<()> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.id).collect();
    let next: Vec<&str> = changes.iter().map(|c| c.next.as_str()).collect();
    let from: Vec<String> = changes
        .iter()
        .map(|c| MessageStatus::predecessors(c.next).join(","))
        .collect();
    let provider: Vec<Option<&str>> = changes.iter().map(|c| c.provider_id.as_deref()).collect();
    let error: Vec<Option<&str>> = changes.iter().map(|c| c.error.as_deref()).collect();
    sqlx::query(
        "UPDATE messages m SET status = w.next, provider_id = COALESCE(w.provider_id, m.provider_id),
             error = COALESCE(w.error, m.error), updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
             AS w(id, next, from_statuses, provider_id, error)
         WHERE m.id = w.id AND m.status = ANY(string_to_array(w.from_statuses, ','))",
    )
    .bind(ids)
    .bind(next)
    .bind(from)
    .bind(provider)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves the message the provider knows by `provider_id` (a WhatsApp
/// `wamid`) to `next` if that is forward; returns it when it moved.
pub async fn advance_by_provider_id(
    conn: &mut PgConnection,
    channel: Channel,
    provider_id: &str,
    next: MessageStatus,
    error: Option<&str>,
) -> Result<Option<Outgoing>> {
    Ok(sqlx::query_as(
        "UPDATE messages SET status = $3, error = COALESCE($4, error), updated_at = now()
         WHERE channel = $1 AND provider_id = $2 AND status = ANY($5)
         RETURNING id, channel, event, user_id, order_id, recipient, language, body, status",
    )
    .bind(channel)
    .bind(provider_id)
    .bind(next)
    .bind(error)
    .bind(MessageStatus::predecessors(next))
    .fetch_optional(conn)
    .await?)
}

/// A single message with its job, in the caller's transaction: bot replies
/// and WhatsApp's template re-sends. Nothing when (event, channel) exists.
pub struct Single<'a> {
    pub channel: Channel,
    pub event: &'a str,
    pub user: Option<Uuid>,
    pub order: Option<Uuid>,
    pub recipient: &'a str,
    pub language: Language,
    pub body: &'a MessageBody,
}

pub async fn enqueue(conn: &mut PgConnection, shop: &Shop, m: Single<'_>) -> Result<()> {
    let (queue, kind) = match m.channel {
        Channel::Email => (Queue::Email, JobKind::EmailNotice),
        Channel::Telegram => (Queue::Messenger, JobKind::TelegramMessage),
        Channel::Whatsapp => (Queue::Messenger, JobKind::WhatsappMessage),
    };
    let body = serde_json::to_value(m.body).map_err(|e| crate::Error::Internal(e.into()))?;
    sqlx::query(
        "WITH m AS (
             INSERT INTO messages (id, channel, event, user_id, order_id, recipient, language, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (event, channel) DO NOTHING
             RETURNING id, channel, event
         )
         INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
         SELECT $9, $10, $11, jsonb_build_object('message', m.id, 'key', m.event || ':' || m.channel),
                m.event || ':' || m.channel, $12
         FROM m
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(m.channel)
    .bind(m.event)
    .bind(m.user)
    .bind(m.order)
    .bind(m.recipient)
    .bind(m.language)
    .bind(body)
    .bind(Uuid::now_v7())
    .bind(queue.as_str())
    .bind(kind.as_str())
    .bind(shop.pipeline.policy(queue).max_attempts)
    .execute(conn)
    .await?;
    Ok(())
}

/// A message as admins see it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct MessageView {
    pub id: Uuid,
    pub channel: Channel,
    pub status: MessageStatus,
    /// Why it failed or was skipped, in the provider's words.
    pub error: Option<String>,
    /// What caused it: `order:<id>:shipped`, `price-drop:...`, `reply:...`.
    pub event: String,
    pub customer_id: Option<Uuid>,
    pub customer_email: Option<String>,
    pub order_number: Option<String>,
    /// E-mail address, Telegram chat id or phone number.
    pub recipient: String,
    pub language: Language,
    /// The provider's id (Telegram message_id, WhatsApp wamid).
    pub provider_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Option<Channel>,
    pub status: Option<MessageStatus>,
    /// A user id or an e-mail address.
    pub customer: Option<String>,
    /// An order number.
    pub order: Option<String>,
}

fn push_filter(q: &mut QueryBuilder<Postgres>, f: &Filter) {
    q.push(
        " FROM messages m LEFT JOIN users u ON u.id = m.user_id
          LEFT JOIN orders o ON o.id = m.order_id WHERE true",
    );
    if let Some(c) = f.channel {
        q.push(" AND m.channel = ").push_bind(c);
    }
    if let Some(s) = f.status {
        q.push(" AND m.status = ").push_bind(s);
    }
    if let Some(c) = &f.customer {
        match c.parse::<Uuid>() {
            Ok(id) => {
                q.push(" AND m.user_id = ").push_bind(id);
            }
            Err(_) => {
                q.push(" AND lower(u.email) = lower(")
                    .push_bind(c.trim().to_owned())
                    .push(")");
            }
        }
    }
    if let Some(n) = &f.order {
        q.push(" AND o.number = ")
            .push_bind(n.trim().to_ascii_uppercase());
    }
}

/// Newest first.
pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<MessageView>, i64)> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT m.id, m.channel, m.status, m.error, m.event, m.user_id AS customer_id,
                u.email AS customer_email, o.number AS order_number, m.recipient, m.language,
                m.provider_id, m.created_at, m.updated_at",
    );
    push_filter(&mut q, filter);
    q.push(" ORDER BY m.created_at DESC, m.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let items = q.build_query_as().fetch_all(pool).await?;
    let mut c = QueryBuilder::<Postgres>::new("SELECT count(*)");
    push_filter(&mut c, filter);
    let total: i64 = c.build_query_scalar().fetch_one(pool).await?;
    Ok((items, total))
}
