//! `/api/v1/wishlist`: the caller's wishlist, with price-drop alerts.

use axum::{extract::State, http::StatusCode};
use bazaar_core::catalog::wishlist::{self, WishlistItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishedProductView {
    id: Uuid,
    slug: String,
    name: String,
    /// The cheapest active variant's price in minor units; null without one.
    min_price: Option<i64>,
    currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistItemView {
    product: WishedProductView,
    /// E-mail the customer when the product gets cheaper.
    price_alert: bool,
    added_at: DateTime<Utc>,
}

impl From<WishlistItem> for WishlistItemView {
    fn from(i: WishlistItem) -> Self {
        Self {
            product: WishedProductView {
                id: i.product.id,
                slug: i.product.slug,
                name: i.product.name,
                min_price: i.product.min_price,
                currency: i.product.currency,
            },
            price_alert: i.price_alert,
            added_at: i.added_at,
        }
    }
}

/// The caller's wishlist, most recently added first (customers).
#[utoipa::path(get, path = "/api/v1/wishlist", tag = "wishlist", security(("bearer" = [])),
    params(Pagination),
    responses((status = 200, body = Page<WishlistItemView>),
        (status = 403, description = "not a customer", body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    page: Pagination,
) -> ApiResult<Json<Page<WishlistItemView>>> {
    let (items, total) =
        wishlist::list(&state.pool, user.actor(), page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(
        items.into_iter().map(WishlistItemView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddToWishlist {
    product_id: Uuid,
    /// Off for a new item when absent; an existing item keeps its setting.
    price_alert: Option<bool>,
}

/// Add a product to the wishlist, or change its alert when it is there
/// already (customers).
#[utoipa::path(post, path = "/api/v1/wishlist", tag = "wishlist", security(("bearer" = [])),
    request_body = AddToWishlist,
    responses((status = 201, body = WishlistItemView),
        (status = 403, description = "not a customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "no such product", body = Problem, content_type = "application/problem+json")))]
async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<AddToWishlist>,
) -> ApiResult<(StatusCode, Json<WishlistItemView>)> {
    let item = wishlist::add(&state.pool, user.actor(), req.product_id, req.price_alert).await?;
    Ok((StatusCode::CREATED, Json(item.into())))
}

/// Remove a product from the wishlist (customers).
#[utoipa::path(delete, path = "/api/v1/wishlist/{product_id}", tag = "wishlist", security(("bearer" = [])),
    params(("product_id" = Uuid, Path, description = "product id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not in the wishlist", body = Problem, content_type = "application/problem+json")))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Id(product_id): Id,
) -> ApiResult<StatusCode> {
    wishlist::remove(&state.pool, user.actor(), product_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
