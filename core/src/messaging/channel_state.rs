//! A customer's channel switched off by the provider's final answer
//! (Telegram: bot blocked, user deactivated, chat not found; WhatsApp:
//! undeliverable number). Recorded with the reason, shown in `GET /me`;
//! switching the preference on again clears it.

use uuid::Uuid;

use crate::Result;

use super::Channel;

pub async fn switch_off<'e>(
    db: impl sqlx::PgExecutor<'e>,
    user: Uuid,
    channel: Channel,
    reason: &str,
) -> Result<()> {
    let sql = match channel {
        Channel::Telegram => {
            "UPDATE users SET notify_telegram = false, telegram_off_reason = $2, updated_at = now() WHERE id = $1"
        }
        Channel::Whatsapp => {
            "UPDATE users SET notify_whatsapp = false, whatsapp_off_reason = $2, updated_at = now() WHERE id = $1"
        }
        Channel::Email => {
            "UPDATE users SET notify_email = false, updated_at = now() WHERE id = $1 AND $2 <> ''"
        }
    };
    sqlx::query(sql).bind(user).bind(reason).execute(db).await?;
    Ok(())
}
