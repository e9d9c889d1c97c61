//! `Authorization: Bearer <access JWT>`.

use axum::{extract::FromRequestParts, http::request::Parts};
use bazaar_core::{
    auth::session::{self, Session},
    users::Role,
};
use uuid::Uuid;

use crate::{error::ApiError, AppState};

#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
        let claims = state
            .keys
            .verify(token.trim())
            .ok_or_else(|| ApiError::unauthorized("invalid or expired access token"))?;
        match session::check(&state.pool, claims.sub, claims.sid).await? {
            // The role as stored now: a changed role counts at once.
            Session::Live(role) => Ok(AuthUser {
                id: claims.sub,
                role,
            }),
            Session::Ended => Err(ApiError::unauthorized(
                "the session has ended (signed out or password reset): sign in again",
            )),
            Session::NoAccount => Err(ApiError::unauthorized("the account no longer exists")),
        }
    }
}

/// An authenticated admin; anyone else gets 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::forbidden("admins only"));
        }
        Ok(AdminUser(user))
    }
}

impl AuthUser {
    pub fn actor(self) -> bazaar_core::catalog::Actor {
        bazaar_core::catalog::Actor {
            id: self.id,
            role: self.role,
        }
    }
}

/// The caller when a bearer token is sent (an invalid one is still a 401),
/// nobody otherwise: for public reads whose answer depends on the viewer.
#[derive(Debug, Clone, Copy)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            AuthUser::from_request_parts(parts, state)
                .await
                .map(|u| MaybeUser(Some(u)))
        } else {
            Ok(MaybeUser(None))
        }
    }
}
