//! Who a cart belongs to: the bearer's user, or a guest by `X-Cart-Token`.

use axum::extract::FromRequestParts;
use bazaar_core::commerce::cart::Owner;
use http::request::Parts;

use super::MaybeUser;
use crate::{error::ApiError, AppState};

pub const CART_TOKEN: &str = "x-cart-token";

/// The `X-Cart-Token` header as the OpenAPI document declares it, for
/// `params(CartTokenHeader)`: what `CartToken` takes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Only its parameter description is used.
pub struct CartTokenHeader {
    /// A guest's cart (at login and registration: the one to merge into the
    /// account's).
    #[param(rename = "X-Cart-Token", pattern = "^[\\x21-\\x7e]{1,128}$")]
    x_cart_token: Option<String>,
}

/// The `X-Cart-Token` header, when sent (a malformed one is a 400).
pub struct CartToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for CartToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(CART_TOKEN) else {
            return Ok(CartToken(None));
        };
        let token = v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::new(
                    http::StatusCode::BAD_REQUEST,
                    "bad-request",
                    "X-Cart-Token must be 1-128 visible ASCII characters",
                )
            })?;
        Ok(CartToken(Some(token.to_owned())))
    }
}

pub enum CartCaller {
    Owner(Owner),
    /// A guest without a cart yet.
    Nobody,
}

impl FromRequestParts<AppState> for CartCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A malformed token is a 400 even beside a bearer token, which wins:
        // the header means the same whoever sends it.
        let token = CartToken::from_request_parts(parts, state).await?;
        if let MaybeUser(Some(user)) = MaybeUser::from_request_parts(parts, state).await? {
            return Ok(CartCaller::Owner(Owner::User(user.id)));
        }
        Ok(match token.0 {
            Some(t) => CartCaller::Owner(Owner::Guest(t)),
            None => CartCaller::Nobody,
        })
    }
}
