//! `/api/v1/me`: the signed-in user's profile.

use axum::extract::State;
use bazaar_core::users::{self, NotificationPrefsPatch, ProfilePatch, User};
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
    OpenApiRouter::new().routes(routes!(get_me, patch_me))
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
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
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
    Ok(Json(users::find(&state.pool, user.id).await?.into()))
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
    name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(deserialize_with = "object_only")]
    #[schema(value_type = Option<Object>)]
    notifications: Option<NotificationsPatch>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsPatch {
    email: Option<bool>,
    telegram: Option<bool>,
    whatsapp: Option<bool>,
}

/// Change name, phone (null clears it) or notification preferences.
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
    };
    Ok(Json(
        users::update_profile(&state.pool, user.id, patch)
            .await?
            .into(),
    ))
}
