//! `/api/v1/me/addresses`: the caller's saved shipping addresses.

use axum::{extract::State, http::StatusCode};
use bazaar_core::commerce::addresses::{self, Address, AddressInput};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

/// The caller's addresses, oldest first (at most 20).
#[utoipa::path(get, path = "/api/v1/me/addresses", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<Address>), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Vec<Address>>> {
    Ok(Json(addresses::list(&state.pool, user.id).await?))
}

/// Save an address: name, line1, city, postal_code and country (two letters)
/// are required.
#[utoipa::path(post, path = "/api/v1/me/addresses", tag = "account", security(("bearer" = [])),
    request_body = AddressInput,
    responses((status = 201, body = Address),
        (status = 409, description = "20 addresses already", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(input): Json<AddressInput>,
) -> ApiResult<(StatusCode, Json<Address>)> {
    let a = addresses::create(&state.pool, user.id, input).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Change the fields given.
#[utoipa::path(patch, path = "/api/v1/me/addresses/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body = AddressInput,
    responses((status = 200, body = Address),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(input): Json<AddressInput>,
) -> ApiResult<Json<Address>> {
    Ok(Json(
        addresses::update(&state.pool, user.id, id, input).await?,
    ))
}

/// Delete an address (orders keep their own copy).
#[utoipa::path(delete, path = "/api/v1/me/addresses/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    addresses::delete(&state.pool, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
