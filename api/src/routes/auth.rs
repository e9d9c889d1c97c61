//! `/api/v1/auth/*`: register, login, refresh, logout, password reset.

use axum::{extract::State, http::StatusCode};
use bazaar_core::{
    auth::service::Registration, auth::TokenPair, commerce::cart::Merged, users::User, FieldError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, CartToken, CartTokenHeader, ClientIp, Json},
    routes::me::UserView,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
}

/// Missing fields deserialize as empty and are reported by validation, so one
/// 422 lists every problem.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::email)]
    email: String,
    #[schema(required = true, min_length = 8, max_length = 128)]
    password: String,
    #[schema(required = true, schema_with = bazaar_core::validate::schema::name)]
    name: String,
    #[schema(required = true, value_type = RegisterRole)]
    role: String,
    #[schema(schema_with = bazaar_core::validate::schema::phone_or_null)]
    phone: Option<String>,
}

/// Who signs up: admins are made with `bazaar admin create`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used: `role` is parsed by the service.
enum RegisterRole {
    Customer,
    Vendor,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: p.token_type,
            expires_in: p.expires_in,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    user: UserView,
    #[serde(flatten)]
    tokens: TokenResponse,
    /// Present when an `X-Cart-Token` was sent and that guest cart merged
    /// into the user's: which lines got fewer units than asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    cart_merge: Option<Merged>,
}

fn session(
    state: &AppState,
    user: User,
    tokens: TokenPair,
    cart_merge: Option<Merged>,
) -> SessionResponse {
    SessionResponse {
        user: UserView::new(user, &state.shop.channels),
        tokens: tokens.into(),
        cart_merge,
    }
}

/// Create an account (customer or vendor) and sign in. Sends a welcome mail.
///
/// A guest who shopped first sends their `X-Cart-Token`: that cart's lines
/// move into the account's cart (quantities of a variant in both are added,
/// each capped at the stock available; `cart_merge` names every line that
/// got fewer units than asked for), the coupon moves when the account's cart
/// has none, and the guest cart is gone. An unknown token merges nothing.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    params(CartTokenHeader),
    request_body = RegisterRequest,
    responses(
        (status = 201, body = SessionResponse),
        (status = 409, description = "e-mail already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register(
    State(state): State<AppState>,
    cart: CartToken,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let (user, tokens) = state
        .auth
        .register(Registration {
            email: req.email,
            password: req.password,
            name: req.name,
            role: req.role,
            phone: req.phone,
        })
        .await?;
    let merged = merge_cart(&state, cart, user.id).await;
    Ok((
        StatusCode::CREATED,
        Json(session(&state, user, tokens, merged)),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoginRequest {
    /// Any text: an unknown or malformed address is the same 401 as a wrong
    /// password.
    #[schema(required = true, schema_with = bazaar_core::validate::schema::nonblank)]
    email: String,
    #[schema(required = true, min_length = 1)]
    password: String,
}

/// Sign in. Wrong e-mail and wrong password get the same 401. Limited to 30
/// requests per minute per IP; 10 failures on an account from one client
/// within 15 minutes lock that client out of it (429), and past 10 failures
/// from all clients together the account takes one attempt per 10 s (429
/// with `Retry-After`), so its owner is slowed, never locked out.
///
/// A guest's `X-Cart-Token` merges that cart into the account's, as at
/// registration.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    params(CartTokenHeader),
    request_body = LoginRequest,
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "e-mail or password missing", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate limited; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    cart: CartToken,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let (user, tokens) = state.auth.login(&req.email, &req.password, ip).await?;
    let merged = merge_cart(&state, cart, user.id).await;
    Ok(Json(session(&state, user, tokens, merged)))
}

/// A guest cart sent along (`X-Cart-Token`) moves into the user's cart. A
/// failure here must not fail the sign-in: the guest cart stays as it was.
async fn merge_cart(state: &AppState, cart: CartToken, user: uuid::Uuid) -> Option<Merged> {
    let token = cart.0?;
    match bazaar_core::commerce::cart::merge(&state.pool, &token, user).await {
        Ok(merged) => merged,
        Err(e) => {
            tracing::warn!(error = %e, "merging the guest cart failed");
            None
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::nonblank)]
    refresh_token: String,
}

/// A request without its refresh token is invalid (422), not a bad token.
fn required_token(token: &str) -> ApiResult<&str> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::validation(vec![FieldError::new(
            "refresh_token",
            "is required",
        )]));
    }
    Ok(token)
}

/// Exchange a refresh token for a new pair. The old token dies; presenting a
/// dead one revokes every token of that session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, description = "unknown, used, revoked or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "no refresh_token", body = Problem, content_type = "application/problem+json")))]
async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let token = required_token(&req.refresh_token)?;
    Ok(Json(state.auth.refresh(token).await?.into()))
}

/// End the session the refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest, security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "no refresh_token", body = Problem, content_type = "application/problem+json")))]
async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state
        .auth
        .logout(user.id, required_token(&req.refresh_token)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ForgotRequest {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::email)]
    email: String,
}

/// Always 202 for a well-formed address; mails a single-use reset link (valid
/// one hour) when the account exists. 5 requests per account and 30 per IP per hour.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth",
    request_body = ForgotRequest,
    responses((status = 202), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<ForgotRequest>,
) -> ApiResult<StatusCode> {
    state.auth.forgot_password(&req.email, ip).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::nonblank)]
    token: String,
    #[schema(required = true, min_length = 8, max_length = 128)]
    new_password: String,
}

/// Set a new password with the token from the mail. The token dies, and so
/// does every session of the account.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth",
    request_body = ResetRequest,
    responses((status = 204), (status = 400, description = "invalid, used or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reset_password(
    State(state): State<AppState>,
    Json(req): Json<ResetRequest>,
) -> ApiResult<StatusCode> {
    state
        .auth
        .reset_password(&req.token, req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
