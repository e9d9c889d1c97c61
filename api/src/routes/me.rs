//! `/api/v1/me`: the signed-in user's profile.

use axum::extract::State;
use axum::http::StatusCode;
use bazaar_core::{
    messaging::{telegram_link, Channels, Language},
    users::{self, NotificationPrefsPatch, ProfilePatch, User},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me))
        .routes(routes!(telegram_link))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Notifications {
    email: bool,
    telegram: bool,
    whatsapp: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    id: Uuid,
    email: String,
    name: String,
    /// `customer`, `vendor` or `admin`.
    role: String,
    phone: Option<String>,
    notifications: Notifications,
    /// `ru` or `en`: the language of the customer's messages.
    language: Language,
    /// Whether each messenger can be used, and why it is off if the
    /// provider switched it off.
    channels: ChannelsView,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelsView {
    telegram: TelegramView,
    whatsapp: WhatsappView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramView {
    /// This shop has a Telegram bot.
    available: bool,
    /// A chat is bound to this account (`POST /api/v1/me/telegram-link`).
    linked: bool,
    /// Why Telegram was switched off by the provider, e.g. `Forbidden: bot was blocked by the user`.
    off_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappView {
    /// This shop has a WhatsApp number.
    available: bool,
    /// Why WhatsApp was switched off, e.g. Meta's 131026 (undeliverable).
    off_reason: Option<String>,
}

impl UserView {
    pub fn new(u: User, channels: &Channels) -> Self {
        Self {
            language: u.language.unwrap_or(channels.default_language),
            channels: ChannelsView {
                telegram: TelegramView {
                    available: channels.telegram,
                    linked: u.telegram_linked,
                    off_reason: u.telegram_off_reason,
                },
                whatsapp: WhatsappView {
                    available: channels.whatsapp,
                    off_reason: u.whatsapp_off_reason,
                },
            },
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role.as_str().to_owned(),
            phone: u.phone,
            notifications: Notifications {
                email: u.notifications.email,
                telegram: u.notifications.telegram,
                whatsapp: u.notifications.whatsapp,
            },
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn get_me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserView>> {
    Ok(Json(UserView::new(
        users::find(&state.pool, user.id).await?,
        &state.shop.channels,
    )))
}

/// An object and nothing else: serde would fill a struct from an array by
/// position (`[true, false]` as `{email: true, telegram: false}`).
fn object_only<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? {
        None => Ok(None),
        Some(map) => T::deserialize(serde_json::Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// A present-but-null field (`"phone": null`) clears it; an absent one is kept.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MePatch {
    #[schema(schema_with = bazaar_core::validate::schema::name_or_null)]
    name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    #[schema(schema_with = bazaar_core::validate::schema::phone_or_null)]
    phone: Option<Option<String>>,
    #[serde(deserialize_with = "object_only")]
    notifications: Option<NotificationsPatch>,
    /// `ru` or `en`; null goes back to the shop's default.
    #[serde(deserialize_with = "nullable_language")]
    #[schema(value_type = Option<String>, pattern = "^(ru|en)$")]
    language: Option<Option<Language>>,
}

fn nullable_language<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Language>>, D::Error> {
    Option::<Language>::deserialize(d).map(Some)
}

/// Each channel switched on or off; one left out (or null) is kept.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsPatch {
    email: Option<bool>,
    telegram: Option<bool>,
    whatsapp: Option<bool>,
}

/// Change name, phone (null clears it), language or notification
/// preferences. A messenger the shop has no credentials for, Telegram
/// before it is linked, or WhatsApp without a phone cannot be switched on (422).
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    request_body = MePatch,
    responses((status = 200, body = UserView), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn patch_me(
    State(state): State<AppState>,
    user: AuthUser,
    Json(patch): Json<MePatch>,
) -> ApiResult<Json<UserView>> {
    let patch = ProfilePatch {
        name: patch.name,
        phone: patch.phone,
        notifications: patch.notifications.map(|n| NotificationPrefsPatch {
            email: n.email,
            telegram: n.telegram,
            whatsapp: n.whatsapp,
        }),
        language: patch.language,
    };
    let channels = &state.shop.channels;
    Ok(Json(UserView::new(
        users::update_profile(&state.pool, channels, user.id, patch).await?,
        channels,
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramLink {
    /// `https://t.me/<bot>?start=<token>`: opening it and pressing START
    /// binds that chat to this account. Works once.
    #[schema(
        example = "https://t.me/bazaar_shop_bot?start=3q2-7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a"
    )]
    url: String,
    expires_at: DateTime<Utc>,
}

/// A single-use deep link that binds a Telegram chat to this account; the
/// bot confirms in the chat. 422 when the shop has no Telegram bot.
#[utoipa::path(post, path = "/api/v1/me/telegram-link", tag = "account", security(("bearer" = [])),
    responses((status = 201, body = TelegramLink),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Telegram is not configured", body = Problem, content_type = "application/problem+json")))]
async fn telegram_link(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, Json<TelegramLink>)> {
    let link = telegram_link::create(&state.pool, &state.shop, user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(TelegramLink {
            url: link.url,
            expires_at: link.expires_at,
        }),
    ))
}
