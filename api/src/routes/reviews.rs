//! `/api/v1/products/{id}/reviews` and `/api/v1/reviews/{id}`: customers'
//! reviews and their moderation.

use axum::{extract::State, http::StatusCode};
use bazaar_core::catalog::reviews::{self, NewReview, Review, ReviewPatch, Status};
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
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

/// Published reviews count towards the product's rating; hidden ones are
/// seen by their author and admins only.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Published,
    Hidden,
}

impl From<Status> for ReviewStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Published => ReviewStatus::Published,
            Status::Hidden => ReviewStatus::Hidden,
        }
    }
}

impl From<ReviewStatus> for Status {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Published => Status::Published,
            ReviewStatus::Hidden => Status::Hidden,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorView {
    id: Uuid,
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    id: Uuid,
    product_id: Uuid,
    author: AuthorView,
    #[schema(minimum = 1, maximum = 5)]
    rating: i16,
    title: String,
    body: String,
    /// The author has a delivered order containing the product.
    verified: bool,
    status: ReviewStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Review> for ReviewView {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            author: AuthorView {
                id: r.author.id,
                name: r.author.name,
            },
            rating: r.rating,
            title: r.title,
            body: r.body,
            verified: r.verified,
            status: r.status.into(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Published reviews of a product, newest first.
#[utoipa::path(get, path = "/api/v1/products/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "product id"), Pagination),
    responses((status = 200, body = Page<ReviewView>),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    Id(id): Id,
    page: Pagination,
) -> ApiResult<Json<Page<ReviewView>>> {
    let (items, total) = reviews::list(&state.pool, id, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(
        items.into_iter().map(ReviewView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReview {
    #[schema(minimum = 1, maximum = 5)]
    rating: i32,
    /// At most 200 characters.
    title: Option<String>,
    /// At most 5000 characters.
    body: Option<String>,
}

/// Review a product (customers; one review each).
#[utoipa::path(post, path = "/api/v1/products/{id}/reviews", tag = "reviews", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "product id")), request_body = CreateReview,
    responses((status = 201, body = ReviewView),
        (status = 403, description = "not a customer", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already reviewed", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<CreateReview>,
) -> ApiResult<(StatusCode, Json<ReviewView>)> {
    let review = reviews::create(
        &state.pool,
        user.actor(),
        id,
        NewReview {
            rating: req.rating,
            title: req.title,
            body: req.body,
        },
    )
    .await?;
    state.cache.products_changed(&[review.product_id]).await;
    Ok((StatusCode::CREATED, Json(review.into())))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateReview {
    #[schema(minimum = 1, maximum = 5)]
    rating: Option<i32>,
    title: Option<String>,
    body: Option<String>,
    /// Admins only: hiding or publishing marks the review moderated.
    status: Option<ReviewStatus>,
}

/// Change a review (its author; admins, who may also hide or publish it).
#[utoipa::path(patch, path = "/api/v1/reviews/{id}", tag = "reviews", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "review id")), request_body = UpdateReview,
    responses((status = 200, body = ReviewView),
        (status = 403, description = "not the author", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<UpdateReview>,
) -> ApiResult<Json<ReviewView>> {
    let patch = ReviewPatch {
        rating: req.rating,
        title: req.title,
        body: req.body,
        status: req.status.map(Status::from),
    };
    let review = reviews::update(&state.pool, user.actor(), id, patch).await?;
    state.cache.products_changed(&[review.product_id]).await;
    Ok(Json(review.into()))
}

/// Delete a review (its author or an admin).
#[utoipa::path(delete, path = "/api/v1/reviews/{id}", tag = "reviews", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "review id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    let product = reviews::delete(&state.pool, user.actor(), id).await?;
    state.cache.products_changed(&[product]).await;
    Ok(StatusCode::NO_CONTENT)
}
