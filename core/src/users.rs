//! Accounts: the `users` table and the profile rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    error::is_unique_violation,
    messaging::{Channels, Language},
    validate, Error, FieldError, Result,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Vendor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Vendor => "vendor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "vendor" => Some(Role::Vendor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub phone: Option<String>,
    pub notifications: NotificationPrefs,
    /// Messages in this language; `None`: the shop's.
    pub language: Option<Language>,
    pub telegram_linked: bool,
    /// Why the provider's answer switched a channel off (blocked bot,
    /// undeliverable number).
    pub telegram_off_reason: Option<String>,
    pub whatsapp_off_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub email: bool,
    pub telegram: bool,
    pub whatsapp: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    phone: Option<String>,
    notify_email: bool,
    notify_telegram: bool,
    notify_whatsapp: bool,
    language: Option<Language>,
    telegram_chat_id: Option<i64>,
    telegram_off_reason: Option<String>,
    whatsapp_off_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Customer),
            phone: r.phone,
            notifications: NotificationPrefs {
                email: r.notify_email,
                telegram: r.notify_telegram,
                whatsapp: r.notify_whatsapp,
            },
            language: r.language,
            telegram_linked: r.telegram_chat_id.is_some(),
            telegram_off_reason: r.telegram_off_reason,
            whatsapp_off_reason: r.whatsapp_off_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! columns {
    () => {
        "id, email, name, role, phone, notify_email, notify_telegram, notify_whatsapp, language, \
         telegram_chat_id, telegram_off_reason, whatsapp_off_reason, created_at, updated_at"
    };
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub phone: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, new: NewUser<'_>) -> Result<User> {
    let row: std::result::Result<UserRow, sqlx::Error> = sqlx::query_as(concat!(
        "INSERT INTO users (id, email, password_hash, name, role, phone)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.name)
    .bind(new.role.as_str())
    .bind(new.phone)
    .fetch_one(conn)
    .await;
    match row {
        Ok(r) => Ok(r.into()),
        Err(e) if is_unique_violation(&e, "users_email_key") => Err(Error::Conflict(
            "an account with this e-mail already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<User> {
    sqlx::query_as::<_, UserRow>(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(User::from)
        .ok_or(Error::NotFound)
}

/// The user and their password hash, for login.
pub async fn find_credentials(pool: &PgPool, email: &str) -> Result<Option<(User, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        ", password_hash FROM users WHERE lower(email) = lower($1)"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.user.into(), r.password_hash)))
}

#[derive(Debug, Default, Deserialize)]
pub struct ProfilePatch {
    pub name: Option<String>,
    /// `Some(None)` clears the phone.
    pub phone: Option<Option<String>>,
    pub notifications: Option<NotificationPrefsPatch>,
    /// `Some(None)` goes back to the shop's language.
    pub language: Option<Option<Language>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NotificationPrefsPatch {
    pub email: Option<bool>,
    pub telegram: Option<bool>,
    pub whatsapp: Option<bool>,
}

/// Changes the profile. A messenger cannot be switched on when the shop
/// has no credentials for it, Telegram not before the chat is linked, and
/// WhatsApp not without a phone number; switching one on clears the reason
/// the provider switched it off.
pub async fn update_profile(
    pool: &PgPool,
    channels: &Channels,
    id: Uuid,
    patch: ProfilePatch,
) -> Result<User> {
    let current = find(pool, id).await?;
    let mut errors = Vec::new();
    let name = match patch.name.as_deref().map(validate::name) {
        Some(Err(m)) => {
            errors.push(FieldError::new("name", m));
            None
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let phone = match patch.phone {
        Some(Some(p)) => match validate::phone(&p) {
            Ok(p) => Some(Some(p)),
            Err(m) => {
                errors.push(FieldError::new("phone", m));
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let n = patch.notifications.unwrap_or_default();
    if n.telegram == Some(true) {
        if !channels.telegram {
            errors.push(FieldError::new(
                "notifications.telegram",
                "Telegram is not available in this shop: no bot is configured",
            ));
        } else if !current.telegram_linked {
            errors.push(FieldError::new(
                "notifications.telegram",
                "link Telegram first: POST /api/v1/me/telegram-link and press START in the bot",
            ));
        }
    }
    if n.whatsapp == Some(true) {
        let phone_after = match &phone {
            Some(p) => p.clone(),
            None => current.phone.clone(),
        };
        if !channels.whatsapp {
            errors.push(FieldError::new(
                "notifications.whatsapp",
                "WhatsApp is not available in this shop: no WhatsApp number is configured",
            ));
        } else if phone_after.is_none() {
            errors.push(FieldError::new(
                "notifications.whatsapp",
                "add a phone number to get WhatsApp messages",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // A new number is not the one WhatsApp said was undeliverable.
    let phone_changed = phone.as_ref().is_some_and(|p| *p != current.phone);
    sqlx::query_as::<_, UserRow>(concat!(
        "UPDATE users SET
             name = COALESCE($2, name),
             phone = CASE WHEN $3 THEN $4 ELSE phone END,
             notify_email = COALESCE($5, notify_email),
             notify_telegram = COALESCE($6, notify_telegram),
             notify_whatsapp = CASE WHEN $3 AND $4 IS NULL THEN false ELSE COALESCE($7, notify_whatsapp) END,
             telegram_off_reason = CASE WHEN $6 THEN NULL ELSE telegram_off_reason END,
             whatsapp_off_reason = CASE WHEN $7 OR $10 THEN NULL ELSE whatsapp_off_reason END,
             language = CASE WHEN $8 THEN $9 ELSE language END,
             updated_at = now()
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(name)
    .bind(phone.is_some())
    .bind(phone.flatten())
    .bind(n.email)
    .bind(n.telegram)
    .bind(n.whatsapp)
    .bind(patch.language.is_some())
    .bind(patch.language.flatten())
    .bind(phone_changed)
    .fetch_optional(pool)
    .await?
    .map(User::from)
    .ok_or(Error::NotFound)
}

pub async fn set_password_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}
