//! WhatsApp conversations and delivery reports. An inbound message opens
//! the 24-hour customer-service window for its sender and is answered: an
//! order number ("status BZ-000123" or just the number) gets that order's
//! status and tracking when the sender's phone is the order's phone, and
//! the same "not found" otherwise. Status webhooks move the message
//! forward only; failures are acted on by their code.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{commerce::orders, shop::Shop, validate, Result};

use super::{
    bot::{normalise_number, order_status},
    channel_state,
    messages::{self, MessageBody, Single},
    text::bot,
    Channel, Language, MessageStatus,
};

/// Free text is allowed this long after the customer last wrote.
pub const SERVICE_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Meta's error codes bazaar acts on.
pub mod codes {
    /// More than 24 hours since the customer last wrote: send a template.
    pub const WINDOW_CLOSED: i64 = 131047;
    /// Not a WhatsApp number, old client, terms not accepted.
    pub const UNDELIVERABLE: i64 = 131026;
}

pub async fn window_open<'e>(db: impl sqlx::PgExecutor<'e>, phone: &str) -> Result<bool> {
    let last: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT last_inbound_at FROM whatsapp_contacts WHERE wa_id = $1")
            .bind(wa_id(phone))
            .fetch_optional(db)
            .await?;
    Ok(last.is_some_and(|t| Utc::now() - t < SERVICE_WINDOW))
}

/// WhatsApp's form of a phone: digits with the country code, no `+`.
pub fn wa_id(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// What to do with a customer's text: the order number it asks about.
pub fn asked_number(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let candidate = match words.as_slice() {
        [one] => *one,
        [w, n]
            if ["status", "статус", "track", "заказ", "order"]
                .contains(&w.to_lowercase().as_str()) =>
        {
            *n
        }
        _ => return None,
    };
    let n = normalise_number(candidate.trim_start_matches('#'));
    (n.starts_with("BZ-") && n[3..].bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// An inbound text message (`from` is the sender's wa_id), in the job's
/// transaction: records the window, answers.
pub async fn handle_message(
    conn: &mut PgConnection,
    shop: &Shop,
    message_id: &str,
    from: &str,
    sent_at: DateTime<Utc>,
    text: Option<&str>,
) -> Result<()> {
    let from = wa_id(from);
    sqlx::query(
        "INSERT INTO whatsapp_contacts (wa_id, last_inbound_at) VALUES ($1, $2)
         ON CONFLICT (wa_id) DO UPDATE SET last_inbound_at = GREATEST(whatsapp_contacts.last_inbound_at, $2)",
    )
    .bind(&from)
    .bind(sent_at)
    .execute(&mut *conn)
    .await?;
    let phone = format!("+{from}");
    let user: Option<(Uuid, Option<Language>)> =
        sqlx::query_as("SELECT id, language FROM users WHERE phone = $1 LIMIT 1")
            .bind(&phone)
            .fetch_optional(&mut *conn)
            .await?;
    let lang = user
        .and_then(|u| u.1)
        .unwrap_or(shop.channels.default_language);
    let mut order_id = None;
    let reply = match text.and_then(asked_number) {
        None => bot::whatsapp_help(lang),
        Some(number) => {
            let order = orders::find_by_number(conn, &number, false)
                .await?
                .filter(|o| {
                    o.phone
                        .as_deref()
                        .and_then(|p| validate::phone(p).ok())
                        .is_some_and(|p| p == phone)
                });
            match order {
                Some(o) => {
                    order_id = Some(o.id);
                    order_status(&o, lang)
                }
                None => bot::whatsapp_not_found(lang, &number),
            }
        }
    };
    let event = format!("reply:whatsapp:{message_id}");
    messages::enqueue(
        conn,
        shop,
        Single {
            channel: Channel::Whatsapp,
            event: &event,
            user: user.map(|u| u.0),
            order: order_id,
            recipient: &phone,
            language: lang,
            body: &MessageBody::Reply { text: reply },
        },
    )
    .await
}

/// A failure reported for a message: Meta's code and its words.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: i64,
    pub reason: String,
}

/// What a status webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The message moved forward (and a failure was acted on).
    Applied,
    /// Not forward (a late `sent` after `read`), or a status we do not track.
    Ignored,
    /// No message has this id (yet): Meta can report a status before the
    /// worker has recorded the id its send returned.
    Unknown,
}

/// A status webhook for the message Meta calls `wamid`.
pub async fn handle_status(
    conn: &mut PgConnection,
    shop: &Shop,
    wamid: &str,
    status: &str,
    failure: Option<Failure>,
) -> Result<StatusOutcome> {
    let next = match status {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" => MessageStatus::Read,
        "failed" => MessageStatus::Failed,
        // `deleted`, `warning` and future statuses tell us nothing to act on.
        _ => return Ok(StatusOutcome::Ignored),
    };
    let error = failure
        .as_ref()
        .map(|f| format!("{}: {}", f.code, f.reason));
    let Some(message) =
        messages::advance_by_provider_id(conn, Channel::Whatsapp, wamid, next, error.as_deref())
            .await?
    else {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE channel = 'whatsapp' AND provider_id = $1)",
        )
        .bind(wamid)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(if known {
            StatusOutcome::Ignored
        } else {
            StatusOutcome::Unknown
        });
    };
    let Some(failure) = failure.filter(|_| next == MessageStatus::Failed) else {
        return Ok(StatusOutcome::Applied);
    };
    match failure.code {
        codes::WINDOW_CLOSED => {
            // Free text outside the window: the approved template instead.
            if let MessageBody::Notice {
                template,
                template_only: false,
            } = &message.body
            {
                let event = format!("{}:template", message.event);
                messages::enqueue(
                    conn,
                    shop,
                    Single {
                        channel: Channel::Whatsapp,
                        event: &event,
                        user: message.user_id,
                        order: message.order_id,
                        recipient: &message.recipient,
                        language: message.language,
                        body: &MessageBody::Notice {
                            template: template.clone(),
                            template_only: true,
                        },
                    },
                )
                .await?;
            }
        }
        codes::UNDELIVERABLE => {
            if let Some(user) = message.user_id {
                channel_state::switch_off(
                    &mut *conn,
                    user,
                    Channel::Whatsapp,
                    &error.unwrap_or_default(),
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(StatusOutcome::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_found_in_customer_texts() {
        assert_eq!(
            asked_number("status BZ-000123").as_deref(),
            Some("BZ-000123")
        );
        assert_eq!(
            asked_number("Статус bz-000123").as_deref(),
            Some("BZ-000123")
        );
        assert_eq!(asked_number("BZ-000123").as_deref(), Some("BZ-000123"));
        assert_eq!(asked_number("#123").as_deref(), Some("BZ-000123"));
        assert_eq!(asked_number("hello"), None);
        assert_eq!(asked_number("where is my order BZ-1"), None);
    }
}
