//! Binding a Telegram chat to an account: the account asks for a deep link
//! (`t.me/<bot>?start=<token>`), the customer presses START, the bot gets
//! `/start <token>` from the chat. The token is 43 characters of base64url
//! (Telegram allows 64 of `A-Z a-z 0-9 _ -`), works once and expires; only
//! its hash is stored.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    auth::tokens::{digest, random_token},
    shop::Shop,
    Error, FieldError, Result,
};

use super::Language;

pub struct Link {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A new link for `user`. 422 when this shop has no Telegram bot.
pub async fn create(pool: &PgPool, shop: &Shop, user: Uuid) -> Result<Link> {
    let Some(bot) = shop.channels.telegram_bot.as_deref() else {
        return Err(Error::Validation(vec![FieldError::new(
            "telegram",
            "Telegram is not available in this shop (no bot is configured)",
        )]));
    };
    let token = random_token();
    let ttl = chrono::Duration::from_std(shop.channels.telegram_link_ttl)
        .map_err(|e| Error::Internal(e.into()))?;
    let expires_at = Utc::now() + ttl;
    sqlx::query(
        "INSERT INTO telegram_link_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(digest(&token))
    .bind(user)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(Link {
        url: format!("https://t.me/{bot}?start={token}"),
        expires_at,
    })
}

/// What `/start <token>` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// The chat is now the account's (or already was, by this token).
    Linked {
        name: String,
        language: Option<Language>,
    },
    /// Unknown, expired, or used by another chat: nothing was bound.
    Invalid,
}

/// Binds `chat` to the token's account. Pressing the same link again from
/// the same chat answers "linked" again and changes nothing; any other use
/// of a used or expired token binds nothing. A chat belongs to one account:
/// binding it moves it away from any other.
pub async fn bind(conn: &mut PgConnection, token: &str, chat: i64) -> Result<Bound> {
    if token.is_empty() || token.len() > 64 {
        return Ok(Bound::Invalid);
    }
    let hash = digest(token);
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "UPDATE telegram_link_tokens SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(user) = claimed else {
        // Pressed again by the chat it already bound: the same answer.
        let again: Option<(String, Option<Language>)> = sqlx::query_as(
            "SELECT u.name, u.language FROM telegram_link_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.used_at IS NOT NULL AND u.telegram_chat_id = $2",
        )
        .bind(&hash)
        .bind(chat)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(match again {
            Some((name, language)) => Bound::Linked { name, language },
            None => Bound::Invalid,
        });
    };
    sqlx::query(
        "UPDATE users SET telegram_chat_id = NULL, notify_telegram = false, updated_at = now()
         WHERE telegram_chat_id = $1 AND id <> $2",
    )
    .bind(chat)
    .bind(user)
    .execute(&mut *conn)
    .await?;
    let (name, language): (String, Option<Language>) = sqlx::query_as(
        "UPDATE users SET telegram_chat_id = $2, notify_telegram = true, telegram_off_reason = NULL,
             updated_at = now()
         WHERE id = $1 RETURNING name, language",
    )
    .bind(user)
    .bind(chat)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Bound::Linked { name, language })
}

/// `/stop`: the chat is no longer the account's. Returns whether one was.
pub async fn unbind(conn: &mut PgConnection, chat: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET telegram_chat_id = NULL, notify_telegram = false, updated_at = now()
         WHERE telegram_chat_id = $1",
    )
    .bind(chat)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
