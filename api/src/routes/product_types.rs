//! `/api/v1/product-types`: the attributes each kind of product has.

use axum::{extract::State, http::StatusCode};
use bazaar_core::catalog::product_types::{
    self, Attribute, NewProductType, ProductType, ProductTypePatch,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update))
}

/// Every product type with its attributes, by name.
#[utoipa::path(get, path = "/api/v1/product-types", tag = "catalog",
    responses((status = 200, body = Vec<ProductType>)))]
async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ProductType>>> {
    Ok(Json(product_types::list(&state.pool).await?))
}

#[utoipa::path(get, path = "/api/v1/product-types/{id}", tag = "catalog",
    params(("id" = uuid::Uuid, Path, description = "product type id")),
    responses((status = 200, body = ProductType), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<ProductType>> {
    Ok(Json(product_types::get(&state.pool, id).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateProductType {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::name)]
    name: String,
    /// Product-level attributes (`material`) take one value per product;
    /// variant-level ones (`size`, `color`) need their allowed values.
    attributes: Vec<Attribute>,
}

/// Create a product type (admins).
#[utoipa::path(post, path = "/api/v1/product-types", tag = "catalog", security(("bearer" = [])),
    request_body = CreateProductType,
    responses((status = 201, body = ProductType),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateProductType>,
) -> ApiResult<(StatusCode, Json<ProductType>)> {
    let created = product_types::create(
        &state.pool,
        user.actor(),
        NewProductType {
            name: req.name,
            attributes: req.attributes,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateProductType {
    #[schema(schema_with = bazaar_core::validate::schema::name_or_null)]
    name: Option<String>,
    /// Replaces the whole list. Removing a value that products or variants
    /// still use is refused (409).
    attributes: Option<Vec<Attribute>>,
}

/// Change a product type (admins).
#[utoipa::path(patch, path = "/api/v1/product-types/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "product type id")), request_body = UpdateProductType,
    responses((status = 200, body = ProductType),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<UpdateProductType>,
) -> ApiResult<Json<ProductType>> {
    let patch = ProductTypePatch {
        name: req.name,
        attributes: req.attributes,
    };
    let updated = product_types::update(&state.pool, user.actor(), id, patch).await?;
    // Product pages show the type's name.
    state.cache.changed().await;
    Ok(Json(updated))
}
