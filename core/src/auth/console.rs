//! Sign-in sessions of the back-office console (a browser, so a cookie
//! rather than a bearer token). Signing in is the API's login (the same
//! rate limits and failure counting), and the session rides on the
//! refresh-token family that login opened: signing out revokes the family,
//! and a password reset, which revokes every family, ends the console
//! session too. The cookie holds a random token; the table holds its
//! digest, so a leaked table signs nobody in.

use std::{net::IpAddr, time::Duration};

use sqlx::PgPool;
use uuid::Uuid;

use super::{tokens, AuthService};
use crate::{users::Role, Error, Result};

/// A live console session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub user_id: Uuid,
    pub name: String,
    pub role: Role,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
}

/// What the browser keeps: the cookie's token and the session's form token.
#[derive(Debug, Clone)]
pub struct Started {
    pub token: String,
    pub csrf: String,
}

/// Signs `email` in for `ttl`. Customers are refused (403) after a correct
/// password only, so the answer tells a guesser nothing new.
pub async fn start(
    auth: &AuthService,
    email: &str,
    password: &str,
    ip: IpAddr,
    ttl: Duration,
) -> Result<Started> {
    let (user, pair) = auth.login(email, password, ip).await?;
    let family: Uuid =
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(tokens::digest(&pair.refresh_token))
            .fetch_one(&auth.pool)
            .await?;
    if user.role == Role::Customer {
        revoke_family(&auth.pool, family).await?;
        return Err(Error::Forbidden(
            "the console is for admins and vendors; this is a customer account",
        ));
    }
    // Expired sessions go as new ones come (one indexed delete).
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(&auth.pool)
        .await?;
    let started = Started {
        token: tokens::random_token(),
        csrf: tokens::random_token(),
    };
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, user_id, family_id, csrf_token, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(tokens::digest(&started.token))
    .bind(user.id)
    .bind(family)
    .bind(&started.csrf)
    .bind(ttl.as_secs_f64())
    .execute(&auth.pool)
    .await?;
    Ok(started)
}

/// The session `token` belongs to, if it is live: not expired, its family
/// not revoked, its account still there (with the role it has now).
pub async fn find(pool: &PgPool, token: &str) -> Result<Option<ConsoleSession>> {
    let row: Option<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT s.user_id, u.name, u.role, s.csrf_token
         FROM console_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now()
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                           WHERE t.family_id = s.family_id AND t.revoked_at IS NOT NULL)",
    )
    .bind(tokens::digest(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(user_id, name, role, csrf)| {
        Some(ConsoleSession {
            user_id,
            name,
            role: Role::parse(&role)?,
            csrf,
        })
    }))
}

/// Signs out: the session and its refresh-token family end.
pub async fn end(pool: &PgPool, token: &str) -> Result<()> {
    let family: Option<Uuid> = sqlx::query_scalar(
        "DELETE FROM console_sessions WHERE token_hash = $1 RETURNING family_id",
    )
    .bind(tokens::digest(token))
    .fetch_optional(pool)
    .await?;
    if let Some(family) = family {
        revoke_family(pool, family).await?;
    }
    Ok(())
}

async fn revoke_family(pool: &PgPool, family: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(pool)
    .await?;
    Ok(())
}

/// Constant-time comparison of a submitted form token with the session's
/// (the same comparison the webhook secrets get).
pub fn same_token(submitted: &str, expected: &str) -> bool {
    crate::messaging::inbound::same_secret(submitted.as_bytes(), expected.as_bytes())
}
