//! `POST /api/v1/checkout`: places an order from the cart (or "buy now"
//! lines), idempotently per `Idempotency-Key`.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bazaar_core::commerce::checkout::{self, CheckoutRequest, CheckoutResponse};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(place))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let bad = |d: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad-request", d);
    let v = headers
        .get("idempotency-key")
        .ok_or_else(|| bad("the Idempotency-Key header is required"))?;
    v.to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| bad("Idempotency-Key must be 1-255 visible ASCII characters"))
}

/// Place an order. Reserves stock atomically (409 lists every short line),
/// applies the cart's coupon, computes shipping and tax, and answers the
/// order with payment instructions (a Stripe client secret for `stripe`).
/// The same `Idempotency-Key` with the same body answers the same order;
/// with a different body, 422. A failed attempt (409, 422) stores nothing.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "checkout", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "one per intended order; retries reuse it", pattern = "^[\\x21-\\x7e]{1,255}$")),
    request_body = CheckoutRequest,
    responses((status = 201, body = CheckoutResponse),
        (status = 400, description = "no Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "stock short (`lines`) or the coupon got used up", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid fields, empty cart, key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Stripe failed; the order exists, retry with the same key", body = Problem, content_type = "application/problem+json")))]
async fn place(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, Json<CheckoutResponse>)> {
    let key = idempotency_key(&headers)?;
    let card = state.payments.card.as_deref();
    let (response, placed) =
        checkout::checkout(&state.pool, &state.shop, card, user.actor(), &key, req).await?;
    if let Some(availability) = placed {
        state.cache.availability_changed(&availability).await;
    }
    Ok((StatusCode::CREATED, Json(response)))
}
