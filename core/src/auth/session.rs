//! Whether an access token still speaks for someone: its account exists and
//! its session (the refresh-token family it was issued in) has not ended.
//! Checked on every authenticated request, so a deleted account, a logout or
//! a password reset takes effect at once instead of when the token expires,
//! and a changed role counts from the next request.

use sqlx::PgPool;
use uuid::Uuid;

use crate::{users::Role, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The account, with its role as stored now.
    Live(Role),
    /// Logged out, or every session ended by a password reset or a reused
    /// refresh token.
    Ended,
    /// The account is gone.
    NoAccount,
}

/// One indexed look-up: the user by primary key, the session by family.
pub async fn check(pool: &PgPool, user: Uuid, session: Option<Uuid>) -> Result<Session> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT u.role, EXISTS (SELECT 1 FROM refresh_tokens t
                                WHERE t.family_id = $2 AND t.revoked_at IS NOT NULL)
         FROM users u WHERE u.id = $1",
    )
    .bind(user)
    .bind(session)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Session::NoAccount,
        Some((_, true)) => Session::Ended,
        Some((role, false)) => Role::parse(&role).map_or(Session::NoAccount, Session::Live),
    })
}
