//! `/api/v1/admin/coupons`: coupon administration.

use axum::{extract::State, http::StatusCode};
use bazaar_core::commerce::coupons::{self, Coupon, CouponInput};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AdminUser, Id, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// Coupons, newest first.
#[utoipa::path(get, path = "/api/v1/admin/coupons", tag = "admin", security(("bearer" = [])),
    params(Pagination),
    responses((status = 200, body = Page<Coupon>), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
) -> ApiResult<Json<Page<Coupon>>> {
    let (items, total) = coupons::list(
        &state.pool,
        &state.shop.currency,
        page.per_page(),
        page.offset(),
    )
    .await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Create a coupon: `code`, `kind` (percent or fixed), `value`, and optional
/// `min_order`, `starts_at`, `ends_at`, `usage_limit`, `per_customer_limit`,
/// `category_ids`, `active`.
#[utoipa::path(post, path = "/api/v1/admin/coupons", tag = "admin", security(("bearer" = [])),
    request_body = CouponInput,
    responses((status = 201, body = Coupon),
        (status = 409, description = "code taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(input): Json<CouponInput>,
) -> ApiResult<(StatusCode, Json<Coupon>)> {
    let c = coupons::save(&state.pool, &state.shop.currency, None, input).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[utoipa::path(get, path = "/api/v1/admin/coupons/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<Json<Coupon>> {
    Ok(Json(
        coupons::get(&state.pool, &state.shop.currency, id).await?,
    ))
}

/// Change the fields given (`null` clears an optional limit or date).
#[utoipa::path(patch, path = "/api/v1/admin/coupons/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body = CouponInput,
    responses((status = 200, body = Coupon),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
    Json(input): Json<CouponInput>,
) -> ApiResult<Json<Coupon>> {
    Ok(Json(
        coupons::save(&state.pool, &state.shop.currency, Some(id), input).await?,
    ))
}

/// Delete a coupon (past orders keep their code; the code can be reused).
#[utoipa::path(delete, path = "/api/v1/admin/coupons/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    coupons::delete(&state.pool, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
