//! The one notification path: a notice (order event, price drop) becomes,
//! in the caller's transaction, one `messages` row and one job per channel
//! the customer has enabled and linked. One statement whatever the number of
//! notices: the customer's preferences are read, the rows written and the
//! jobs enqueued together, and a notice whose (event, channel) row exists
//! already writes nothing, so a repeated event sends nothing twice.

use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    jobs::{JobKind, Queue},
    mail::MailTemplate,
    shop::Shop,
    Result,
};

use super::{messages::MessageBody, Channel};

/// Something a customer should hear about.
#[derive(Debug, Clone)]
pub struct Notice {
    /// What happened, unique per occurrence: `order:<id>:shipped`.
    pub event: String,
    pub user: Option<Uuid>,
    pub order: Option<Uuid>,
    /// Where e-mail goes (the order's contact address, or the account's).
    pub email: Option<String>,
    /// The order's phone, for WhatsApp when the account has none.
    pub phone: Option<String>,
    pub template: MailTemplate,
}

/// Queues `notices` on every channel their customers enabled. Guests (no
/// account) get e-mail only: they chose no messenger.
pub async fn send(conn: &mut PgConnection, shop: &Shop, notices: &[Notice]) -> Result<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<Postgres>::new("WITH ");
    push_fan_out(&mut q, shop, notices)?;
    q.push(" SELECT 1");
    q.build().execute(conn).await?;
    Ok(())
}

/// The fan-out as common table expressions (`nc`, `nr`, `nm`, `nj`) of a
/// larger statement: checkout writes the order and its notices in one
/// round trip.
pub fn push_fan_out(q: &mut QueryBuilder<Postgres>, shop: &Shop, notices: &[Notice]) -> Result<()> {
    let n = notices.len() * Channel::ALL.len();
    let mut msg_ids = Vec::with_capacity(n);
    let mut job_ids = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut orders = Vec::with_capacity(n);
    let mut contacts = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    for notice in notices {
        let body = serde_json::to_value(MessageBody::Notice {
            template: notice.template.clone(),
            template_only: false,
        })
        .map_err(|e| crate::Error::Internal(e.into()))?;
        for &channel in Channel::ALL {
            msg_ids.push(Uuid::now_v7());
            job_ids.push(Uuid::now_v7());
            channels.push(channel.as_str());
            events.push(notice.event.clone());
            users.push(notice.user);
            orders.push(notice.order);
            contacts.push(match channel {
                Channel::Email => notice.email.clone(),
                Channel::Telegram => None,
                Channel::Whatsapp => notice.phone.clone(),
            });
            bodies.push(body.clone());
        }
    }
    let pipeline = &shop.pipeline;
    q.push("nc AS (SELECT * FROM unnest(")
        .push_bind(msg_ids)
        .push("::uuid[], ")
        .push_bind(job_ids)
        .push("::uuid[], ")
        .push_bind(channels)
        .push("::text[], ")
        .push_bind(events)
        .push("::text[], ")
        .push_bind(users)
        .push("::uuid[], ")
        .push_bind(orders)
        .push("::uuid[], ")
        .push_bind(contacts)
        .push("::text[], ")
        .push_bind(bodies)
        .push(
            "::jsonb[]) AS c(msg_id, job_id, channel, event, user_id, order_id, contact, body)),
         nr AS (
             SELECT c.*, COALESCE(u.language, ",
        )
        .push_bind(shop.channels.default_language.as_str())
        .push(
            ") AS language,
                 CASE c.channel
                     WHEN 'email' THEN CASE WHEN c.user_id IS NULL OR u.notify_email
                                            THEN COALESCE(c.contact, u.email) END
                     WHEN 'telegram' THEN CASE WHEN ",
        )
        .push_bind(shop.channels.telegram)
        .push(
            " AND u.notify_telegram THEN u.telegram_chat_id::text END
                     WHEN 'whatsapp' THEN CASE WHEN ",
        )
        .push_bind(shop.channels.whatsapp)
        .push(
            " AND u.notify_whatsapp AND u.whatsapp_off_reason IS NULL
                                               THEN COALESCE(u.phone, c.contact) END
                 END AS recipient
             FROM nc c LEFT JOIN users u ON u.id = c.user_id
         ), nm AS (
             INSERT INTO messages (id, channel, event, user_id, order_id, recipient, language, body)
             SELECT msg_id, channel, event, user_id, order_id, recipient, language, body
             FROM nr WHERE recipient IS NOT NULL
             ON CONFLICT (event, channel) DO NOTHING
             RETURNING id, channel, event
         ), nj AS (
             INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
             SELECT nr.job_id, CASE nm.channel WHEN 'email' THEN ",
        )
        .push_bind(Queue::Email.as_str())
        .push(" ELSE ")
        .push_bind(Queue::Messenger.as_str())
        .push(" END, CASE nm.channel WHEN 'email' THEN ")
        .push_bind(JobKind::EmailNotice.as_str())
        .push(" WHEN 'telegram' THEN ")
        .push_bind(JobKind::TelegramMessage.as_str())
        .push(" ELSE ")
        .push_bind(JobKind::WhatsappMessage.as_str())
        .push(
            " END, jsonb_build_object('message', nm.id, 'key', nm.event || ':' || nm.channel),
                 nm.event || ':' || nm.channel, CASE nm.channel WHEN 'email' THEN ",
        )
        .push_bind(pipeline.policy(Queue::Email).max_attempts)
        .push(" ELSE ")
        .push_bind(pipeline.policy(Queue::Messenger).max_attempts)
        .push(
            " END
             FROM nm JOIN nr ON nr.msg_id = nm.id
             ON CONFLICT (idempotency_key) DO NOTHING)",
        );
    Ok(())
}
