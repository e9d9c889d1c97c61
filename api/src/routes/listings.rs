//! Marketplace listings: which variant is offered on Kaspi or Ozon, at what
//! price, under which marketplace ids. The store's owner manages their own
//! variants' listings, an admin everyone's.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use bazaar_core::{
    marketplace::{
        listings::{self, BulkListing, BulkOutcome, Listing, ListingInput},
        Marketplace,
    },
    users::Role,
    FieldError,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_listing, put_listing, delete_listing))
        .routes(routes!(bulk))
}

/// `kaspi` or `ozon`, else 404 (there is no such resource).
pub(crate) fn marketplace(name: &str) -> Result<Marketplace, ApiError> {
    Marketplace::parse(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such marketplace: kaspi or ozon",
        )
    })
}

fn variant_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation(vec![FieldError::new("id", "must be a UUID")]))
}

fn staff(user: AuthUser) -> Result<bazaar_core::catalog::Actor, ApiError> {
    match user.role {
        Role::Vendor | Role::Admin => Ok(user.actor()),
        Role::Customer => Err(ApiError::forbidden("vendors and admins only")),
    }
}

/// The variant's listing on the marketplace; 404 when it is not listed.
#[utoipa::path(get, path = "/api/v1/variants/{id}/listings/{marketplace}", tag = "marketplaces",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "variant id"), ("marketplace" = String, Path, description = "kaspi or ozon")),
    responses((status = 200, body = Listing),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not listed, or no such variant", body = Problem, content_type = "application/problem+json")))]
async fn get_listing(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Listing>> {
    let m = marketplace(&name)?;
    let id = variant_id(&id)?;
    Ok(Json(
        listings::get(&state.pool, &state.config, staff(user)?, id, m).await?,
    ))
}

/// Lists the variant on the marketplace, or replaces its listing (fields
/// left out are cleared). Every problem of the body is listed in one 422.
#[utoipa::path(put, path = "/api/v1/variants/{id}/listings/{marketplace}", tag = "marketplaces",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "variant id"), ("marketplace" = String, Path, description = "kaspi or ozon")),
    request_body = ListingInput,
    responses((status = 200, body = Listing),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn put_listing(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, name)): Path<(String, String)>,
    Json(input): Json<ListingInput>,
) -> ApiResult<Json<Listing>> {
    let m = marketplace(&name)?;
    let id = variant_id(&id)?;
    Ok(Json(
        listings::put(&state.pool, &state.config, staff(user)?, id, m, input).await?,
    ))
}

/// Takes the variant off the marketplace (204 whether it was listed or not).
#[utoipa::path(delete, path = "/api/v1/variants/{id}/listings/{marketplace}", tag = "marketplaces",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "variant id"), ("marketplace" = String, Path, description = "kaspi or ozon")),
    responses((status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_listing(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let m = marketplace(&name)?;
    let id = variant_id(&id)?;
    listings::delete(&state.pool, staff(user)?, id, m).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists every active variant of a store and/or a category (with its
/// sub-categories) that can be listed as it is; says which could not and
/// why. Vendors list their own stores' variants only.
#[utoipa::path(post, path = "/api/v1/admin/integrations/{marketplace}/listings/bulk", tag = "marketplaces",
    security(("bearer" = [])),
    params(("marketplace" = String, Path, description = "kaspi or ozon")),
    request_body = BulkListing,
    responses((status = 200, body = BulkOutcome),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn bulk(
    State(state): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
    Json(req): Json<BulkListing>,
) -> ApiResult<Json<BulkOutcome>> {
    let m = marketplace(&name)?;
    Ok(Json(
        listings::bulk(&state.pool, &state.config, staff(user)?, m, req).await?,
    ))
}
