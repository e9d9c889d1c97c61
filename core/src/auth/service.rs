//! The account flows of API.md (register, login, refresh, logout, password
//! reset). Each writes its rows and the jobs it causes in one transaction.

use std::{net::IpAddr, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{password, rate_limit::Limited, tokens, JwtKeys, RateLimiter};
use crate::{
    config::{PipelineConfig, RateLimits},
    jobs::SendEmail,
    mail::MailTemplate,
    outbox,
    users::{self, NewUser, Role, User},
    validate, Error, FieldError, Result,
};

const RESET_TOKEN_VALIDITY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
    pub role: String,
    pub phone: Option<String>,
}

#[derive(Clone)]
pub struct AuthService {
    pub pool: PgPool,
    pub keys: JwtKeys,
    pub limiter: RateLimiter,
    pub limits: RateLimits,
    pub pipeline: PipelineConfig,
    pub public_url: String,
    pub refresh_ttl: Duration,
}

impl From<Limited> for Error {
    fn from(l: Limited) -> Self {
        Error::RateLimited {
            retry_after_secs: l.retry_after_secs,
        }
    }
}

impl AuthService {
    pub async fn register(&self, r: Registration) -> Result<(User, TokenPair)> {
        let mut errors = Vec::new();
        let email = validate::email(&r.email)
            .map_err(|m| errors.push(FieldError::new("email", m)))
            .ok();
        if let Err(m) = validate::password(&r.password) {
            errors.push(FieldError::new("password", m));
        }
        let name = validate::name(&r.name)
            .map_err(|m| errors.push(FieldError::new("name", m)))
            .ok();
        let role = match Role::parse(&r.role) {
            Some(role @ (Role::Customer | Role::Vendor)) => Some(role),
            _ => {
                errors.push(FieldError::new("role", "must be customer or vendor"));
                None
            }
        };
        let phone = match r.phone.as_deref().map(validate::phone) {
            Some(Err(m)) => {
                errors.push(FieldError::new("phone", m));
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let (Some(email), Some(name), Some(role), true) = (email, name, role, errors.is_empty())
        else {
            return Err(Error::Validation(errors));
        };

        let hash = password::hash(r.password).await?;
        let mut tx = self.pool.begin().await?;
        let user = users::insert(
            &mut tx,
            NewUser {
                email: &email,
                password_hash: &hash,
                name: &name,
                role,
                phone: phone.as_deref(),
            },
        )
        .await?;
        outbox::enqueue(
            &mut tx,
            &self.pipeline,
            &SendEmail {
                key: format!("welcome:{}", user.id),
                to: user.email.clone(),
                template: MailTemplate::Welcome {
                    name: user.name.clone(),
                },
            },
        )
        .await?;
        let pair = self
            .issue_pair(&mut tx, user.id, user.role, Uuid::now_v7())
            .await?;
        tx.commit().await?;
        Ok((user, pair))
    }

    /// The same 401 for an unknown e-mail and a wrong password, after the same
    /// amount of hashing work.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<(User, TokenPair)> {
        let mut missing = Vec::new();
        if email.trim().is_empty() {
            missing.push(FieldError::new("email", "is required"));
        }
        if password.is_empty() {
            missing.push(FieldError::new("password", "is required"));
        }
        if !missing.is_empty() {
            return Err(Error::Validation(missing));
        }
        self.limiter
            .hit(
                &format!("login:ip:{ip}"),
                self.limits.login_requests_per_ip_per_minute,
                Duration::from_secs(60),
            )
            .await?;
        // Anything that is not a valid address cannot belong to an account:
        // the same 401, without touching the database.
        let Ok(email) = validate::email(email) else {
            let _ = password::verify(password.to_owned(), password::dummy_hash().to_owned()).await;
            return Err(Error::Unauthorized("invalid e-mail or password"));
        };
        // Failures are counted per account and client: the client that keeps
        // guessing is locked out, not the account's owner elsewhere. Past
        // the same number of failures from all clients together, the
        // account is slowed to one attempt per `login_slow_down` (a guesser
        // spread over many addresses still gets few tries; the owner waits
        // seconds at most). Right or wrong, an attempt is judged only once
        // it is let through, so a refusal reveals nothing of the password.
        let account = account_key(&email);
        let client_failures = format!("login:failed:{account}:{ip}");
        let account_failures = format!("login:failed:{account}");
        let limit = self.limits.login_failures_per_account;
        self.limiter.check(&client_failures, limit).await?;
        if self.limiter.check(&account_failures, limit).await.is_err() {
            self.limiter
                .hit(
                    &format!("login:slow:{account}"),
                    1,
                    self.limits.login_slow_down,
                )
                .await?;
        }
        let found = users::find_credentials(&self.pool, &email).await?;
        let hash = found
            .as_ref()
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| password::dummy_hash().to_owned());
        let valid = password::verify(password.to_owned(), hash).await?;
        let Some((user, _)) = found.filter(|_| valid) else {
            let window = self.limits.login_failure_window;
            self.limiter.record(&client_failures, window).await;
            self.limiter.record(&account_failures, window).await;
            return Err(Error::Unauthorized("invalid e-mail or password"));
        };
        self.limiter.reset(&client_failures).await;
        let mut conn = self.pool.acquire().await?;
        let pair = self
            .issue_pair(&mut conn, user.id, user.role, Uuid::now_v7())
            .await?;
        Ok((user, pair))
    }

    /// Rotates a refresh token. Presenting a token that was already rotated or
    /// revoked means it leaked: the whole family (that login) is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            user_id: Uuid,
            family_id: Uuid,
            expires_at: DateTime<Utc>,
            used_at: Option<DateTime<Utc>>,
            revoked_at: Option<DateTime<Utc>>,
            role: String,
        }
        let mut tx = self.pool.begin().await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT t.id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at, u.role
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 FOR UPDATE OF t",
        )
        .bind(tokens::digest(refresh_token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::Unauthorized("invalid refresh token"));
        };
        if row.used_at.is_some() || row.revoked_at.is_some() {
            revoke_family(&mut tx, row.family_id).await?;
            tx.commit().await?;
            tracing::warn!(user.id = %row.user_id, "refresh token reuse; session family revoked");
            return Err(Error::Unauthorized("refresh token is no longer valid"));
        }
        if row.expires_at <= Utc::now() {
            return Err(Error::Unauthorized("refresh token expired"));
        }
        sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        let role = Role::parse(&row.role).unwrap_or(Role::Customer);
        let pair = self
            .issue_pair(&mut tx, row.user_id, role, row.family_id)
            .await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// Ends the session the token belongs to. Unknown tokens are ignored, so
    /// logout is idempotent.
    pub async fn logout(&self, user: Uuid, refresh_token: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND family_id = (
                 SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)",
        )
        .bind(tokens::digest(refresh_token))
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Always succeeds for a well-formed address, whether or not an account
    /// exists, so the answer reveals nothing; the mail goes out only if it does.
    pub async fn forgot_password(&self, email: &str, ip: IpAddr) -> Result<()> {
        let email = validate::email(email).map_err(|m| Error::invalid("email", m))?;
        self.limiter
            .hit(
                &format!("forgot:ip:{ip}"),
                self.limits.forgot_per_ip_per_hour,
                Duration::from_secs(3600),
            )
            .await?;
        self.limiter
            .hit(
                &format!("forgot:{}", account_key(&email)),
                self.limits.forgot_per_account_per_hour,
                Duration::from_secs(3600),
            )
            .await?;
        let Some((user, _)) = users::find_credentials(&self.pool, &email).await? else {
            return Ok(());
        };
        let token = tokens::random_token();
        let digest = tokens::digest(&token);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO password_reset_tokens (token_hash, user_id, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
        )
        .bind(&digest)
        .bind(user.id)
        .bind(RESET_TOKEN_VALIDITY.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            &self.pipeline,
            &SendEmail {
                key: format!("password_reset:{}", hex::encode(&digest[..12])),
                to: user.email.clone(),
                template: MailTemplate::PasswordReset {
                    name: user.name.clone(),
                    link: format!("{}/reset-password?token={token}", self.public_url),
                    valid_minutes: (RESET_TOKEN_VALIDITY.as_secs() / 60) as u32,
                },
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password with a single-use token; every other reset token and
    /// every session of the account die with it.
    pub async fn reset_password(&self, token: &str, new_password: String) -> Result<()> {
        validate::password(&new_password).map_err(|m| Error::invalid("new_password", m))?;
        let mut tx = self.pool.begin().await?;
        // The token is consumed (and checked) before any hashing work, so a
        // stream of made-up tokens costs no argon2 time.
        let user_id: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_reset_tokens SET used_at = now()
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING user_id",
        )
        .bind(tokens::digest(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Err(Error::BadRequest(
                "the reset token is invalid, used or expired",
            ));
        };
        let hash = password::hash(new_password).await?;
        users::set_password_hash(&mut tx, user_id, &hash).await?;
        sqlx::query("UPDATE password_reset_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn issue_pair(
        &self,
        conn: &mut PgConnection,
        user: Uuid,
        role: Role,
        family: Uuid,
    ) -> Result<TokenPair> {
        let refresh = tokens::random_token();
        sqlx::query(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind(Uuid::now_v7())
        .bind(user)
        .bind(family)
        .bind(tokens::digest(&refresh))
        .bind(self.refresh_ttl.as_secs_f64())
        .execute(conn)
        .await?;
        Ok(TokenPair {
            access_token: self.keys.issue(user, role, family)?,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: self.keys.ttl.as_secs(),
        })
    }
}

/// Rate-limit keys name accounts by a digest: bounded length, no e-mail
/// addresses in Redis.
fn account_key(email: &str) -> String {
    hex::encode(&tokens::digest(email)[..16])
}

async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Creates an admin account from the command line (`bazaar admin create`).
pub async fn create_admin(
    pool: &PgPool,
    email: &str,
    name: &str,
    password: String,
) -> Result<User> {
    let mut errors = Vec::new();
    let email = validate::email(email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    if let Err(m) = validate::password(&password) {
        errors.push(FieldError::new("password", m));
    }
    let (Some(email), true) = (email, errors.is_empty()) else {
        return Err(Error::Validation(errors));
    };
    let hash = password::hash(password).await?;
    let mut conn = pool.acquire().await?;
    users::insert(
        &mut conn,
        NewUser {
            email: &email,
            password_hash: &hash,
            name,
            role: Role::Admin,
            phone: None,
        },
    )
    .await
}
