//! Shipping methods: public list, admin configuration.

use axum::{extract::State, http::StatusCode};
use bazaar_core::commerce::shipping::{self, ShippingMethod, ShippingMethodInput};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AdminUser, Id, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_public))
        .routes(routes!(list_all, create))
        .routes(routes!(update, deactivate))
}

/// Active shipping methods, cheapest first.
#[utoipa::path(get, path = "/api/v1/shipping-methods", tag = "checkout",
    responses((status = 200, body = Vec<ShippingMethod>)))]
async fn list_public(State(state): State<AppState>) -> ApiResult<Json<Vec<ShippingMethod>>> {
    Ok(Json(shipping::list(&state.pool, false).await?))
}

/// Every shipping method, inactive ones too.
#[utoipa::path(get, path = "/api/v1/admin/shipping-methods", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<ShippingMethod>), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list_all(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<Vec<ShippingMethod>>> {
    Ok(Json(shipping::list(&state.pool, true).await?))
}

/// Create a method: `name`, `price`, optional `free_above`, estimated days.
#[utoipa::path(post, path = "/api/v1/admin/shipping-methods", tag = "admin", security(("bearer" = [])),
    request_body = ShippingMethodInput,
    responses((status = 201, body = ShippingMethod),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(input): Json<ShippingMethodInput>,
) -> ApiResult<(StatusCode, Json<ShippingMethod>)> {
    let m = shipping::save(&state.pool, &state.shop.currency, None, input).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// Change the fields given (`free_above: null` removes the threshold).
#[utoipa::path(patch, path = "/api/v1/admin/shipping-methods/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body = ShippingMethodInput,
    responses((status = 200, body = ShippingMethod),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
    Json(input): Json<ShippingMethodInput>,
) -> ApiResult<Json<ShippingMethod>> {
    Ok(Json(
        shipping::save(&state.pool, &state.shop.currency, Some(id), input).await?,
    ))
}

/// Deactivate a method; orders keep naming it.
#[utoipa::path(delete, path = "/api/v1/admin/shipping-methods/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn deactivate(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    shipping::deactivate(&state.pool, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
