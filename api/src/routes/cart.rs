//! `/api/v1/cart`: the caller's cart (a user's, or a guest's by `X-Cart-Token`).

use axum::{
    extract::{Query, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::commerce::cart::{self, Cart, Owner};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{CartCaller, CartTokenHeader, Id, Json, CART_TOKEN},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(apply_coupon, remove_coupon))
}

/// The cart as JSON, with the guest's token also in `X-Cart-Token`.
fn respond(status: StatusCode, cart: Cart) -> Response {
    let token = cart.token.clone();
    let mut response = (status, Json(cart)).into_response();
    if let Some(t) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(CART_TOKEN, t);
    }
    response
}

fn owner(caller: CartCaller) -> ApiResult<Owner> {
    match caller {
        CartCaller::Owner(o) => Ok(o),
        CartCaller::Nobody => Err(ApiError::from(bazaar_core::Error::NotFound)),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CartQuery {
    /// Include this shipping method's price in the totals.
    shipping_method_id: Option<Uuid>,
}

/// The caller's cart with server-computed totals. Guests send
/// `X-Cart-Token`; without one (and without a bearer token) the cart is empty.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart",
    params(CartQuery, CartTokenHeader),
    responses((status = 200, body = Cart),
        (status = 404, description = "unknown or expired guest token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "unknown shipping method", body = Problem, content_type = "application/problem+json")))]
async fn get_cart(
    State(state): State<AppState>,
    caller: CartCaller,
    query: Result<Query<CartQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| {
        ApiError::validation(vec![bazaar_core::FieldError::new("query", e.body_text())])
    })?;
    let owner = match &caller {
        CartCaller::Owner(o) => Some(o),
        // No cart yet: an empty one, with no token issued.
        CartCaller::Nobody => None,
    };
    let cart = cart::view(&state.pool, &state.shop, owner, query.shipping_method_id).await?;
    Ok(respond(StatusCode::OK, cart))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    variant_id: Uuid,
    /// Added to what the cart holds of the variant.
    #[schema(minimum = 1, maximum = 999)]
    quantity: i32,
}

/// Add a variant. A guest without `X-Cart-Token` gets a new cart and its
/// token (in the body and the `X-Cart-Token` response header).
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart",
    params(CartTokenHeader),
    request_body = AddItem,
    responses((status = 201, body = Cart),
        (status = 409, description = "not enough stock: `lines`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "unknown variant or bad quantity", body = Problem, content_type = "application/problem+json")))]
async fn add_item(
    State(state): State<AppState>,
    caller: CartCaller,
    Json(req): Json<AddItem>,
) -> ApiResult<Response> {
    let owner = match caller {
        CartCaller::Owner(o) => o,
        CartCaller::Nobody => Owner::Guest(String::new()),
    };
    let cart = cart::add_item(
        &state.pool,
        &state.shop,
        owner,
        req.variant_id,
        req.quantity,
    )
    .await?;
    Ok(respond(StatusCode::CREATED, cart))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    #[schema(minimum = 1, maximum = 999)]
    quantity: i32,
}

/// Set a line's quantity.
#[utoipa::path(patch, path = "/api/v1/cart/items/{id}", tag = "cart",
    params(("id" = Uuid, Path, description = "cart item id"), CartTokenHeader),
    request_body = UpdateItem,
    responses((status = 200, body = Cart),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not enough stock", body = Problem, content_type = "application/problem+json")))]
async fn update_item(
    State(state): State<AppState>,
    caller: CartCaller,
    Id(item): Id,
    Json(req): Json<UpdateItem>,
) -> ApiResult<Response> {
    let owner = owner(caller)?;
    let cart = cart::set_quantity(&state.pool, &state.shop, &owner, item, req.quantity).await?;
    Ok(respond(StatusCode::OK, cart))
}

/// Remove a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{id}", tag = "cart",
    params(("id" = Uuid, Path, description = "cart item id"), CartTokenHeader),
    responses((status = 200, body = Cart), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_item(
    State(state): State<AppState>,
    caller: CartCaller,
    Id(item): Id,
) -> ApiResult<Response> {
    let owner = owner(caller)?;
    let cart = cart::remove_item(&state.pool, &state.shop, &owner, item).await?;
    Ok(respond(StatusCode::OK, cart))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCoupon {
    /// Case-insensitive.
    code: String,
}

/// Apply a coupon; it is checked against the cart now and again at checkout.
#[utoipa::path(post, path = "/api/v1/cart/coupon", tag = "cart",
    params(CartTokenHeader),
    request_body = ApplyCoupon,
    responses((status = 200, body = Cart),
        (status = 404, description = "no cart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "unknown, expired, used up or below its minimum order", body = Problem, content_type = "application/problem+json")))]
async fn apply_coupon(
    State(state): State<AppState>,
    caller: CartCaller,
    Json(req): Json<ApplyCoupon>,
) -> ApiResult<Response> {
    let owner = owner(caller)?;
    let cart = cart::apply_coupon(&state.pool, &state.shop, &owner, &req.code).await?;
    Ok(respond(StatusCode::OK, cart))
}

/// Remove the coupon.
#[utoipa::path(delete, path = "/api/v1/cart/coupon", tag = "cart",
    params(CartTokenHeader),
    responses((status = 200, body = Cart), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_coupon(State(state): State<AppState>, caller: CartCaller) -> ApiResult<Response> {
    let owner = owner(caller)?;
    let cart = cart::remove_coupon(&state.pool, &state.shop, &owner).await?;
    Ok(respond(StatusCode::OK, cart))
}
